"""The start of a volume (a z-stack of blobs): the blob start done in 3D, so a plane above the objects is background, not noise.

Planes of a stack taken one by one each get a start of their own: a plane
above or below every nucleus holds only noise, and a threshold picked on it
makes noise foreground (two embryo stacks: 4781 "objects" for 24 nuclei).
In 3D the background, the threshold and each object's own cut are those of
the volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import gaussian
from skimage.transform import resize

from .blobs import per_object_cut
from .labels import StartLabels

__all__ = ["volume_start", "anisotropy", "volume_groups", "plane_starts", "quiet_planes"]

_TARGET = 12.0  # as the 2D background: computed where an object is ~12 voxels across
_TOPHAT = 3 / 4  # the background keeps structures larger than ~1.5 objects


def anisotropy(spacing) -> float:
    """How many x/y pixels one z step spans (spacing is (z, y, x) in one unit; None: 1)."""
    return 1.0 if spacing is None else float(spacing[0]) / float(spacing[-1])


def volume_start(volume: np.ndarray, diameter: float, *, spacing=None) -> StartLabels:
    """The blob start of a normalised volume (objects bright) whose objects are ``diameter`` x/y pixels across.

    The volume is reduced to where an object is about 12 voxels across in
    every axis (z by its step, from ``spacing``); there it is smoothed, its
    background is a grey opening with a box of 3/4 of the object, and the
    rest is cut per object at a share of its own peak
    (:func:`igtt.starts.blobs.per_object_cut`): a dim deep nucleus gets its own
    edge, not the bright ones' threshold. The mask is brought back to full
    size; labels tight on both sides (:meth:`StartLabels.tight`).
    """
    volume = np.asarray(volume, np.float32)
    across = np.array([diameter / anisotropy(spacing), diameter, diameter])  # an object's size in voxels, per axis
    factors = np.minimum(1.0, _TARGET / np.maximum(across, 1.0))
    reduced = tuple(max(1, int(round(n * f))) for n, f in zip(volume.shape, factors))
    small = resize(volume, reduced, order=1, anti_aliasing=True) if reduced != volume.shape else volume
    small = gaussian(small, np.maximum(0.5, factors))  # about one full-size voxel
    box = [max(3, int(round(2 * _TOPHAT * a * f)) | 1) for a, f in zip(across, factors)]
    response = small - ndi.grey_opening(small, size=box)
    mask = per_object_cut(response)
    if mask.shape != volume.shape:
        mask = resize(mask.astype(np.float32), volume.shape, order=1) > 0.5
    typical = np.pi / 6 * np.prod(across)
    mask = _drop_small(mask, typical / 6**3)  # specks under a sixth of the diameter, as the 2D start
    return StartLabels.tight(mask)


def _drop_small(mask: np.ndarray, smallest: float) -> np.ndarray:
    regions, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(regions.ravel())
    sizes[0] = 0
    return (sizes >= smallest)[regions]


def volume_groups(volumes: list, present: list) -> dict:
    """The indices of each volume's planes, by key (``volumes[i]``: None or ``(key, ...)``), where ``present[i]`` is not None."""
    groups: dict = {}
    for i, group in enumerate(volumes):
        if group is not None and present[i] is not None:
            groups.setdefault(group[0], []).append(i)
    return groups


def plane_starts(oriented: list, volumes: list, kind: str, diameter: float) -> dict:
    """The starts of the planes that belong to volumes: ``{index: StartLabels}``, cut from each volume's 3D start.

    ``volumes[i]`` is None for an image on its own, or ``(key, spacing, z)``
    for plane ``z`` of the volume ``key``. Only blobs
    have a 3D start; other kinds keep their planes' own starts.
    """
    groups = volume_groups(volumes, oriented)
    if kind != "blobs" or not groups:
        return {}
    starts = {}
    for key, planes in groups.items():
        planes.sort(key=lambda i: volumes[i][2])
        spacing = volumes[planes[0]][1]
        start = volume_start(np.stack([oriented[i] for i in planes]), diameter, spacing=spacing)
        for z, i in enumerate(planes):
            starts[i] = StartLabels(start.mask[z], start.foreground[z], start.background[z])
    return starts


def quiet_planes(oriented: list, volumes: list) -> set:
    """The planes of volumes that hold little (their 99th percentile under half the volume's brightest plane's): above or
    below the objects, they say nothing about the kind and size of object and are left out of deciding them."""
    quiet = set()
    for planes in volume_groups(volumes, oriented).values():
        tops = np.array([np.percentile(oriented[i], 99) for i in planes])
        quiet |= {i for i, top in zip(planes, tops) if top < 0.5 * tops.max()}
    return quiet
