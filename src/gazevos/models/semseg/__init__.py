"""Semantic segmentation: HRNetV2 (official layouts), DANN domain adaptation parts,
first-frame auto-annotation helpers."""

from gazevos.models.semseg.checkpoint import load_model, load_official
from gazevos.models.semseg.classes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from gazevos.models.semseg.hrnet import ARCHITECTURES, HRNet, HRNetConfig, StageConfig

__all__ = ["ARCHITECTURES", "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "HRNet", "HRNetConfig",
           "StageConfig", "load_model", "load_official"]
