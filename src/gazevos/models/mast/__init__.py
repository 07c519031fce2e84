"""MAST: the memory-augmented self-supervised tracker (thesis chapter 4).

Inference-side code only: the model, its checkpoint format and the memory read shared by
training and label propagation.  Training lives in :mod:`gazevos.train.mast`.
"""

from gazevos.models.mast.model import (
    MastModel,
    MastModelConfig,
    default_checkpoint,
    load_checkpoint,
    model_to_checkpoint,
    rgb_to_lab,
)
from gazevos.models.mast.propagate import AffinityConfig, SearchConfig, reconstruct

__all__ = [
    "AffinityConfig",
    "MastModel",
    "MastModelConfig",
    "SearchConfig",
    "default_checkpoint",
    "load_checkpoint",
    "model_to_checkpoint",
    "reconstruct",
    "rgb_to_lab",
]
