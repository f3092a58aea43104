"""igtt: label-free segmentation of microscopy images by iterative ground-truth training.

The engine (torch) is imported on first use of ``IGTT``, ``segment`` or
``Progress``, so ``import igtt`` and ``igtt.Config`` stay light. ``label_objects``
and ``measure`` (one id per object, one row of measurements per object)
need no torch.
"""

__version__ = "0.1.0"

from .config import PRESETS, Config, preset  # noqa: E402

__all__ = ["IGTT", "Config", "PRESETS", "Progress", "label_objects", "measure", "preset", "segment", "__version__"]

_LAZY = {"IGTT": "model", "segment": "api", "Progress": "training.train", "label_objects": "objects", "measure": "objects"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'igtt' has no attribute {name!r}")
