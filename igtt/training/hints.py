"""Hints: a few strokes a user paints, 0 = no hint, 1 = object, 2 = background (ilastik's convention).

Hinted pixels override the label-free start, keep their label through EMS
and every refresh of the pseudo-labels, and those that correct the start
weigh more in the loss (``Config.hint_share``, :func:`start_trust`). When the
hints contradict the start outright (trust below ``SET_ASIDE_BELOW``), a fresh
fit sets the start aside and learns from the hints alone
(:func:`hints_only_labels`). They are user data: never stored in a model file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..starts.labels import StartLabels
from .labels import BACKGROUND, PseudoLabels
from .labels import FOREGROUND as OBJECT
from .labels import UNLABELLED as NO_HINT

__all__ = [
    "NO_HINT",
    "OBJECT",
    "BACKGROUND",
    "as_hint_list",
    "check_values",
    "apply_hints",
    "polarity_from_hints",
    "start_trust",
    "corrections",
    "hints_only_labels",
    "sets_start_aside",
    "HintedLabels",
    "honour_strokes",
]

log = logging.getLogger(__name__)


# below this trust in the start (or, in a review's refine, in the masks) a fresh fit learns from the hints alone.
# Measured: ssTEM mitochondria 0.23 on the old start, 0.54 on the compartments start and on its masks (strokes on the
# 3 images a review shows first; learnt anew the folder goes 36.6 -> 49.5 Dice); nuclei 1, DRIVE 0.8
SET_ASIDE_BELOW = 0.6
# ... and only with this many hinted pixels of each kind: two stray dots must not replace a good start (ssTEM: 426, 625)
SET_ASIDE_MIN_PIXELS = 200
# the unhinted pixels of a hinted image, taken as background, weigh together this many times its hinted pixels
UNHINTED_WEIGHT = 5.0
# in a refine, the strokes that correct the masks carry at least this share of their class's weight in their image
REFINE_SHARE = 0.5
# a refine continues from trained weights at this share of the fit's learning rate: a fresh Adam at a higher rate moves
# them far. nuclei_mixed, a refine on the masks themselves: 86.0 -> 83.8 at 1, 85.0 at 0.1, 86.0 at 0.02; dsb2018, strokes on
# the 3 images shown first: the folder 87.5 -> 87.1 at 0.02 (19 images 2 to 5 Dice lower), 87.7 at 0.005 (one 2.8 lower)
REFINE_LR = 0.005
# a background stroke through an object's middle (this share of the object size from its edge) removes the whole object
THROUGH_MIDDLE = 0.25
# learning from a few strokes takes longer: this many times the steps per epoch (ssTEM 36 -> 50 Dice)
HINTS_ONLY_STEPS = 3


def check_values(hint: np.ndarray, where: str) -> None:
    """Raise ValueError (naming ``where``) unless ``hint`` is an integer array of 0, 1 and 2 only."""
    if hint.dtype.kind not in "biu" or (hint.size and not np.isin(np.unique(hint), (NO_HINT, OBJECT, BACKGROUND)).all()):
        raise ValueError(f"{where}: values must be 0 (none), 1 (object) or 2 (background)")


def as_hint_list(hints, images: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """One uint8 hint array (or None: no hint) per image of ``images`` (the planes :func:`igtt.starts.images.as_image_list` gives).

    ``hints`` may be one array shaped like a single image or a stack, or a
    sequence with one entry (array or None) per image.

    Raises
    ------
    ValueError
        A hint's shape differs from its image's, or it holds values other
        than 0, 1 and 2.
    """
    if hints is None:
        return [None] * len(images)
    if isinstance(hints, np.ndarray):
        hints = [hints] if hints.ndim == 2 else list(hints)
    hints = list(hints)
    if len(hints) != len(images):
        raise ValueError(f"hints: one per image, got {len(hints)} for {len(images)} images")
    out = []
    for i, (hint, image) in enumerate(zip(hints, images)):
        if hint is None:
            out.append(None)
            continue
        hint = np.asarray(hint)
        if hint.shape != image.shape:
            raise ValueError(f"hints for image {i}: shape {hint.shape} does not match the image's {image.shape}")
        check_values(hint, f"hints for image {i}")
        out.append(hint.astype(np.uint8) if hint.any() else None)
    return out


def apply_hints(start: StartLabels, hint: np.ndarray | None) -> StartLabels:
    """``start`` with the hinted pixels set: objects foreground, background background."""
    if hint is None:
        return start
    obj, bg = hint == OBJECT, hint == BACKGROUND
    return StartLabels(
        mask=(start.mask | obj) & ~bg,
        foreground=(start.foreground | obj) & ~bg,
        background=(start.background | bg) & ~obj,
    )


def corrections(start: StartLabels, hint: np.ndarray) -> np.ndarray:
    """The hinted pixels the start labels otherwise: an object hint not in its foreground, a background hint not in its background."""
    return ((hint == OBJECT) & ~start.foreground) | ((hint == BACKGROUND) & ~start.background)


def start_trust(starts: Sequence[StartLabels], hints: Sequence[np.ndarray | None]) -> float:
    """How far to trust the label-free start, from its agreement with the hints: 1 (agrees) down to 0.05.

    The agreement is the start mask's balanced accuracy on the hinted
    pixels (objects inside, background outside), pooled over the images:
    0.9 or more gives 1, 0.5 (chance) or less gives 0.05, linear between.
    Without hints of both kinds: 1.
    """
    inside = outside = n_obj = n_bg = 0
    for start, hint in zip(starts, hints):
        if hint is None:
            continue
        obj, bg = hint == OBJECT, hint == BACKGROUND
        inside += int(start.mask[obj].sum())
        outside += int((~start.mask[bg]).sum())
        n_obj += int(obj.sum())
        n_bg += int(bg.sum())
    if not n_obj or not n_bg:
        return 1.0
    agreement = (inside / n_obj + outside / n_bg) / 2
    return float(np.clip((agreement - 0.5) / 0.4, 0.05, 1.0))


def polarity_from_hints(images: Sequence[np.ndarray], hints: Sequence[np.ndarray | None]) -> str | None:
    """``"bright"`` or ``"dark"``: whether the hinted objects are brighter than the hinted background; None if undecided.

    Each image with both kinds of hint votes with the difference of the
    mean grey levels, in units of that image's spread.
    """
    vote = 0.0
    for image, hint in zip(images, hints):
        if hint is None or not (hint == OBJECT).any() or not (hint == BACKGROUND).any():
            continue
        image = np.asarray(image, np.float32)
        spread = float(image.std()) or 1.0
        vote += (image[hint == OBJECT].mean() - image[hint == BACKGROUND].mean()) / spread
    if vote == 0:
        return None
    return "bright" if vote > 0 else "dark"


def sets_start_aside(trust: float, hints: Sequence[np.ndarray | None]) -> bool:
    """Whether a fresh fit learns from ``hints`` alone: they contradict the start (``trust``) and are enough of each kind."""
    present = [h for h in hints if h is not None]
    enough = all(sum(int((h == value).sum()) for h in present) >= SET_ASIDE_MIN_PIXELS for value in (OBJECT, BACKGROUND))
    return enough and trust < SET_ASIDE_BELOW


def hints_only_labels(hint: np.ndarray | None, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(target, weight), float32: the labels of an image when the start is set aside.

    Object hints are foreground, background hints background, and every
    unhinted pixel is background with a small weight: objects are the
    minority of an image, so a random pixel is far more often background
    than not (positive-unlabelled learning). Together the unhinted pixels
    weigh ``UNHINTED_WEIGHT`` times the hinted ones, so the network learns
    what sets the hinted objects apart from the whole image, not only from
    the few places painted as background. An image without hints gets no
    label at all.
    """
    if hint is None:
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    target = (hint == OBJECT).astype(np.float32)
    hinted = hint != NO_HINT
    weight = hinted.astype(np.float32)
    free = ~hinted
    if free.any():
        weight[free] = UNHINTED_WEIGHT * hinted.sum() / free.sum()
    return target, weight


class HintedLabels:
    """Pseudo-labels with the user's strokes: it wraps :class:`~igtt.training.labels.PseudoLabels`.

    Hinted pixels override the start, keep their label through EMS and
    every refresh, and those that correct the start (:func:`corrections`)
    carry a share of their class's weight that grows as the hints
    contradict the start: ``Config.hint_share * (1 - trust)``
    (:func:`start_trust`); the start's own pixels weigh ``trust``. When the
    hints contradict the start outright (:func:`sets_start_aside`) the start
    is set aside and the labels are the hints alone, made once
    (:func:`hints_only_labels`), unless ``keep_start`` (a refine, whose
    start is the model's own masks).
    """

    def __init__(self, starts: Sequence[StartLabels], hints: Sequence[np.ndarray | None], config, rng, *, keep_start: bool = False):
        self.hints = list(hints)
        self.trust = start_trust(starts, self.hints)
        self.hints_only = not keep_start and sets_start_aside(self.trust, self.hints)
        self._hints_only = [hints_only_labels(h, s.foreground.shape) for h, s in zip(self.hints, starts)] if self.hints_only else None
        # the hints that correct the start (it labelled them otherwise, or not at all) are what is new to learn
        self.corrections = [None if h is None else corrections(s, h) for s, h in zip(starts, self.hints)]
        self.share = config.hint_share * (1 - self.trust)  # of a class's weight in an image, for its corrections
        if keep_start:  # a refine: the strokes were painted where the masks are wrong, however few they are
            self.share = max(self.share, REFINE_SHARE)
        self.labels = PseudoLabels([apply_hints(s, h) for s, h in zip(starts, self.hints)], config, rng)
        n = sum(int(c.sum()) for c in self.corrections if c is not None)
        log.info("hints: %d pixels correct the start; trust in the start %.2f", n, self.trust)
        if self.hints_only:
            log.info("hints contradict the start: learning from the hints alone")

    def __len__(self) -> int:
        return len(self.hints)

    def refresh(self, i: int, mask: np.ndarray) -> None:
        """As :meth:`PseudoLabels.refresh`, the hints outliving it."""
        if self.hints[i] is not None:
            mask = (mask | (self.hints[i] == OBJECT)) & (self.hints[i] != BACKGROUND)
        self.labels.refresh(i, mask)

    def draw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's (target, weight) for image ``i``: the pseudo-labels' with the hints laid over them."""
        if self.hints_only:
            return self._hints_only[i]
        target, weight = self.labels.draw(i)
        if self.trust < 1:
            weight *= np.float32(self.trust)
        hint = self.hints[i]
        if hint is not None:
            share = self.share
            for value, cls in ((OBJECT, 1), (BACKGROUND, 0)):
                hinted = hint == value
                target[hinted] = cls
                weight[hinted] = np.maximum(weight[hinted], self.trust)
                new = hinted & self.corrections[i]
                if new.any() and share > 0:
                    rest = float(weight[(target == cls) & ~new].sum())
                    weight[new] = max(self.trust, share / (1 - share) * rest / new.sum())  # never below a start pixel
        return target, weight

    def anchors(self) -> tuple[list | None, float, int]:
        """Per image, the pixels some crops are centred on (corrective hints; all hints when they are the only labels), the fraction of such crops, and the factor on the steps."""
        if self.hints_only:  # every crop holds hints: they are the only labels, and learning from a few strokes takes longer
            return [None if h is None else np.argwhere(h) for h in self.hints], 1.0, HINTS_ONLY_STEPS
        return [np.argwhere(c) if c is not None and c.any() else None for c in self.corrections], self.share, 1

    def preview(self, i: int = 0) -> np.ndarray:
        if self.hints_only:  # the hints are the labels
            return np.zeros(self.labels.foreground[i].shape, np.uint8) if self.hints[i] is None else self.hints[i].copy()
        return self.labels.preview(i)


def honour_strokes(
    mask: np.ndarray, hint: np.ndarray | None, *, kind: str = "blobs", size: float | None = None, image: np.ndarray | None = None,
    bright: bool = True,
) -> np.ndarray:
    """``mask`` as the strokes say: stroked background out of it, a blob a background stroke runs through the middle of
    removed, and an object stroke the mask missed in it with its object.

    A background stroke that reaches deeper into a connected object than
    ``THROUGH_MIDDLE`` of the object ``size`` (or 2 px) says the object is
    not one (debris, a false nucleus), unless an object stroke touches it
    too. Lines keep their networks: only the stroked pixels leave them.
    Object strokes add their pixels and, given the ``image`` (objects
    ``bright`` or dark), one mostly outside the mask the object it lies in
    (:func:`_stroked_object`).
    """
    if hint is None or not hint.any():
        return mask
    background = hint == BACKGROUND
    if kind != "lines" and background.any():
        labels, _ = ndi.label(mask)
        depth = ndi.distance_transform_edt(labels > 0)
        deep = background & (depth > max(2.0, THROUGH_MIDDLE * (size or 0)))
        crossed = np.setdiff1d(labels[deep], np.append(labels[hint == OBJECT], 0))
        mask = mask & ~np.isin(labels, crossed)
    strokes, _ = ndi.label(hint == OBJECT)
    if image is not None and np.shape(image)[: mask.ndim] == mask.shape:
        size = size or 2.0
        reach = int(max(4, 1.5 * size))
        mask = mask.copy()
        for k, box in enumerate(ndi.find_objects(strokes), 1):
            window = tuple(slice(max(0, s.start - reach), s.stop + reach) for s in box)  # the stroke and an object size around
            stroke = strokes[window] == k
            if mask[window][stroke].mean() < 0.5:  # a missed object: the rest of it from the image
                mask[window] |= _stroked_object(mask[window], stroke, image[window], bright, size)
    return (mask | (strokes > 0)) & ~background


def _stroked_object(taken, inside, pixels, bright: bool, size: float) -> np.ndarray:
    """In a window of the image (``pixels``), the object a stroke (``inside``) lies in outside the mask (``taken``): within
    ``size`` of it, the pixels on its side of the level halfway between it and the background (30th percentile around),
    connected to it, holes filled; nothing where the stroke is no brighter (darker) than its surround or what it finds is
    over 4 x size² (nuclei_mixed, strokes on the errors: painted 78.0 -> 80.4 Dice, 79.9 without ``size``; dsb2018 63.0)."""
    pixels = np.asarray(pixels, np.float32)
    pixels = pixels.reshape(*taken.shape, -1).mean(-1) * (1 if bright else -1)  # channels averaged
    around = pixels[~taken & ~inside]
    nothing = np.zeros(taken.shape, bool)
    if not around.size or np.median(pixels[inside]) <= (level := np.percentile(around, 30)):
        return nothing
    level = (np.median(pixels[inside]) + level) / 2
    near = ndi.distance_transform_edt(~inside) <= size  # no part of an object lies farther than its size from a stroke in it
    parts, _ = ndi.label(((pixels > level) & ~taken & near) | inside)
    grown = ndi.binary_fill_holes(np.isin(parts, np.unique(parts[inside])))
    return grown if grown.sum() <= 4 * size**2 else nothing
    level = (np.median(pixels[inside]) + level) / 2
    near = ndi.distance_transform_edt(~inside) <= size  # no part of an object lies farther than its size from a stroke in it
    parts, _ = ndi.label(((pixels > level) & ~taken & near) | inside)
    grown = ndi.binary_fill_holes(np.isin(parts, np.unique(parts[inside])))
    if grown.sum() <= 4 * size**2:
        found[window] = grown
    return found
