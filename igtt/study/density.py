"""Meta-structures as spatial density: the density of each class's pixels around every pixel.

For class ``m`` the pixels labelled ``m`` are points; the density at a pixel
is the fraction of the ``(2h + 1)²`` window around it that they fill (the
papers' uniform-kernel estimate, eq. 4, scaled so a window full of the class
reads 1). One box filter computes it for all pixels at once. Multi-class
labels are analysed one class at a time (one versus the rest).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .label_noise import apply_ntm, binary_ntm, random_label, random_sample_exact

__all__ = ["density_map", "density_maps", "density_curve", "outline_positions", "circle_in_rectangle", "figure10_labels"]


def density_map(labels: np.ndarray, h: int, *, cls: int = 1) -> np.ndarray:
    """Density of class ``cls`` in a ``(2h + 1)²`` window around every pixel, float32 in [0, 1].

    ``valid``-style masks are not needed: every pixel of ``labels`` is a
    point of some class. The image is mirrored at its edges.
    """
    if h < 0:
        raise ValueError(f"h must be >= 0, got {h}")
    points = (np.asarray(labels) == cls).astype(np.float32)
    return ndi.uniform_filter(points, size=2 * h + 1, mode="reflect")


def density_maps(labels: np.ndarray, h: int, *, n_classes: int | None = None) -> np.ndarray:
    """One density map per class, shape (M, rows, cols)."""
    labels = np.asarray(labels).astype(np.intp)
    n = n_classes if n_classes is not None else max(2, int(labels.max()) + 1)
    return np.stack([density_map(labels, h, cls=m) for m in range(n)])


def density_curve(density: np.ndarray, row: int | None = None) -> np.ndarray:
    """The density along one row (the papers' "density curve"); default the middle row."""
    density = np.asarray(density)
    return density[density.shape[0] // 2 if row is None else row]


def outline_positions(labels: np.ndarray, row: int | None = None) -> np.ndarray:
    """Columns where the class changes along ``row``: the object outlines a density curve should show."""
    line = density_curve(np.asarray(labels), row)
    return np.flatnonzero(np.diff(line.astype(np.intp)) != 0) + 0.5


def circle_in_rectangle(shape: tuple[int, int] = (256, 256), radius: float | None = None) -> np.ndarray:
    """The papers' toy label (Fig. 10A): a disk of foreground in the middle of a background rectangle."""
    rows, cols = shape
    radius = min(rows, cols) / 4 if radius is None else radius
    r, c = np.ogrid[:rows, :cols]
    return (r - (rows - 1) / 2) ** 2 + (c - (cols - 1) / 2) ** 2 <= radius**2


def figure10_labels(shape: tuple[int, int] = (256, 256), rng=0) -> dict[str, np.ndarray]:
    """The four label types of the papers' Fig. 10 built from :func:`circle_in_rectangle`.

    CL; two full-rank RCLs (symmetric flip 0.4, d = 0.4; sampling 10 % of
    the foreground, the reference code's way); and RL (every pixel
    foreground with probability 0.5, rank 1, d = 0).
    """
    rng = np.random.default_rng(rng)
    clean = circle_in_rectangle(shape)
    return {
        "CL": clean,
        "RCL flip 0.4 (d=0.4)": apply_ntm(clean, binary_ntm(0.4, 0.4), rng),
        "RCL sample 0.1 (d=0.1)": random_sample_exact(clean, 0.1, rng),
        "RL 0.5 (d=0)": random_label(shape, 0.5, rng),
    }
