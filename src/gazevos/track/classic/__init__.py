"""The training-free ``classic`` tracker: optical-flow prior + per-video appearance model."""

from gazevos.track.classic.config import ClassicConfig
from gazevos.track.classic.features import FeatureExtractor
from gazevos.track.classic.tracker import ClassicTracker

__all__ = ["ClassicConfig", "ClassicTracker", "FeatureExtractor"]
