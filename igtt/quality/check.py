"""A network mask measured against the image's own label-free start, and replaced where it runs away from it.

The network is trained on the whole folder; each image also has its own
start (:func:`igtt.starts.start.own_start`). Where the two disagree a
little, the network is usually right (it learnt the objects' look from
every image, and finds dim ones the start missed); where the mask covers
far more or far less than the start and overlaps it poorly, it has taken
the background for objects, or lost them, on this image. Measured on the
five dev sets (dsb2018_train_fluo, bbbc039_nuclei, nuclei_mixed,
drive_vessels, sstem_mito_em): with agreement under 0.8 and coverage off by
over 30 %, keeping the start instead leaves no image more than 5 Dice below
its start but one (was 10), nuclei_mixed 83.1 -> 85.9, DRIVE 72.8 -> 73.5;
dsb2018 88.0 -> 87.6 (three images where the network found dim nuclei).
Replacing the runaway mask by the start beat keeping only its part near the
start, its objects that touch the start, and a threshold fitted to the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import skew

__all__ = ["ImageCheck", "check_mask", "dice"]

AGREEMENT = 0.8  # below this Dice with the start, and ...
COVERAGE = 1.3  # ... foreground off the start's by more than this factor: the mask ran away
_FRAGMENT = 0.25  # an object narrower than a quarter of the expected size is a fragment
_MORE_FRAGMENTS = 0.25  # a start with a quarter more of its objects fragments than the mask is not kept instead of it


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two masks; 1 when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 2 * int(np.logical_and(a, b).sum()) / total if total else 1.0


@dataclass
class ImageCheck:
    """What one image's mask looks like beside what the image itself supports (no ground truth).

    Attributes
    ----------
    kind : str
        ``blobs``, ``lines`` or ``compartments``.
    object_size : float or None
        The blob diameter (or line or wall width) used for this image, in pixels.
    foreground, start_foreground : float
        Fractions of the field of view in the mask and in the image's start.
    agreement : float
        Dice between the network's mask and the start, in [0, 1] (1 when both are empty).
    objects : int
        Connected objects in the mask.
    fragments : float
        Share of those objects narrower than a quarter of ``object_size`` (blobs, compartments).
    contrast : float
        How far apart the image's grey levels inside and outside the mask lie,
        in pooled standard deviations (0: the mask follows no intensity difference).
    uncertain : float
        Pixels with a probability between 0.25 and 0.75, per mask pixel.
    stability : float
        Dice between the network's mask and its mask of the mirrored image
        (1: the same objects both ways; 1 when not measured: images over
        2048 px a side, checked strided, are not mirrored). A mask the
        network is unsure of changes when the image is flipped: within a
        folder this ranks images by their true Dice better than any rule
        (:func:`igtt.quality.report.assess`).
    skewness : float
        Of the oriented image's grey levels in the field: objects are usually
        the bright tail (positive); strongly negative where the polarity is
        wrong (:func:`igtt.quality.report.folder_flags`).
    polarity : str
        The objects' polarity the model used, ``bright`` or ``dark``.
    ran_away : bool
        The network's mask covers over 30 % more or less than the start and
        overlaps it with Dice under 0.8: on this image it took background
        for objects, or lost objects.
    replaced : bool
        The start was kept instead of the mask that ran away (never where
        the start is made of many more fragments than the mask).
    judged : bool
        The user's strokes kept a mask that ran away over the start.
    noise : (float, float) or None
        Set where the image is noise alone and its mask empty
        (:func:`igtt.quality.check_image`): how far its brightest pixels
        stand out of its noise, and how far the folder's do.
    score, flags :
        Filled by :func:`igtt.quality.report.assess`.
    instances, median_area : int and float, or None
        Objects with touching blobs split (:func:`igtt.objects.label_objects`)
        and their median area in pixels; filled where labels were made.
    """

    kind: str
    object_size: float | None
    foreground: float
    start_foreground: float
    agreement: float
    objects: int
    fragments: float
    contrast: float
    uncertain: float
    stability: float = 1.0
    skewness: float = 0.0
    polarity: str = "bright"
    ran_away: bool = False
    replaced: bool = False
    judged: bool = False
    noise: tuple[float, float] | None = None
    score: float = float("nan")
    flags: list[str] = field(default_factory=list)
    instances: int | None = None
    median_area: float | None = None


def _stroke_shares(mask: np.ndarray, hint: np.ndarray) -> list[float]:
    """For each kind of stroke present, the share of its pixels the mask gets right: object strokes (1) in, background (2) out."""
    objects, background = hint == 1, hint == 2
    shares = [float(mask[objects].mean())] if objects.any() else []
    return shares + ([float(1 - mask[background].mean())] if background.any() else [])


def _strokes_prefer(mask: np.ndarray, start: np.ndarray, hint: np.ndarray | None) -> bool:
    """The user's strokes reject the start and favour the network's mask: the start gets them right no better than
    chance (balanced accuracy 0.5: a user paints where the mask shown is wrong), the mask gets at least half of each
    kind right and more than half on the whole.

    A mask that takes everything gets every object stroke: it must get half of the background ones too; one that
    holds the painted objects and the painted debris alike is no better than chance either. Measured on the masks
    the check replaced, 8 draws of strokes each: nuclei_mixed (strokes on the start's errors) the mask kept on
    hela_t13 in 5 of 8 (start 69.7 Dice, mask 89.2), never on nih3t3_33 (start 83.3, mask 79.0: it adds debris);
    strokes anywhere in the truth (they seldom reject a start) kept it twice, on hela_t13; ssTEM, strokes in the truth never.
    """
    if hint is None or not hint.any():
        return False
    shares = _stroke_shares(mask, hint)
    return np.mean(_stroke_shares(start, hint)) <= 0.5 and min(shares) >= 0.5 and np.mean(shares) > 0.5


def _contrast(image: np.ndarray, mask: np.ndarray) -> float:
    inside, outside = image[mask], image[~mask]
    if inside.size < 2 or outside.size < 2:
        return 0.0
    spread = np.sqrt((inside.var() + outside.var()) / 2)
    return float(abs(inside.mean() - outside.mean()) / spread) if spread > 0 else 0.0


def _fragments(mask: np.ndarray, size: float | None) -> tuple[int, float]:
    regions, n = ndi.label(mask)
    if n == 0 or not size:
        return n, 0.0
    area = np.bincount(regions.ravel())[1:]
    return n, float(np.mean(area < np.pi * (_FRAGMENT * size / 2) ** 2))


def _worse(start: np.ndarray, mask: np.ndarray, size: float | None) -> bool:
    """The start is worse than the mask by a measure of a mask itself: it is made of many more fragments (a start
    at the wrong scale is textured background). Contrast was tried too: on ssTEM it kept masks worse than their
    starts (35.2 Dice against 38.6 with the starts kept)."""
    return _fragments(start, size)[1] > _fragments(mask, size)[1] + _MORE_FRAGMENTS


def check_mask(
    mask: np.ndarray, proba: np.ndarray, image: np.ndarray, start: np.ndarray, *, kind: str, size: float | None,
    inside: np.ndarray | None = None, replace: bool = True, twin: np.ndarray | None = None, hint: np.ndarray | None = None,
) -> tuple[np.ndarray, ImageCheck]:
    """Measure ``mask`` against the image's start; return the mask to keep (the start where the network's ran away) and its :class:`ImageCheck`.

    All arrays are one image at the same (possibly reduced) resolution:
    ``image`` normalised with bright objects, ``proba`` the network's
    probability, ``start`` the start's mask, ``inside`` the field of view.
    ``size`` is in pixels of that resolution. ``replace=False`` only
    reports a mask that ran away (the caller cannot use the start at full size).
    ``twin``: the probability of the mirrored image, mirrored back (for ``stability``).
    ``hint``: a user's strokes on the image (0 none, 1 object, 2 background): a mask that
    ran away is kept where it agrees with them better than the start does (the user judged).
    """
    inside = np.ones(mask.shape, bool) if inside is None else inside
    area = max(int(inside.sum()), 1)
    covered, started = mask[inside].sum() / area, start[inside].sum() / area
    agreement = dice(mask & inside, start & inside)
    off = (covered + 1e-4) / (started + 1e-4)
    ran_away = bool(start.any() and agreement < AGREEMENT and not 1 / COVERAGE <= off <= COVERAGE)
    measured_size = size if kind != "lines" else None
    judged = ran_away and replace and _strokes_prefer(mask, start, hint)
    replaced = ran_away and replace and not _worse(start, mask, measured_size) and not judged
    kept = start.copy() if replaced else mask
    objects, fragments = _fragments(kept, measured_size)
    unsure = np.count_nonzero((proba > 0.25) & (proba < 0.75)) / max(int(mask.sum()), 1)
    values = image[inside].astype(np.float64)
    check = ImageCheck(
        kind=kind,
        object_size=size,
        foreground=float(kept[inside].sum() / area),
        start_foreground=float(started),
        agreement=agreement,
        objects=objects,
        fragments=fragments,
        contrast=_contrast(image, kept),
        uncertain=float(unsure),
        stability=1.0 if twin is None else dice((proba > 0.5) & inside, (twin > 0.5) & inside),
        skewness=float(skew(values)) if values.size > 2 and np.ptp(values) > 0 else 0.0,
        ran_away=ran_away,
        replaced=replaced,
        judged=judged,
    )
    return kept, check
