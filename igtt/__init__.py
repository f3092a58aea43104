"""igtt: label-free segmentation of microscopy images by iterative ground-truth training."""

__version__ = "0.1.0"

from .config import PRESETS, Config, preset  # noqa: E402
from .model import IGTT, segment  # noqa: E402
from .train import Progress  # noqa: E402

__all__ = ["IGTT", "Config", "PRESETS", "Progress", "preset", "segment", "__version__"]
