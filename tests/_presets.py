"""Small training presets shared by test modules (importable from any test folder: pytest
puts this folder, the one of the root conftest, on ``sys.path``)."""

from __future__ import annotations


def tiny_mast_yaml(steps: int, save_every: int = 100) -> str:
    """A MAST training preset small enough to train a few steps in a test."""
    return f"""
model: {{widths: [4, 8], depths: [1, 1], feature_dim: 8}}
search: {{roi_window: 3, key_window: 3}}
num_clusters: 4
frame_scale: 1.0
crop_size: 24
batch_size: 2
short_term_gaps: [1, 2]
long_term_refs: 1
long_term_max_gap: 6
steps: {steps}
save_every: {save_every}
"""
