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
    "start_agreement", "stability", "start_foreground", "fragments", "contrast", "replaced", "instances", "median_area",
)
# how far label-free masks of each kind can be trusted, from their measured Dice on the dev sets (nuclei ~0.9,
# DRIVE vessels ~0.73, ssTEM mitochondria ~0.39), relative to blobs: the score ranks images across kinds too
KIND_TRUST = {"blobs": 1.0, "lines": 0.8, "compartments": 0.45}
_LOW_CONTRAST = 1.0  # inside and outside the mask less than one pooled standard deviation apart
_MANY_FRAGMENTS = 0.5  # half the objects narrower than a quarter of the object size
# the mask's flip instability weighs this many times its disagreement with the start in the score. Within-folder
# Spearman of the score with the true Dice at 0 / 3 / 5 / 8 (agreement alone / ...): dsb2018 0.69 / 0.83 / 0.83 / 0.82,
# nuclei_mixed 0.64 / 0.61 / 0.59 / 0.60, bbbc039 0.21 / 0.45 / 0.51 / 0.54, DRIVE 0.31 / 0.54 / 0.58 / 0.63; with any
# one set left out the others pick 5 to 8
STABILITY_WEIGHT = 5.0
# an image is flagged when its score lies this far below the folder's median: at least _SCORE_GAP, and _SCORE_MADS
# median absolute deviations of the folder's scores (a folder of alike images flags its outliers)
_SCORE_GAP, _SCORE_MADS = 0.1, 4.0
# a mask replaced by its start weighs this much of its score (nuclei_mixed 0.59 -> 0.61 Spearman, the others within 0.01 or better)
_REPLACED = 0.9
# flags of one image that a folder replaces by its score outliers (on the dev sets they flagged 23 % of the good
# masks of dsb2018 and nuclei_mixed together with the foreground outliers, which the score outliers replace too)
_FOLDER_SAYS = ("mask disagrees with the image's start", "low contrast")
_WRONG_WAY = -1.0  # median skewness of the oriented images: objects bright on dark give +1 to +12, the wrong polarity -1.3 to -7


def assess(check: ImageCheck) -> ImageCheck:
    """Give ``check`` its score (0 to 1: how far to trust the mask) and the flags it earns on its own.

    The score is the mask's agreement with the image's start, less
    ``STABILITY_WEIGHT`` times how much it changes when the image is
    mirrored, times how far masks of its kind can be trusted (and 0.9 when
    the start replaced the mask). Flags here are
    what is wrong whatever the folder: a mask that ran away and was kept,
    an empty mask, many fragments, objects inside walls (EM: label-free
    masks there are rough, Dice ~0.4); and, until :func:`folder_flags`
    compares the image with a folder, a mask that disagrees with its start
    or follows a low contrast.
    """
    if check.noise is not None:  # an empty field: the empty mask is right, the user may want to know (lowest of the flagged)
        own, folder = check.noise
        check.score, check.flags = 1.0, [f"no objects: nothing stands out of the image's noise ({own:.1f} noise widths, the folder's {folder:.1f})"]
        return check
    flags = []
    if check.ran_away and not (check.replaced or check.judged):  # a replaced mask is in the report's "replaced" column
        flags.append(f"mask ran away from the image's start (agreement {check.agreement:.2f}): check it")
    elif not check.ran_away and check.agreement < AGREEMENT:
        flags.append(f"mask disagrees with the image's start (agreement {check.agreement:.2f})")
    if check.foreground > 0 and check.contrast < _LOW_CONTRAST:
        flags.append("low contrast: label-free results unreliable here, add hints")
    if check.foreground == 0:
        flags.append("empty mask")
    if check.fragments > _MANY_FRAGMENTS and check.objects >= 10:
        flags.append(f"many fragments ({100 * check.fragments:.0f} % of {check.objects} objects far smaller than {check.object_size:.0f} px)")
    if check.kind == "compartments":
        flags.append("objects inside walls (EM-like): label-free masks are rough here, add hints")
    score = (check.agreement - STABILITY_WEIGHT * (1 - check.stability)) * KIND_TRUST.get(check.kind, 1.0)
    if check.replaced:  # the mask written is the start, which the network contradicted: one of the two is wrong
        score *= _REPLACED
    check.score, check.flags = float(np.clip(score, 0, 1)), flags
    return check


# Flags of the kind of image rather than of one mask: when most of a folder shares one, it is said once for the
# folder (folder_notes) and stays only on the images that are outliers in it. (the flag's start, the image has it,
# the image stands out of a folder that shares it, the folder's note)
_SHARED = (
    (
        "mask disagrees with the image's start",
        lambda c: not c.ran_away and c.agreement < AGREEMENT,
        lambda c, f: False,
        "masks differ from the label-free starts on most images (usual for {kind}): the report flags the images that differ most",
    ),
    (
        "low contrast",
        lambda c: c.foreground > 0 and c.contrast < _LOW_CONTRAST,
        lambda c, f: False,
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
        lambda c, f: True,  # every such mask is rough: each image keeps the flag
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
    notes = [note.format(kind=kind, size=size) for _, _, _, note in _shared(checked)]
    if replaced := sum(c.replaced for c in checked):
        notes.append(f"{replaced} mask(s) ran away from the image's start and were replaced by it (column replaced of the report)")
    return notes


def folder_flags(checks: Sequence[ImageCheck | None]) -> list[ImageCheck | None]:
    """Flag what shows over the checked images of a folder; returns ``checks``.

    A flag then says "look here". What most of the folder shares
    (vessels disagree with their start, EM has low contrast) is said once
    for the folder by :func:`folder_notes`; many fragments, when most
    images have them, stay only on the images with far more than the folder's.

    An image whose score lies far below the folder's (by at least
    ``_SCORE_GAP`` and ``_SCORE_MADS`` median absolute deviations of the
    folder's scores); an image whose grey levels lean the wrong way for the polarity
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
    if len(checked) < 3:
        return list(checks)
    for check in checked:  # beside a folder the score's outliers say it: disagreement and contrast alone flag good masks
        check.flags = [f for f in check.flags if not f.startswith(_FOLDER_SAYS)]
    scores = np.array([c.score for c in checked])
    median = float(np.median(scores))
    below = median - max(_SCORE_GAP, _SCORE_MADS * float(np.median(np.abs(scores - median))))
    for check in checked:
        if check.score < below:
            check.flags.append(f"score far below the folder's (median {median:.2f}): look here")
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
        "stability": f"{check.stability:.3f}",
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
