"""Synthetic microscopy images with known masks: nuclei-like blobs, filament networks, and organelles among walls.

Used by the tests, the examples and the napari sample data, so none of them
needs real data.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["make_nuclei", "make_nuclei_3d", "make_filaments", "make_compartments"]


def _render(
    mask: np.ndarray,
    signal: np.ndarray,
    rng: np.random.Generator,
    *,
    noise: float,
    background: float,
    dtype,
    dark: bool,
) -> np.ndarray:
    rows, cols = mask.shape
    rr, cc = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    # uneven illumination: a tilted plane plus a broad bump
    angle = rng.uniform(0, 2 * np.pi)
    shading = background * (1 + 0.5 * (np.cos(angle) * rr + np.sin(angle) * cc))
    shading += background * 0.5 * np.exp(-((rr - rng.uniform()) ** 2 + (cc - rng.uniform()) ** 2) / 0.1)
    image = shading + ndi.gaussian_filter(signal, 1.0)
    image = image + rng.normal(0, noise, mask.shape)
    image = np.clip(image, 0, None)
    if dark:
        image = image.max() - image
    if np.issubdtype(np.dtype(dtype), np.integer):
        peak = np.iinfo(dtype).max
        image = image / max(image.max(), 1e-6) * (0.8 * peak)
        return np.clip(np.round(image), 0, peak).astype(dtype)
    return image.astype(dtype)


def make_nuclei(
    shape: tuple[int, int] = (256, 256),
    *,
    n_nuclei: int = 25,
    radius: tuple[float, float] = (8, 16),
    noise: float = 0.08,
    background: float = 0.15,
    dtype=np.uint16,
    dark: bool = False,
    rng=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bright elliptical blobs of varied brightness on an uneven, noisy background.

    Parameters
    ----------
    shape : (rows, cols)
    n_nuclei : int
    radius : (min, max) semi-axis in pixels
    noise : float
        Standard deviation of the Gaussian noise, relative to a nucleus of 1.
    background : float
        Mean background level, relative to a nucleus of 1.
    dtype : numpy dtype
        ``uint8``, ``uint16`` (scaled to 80 % of the range) or a float type.
    dark : bool
        Invert, so objects are dark (as in brightfield or EM).
    rng : int, Generator or None

    Returns
    -------
    image : (rows, cols) ndarray of ``dtype``
    mask : (rows, cols) bool ndarray
        The true objects.
    """
    rng = np.random.default_rng(rng)
    rows, cols = shape
    signal = np.zeros(shape, np.float64)
    mask = np.zeros(shape, bool)
    rr, cc = np.mgrid[0:rows, 0:cols]
    for _ in range(n_nuclei):
        r0, c0 = rng.uniform(0, rows), rng.uniform(0, cols)
        a, b = rng.uniform(*radius, size=2)
        theta = rng.uniform(0, np.pi)
        dr, dc = rr - r0, cc - c0
        u = (dr * np.cos(theta) + dc * np.sin(theta)) / a
        v = (-dr * np.sin(theta) + dc * np.cos(theta)) / b
        inside = u**2 + v**2 <= 1
        brightness = rng.uniform(0.5, 1.0)
        texture = 1 + 0.15 * rng.standard_normal(shape)
        signal[inside] = np.maximum(signal[inside], brightness * texture[inside])
        mask |= inside
    return _render(mask, signal, rng, noise=noise, background=background, dtype=dtype, dark=dark), mask


def make_filaments(
    shape: tuple[int, int] = (256, 256),
    *,
    n_filaments: int = 12,
    width: float = 2.0,
    noise: float = 0.08,
    background: float = 0.15,
    dtype=np.uint16,
    dark: bool = False,
    rng=None,
) -> tuple[np.ndarray, np.ndarray]:
    """A network of thin curved bright filaments (ER-, vessel- or cytoskeleton-like).

    Each filament is a smooth random walk drawn with thickness ``width``.
    Parameters and returns as :func:`make_nuclei`.
    """
    rng = np.random.default_rng(rng)
    rows, cols = shape
    centre = np.zeros(shape, bool)
    for _ in range(n_filaments):
        r, c = rng.uniform(0, rows), rng.uniform(0, cols)
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(4 * max(rows, cols)):
            heading += rng.normal(0, 0.08)
            r += np.cos(heading) * 0.5
            c += np.sin(heading) * 0.5
            if not (0 <= r < rows and 0 <= c < cols):
                break
            centre[int(r), int(c)] = True
    distance = ndi.distance_transform_edt(~centre)
    mask = distance <= width / 2
    brightness = 0.6 + 0.4 * ndi.gaussian_filter(rng.random(shape), 8) / 0.5
    signal = mask * np.clip(brightness, 0.3, 1.2)
    return _render(mask, signal, rng, noise=noise, background=background, dtype=dtype, dark=dark), mask


def make_compartments(
    shape: tuple[int, int] = (256, 256),
    *,
    n_cells: int = 80,
    n_organelles: int = 6,
    wall: float = 3.0,
    radius: tuple[float, float] = (14, 20),
    noise: float = 0.08,
    background: float = 0.15,
    dtype=np.uint16,
    dark: bool = True,
    rng=None,
) -> tuple[np.ndarray, np.ndarray]:
    """EM-like: a dense network of walls ``wall`` px wide, and round organelles, each in a room of its own.

    The walls are as strong as the organelles and are not objects: the mask
    holds the organelles only. Dark on light by default, as in EM.
    Parameters and returns as :func:`make_nuclei`.
    """
    rng = np.random.default_rng(rng)
    rows, cols = shape
    rr, cc = np.mgrid[0:rows, 0:cols]
    mask, rooms = np.zeros(shape, bool), np.zeros(shape, bool)
    for _ in range(n_organelles):
        r = rng.uniform(*radius)
        r0, c0 = rng.uniform(r, rows - r), rng.uniform(r, cols - r)
        mask |= (rr - r0) ** 2 + (cc - c0) ** 2 <= r**2
        rooms |= (rr - r0) ** 2 + (cc - c0) ** 2 <= (r + 2 * wall) ** 2
    seeds = np.zeros(shape, np.int32)
    seeds[rng.integers(0, rows, n_cells), rng.integers(0, cols, n_cells)] = np.arange(1, n_cells + 1)
    _, (nearest_r, nearest_c) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[nearest_r, nearest_c]
    edges = ((cells != np.roll(cells, 1, 0)) | (cells != np.roll(cells, 1, 1))) & ~rooms
    edges |= rooms & ~ndi.binary_erosion(rooms)  # each room's own wall
    walls = ndi.distance_transform_edt(~edges) <= wall / 2
    signal = 0.9 * walls + mask * rng.uniform(0.7, 1.0)
    return _render(mask, signal, rng, noise=noise, background=background, dtype=dtype, dark=dark), mask


def make_nuclei_3d(
    shape: tuple[int, int, int] = (24, 128, 128),
    *,
    n_nuclei: int = 12,
    radius: tuple[float, float] = (8, 12),
    anisotropy: float = 2.0,
    touching: float = 0.0,
    depth_fade: float = 0.0,
    noise: float = 0.05,
    background: float = 0.1,
    dtype=np.uint16,
    rng=None,
) -> tuple[np.ndarray, np.ndarray]:
    """A z-stack of nuclei: ellipsoids of varied brightness, with the true instances.

    Parameters
    ----------
    shape : (planes, rows, cols)
    n_nuclei : int
        How many are placed (fewer where the stack is too small to hold them apart).
    radius : (min, max) semi-axis in x/y pixels
    anisotropy : float
        The z step over the pixel size: a nucleus spans ``2 * radius / anisotropy`` planes.
    touching : float
        0: nuclei at least a pixel apart; up to about 0.3: centres closer than
        the sum of the radii by this share, so neighbours touch (the true
        instances split them at the nearer surface).
    depth_fade : float
        Brightness lost from the first plane to the last (0.6: the deepest nuclei are 40 % as bright).
    noise, background, dtype, rng
        As :func:`make_nuclei`.

    Returns
    -------
    volume : (planes, rows, cols) ndarray of ``dtype``
    labels : (planes, rows, cols) int32 ndarray, 0 background, 1..n the nuclei
    """
    rng = np.random.default_rng(rng)
    grid = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]].astype(np.float32)
    grid[0] *= anisotropy  # in x/y pixels
    centres, radii = [], []
    for _ in range(50 * n_nuclei):
        if len(centres) == n_nuclei:
            break
        r = rng.uniform(*radius, size=3)
        c = np.array([rng.uniform(0.3, 0.7) * shape[0] * anisotropy, *(rng.uniform(r[1], n - r[1]) for n in shape[1:])])
        if all(np.linalg.norm(c - o) >= (1 - touching) * (r.max() + q.max()) + (touching == 0) for o, q in zip(centres, radii)):
            centres.append(c)
            radii.append(r)
    nearest = np.full(shape, np.inf, np.float32)
    labels = np.zeros(shape, np.int32)
    signal = np.zeros(shape, np.float32)
    for i, (c, r) in enumerate(zip(centres, radii), 1):
        d = np.sqrt(sum(((g - x) / s) ** 2 for g, x, s in zip(grid, c, r)))
        mine = (d <= 1) & (d < nearest)
        nearest = np.where(mine, d, nearest)
        labels[mine] = i
        signal[mine] = rng.uniform(0.5, 1.0) * (1 - depth_fade * c[0] / (anisotropy * shape[0]))
    signal *= 1 + 0.15 * rng.standard_normal(shape).astype(np.float32)
    image = ndi.gaussian_filter(signal, (0.5, 1.0, 1.0)) + background + rng.normal(0, noise, shape)
    image = np.clip(image, 0, None)
    if np.issubdtype(np.dtype(dtype), np.integer):
        peak = np.iinfo(dtype).max
        image = np.clip(np.round(image / max(image.max(), 1e-6) * 0.8 * peak), 0, peak)
    return image.astype(dtype), labels
