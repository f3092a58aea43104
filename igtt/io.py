"""Reading images from disk and writing results atomically (TIFF through tifffile)."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "find_images",
    "read_image",
    "write_tiff",
    "atomic_path",
    "check_target",
    "is_model_file",
]

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask once: temporary files are created 0600, outputs should not be

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message names the file and the reason."""


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


def read_image(path: str | Path, *, channel: int | None = None) -> np.ndarray:
    """Read a 2D image or a stack of planes as a numeric array.

    TIFF (also multi-page and OME-TIFF) is read with tifffile, other formats
    with scikit-image. An RGB(A) image needs ``channel``; a TIFF with
    channels on the first axis of a 3D stack is taken as planes.

    Returns
    -------
    image : (M, N) or (planes, M, N) ndarray

    Raises
    ------
    ImageReadError
        The file is empty, corrupt, not an image, RGB without ``channel``, or
        of an unsupported shape.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            image = tifffile.imread(path)
        else:
            from skimage import io as skio

            image = skio.imread(path)
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, IndexError, KeyError, TypeError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ImageReadError(f"{path}: cannot read as an image ({reason})") from None
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ImageReadError(f"{path}: unsupported pixel type {image.dtype}")
    image = np.squeeze(image) if image.ndim > 2 else image
    is_rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)
    if is_rgb:
        if channel is None:
            raise ImageReadError(
                f"{path}: RGB image (shape {image.shape}); choose a channel with --channel N (0-{image.shape[-1] - 1})"
            )
        if not 0 <= channel < image.shape[-1]:
            raise ImageReadError(f"{path}: channel {channel} out of range 0-{image.shape[-1] - 1}")
        image = image[..., channel]
    elif channel is not None and image.ndim == 3:
        if not 0 <= channel < image.shape[0]:
            raise ImageReadError(f"{path}: channel {channel} out of range 0-{image.shape[0] - 1}")
        image = image[channel]
    if image.ndim > 3:
        image = image.reshape((-1,) + image.shape[-2:])
    if image.ndim not in (2, 3) or min(image.shape[-2:]) < 1:
        raise ImageReadError(f"{path}: unsupported image shape {image.shape}")
    return image


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure delete it.

    A run killed mid-write leaves the temporary file's name (hidden, in the
    same folder) at worst, never a half-written ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tiff(path: str | Path, data: np.ndarray) -> Path:
    """Write ``data`` as a TIFF atomically (see :func:`atomic_path`)."""
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib" if data.dtype != np.float32 else None)
    return Path(path)


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` looks like a file written by ``torch.save`` (a zip archive holding ``data.pkl``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def check_target(
    path: str | Path, *, protected: Iterable[str | Path] = (), overwrite: bool = False, kind: str = "output"
) -> Path:
    """Check, before any work, that writing ``path`` loses nothing.

    Parameters
    ----------
    path : path
        A file about to be written.
    protected : paths
        Files that must never be written over (the run's inputs).
    overwrite : bool
        Whether an existing file of the same kind may be replaced.
    kind : {"output", "model"}
        ``model``: an existing file is replaced only if it is itself a saved
        model, never an image or any other file.

    Raises
    ------
    ValueError
        One line naming the path and the problem: it is a folder, one of the
        inputs, an existing file without ``overwrite``, or (``model``) an
        existing file that is not a model.
    """
    path = Path(path)
    resolved = path.resolve()
    if any(resolved == Path(p).resolve() for p in protected):
        raise ValueError(f"{path}: is one of the inputs; refusing to write over it, choose another path")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name")
    if path.exists():
        if kind == "model" and not is_model_file(path):
            raise ValueError(f"{path}: exists and is not an igtt model; refusing to write over it")
        if not overwrite:
            raise ValueError(f"{path}: exists; use --overwrite to replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{path}: cannot create it, {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{path}: cannot write there (no permission in {parent})")
    return path
