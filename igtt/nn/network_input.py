"""What the network sees: an image scaled to [0, 1], objects bright, and for blobs without its background.

One :class:`NetworkInput` per image turns raw pixels into network input,
for the whole image at training time and tile by tile at prediction, so
both see exactly the same thing and a 16-bit gigapixel image is never
converted to float in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..starts.background import Background
from ..starts.field import field_step
from ..starts.images import intensity_range, rescale

__all__ = ["NetworkInput"]

GAIN_PERCENTILE = 99.8


@dataclass
class NetworkInput:
    """The scaling of one image: ``(raw - lo) / (hi - lo)``, inverted for dark objects, minus its background.

    Attributes
    ----------
    lo, hi : float
        Grey levels mapped to 0 and 1 (:func:`igtt.starts.images.intensity_range`).
    invert : bool
        Dark objects: the scaled image is inverted.
    background : Background or None
        Subtracted after scaling, then divided by ``gain`` and clipped to [0, 1].
    gain : float
    """

    lo: float
    hi: float
    invert: bool
    background: Background | None = None
    gain: float = 1.0

    @classmethod
    def for_image(
        cls, image: np.ndarray, *, invert: bool, diameter: float | None = None, range: tuple[float, ...] | None = None
    ) -> NetworkInput:
        """The scaling of ``image``; with ``diameter``, its background at that object size is subtracted.

        ``range``: the grey levels for 0 and 1 (default: the image's
        percentiles), optionally with the background gain as a third value
        (the whole image's, when ``image`` is a block of it). The background and its gain are measured on a strided
        view of at most 2048 pixels a side, so large images cost little.
        """
        lo, hi = intensity_range(image) if range is None else map(float, range[:2])
        scaling = cls(lo, hi, invert)
        if diameter is None or hi <= lo:
            return scaling
        step = field_step(image.shape)
        view = rescale(image[::step, ::step], lo, hi, invert=invert)
        background = Background(view, diameter, shape=image.shape)
        residual = view - background.crop(slice(0, image.shape[0], step), slice(0, image.shape[1], step))
        gain = float(np.percentile(residual, GAIN_PERCENTILE)) if range is None or len(range) < 3 else float(range[2])
        return cls(lo, hi, invert, background, gain if gain > 1e-6 else 1.0)

    def __call__(self, raw: np.ndarray, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Network input for ``raw``, the pixels ``image[rows, cols]`` of the image; float32 in [0, 1]."""
        out = rescale(raw, self.lo, self.hi, invert=self.invert)
        if self.background is not None:
            out -= self.background.crop(rows, cols)
            out *= np.float32(1 / self.gain)
            np.clip(out, 0, 1, out=out)
        return out
