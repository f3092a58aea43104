"""The check of one predicted image: its own start made, the mask measured against it, scored and flagged."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..starts.background import Background
from ..starts.field import out_of_field
from ..starts.start import own_start
from .check import ImageCheck, check_mask
from .report import assess

__all__ = ["Segmentation", "check_image", "standing_out"]

# an image is noise alone (an empty well, a field without cells) when its brightest pixels stand out of its noise by
# less than this share of the folder's median and no more than this many times its darkest pixels do (noise is
# symmetric, objects are a bright tail). bbbc039's two fields without nuclei: 0.04 of the folder, 0.7 and 0.8 times;
# nearest with objects: a dense dsb2018 field 0.08 of its folder but 4.3 times; DRIVE 0.28; nuclei_mixed 0.23.
NOISE_SHARE, NOISE_SYMMETRY = 0.1, 1.5


class Segmentation(NamedTuple):
    """One image's result: the mask, its probability map (when asked) and its quality check (None for blocks)."""

    mask: np.ndarray
    proba: np.ndarray | None
    check: ImageCheck | None


def check_image(
    mask: np.ndarray, proba: np.ndarray, small: np.ndarray, *, kind: str, size: float | None, step: int = 1,
    background: Background | None = None, replace: bool = True, polarity: str = "bright", twin: np.ndarray | None = None,
    hint: np.ndarray | None = None, signal: float | None = None,
) -> tuple[np.ndarray, ImageCheck]:
    """The mask to keep and its assessed :class:`ImageCheck`.

    ``small`` is the oriented image at every ``step``-th pixel and ``proba``
    the probability there; ``mask`` is full size. A mask that ran away from
    the start is replaced by it where ``replace`` and the image is checked at
    full size (``step`` 1); otherwise it is only flagged. ``polarity``: the
    model's, for the flag that suggests the other one. ``twin``: the
    probability predicted on the mirrored image, at ``proba``'s pixels. ``hint``: strokes
    painted on the image (full size): a runaway mask they favour over the start is kept.
    ``signal``: the model's :attr:`igtt.IGTT.signal_`; an image that is noise beside it (nothing
    stands out, :data:`NOISE_SHARE`) gets an empty mask, unless object strokes are painted on it.
    """
    inside = ~out_of_field(small)
    up, down = standing_out(small, inside)
    noise = signal is not None and up < NOISE_SHARE * signal and up <= NOISE_SYMMETRY * down
    if noise := noise and not (hint is not None and (hint == 1).any()):
        mask, replace = np.zeros_like(mask), False
    start = own_start(small, kind, size, step=step, background=background)
    kept, check = check_mask(
        mask[::step, ::step], proba, small, start.mask, kind=kind, size=size / step if size else None,
        inside=inside, replace=replace and step == 1, twin=twin, hint=hint if step == 1 else None,
    )
    check.polarity, check.noise = polarity, (up, signal) if noise else None
    return (kept if step == 1 else mask), assess(check)


def standing_out(small: np.ndarray, inside: np.ndarray | None = None) -> tuple[float, float]:
    """How far an image's brightest and darkest pixels (99.9th and 0.1th percentiles) lie from its median, in noise
    widths (1.4826 median absolute deviations), inside the field of view; ``inf`` where the noise is nil."""
    values = small[~out_of_field(small) if inside is None else inside]
    if values.size == 0:
        return float("inf"), float("inf")
    median = np.median(values)
    width = 1.4826 * np.median(np.abs(values - median))
    if width == 0:
        return float("inf"), float("inf")
    low, high = np.percentile(values, (0.1, 99.9))
    return float((high - median) / width), float((median - low) / width)
