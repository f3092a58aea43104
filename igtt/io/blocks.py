"""Images larger than memory: one intensity range for the whole image, random blocks to train on, prediction block by block.

Works on any 2D array that reads a region when sliced (a zarr array, a
numpy memmap, a :class:`Plane` of a larger array); only a block and its
margin are in memory at a time, so the peak does not grow with the image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..starts.field import field_step
from .files import ImageReadError, error_line

__all__ = ["Plane", "strided_view", "sample_blocks", "block_grid", "grow", "predict_blocks", "is_lazy", "predict_lazy"]


@dataclass
class Plane:
    """The 2D plane ``index`` of an N-D array (the last two axes are rows and columns), sliced lazily.

    An ``index`` that ends with ``slice(None)`` before the rows makes it a
    z-stack sliced by rows and columns: each read is (planes, rows, columns).

    ``source`` names the array (a zarr store's path): any fault while
    reading a region (a corrupt, truncated or unreadable chunk, a share
    that errors) becomes an :class:`~igtt.io.files.ImageReadError` naming it and
    the block.
    """

    array: object
    index: tuple = ()
    source: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.array.shape[-2:])

    def __getitem__(self, key):
        try:
            return np.asarray(self.array[self.index + tuple(key)])
        except Exception as exc:  # every storage back end raises its own types
            key = self._bad_chunk(tuple(key)) or key
            raise ImageReadError(f"{self.source or 'array'}: cannot read {_describe(self.index, key, self.shape)} ({error_line(exc)})") from None

    def _bad_chunk(self, key: tuple) -> tuple[slice, slice] | None:
        """The first chunk of the region ``key`` that fails to read (zarr arrays), to name it in the message."""
        chunks = getattr(self.array, "chunks", None)
        if not chunks or len(key) != 2 or not all(isinstance(k, slice) for k in key):
            return None
        (r0, r1, _), (c0, c1, _) = (k.indices(n) for k, n in zip(key, self.shape))
        step_r, step_c = chunks[-2:]
        for r in range(r0 - r0 % step_r, r1, step_r):
            for c in range(c0 - c0 % step_c, c1, step_c):
                chunk = (slice(r, min(r + step_r, self.shape[0])), slice(c, min(c + step_c, self.shape[1])))
                try:
                    self.array[self.index + chunk]
                except Exception:
                    return chunk
        return None

    def __setitem__(self, key, value) -> None:
        self.array[self.index + tuple(key)] = value


def _describe(index: tuple, key, shape) -> str:
    """``rows 0-1024, cols 2048-3072 of plane (0, 3)``: a region, for messages."""
    parts = []
    for name, part, n in zip(("rows", "cols"), tuple(key), shape):
        if isinstance(part, slice):
            start, stop, step = part.indices(n)
            parts.append(f"{name} {start}-{stop}" + (f" (every {step}th)" if step != 1 else ""))
    fixed = tuple(int(i) for i in index if not isinstance(i, slice))
    plane = (f" of stack {fixed}" if any(isinstance(i, slice) for i in index) else f" of plane {fixed}") if index else ""
    return (", ".join(parts) or "a region") + plane


def strided_view(source, limit: int = 2048) -> tuple[np.ndarray, int]:
    """Every ``step``-th pixel of ``source`` in both directions, at most ``limit`` a side, and the step."""
    step = field_step(source.shape, limit)
    return np.asarray(source[::step, ::step]), step


def block_grid(shape: tuple[int, int], block: int) -> list[tuple[slice, slice]]:
    """Row and column slices of the blocks that tile ``shape``, row by row."""
    return [
        (slice(r, min(r + block, shape[0])), slice(c, min(c + block, shape[1])))
        for r in range(0, shape[0], block)
        for c in range(0, shape[1], block)
    ]


def sample_blocks(source, *, size: int = 1024, count: int = 8, seed: int = 0, view: tuple[np.ndarray, int] | None = None) -> list[np.ndarray]:
    """``count`` blocks of ``size``² at random places (seeded), or the whole image if it is that small.

    Blocks are drawn where the strided view (``view``: :func:`strided_view`
    of ``source``, if already read) is not flat, so a slide that is mostly
    empty glass still trains on tissue.
    """
    rows, cols = source.shape
    size = min(size, rows, cols)
    if rows * cols <= count * size * size:
        return [np.asarray(source[:, :])]
    rng = np.random.default_rng(seed)
    view, step = view or strided_view(source)
    places = [(int(rng.integers(0, rows - size + 1)), int(rng.integers(0, cols - size + 1))) for _ in range(count * 10)]
    flat = [view[r // step : (r + size) // step + 1, c // step : (c + size) // step + 1].std() <= 0.1 * view.std() for r, c in places]
    chosen = ([p for p, f in zip(places, flat) if not f] + [p for p, f in zip(places, flat) if f])[:count]
    return [np.asarray(source[r : r + size, c : c + size]) for r, c in chosen]


def grow(s: slice, margin: int, length: int) -> slice:
    """``s`` widened by ``margin`` on both sides, within ``[0, length)``."""
    return slice(max(s.start - margin, 0), min(s.stop + margin, length))


def predict_blocks(model, source, sink, *, block: int = 4096, margin: int = 128) -> Iterator[tuple[int, int]]:
    """Write ``model.predict`` of ``source`` into ``sink`` block by block; yield ``(done, total)`` after each.

    Each block is predicted with ``margin`` pixels of context on every side
    (cut off before writing) and scaled like the whole image
    (:meth:`igtt.IGTT.scaling_of` a strided view), so blocks meet without
    seams. ``sink`` gets 0/255 uint8.
    """
    view, step = strided_view(source)
    scaling = model.scaling_of(view, step=step)
    del view
    grid = block_grid(source.shape, block)
    for done, (rows, cols) in enumerate(grid, 1):
        outer = (grow(rows, margin, source.shape[0]), grow(cols, margin, source.shape[1]))
        raw = np.asarray(source[outer])
        mask = model.predict(raw, ranges=scaling)
        inner = (slice(rows.start - outer[0].start, rows.stop - outer[0].start), slice(cols.start - outer[1].start, cols.stop - outer[1].start))
        sink[rows, cols] = np.multiply(mask[inner], 255, dtype=np.uint8)
        yield done, len(grid)


def is_lazy(images) -> bool:
    """A zarr, dask or other array that reads a region when sliced (not numpy), of 2 or more dimensions."""
    lazy = not isinstance(images, (np.ndarray, list, tuple)) and all(hasattr(images, a) for a in ("shape", "dtype", "__getitem__"))
    return lazy and len(images.shape) >= 2


def predict_lazy(model, array) -> np.ndarray:
    """The bool mask of a lazy ``array`` (zarr, dask), plane by plane and block by block (:func:`predict_blocks`)."""
    sink = np.zeros(tuple(array.shape), np.uint8)
    for index in np.ndindex(*array.shape[:-2]):
        for _ in predict_blocks(model, Plane(array, index), Plane(sink, index)):
            pass
    return sink > 0
