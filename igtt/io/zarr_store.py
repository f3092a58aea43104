"""OME-Zarr (and plain zarr) in and out: lazy planes for reading, a chunked OME-Zarr image for the mask.

Needs the ``zarr`` extra (``pip install 'igtt[zarr]'``: zarr and ome-zarr).
Images are never loaded whole: :class:`ZarrImage` hands out lazy 2D
planes, read region by region (:mod:`igtt.io.blocks`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .blocks import Plane
from .files import ImageReadError, error_line
from .meta import ImageInfo, to_microns
from .outputs import atomic_folder

__all__ = ["is_zarr", "ZarrImage", "open_zarr", "write_mask_zarr", "require_zarr", "SUFFIX"]

SUFFIX = ".ome.zarr"
_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def is_zarr(path: str | Path) -> bool:
    """A zarr store on disk: a folder named ``*.zarr`` or holding zarr metadata."""
    path = Path(path)
    return path.is_dir() and (path.suffix == ".zarr" or any((path / m).exists() for m in _MARKERS))


def zarr_stem(path: Path) -> str:
    """``data.ome.zarr`` -> ``data``."""
    name = path.name
    for suffix in (".ome.zarr", ".zarr"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def require_zarr():
    """The zarr module, or ImportError with the install line."""
    try:
        import zarr
    except ImportError:
        raise ImportError("reading and writing zarr needs the zarr extra: pip install 'igtt[zarr]'") from None
    return zarr


@dataclass
class ZarrImage:
    """One resolution level of a zarr image, its axes and pixel sizes, the channel chosen."""

    path: Path
    array: object  # zarr.Array
    axes: list[dict]
    scale: list[float]
    channel: int | None = None
    info: ImageInfo = ImageInfo()  # the pixel size in µm, a z axis and the channels' names, from the OME metadata

    @property
    def mask_axes(self) -> list[dict]:
        """The axes of the mask: the image's without the channel axis."""
        return [a for a in self.axes if a.get("type") != "channel"]

    @property
    def mask_shape(self) -> tuple[int, ...]:
        return tuple(n for n, a in zip(self.array.shape, self.axes) if a.get("type") != "channel")

    def plane_indices(self) -> Iterator[tuple]:
        """Index tuples (leading axes, channel fixed) of every 2D plane, in order."""
        ranges = [[self.channel] if a.get("type") == "channel" else range(n) for n, a in zip(self.array.shape[:-2], self.axes[:-2])]
        return itertools.product(*ranges)

    def planes(self) -> Iterator[Plane]:
        for index in self.plane_indices():
            yield Plane(self.array, tuple(index), source=str(self.path))

    def volume_indices(self) -> Iterator[tuple]:
        """Index tuples (axes before z, channel fixed) of every z-stack, each ending with the whole z axis."""
        ranges = [[self.channel] if a.get("type") == "channel" else range(n) for n, a in zip(self.array.shape[:-3], self.axes[:-3])]
        return (tuple(index) + (slice(None),) for index in itertools.product(*ranges))


def _ome(attrs) -> dict:
    """A group's OME metadata: under ``ome`` (OME-Zarr 0.5) or at the top (0.4)."""
    attrs = dict(attrs)
    return attrs.get("ome", attrs)


def _multiscales(group) -> dict | None:
    found = _ome(group.attrs).get("multiscales")
    return found[0] if found else None


def open_zarr(path: str | Path, *, level: int = 0, channel: int | None = None) -> ZarrImage:
    """Open an OME-Zarr image (or a plain zarr array) at resolution ``level``, lazily.

    Raises
    ------
    ImageReadError
        One line: not zarr, no such level, a channel axis without a channel
        chosen, or fewer than two spatial dimensions.
    """
    zarr = require_zarr()
    path = Path(path)
    try:
        return _open(zarr, path, level, channel)
    except ImageReadError:
        raise
    except Exception as exc:  # broken or unreadable metadata: zarr, json and the file system raise their own types
        raise ImageReadError(f"{path}: not a readable zarr store ({error_line(exc)})") from None


def _open(zarr, path: Path, level: int, channel: int | None) -> ZarrImage:
    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        array, meta = node, None
    else:
        meta = _multiscales(node)
        if meta is None:
            raise ImageReadError(f"{path}: a zarr group without OME multiscales metadata")
        datasets = meta["datasets"]
        if not 0 <= level < len(datasets):
            raise ImageReadError(f"{path}: no resolution level {level} (it has {len(datasets)}: 0..{len(datasets) - 1})")
        array = node[datasets[level]["path"]]
    if array.ndim < 2 or min(array.shape[-2:]) < 1:
        raise ImageReadError(f"{path}: needs at least 2 spatial dimensions, got shape {array.shape}")
    if meta is not None:
        axes = [a if isinstance(a, dict) else {"name": a} for a in meta.get("axes", [])]
        scale = next((t["scale"] for t in meta["datasets"][level].get("coordinateTransformations", []) if t["type"] == "scale"), None)
    else:
        axes, scale = [], None
    if len(axes) != array.ndim:
        names = ["t", "c", "z", "y", "x"][-array.ndim:] if array.ndim <= 5 else [f"dim_{i}" for i in range(array.ndim)]
        axes = [{"name": n, "type": "space" if n in "zyx" else "other"} for n in names]
        axes = [a if a["name"] != "c" else {"name": "c", "type": "other"} for a in axes]  # unknown: not a channel
    scale = list(scale or [1.0] * array.ndim)
    image = ZarrImage(path, array, axes, scale, info=_info(axes, scale, node.attrs if meta is not None else {}) if meta is not None else ImageInfo())
    channels = [i for i, a in enumerate(axes) if a.get("type") == "channel"]
    if channels:
        n = array.shape[channels[0]]
        if channel is None and n > 1:
            raise ImageReadError(f"{path}: has {n} channels; choose one with --channel 0..{n - 1}")
        chosen = 0 if channel is None else channel
        if not 0 <= chosen < n:
            raise ImageReadError(f"{path}: --channel {chosen} is out of range (0..{n - 1})")
        image.channel = chosen
    elif channel not in (None, 0):
        raise ImageReadError(f"{path}: has no channel axis; --channel {channel} does not apply")
    return image


def _info(axes: list[dict], scale: list[float], attrs) -> ImageInfo:
    """The pixel size (y, x) and z step in µm that an OME-Zarr's scale and axis units give, and its channels' names.

    An axis without a unit takes that of the other spatial axes, and µm
    where none has one (NGFF's units are optional).
    """
    units = [a.get("unit") for a in axes if a.get("type") == "space" and a.get("unit")]
    size = {a.get("name"): to_microns(s, a.get("unit") or (units[0] if units else None)) for a, s in zip(axes, scale) if a.get("type") == "space"}
    pixel = (size.get("y") or size.get("x"), size["x"]) if size.get("x") else None
    omero = _ome(attrs).get("omero", {}) or {}
    names = [c.get("label") for c in omero.get("channels", [])]
    has_z = len(axes) >= 3 and axes[-3].get("name") == "z"
    return ImageInfo(pixel, size.get("z") if has_z else None, has_z, tuple(names) if names and all(names) else None)


@contextmanager
def write_mask_zarr(path: str | Path, like: ZarrImage, *, chunk: int = 1024, replace: bool = True, labels: bool = False) -> Iterator[object]:
    """An OME-Zarr image for the mask of ``like`` (uint8 0/255, its axes and pixel sizes, no channel), written atomically.

    Yields the zarr array to fill; with ``labels``, the pair (mask array,
    labels array): the labels an OME-Zarr labels image ``labels/objects``
    (uint32 object ids) inside the store. The store appears at ``path``
    only when the block exits without error (``replace``: see
    :func:`igtt.io.outputs.atomic_folder`).
    """
    zarr = require_zarr()
    from ome_zarr.writer import write_label_metadata, write_multiscales_metadata

    keep = [a.get("type") != "channel" for a in like.axes]
    scale = [s for s, k in zip(like.scale, keep) if k]
    shape = like.mask_shape
    chunks = tuple(1 for _ in shape[:-2]) + tuple(min(chunk, n) for n in shape[-2:])
    datasets = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}]
    with atomic_folder(Path(path), replace=replace) as tmp:
        group = zarr.open_group(str(tmp), mode="w")
        array = group.create_array("0", shape=shape, chunks=chunks, dtype="uint8", fill_value=0)
        if not labels:
            yield array
        else:
            objects = group.create_group("labels").create_group("objects")
            yield array, objects.create_array("0", shape=shape, chunks=chunks, dtype="uint32", fill_value=0)
            write_multiscales_metadata(objects, datasets=datasets, axes=like.mask_axes, name="igtt objects")
            write_label_metadata(group["labels"], "objects", source={"image": "../../"})
        write_multiscales_metadata(group, datasets=datasets, axes=like.mask_axes, name="igtt mask")
