"""igtt: label-free segmentation of microscopy images by iterative ground-truth training.

The engine (torch) is imported on first use of ``IGTT``, ``segment`` or
``Progress``, so ``import igtt`` and ``igtt.Config`` stay light.
"""

__version__ = "0.1.0"

from .config import PRESETS, Config, preset  # noqa: E402

__all__ = ["IGTT", "Config", "PRESETS", "Progress", "preset", "segment", "__version__"]

_LAZY = {"IGTT": "model", "segment": "api", "Progress": "training.train"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'igtt' has no attribute {name!r}")
