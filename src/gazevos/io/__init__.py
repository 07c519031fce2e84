"""Input and output: frames from videos and folders, DAVIS palette masks, atomic writes."""

from gazevos.io.atomic import atomic_write
from gazevos.io.frames import Frame, FrameSource, open_frames
from gazevos.io.masks import DAVIS_PALETTE, read_mask, write_mask

__all__ = [
    "DAVIS_PALETTE",
    "Frame",
    "FrameSource",
    "atomic_write",
    "open_frames",
    "read_mask",
    "write_mask",
]
