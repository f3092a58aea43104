"""From a check's measurements to a score, plain flags, and the rows of ``report.csv``."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.outputs import atomic_path
from .check import AGREEMENT, ImageCheck

__all__ = [
    "REPORT_FIELDS", "assess", "folder_flags", "folder_notes", "report_row", "to_check_first", "read_rows", "write_report",
    "start_report", "append_report",
]

REPORT_FIELDS = (
    "image", "plane", "score", "flags", "foreground", "objects", "object_size",
    "start_agreement", "start_foreground", "fragments", "contrast", "replaced", "instances", "median_area",
)
# how far label-free masks of each kind can be trusted, from their measured Dice on the dev sets (nuclei ~0.9,
# DRIVE vessels ~0.73, ssTEM mitochondria ~0.39), relative to blobs: the score ranks images across kinds too
KIND_TRUST = {"blobs": 1.0, "lines": 0.8, "compartments": 0.45}
_LOW_CONTRAST = 1.0  # inside and outside the mask less than one pooled standard deviation apart
_MANY_FRAGMENTS = 0.5  # half the objects narrower than a quarter of the object size
_FOLDER = 4.0  # an image covering 4x more or less than the folder's median
_WRONG_WAY = -1.0  # median skewness of the oriented images: objects bright on dark give +1 to +12, the wrong polarity -1.3 to -7


def assess(check: ImageCheck) -> ImageCheck:
    """Give ``check`` its score (0 to 1: how far to trust the mask) and flags, from its own measurements."""
    flags = []
    if check.ran_away:
        kept = "the start kept instead" if check.replaced else "check it"
        flags.append(f"mask ran away from the image's start (agreement {check.agreement:.2f}, {kept})")
    elif check.agreement < AGREEMENT:
        flags.append(f"mask disagrees with the image's start (agreement {check.agreement:.2f})")
    if check.foreground == 0:
        flags.append("empty mask")
    if check.fragments > _MANY_FRAGMENTS and check.objects >= 10:
        flags.append(f"many fragments ({100 * check.fragments:.0f} % of {check.objects} objects far smaller than {check.object_size:.0f} px)")
    if check.foreground > 0 and check.contrast < _LOW_CONTRAST:
        flags.append("low contrast: label-free results unreliable here, add hints")
    if check.kind == "compartments":
        flags.append("objects inside walls (EM-like): the label-free start is weak here, add hints")
    # agreement with the start, less where the network was unsure: Spearman with the true Dice 0.86 within
    # dsb2018_train_fluo, 0.51 nuclei_mixed, 0.52 DRIVE, 0.25 bbbc039 (all good, close), 0.81 over all five sets
    score = check.agreement / (1 + check.uncertain / 2) * KIND_TRUST.get(check.kind, 1.0)
    check.score, check.flags = float(np.clip(score, 0, 1)), flags
    return check


# Flags of the kind of image rather than of one mask: when most of a folder shares one, it is said once for the
# folder (folder_notes) and stays only on the images that are outliers in it. (the flag's start, the image has it,
# the image stands out of a folder that shares it, the folder's note)
_SHARED = (
    (
        "mask disagrees with the image's start",
        lambda c: not c.ran_away and c.agreement < AGREEMENT,
        lambda c, f: c.agreement < np.median([x.agreement for x in f]) - 0.15,
        "masks differ from the label-free starts on most images (usual for {kind}): the report flags the images that differ most",
    ),
    (
        "low contrast",
        lambda c: c.foreground > 0 and c.contrast < _LOW_CONTRAST,
        lambda c, f: c.contrast < 0.6 * np.median([x.contrast for x in f]),
        "low contrast on most images ({kind}): label-free results are limited here, a few hint strokes help most",
    ),
    (
        "many fragments",
        lambda c: c.fragments > _MANY_FRAGMENTS and c.objects >= 10,
        lambda c, f: c.fragments > np.median([x.fragments for x in f]) + 0.25,
        "many small fragments on most images: set --object-size if the objects are larger than {size}",
    ),
    (
        "objects inside walls",
        lambda c: c.kind == "compartments",
        lambda c, f: False,
        "objects inside walls (EM-like): the label-free start is weak here, a few hint strokes help most",
    ),
)


def _shared(checked: Sequence[ImageCheck]) -> list[tuple]:
    """The kind-level flags most of ``checked`` (three images or more) share."""
    if len(checked) < 3:
        return []
    return [family for family in _SHARED if sum(map(family[1], checked)) > len(checked) / 2]


def folder_notes(checks: Sequence[ImageCheck | None]) -> list[str]:
    """What holds for the folder as a whole, said once rather than on every image (see :func:`folder_flags`)."""
    checked = [c for c in checks if c is not None]
    if not checked:
        return []
    kind = checked[0].kind
    size = f"{np.median([c.object_size for c in checked if c.object_size]):.0f} px" if any(c.object_size for c in checked) else "the estimate"
    return [note.format(kind=kind, size=size) for _, _, _, note in _shared(checked)]


def folder_flags(checks: Sequence[ImageCheck | None]) -> list[ImageCheck | None]:
    """Flag what shows over the checked images of a folder; returns ``checks``.

    A flag then says "look here": a kind-level flag that most of the folder
    shares (vessels disagree with their start, EM has low contrast) is left
    on the images that stand out of the folder by its measure only, and
    :func:`folder_notes` says it once for the folder.

    An image whose foreground is over 4x more or less than the folder's
    median; an image whose grey levels lean the wrong way for the polarity
    the folder was segmented with (its objects look like the background's
    colour, unlike the folder's); and every image when the whole folder
    leans that way (a polarity chosen by hand that the images contradict).
    """
    checked = [c for c in checks if c is not None]
    for start, _, stands_out, _ in _shared(checked):
        for check in checked:
            if not stands_out(check, checked):
                check.flags = [f for f in check.flags if not f.startswith(start)]
    other = {"bright": "dark", "dark": "bright"}
    whole = bool(checked) and np.median([c.skewness for c in checked]) < _WRONG_WAY
    for check in checked:
        if whole or check.skewness < _WRONG_WAY:
            looks = other.get(check.polarity, "dark")
            ground = "light" if looks == "dark" else "dark"
            hint = f"try --foreground {looks}" if whole else f"unlike the folder's {check.polarity} objects: check it"
            check.flags.append(f"objects look {looks} on a {ground} background: {hint}")
            check.score *= 0.5  # the mask may be of the background: agreement with a start of the same polarity says nothing
    covered = [c.foreground for c in checked if c.foreground > 0]
    if len(covered) < 3:
        return list(checks)
    median = float(np.median(covered))
    for check in checked:
        if check.foreground == 0:
            continue
        ratio = check.foreground / median
        if ratio > _FOLDER:
            check.flags.append(f"foreground {ratio:.0f}x the folder's median")
        elif ratio < 1 / _FOLDER:
            check.flags.append(f"foreground 1/{1 / ratio:.0f} of the folder's median")
    return list(checks)


def report_row(image: str, plane: int, check: ImageCheck) -> dict:
    """One row of ``report.csv`` (:data:`REPORT_FIELDS`)."""
    return {
        "image": image,
        "plane": plane,
        "score": f"{check.score:.3f}",
        "flags": "; ".join(check.flags),
        "foreground": f"{check.foreground:.4f}",
        "objects": check.objects,
        "object_size": "" if check.object_size is None else f"{check.object_size:.1f}",
        "start_agreement": f"{check.agreement:.3f}",
        "start_foreground": f"{check.start_foreground:.4f}",
        "fragments": f"{check.fragments:.2f}",
        "contrast": f"{check.contrast:.2f}",
        "replaced": int(check.replaced),
        "instances": "" if check.instances is None else check.instances,
        "median_area": "" if check.median_area is None else f"{check.median_area:.1f}",
    }


def to_check_first(rows: Sequence[dict], most: int = 5) -> list[dict]:
    """The rows to look at first: flagged ones, lowest score first, at most ``most``."""
    flagged = [r for r in rows if r["flags"]]
    return sorted(flagged, key=lambda r: float(r["score"]))[:most]


def read_rows(path: Path) -> list[dict]:
    """The rows of an existing report, the last one of each image and plane (a resumed run appends again)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = {(r.get("image"), r.get("plane")): r for r in csv.DictReader(f) if r.get("image")}
    return list(rows.values())


def write_report(path: Path, rows: Sequence[dict], *, keep_others: bool = False) -> None:
    """Write ``report.csv`` atomically; ``keep_others``: keep the rows of an existing report for images not in ``rows`` (a resumed run)."""
    path = Path(path)
    rows = list(rows)
    if keep_others:
        ours = {r["image"] for r in rows}
        rows = [r for r in read_rows(path) if r["image"] not in ours] + rows
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def start_report(path: Path, *, keep_others: bool = False) -> None:
    """Begin a run's report: a header (and, with ``keep_others``, the rows kept from an existing one), for :func:`append_report`."""
    write_report(path, [], keep_others=keep_others)


def append_report(path: Path, rows: Sequence[dict]) -> None:
    """Add rows to a started report as each image is done, before its mask is in place: a killed run's report has a row for every mask.

    One ``os.write`` of whole lines to a file opened for appending: a kill
    leaves no half line. The run's end rewrites the report whole, with the
    flags only the folder shows.
    """
    if not rows:
        return
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, extrasaction="ignore").writerows(rows)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, buffer.getvalue().encode())
    finally:
        os.close(fd)
