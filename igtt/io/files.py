"""Reading images from disk (TIFF through tifffile), one line naming the file for any fault; writing TIFFs atomically."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .outputs import atomic_path

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "find_images",
    "images_by_stem",
    "read_image",
    "write_tiff",
    "error_line",
    "MAX_PIXELS",
]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message names the file and the reason."""


def error_line(exc: BaseException) -> str:
    """An exception in one line for a message: ``Type: reason`` (the OS's reason where there is one)."""
    text = getattr(exc, "strerror", None) or (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def find_images(
    inputs: Iterable[str | Path], *, pattern: str | None = None, recursive: bool = False
) -> list[Path]:
    """Expand folders, files and globs into a sorted list of image files.

    A folder contributes the files matching ``pattern`` (default: every file
    with a suffix in ``IMAGE_SUFFIXES``), with its subfolders when
    ``recursive``; a file is taken as given; anything else is a glob.

    Raises
    ------
    FileNotFoundError
        An input matches nothing.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            walker = path.rglob("*") if recursive else path.glob("*")
            for f in sorted(walker):
                if not f.is_file() or f.name.startswith("."):
                    continue
                if pattern is None and f.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(f)
                elif pattern is not None and f.match(pattern):
                    found.append(f)
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=recursive) if Path(m).is_file())
            if not matches:
                raise FileNotFoundError(f"{item}: no such file, folder or matching files")
            found.extend(matches)
    seen, unique = set(), []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


MAX_PIXELS = 2**30  # about a gigapixel: larger images are refused before anything is allocated


def images_by_stem(folder: str | Path) -> dict[str, Path]:
    """The image files of ``folder`` keyed by stem, to pair files across folders (masks with ground truths).

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    return {p.stem: p for p in find_images([folder])}


def read_image(path: str | Path, *, channel: int | None = None, max_pixels: int = MAX_PIXELS, all_channels: bool = False) -> np.ndarray:
    """Read a 2D image or an N-D stack of 2D planes as a numeric array.

    TIFF (also multi-page, ImageJ and OME-TIFF) is read with tifffile, other
    formats with scikit-image. The file's own axes metadata decides which
    axis holds interleaved colour samples (RGB, last axis) or channels (``C``
    in ImageJ/OME metadata) where it exists; otherwise a last axis of length
    3 or 4 on a 3-D or larger array is taken for RGB(A). Planar stacks (a
    first axis of 3 or 4 planes, which tifffile writes as planar RGB) are
    read as planes. Colour or channel images need ``channel``. The other
    axes (time, depth, ...) are kept as they are, so a mask can have the
    input's shape; each 2D plane is segmented on its own.

    Parameters
    ----------
    path : path
    channel : int, optional
        The channel (or colour sample) to keep.
    max_pixels : int
        Refuse, before reading, a file whose declared size exceeds this many
        pixels (per channel); also guards against PNG/JPEG decompression bombs.
    all_channels : bool
        Keep every channel, on a first axis (one channel for an image without
        channels), as measurements of every channel need them; ``channel`` is ignored.

    Returns
    -------
    image : (..., M, N) ndarray, M, N >= 1; (C, ..., M, N) with ``all_channels``

    Raises
    ------
    ImageReadError
        One line naming the file and the problem: empty, corrupt, not an image,
        too large, pages of different sizes, colour without ``channel``, a
        channel out of range, an unsupported pixel type, NaN or infinite pixels.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        if path.suffix.lower() in (".tif", ".tiff"):
            image, axes = _read_tiff(path, max_pixels)
        else:
            image, axes = _read_other(path, max_pixels), None
    except (ImageReadError, MemoryError) as exc:
        if isinstance(exc, MemoryError):
            raise ImageReadError(f"{path}: too large to read into memory") from None
        raise
    except Exception as exc:  # every fault is one line, never a traceback
        if isinstance(exc, OSError) and exc.strerror:  # storage: permission, gone, an I/O error of a network share
            raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from None
        raise ImageReadError(f"{path}: cannot read as an image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ImageReadError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim < 2 or min(image.shape[-2:]) < 1:
        raise ImageReadError(f"{path}: unsupported image shape {image.shape}; igtt needs 2D planes")
    image = _pick_channel(path, image, axes, ALL if all_channels else channel)
    if min(image.shape[-2:]) < 1:
        raise ImageReadError(f"{path}: unsupported image shape {image.shape}; igtt needs 2D planes")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageReadError(f"{path}: holds NaN or infinite pixels")
    return image


def _read_tiff(path: Path, max_pixels: int) -> tuple[np.ndarray, str | None]:
    import logging

    import tifffile

    logging.getLogger("tifffile").setLevel(logging.ERROR)  # a damaged file is reported once, by us
    with tifffile.TiffFile(path) as tif:
        series = tif.series
        if not series:
            raise ImageReadError(f"{path}: cannot read as an image (a TIFF without image data)")
        first = series[0]
        if len(series) > 1 and any(s.shape[-2:] != first.shape[-2:] for s in series[1:]):
            shapes = ", ".join(str(s.shape) for s in series[:4])
            raise ImageReadError(f"{path}: pages of different sizes ({shapes}); save them as separate files")
        size = int(np.prod(first.shape, dtype=np.int64))
        if size > max_pixels:
            raise ImageReadError(f"{path}: declared size {first.shape} exceeds the limit of {max_pixels} pixels")
        pages = [s.asarray() for s in series] if len(series) > 1 else [first.asarray()]
        axes = first.axes if len(series) == 1 else None
    image = pages[0] if len(pages) == 1 else np.stack([p.reshape(p.shape[-2:]) if p.ndim > 2 else p for p in pages])
    return image, axes


def _read_other(path: Path, max_pixels: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: refused as a decompression bomb ({exc})") from None
    except OSError:
        width = height = 0  # not a format Pillow knows: let scikit-image try
    if width * height > max_pixels:
        raise ImageReadError(f"{path}: declared size {height}x{width} exceeds the limit of {max_pixels} pixels")
    from skimage import io as skio

    return skio.imread(path)


ALL = object()  # every channel: _pick_channel moves them to a first axis


def _pick_channel(path: Path, image: np.ndarray, axes: str | None, channel: int | None) -> np.ndarray:
    """Keep ``channel`` of the colour or channel axis, if there is one (a single-channel axis is dropped)."""
    if axes is None or len(axes) != image.ndim:
        axes = "Q" * (image.ndim - 2) + "YX"
        if image.ndim >= 3 and image.shape[-1] in (3, 4) and image.shape[-2] > 4:
            axes = "Q" * (image.ndim - 3) + "YXS"  # RGB(A) from a format without axes metadata
    keep = [i for i, n in enumerate(image.shape) if n > 1 or axes[i] not in "SC"]
    image, axes = image.reshape([image.shape[i] for i in keep]), "".join(axes[i] for i in keep)
    # colour: interleaved samples (RGB, last axis) or channels named in the metadata (ImageJ, OME)
    colour = image.ndim - 1 if axes.endswith("S") else (axes.index("C") if "C" in axes else None)
    if colour is None and channel is not None and image.ndim == 3:
        colour = 0  # a plain or planar 3-D stack: --channel picks a plane of the first axis
    if channel is ALL:
        return image[None] if colour is None else np.moveaxis(image, colour, 0)
    if colour is None:
        if channel is not None:
            raise ImageReadError(f"{path}: --channel {channel} given, but the image (shape {image.shape}) has no channels")
        return image
    n = image.shape[colour]
    if channel is None:
        raise ImageReadError(
            f"{path}: {n}-channel image (shape {image.shape}); choose a channel with --channel N (0-{n - 1})"
        )
    if not 0 <= channel < n:
        raise ImageReadError(f"{path}: channel {channel} out of range 0-{n - 1}")
    return np.take(image, channel, axis=colour)


def write_tiff(path: str | Path, data: np.ndarray, *, replace: bool = True) -> Path:
    """Write ``data`` as a TIFF atomically (see :func:`igtt.io.outputs.atomic_path`)."""
    import tifffile

    with atomic_path(path, replace=replace) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib" if data.dtype != np.float32 else None)
    return Path(path)
