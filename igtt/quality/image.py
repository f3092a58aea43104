"""The check of one predicted image: its own start made, the mask measured against it, scored and flagged."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..starts.background import Background
from ..starts.field import out_of_field
from ..starts.start import own_start
from .check import ImageCheck, check_mask
from .report import assess

__all__ = ["Segmentation", "check_image"]


class Segmentation(NamedTuple):
    """One image's result: the mask, its probability map (when asked) and its quality check (None for blocks)."""

    mask: np.ndarray
    proba: np.ndarray | None
    check: ImageCheck | None


def check_image(
    mask: np.ndarray, proba: np.ndarray, small: np.ndarray, *, kind: str, size: float | None, step: int = 1,
    background: Background | None = None, replace: bool = True, polarity: str = "bright", twin: np.ndarray | None = None,
) -> tuple[np.ndarray, ImageCheck]:
    """The mask to keep and its assessed :class:`ImageCheck`.

    ``small`` is the oriented image at every ``step``-th pixel and ``proba``
    the probability there; ``mask`` is full size. A mask that ran away from
    the start is replaced by it where ``replace`` and the image is checked at
    full size (``step`` 1); otherwise it is only flagged. ``polarity``: the
    model's, for the flag that suggests the other one. ``twin``: the
    probability predicted on the mirrored image, at ``proba``'s pixels.
    """
    start = own_start(small, kind, size, step=step, background=background)
    kept, check = check_mask(
        mask[::step, ::step], proba, small, start.mask, kind=kind, size=size / step if size else None,
        inside=~out_of_field(small), replace=replace and step == 1, twin=twin,
    )
    check.polarity = polarity
    return (kept if step == 1 else mask), assess(check)
