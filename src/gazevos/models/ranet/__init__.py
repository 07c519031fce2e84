"""RANet: ranking-attention video object segmentation (thesis chapter 3)."""

from gazevos.models.ranet.checkpoint import (
    default_checkpoint,
    load_checkpoint,
    load_official,
    read_checkpoint,
    to_checkpoint,
)
from gazevos.models.ranet.model import OFFICIAL_CONFIG, RANet, RANetConfig, normalise_image

__all__ = ["OFFICIAL_CONFIG", "RANet", "RANetConfig", "default_checkpoint", "load_checkpoint",
           "load_official", "normalise_image", "read_checkpoint", "to_checkpoint"]
