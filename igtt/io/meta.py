"""What a file says about its pixels: their physical size, a z axis, the channels' names (OME-TIFF and ImageJ TIFF; OME-Zarr: :mod:`igtt.io.zarr_store`)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["ImageInfo", "image_info", "to_microns", "check_spacing", "MAX_ANISOTROPY"]

_MICRONS = {"µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "\\u00B5m": 1.0, "nm": 1e-3,
            "mm": 1e3, "cm": 1e4, "m": 1e6, "Å": 1e-4, "pm": 1e-6,
            # OME-Zarr (NGFF) names its units in full
            "nanometer": 1e-3, "millimeter": 1e3, "centimeter": 1e4, "meter": 1e6, "angstrom": 1e-4, "picometer": 1e-6}
MAX_ANISOTROPY = 50.0  # a z step more than 50 times the pixel size (or under 1/50 of it) is taken for a metadata error


@dataclass(frozen=True)
class ImageInfo:
    """Pixel size in µm (``pixel``: y, x; ``z_step``), whether the file holds a z axis, and its channels' names (None: unnamed)."""

    pixel: tuple[float, float] | None = None
    z_step: float | None = None
    has_z: bool = False
    channels: tuple[str, ...] | None = None

    @property
    def spacing(self) -> tuple[float, float, float] | None:
        """The voxel size (z, y, x) in µm, or None where the pixel size or the z step is unknown."""
        return None if self.pixel is None or self.z_step is None else (self.z_step, *self.pixel)

    def given(self, *, pixel_size: float | None = None, z_step: float | None = None) -> ImageInfo:
        """This info with the sizes the user gave (``--pixel-size``, ``--z-step``, in µm) in place of the file's."""
        return replace(self, pixel=(pixel_size, pixel_size) if pixel_size else self.pixel, z_step=z_step or self.z_step)


def to_microns(value: float, unit: str | None) -> float | None:
    """``value`` in ``unit`` as µm; None for an unknown unit or a value that is not a positive number."""
    factor = _MICRONS.get((unit or "µm").strip(), None)
    if factor is None or value is None or not math.isfinite(float(value)) or float(value) <= 0:
        return None
    return float(value) * factor


def check_spacing(source, spacing) -> None:
    """Raise ValueError (one line naming ``source``) for a voxel size that is not positive or is absurdly anisotropic."""
    z, y, x = spacing
    if not all(v is not None and math.isfinite(v) and v > 0 for v in (z, y, x)):
        raise ValueError(f"{source}: voxel size {spacing} is not three positive numbers; give it with --pixel-size and --z-step")
    if not 1 / MAX_ANISOTROPY <= z / x <= MAX_ANISOTROPY:
        raise ValueError(f"{source}: z step {z:g} µm against pixels of {x:g} µm is not plausible; give it with --z-step")


def image_info(path: str | Path) -> ImageInfo:
    """What ``path``'s metadata says (OME-XML, else ImageJ); an empty :class:`ImageInfo` for other files or none."""
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return ImageInfo()
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            axes = tif.series[0].axes if tif.series else ""
            if tif.is_ome and tif.ome_metadata:
                return _ome(tif.ome_metadata, axes)
            if tif.is_imagej and tif.imagej_metadata is not None:
                return _imagej(tif.imagej_metadata, tif.pages[0].tags, axes)
    except Exception:  # unreadable metadata is no metadata; reading the pixels reports a broken file
        return ImageInfo()
    return ImageInfo(has_z="Z" in axes)


def _ome(xml: str, axes: str) -> ImageInfo:
    root = ET.fromstring(xml)
    pixels = next((e for e in root.iter() if e.tag.endswith("}Pixels") or e.tag == "Pixels"), None)
    if pixels is None:
        return ImageInfo(has_z="Z" in axes)
    size = {a: to_microns(float(pixels.get(f"PhysicalSize{a}", "nan")), pixels.get(f"PhysicalSize{a}Unit")) for a in "XYZ"}
    names = [c.get("Name") for c in pixels if c.tag.endswith("Channel")]
    pixel = (size["Y"] or size["X"], size["X"]) if size["X"] else None
    return ImageInfo(pixel, size["Z"], "Z" in axes, tuple(names) if names and all(names) else None)


def _imagej(meta: dict, tags, axes: str) -> ImageInfo:
    unit = meta.get("unit")
    unit = "µm" if unit in (None, "micron", "\\u00B5m") else unit

    def size(tag):
        value = tags.get(tag)
        if value is None:
            return None
        num, den = value.value if isinstance(value.value, tuple) else (value.value, 1)
        return to_microns(den / num, unit) if num else None

    x, y = size("XResolution"), size("YResolution")
    z = to_microns(meta["spacing"], unit) if "spacing" in meta else None
    labels = meta.get("Labels") if meta.get("channels") else None
    return ImageInfo((y or x, x) if x and unit in _MICRONS else None, z, "Z" in axes, None if not labels else tuple(labels[: meta["channels"]]))
