"""What the user sees: overlay videos (:mod:`.overlay`) and the HTML report (:mod:`.html`)."""
