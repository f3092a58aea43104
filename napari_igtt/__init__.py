"""napari plugin for igtt: label-free segmentation with a live view of the pseudo-labels."""

from ._widget import IGTTWidget

__all__ = ["IGTTWidget"]
