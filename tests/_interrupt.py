"""Stopping an ``annotate`` run mid-pass, shared by test modules (importable from any test
folder: pytest puts this folder, the one of the root conftest, on ``sys.path``)."""

from __future__ import annotations


def stop_at_mask(monkeypatch, name: str = "00030.png"):
    """Make ``gazevos.gaze.annotate.write_mask`` raise KeyboardInterrupt (Ctrl-C) instead of
    writing mask ``name``; returns the real ``write_mask``."""
    import gazevos.gaze.annotate as mod

    real_write = mod.write_mask

    def write_then_stop(path, labels):
        if path.name == name:
            raise KeyboardInterrupt
        real_write(path, labels)

    monkeypatch.setattr(mod, "write_mask", write_then_stop)
    return real_write
