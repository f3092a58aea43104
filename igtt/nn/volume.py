"""Z-stacks as volumes: one intensity range for the stack, its 3D start, the 2D network on every plane, the mask in 3D.

The network stays 2D: it is trained on the stack's planes, each scaled with
the whole stack's grey levels (a plane above the objects is dark, not
stretched noise) and labelled by the stack's 3D start
(:func:`igtt.starts.volume.volume_start`). Its plane-by-plane probabilities
are joined into a volume, smoothed over one plane in z, and thresholded
there; :func:`igtt.label_objects` then gives one id per 3D object.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .network_input import NetworkInput
from ..starts.images import intensity_range, rescale
from ..starts.volume import plane_starts, volume_groups, volume_start
from ..quality.check import AGREEMENT, COVERAGE, dice

__all__ = ["as_planes", "checked_volume", "fit_volumes", "predict_volume", "stack_gain", "stack_scaling", "stack_planes", "with_stack_gain", "Z_SMOOTH"]

Z_SMOOTH = 1.0  # sigma, in planes, of the smoothing of the probabilities along z (embryo stacks: AP50 0.89 -> 1.0 on one)


def as_planes(volume: np.ndarray, spacing, key) -> tuple[list[np.ndarray], list, list]:
    """A volume as what :meth:`igtt.IGTT.iter_fit` takes: its planes, the stack's range for each, and ``(key, spacing)`` for each."""
    volume = _check(volume)
    r = intensity_range(volume)
    return list(volume), [r] * len(volume), [(key, tuple(spacing) if spacing is not None else None)] * len(volume)


def fit_volumes(model, volumes, spacings=None, **kwargs):
    """Train ``model`` on z-stacks as volumes (:meth:`igtt.IGTT.iter_fit` with their planes); yields its events."""
    spacings = spacings if spacings is not None else [None] * len(volumes)
    planes, ranges, groups = [], [], []
    for key, (volume, spacing) in enumerate(zip(volumes, spacings)):
        p, r, g = as_planes(volume, spacing, key)
        planes += p
        ranges += r
        groups += g
    yield from model.iter_fit(planes, ranges=ranges, volumes=groups, **kwargs)


def with_stack_gain(raw: list, ranges: list, volumes: list, *, invert: bool, diameter: float | None) -> list:
    """``ranges`` with each volume's planes given the stack's background gain as a third value.

    The network's input is the image minus its background, divided by a
    gain (:class:`igtt.nn.network_input.NetworkInput`); a plane's own gain
    would stretch the noise of a plane above the objects to full contrast,
    and the network finds objects everywhere there. A stack's gain is that
    of its brightest plane. Images that are not planes of a volume, and
    every image without ``diameter`` (no background subtracted), keep their range.
    """
    if diameter is None:
        return ranges
    ranges = list(ranges)
    for planes in volume_groups(volumes, ranges).values():
        lo, hi = ranges[planes[0]][:2]
        gain = stack_gain([raw[i] for i in planes], (lo, hi), invert=invert, diameter=diameter)
        for i in planes:
            ranges[i] = (lo, hi, gain)
    return ranges


def stack_gain(planes, range_, *, invert: bool, diameter: float) -> float:
    """A stack's background gain: that of its brightest plane, each scaled with the stack's ``range_``."""
    return max(NetworkInput.for_image(plane, invert=invert, diameter=diameter, range=range_).gain for plane in planes)


def stack_planes(model, raw: list, oriented: list, ranges: list, volumes: list, usable: list) -> tuple[list, dict]:
    """At fit, for the planes of z-stacks: their ranges with the stack's gain (:func:`with_stack_gain`) and their
    starts cut from the stack's 3D start (:func:`igtt.starts.volume.plane_starts`), once the kind and size are known."""
    diameter = model.object_size_ if model.config.for_kind(model.objects_).subtract_background else None
    ranges = with_stack_gain(raw, ranges, volumes, invert=model.foreground_ == "dark", diameter=diameter)
    wanted = set(usable)
    planned = plane_starts([o if i in wanted else None for i, o in enumerate(oriented)], volumes, model.objects_, model.object_size_)
    return ranges, planned


def stack_scaling(model, volume: np.ndarray, *, step: int = 1) -> tuple[float, ...]:
    """A stack's grey levels ``(lo, hi)`` and, where ``model`` subtracts the background, its gain as a third value.

    From the stack, or from its strided view ``stack[:, ::step, ::step]``
    (a stack read block by block): pass it as ``scaling`` to
    :func:`predict_volume` for every block.
    """
    range_ = intensity_range(volume)
    if model.config.for_kind(model.objects_).subtract_background and model.object_size_:
        range_ = (*range_, stack_gain(list(volume), range_, invert=model.foreground_ == "dark", diameter=model.object_size_ / step))
    return range_


def predict_volume(
    model, volume: np.ndarray, *, proba: bool = False, scaling: tuple | None = None, spacing=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The 3D mask of a z-stack (and its probabilities when ``proba``), from the network's planes joined in 3D.

    Every plane is predicted with the stack's grey levels (``scaling``,
    default :func:`stack_scaling` of ``volume``: give the whole stack's when
    ``volume`` is a block of it); the probabilities
    are smoothed by :data:`Z_SMOOTH` planes along z and thresholded at the
    model's threshold (0.5 where it searches one per image); holes enclosed
    in 3D are filled. A blob mask that ran away from the stack's 3D start
    (the voxel size ``spacing``) is replaced by it (:func:`checked_volume`).
    """
    volume = _check(volume)
    planes = list(volume)
    ranges = [scaling or stack_scaling(model, volume)] * len(planes)
    probability = np.stack([d.proba for d in model.iter_predict(planes, ranges=ranges, proba=True, check=False)])
    threshold = model.config.mask_threshold
    smooth = ndi.gaussian_filter1d(probability, Z_SMOOTH, axis=0, mode="nearest") if len(volume) > 1 else probability
    mask = ndi.binary_fill_holes(smooth > (0.5 if threshold == "dmi" else float(threshold)))
    if model.objects_ == "blobs" and model.object_size_:
        oriented = rescale(volume, *ranges[0][:2], invert=model.foreground_ == "dark")
        mask = checked_volume(mask, volume_start(oriented, model.object_size_, spacing=spacing).mask)
    return mask, probability if proba else None


def checked_volume(mask: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``mask``, or the stack's 3D ``start`` where the mask ran away from it, by the 2D check's rule
    (:func:`igtt.quality.check.check_mask`: Dice under its ``AGREEMENT`` and a foreground off by more than ``COVERAGE``).

    A network trained too briefly on a stack of many small nuclei gave a
    mask of four times the start's volume, blurred over its neighbours
    (3D AP50 0.0 against the start's 0.9).
    """
    covered, started = float(mask.mean()), float(start.mean())
    agreement = dice(mask, start)
    off = (covered + 1e-4) / (started + 1e-4)
    ran_away = start.any() and agreement < AGREEMENT and not 1 / COVERAGE <= off <= COVERAGE
    return start.copy() if ran_away else mask


def _check(volume) -> np.ndarray:
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise ValueError(f"a volume must be a 3D array (planes, rows, columns), got shape {volume.shape}")
    return volume
