"""The check of one predicted image: its own start made, the mask measured against it, scored and flagged."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..starts.background import Background
from ..starts.field import out_of_field
from ..starts.images import noise_level
from ..starts.start import own_start
from .check import ImageCheck, check_mask
from .report import assess

__all__ = ["Segmentation", "check_image", "standing_out"]

# an image is noise alone (an empty well, a field without cells) when its brightest pixels stand out of its noise by
# less than this share of the folder's median and no more than this many times its darkest pixels do (noise is
# symmetric, objects are a bright tail). bbbc039's two fields without nuclei: 0.035 and 0.041 of the folder, 0.8 times;
# nearest with objects: a dense dsb2018 field 0.07 of its folder but 4.0 times; nuclei_mixed 0.23; DRIVE 0.41; one real
# bbbc039 nucleus pasted alone into an empty field, 1 to 16 times bbbc039's area: 0.49 or more.
NOISE_SHARE, NOISE_SYMMETRY = 0.1, 1.5
TAIL_PIXELS = 9  # the fewest brightest pixels that say how far an image stands out: never a hot pixel


class Segmentation(NamedTuple):
    """One image's result: the mask, its probability map (when asked) and its quality check (None for blocks)."""

    mask: np.ndarray
    proba: np.ndarray | None
    check: ImageCheck | None


def check_image(
    mask: np.ndarray, proba: np.ndarray, small: np.ndarray, *, kind: str, size: float | None, step: int = 1,
    background: Background | None = None, replace: bool = True, polarity: str = "bright", twin: np.ndarray | None = None,
    hint: np.ndarray | None = None, signal: float | None = None, image: np.ndarray | None = None,
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
    stands out, :data:`NOISE_SHARE`) gets an empty mask, unless object strokes are painted on it; ``image``: the
    image's own grey levels, full size (:func:`standing_out`); without it the noise is not looked for.
    """
    inside = ~out_of_field(small)
    noise = None
    if signal is not None and image is not None and not (hint is not None and (hint == 1).any()):  # an object stroke: not noise
        up, down = standing_out(image, small, step=step, size=size, polarity=polarity, inside=inside)
        noise = (up, signal) if up < NOISE_SHARE * signal and up <= NOISE_SYMMETRY * down else None
    if noise:
        mask, replace = np.zeros_like(mask), False
    start = own_start(small, kind, size, step=step, background=background)
    kept, check = check_mask(
        mask[::step, ::step], proba, small, start.mask, kind=kind, size=size / step if size else None,
        inside=inside, replace=replace and step == 1, twin=twin, hint=hint if step == 1 else None,
    )
    check.polarity, check.noise = polarity, noise
    return (kept if step == 1 else mask), assess(check)


def standing_out(
    image: np.ndarray, small: np.ndarray, *, step: int = 1, size: float | None = None, polarity: str = "bright",
    inside: np.ndarray | None = None,
) -> tuple[float, float]:
    """How far an image's brightest and darkest pixels (objects' and background's ends, by ``polarity``) lie from its
    median, in noise widths (1.4826 median absolute deviations), inside the field of view; ``inf`` where the noise is nil.

    ``image``: its own grey levels (full size, not clipped: an object's core stands out whole); ``small``: its
    oriented view at every ``step``-th pixel (:func:`igtt.nn.view.view_image`), for the field of view, unless
    ``inside`` is given. The brightest pixels are the brightest ``size**2 / 8`` (a sixth of one object of diameter
    ``size``, in the image's pixels; at least :data:`TAIL_PIXELS`): one object stands out as far as a field of them,
    however large the field. Without a size, the brightest 0.1 %.
    """
    inside = ~out_of_field(small) if inside is None else inside
    values = np.asarray(image[::step, ::step], np.float32)[inside]
    if values.size == 0:
        return float("inf"), float("inf")
    if polarity == "dark":
        values = -values
    median, width = noise_level(values, most=None)
    if width == 0:
        return float("inf"), float("inf")
    k = int(min(values.size, max(TAIL_PIXELS, (size / step) ** 2 / 8 if size else values.size / 1000)))
    low, high = np.partition(values, (k - 1, values.size - k))[[k - 1, values.size - k]]
    return float((high - median) / width), float((median - low) / width)
