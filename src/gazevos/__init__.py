"""gazevos: which object did the wearer look at? Video object segmentation for eye tracking."""

from gazevos.errors import GazevosError

__version__ = "0.1.0"
__all__ = ["GazevosError", "__version__"]
