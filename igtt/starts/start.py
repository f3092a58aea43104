"""The start a config asks for: the label-free start of the kind of object, or the paper's all-background start.

Every start takes one normalised image with bright objects (see
:func:`igtt.starts.images.orient`) and gives :class:`StartLabels`: a mask,
its confident foreground and background; pixels in neither are unlabelled
and do not count in the loss.
"""

from __future__ import annotations

import numpy as np

from ..config import STARTS
from .background import Background
from .blobs import blob_start
from .compartments import compartment_start
from .field import out_of_field
from .kinds import FALLBACK_SIZE
from .labels import StartLabels
from .lines import line_start

__all__ = ["start_labels", "black_labels", "own_start"]


def black_labels(image: np.ndarray) -> StartLabels:
    """All background, the paper's start: the network's first prediction is the first foreground."""
    nothing = np.zeros(image.shape, bool)
    return StartLabels(nothing, nothing, ~nothing)


def start_labels(
    image: np.ndarray, *, start: str = "objects", kind: str = "blobs", size: float | None = None, background: Background | None = None
) -> StartLabels:
    """The start named by ``Config.start`` for one image.

    Parameters
    ----------
    image : (M, N) float ndarray
        Normalised, objects bright.
    start : {"objects", "black"}
        ``objects``: the start of ``kind`` (:func:`igtt.starts.blobs.blob_start`,
        :func:`igtt.starts.lines.line_start`,
        :func:`igtt.starts.compartments.compartment_start`), inside the field of view;
        ``black``: :func:`black_labels`.
    kind : {"blobs", "lines", "compartments"}
    size : float
        Blob diameter, line width or wall width in pixels (needed for ``objects``).
    background : Background, optional
        The image's background, if already computed (blobs).

    Raises
    ------
    ValueError
        An unknown ``start``.
    """
    if start == "black":
        return black_labels(image)
    if start != "objects":
        raise ValueError(f"start must be one of {', '.join(STARTS)}; got {start!r}")
    inside = ~out_of_field(image)
    if kind == "lines":
        return line_start(image, size, inside=inside)
    if kind == "compartments":
        return compartment_start(image, size, inside=inside)
    return blob_start(image, size, inside=inside, background=background)


def own_start(oriented: np.ndarray, kind: str, size: float | None, *, step: int = 1, background: Background | None = None) -> StartLabels:
    """An image's own label-free start of ``kind``, whatever start the config trains from (the quality check's reference).

    ``size`` is in full-size pixels (None: the kind's fallback) and
    ``oriented`` may be the image at every ``step``-th pixel.
    """
    size = FALLBACK_SIZE[kind] if size is None else size
    return start_labels(oriented, kind=kind, size=size / step, background=background)
