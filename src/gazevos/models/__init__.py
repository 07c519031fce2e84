"""Neural-network models (plain torch, no pretrained weights)."""
