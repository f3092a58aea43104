"""The label-noise study runner: one network per label type, scored against clean masks (label types: :mod:`.specs`)."""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config
from ..starts.images import normalize
from ..io.files import find_images, images_by_stem, read_image
from ..io.outputs import atomic_path
from .ntm import min_crd, ntm_from_counts, ntm_rank, transition_counts
from .specs import LabelSpec

__all__ = ["StudyResult", "load_pairs", "split_pairs", "run_study", "study_outputs", "write_tables"]

log = logging.getLogger(__name__)


def load_pairs(data_dir, *, images: str = "images", masks: str = "masks", n_classes: int = 2, on_skip: Callable[[str], None] | None = None):
    """Read ``data_dir/images/*`` and the masks with the same stems from ``data_dir/masks/``.

    Binary masks are ``mask > 0``; with ``n_classes > 2`` the mask values
    are the classes. Returns ``(names, images, masks)``. With ``on_skip``,
    a pair that cannot be read, or whose image and mask differ in shape, is
    left out and ``on_skip`` gets one line naming it; without, it raises.

    Raises
    ------
    ValueError
        A folder is missing or empty, an image has no mask, or (without
        ``on_skip``) a pair cannot be read or differs in shape.
    """
    data_dir = Path(data_dir)
    image_files = find_images([data_dir / images])
    mask_files = images_by_stem(data_dir / masks)
    names, ims, ms = [], [], []
    for path in image_files:
        if path.stem not in mask_files:
            raise ValueError(f"{path}: no mask with the same name in {data_dir / masks}")
        try:
            image, mask = read_image(path), read_image(mask_files[path.stem])
            if image.ndim != 2 or image.shape != mask.shape:
                raise ValueError(f"{path}: image {image.shape} and mask {mask.shape} must be 2D of one shape")
        except ValueError as exc:  # ImageReadError too: the message names the file and the reason
            if on_skip is None:
                raise
            on_skip(str(exc))
            continue
        names.append(path.stem)
        ims.append(image)
        ms.append((mask > 0).astype(np.uint8) if n_classes == 2 else mask.astype(np.uint8))
    return names, ims, ms


def split_pairs(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled indices of a train/test split with ``fraction`` for training (at least one image each)."""
    if n < 2:
        raise ValueError(f"a train/test split needs at least 2 images, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    cut = min(n - 1, max(1, round(fraction * n)))
    return np.sort(order[:cut]), np.sort(order[cut:])


@dataclass
class StudyResult:
    """What one label type gave."""

    spec: LabelSpec
    rank: int
    min_crd: float
    noisy_fraction: float  # pixels whose label differs from the clean one (among counted pixels)
    dice: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict[str, object]:
        final = lambda v: round(100 * v[-1], 1) if v and not math.isnan(v[-1]) else float("nan")  # noqa: E731
        best = max((x for x in self.dice if not math.isnan(x)), default=float("nan"))
        return {
            "labels": self.spec.name,
            "rank": self.rank,
            "min_d": round(self.min_crd, 3),
            "wrong_pixels_%": round(100 * self.noisy_fraction, 1),
            "dice_%": final(self.dice),
            "best_dice_%": round(100 * best, 1),
            "iou_%": final(self.iou),
            "seconds": round(self.seconds, 1),
        }


def _label_stats(clean_masks, labels, n_classes: int) -> tuple[int, float, float]:
    """Rank and smallest CRD of the NTM estimated from all training labels, and the wrong-pixel rate."""
    counts = sum(transition_counts(c, noisy, n_classes=n_classes, valid=valid) for c, (noisy, valid) in zip(clean_masks, labels))
    q = np.nan_to_num(ntm_from_counts(counts))
    return ntm_rank(q, tol=1e-3), min_crd(q), float(1 - np.trace(counts) / max(counts.sum(), 1))


def run_study(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    specs: Sequence[LabelSpec],
    *,
    split: float = 0.7,
    n_classes: int = 2,
    architecture: str = "unet",
    config: Config | None = None,
    out: Path | str | None = None,
    on_epoch: Callable[[LabelSpec, object], None] | None = None,
) -> list[StudyResult]:
    """Train one network per label spec on a train split and score it on the test split's clean masks.

    The same split, the same seed and the same network initialisation serve
    every label type, so the rows differ only by their labels. With ``out``,
    writes ``results.csv``, ``results.md``, ``curves.png`` (test Dice, IoU
    and training loss per epoch), ``labels.png`` (the labels of one training
    image and their density maps), ``differences.png`` (each model's test
    mask minus the CL model's, when CL is among the specs) and, for binary
    U-Nets, ``models/<label>.igtt`` (usable by ``igtt predict`` and
    ``igtt patterns``).
    """
    from .supervised import STUDY_EPOCHS, iter_train, predict_classes

    config = config or Config(encoder="resnet18", epochs=STUDY_EPOCHS)  # the papers' study: a ResNet U-Net
    train_idx, test_idx = split_pairs(len(images), split, config.seed)
    train_images = [images[i] for i in train_idx]
    train_masks = [masks[i] for i in train_idx]
    test_images = [images[i] for i in test_idx]
    test_masks = [masks[i] for i in test_idx]
    log.info("study: %d training and %d test images, %d label types", len(train_idx), len(test_idx), len(specs))
    out = Path(out) if out is not None else None
    first_test = normalize(test_images[0])
    results, first_predictions, first_labels = [], {}, {}
    for index, spec in enumerate(specs):
        rng = np.random.default_rng([config.seed, index])
        draw = lambda: [spec.make(m, rng, n_classes) for m in train_masks]  # noqa: E731
        labels = draw()
        rank, d_min, wrong = _label_stats(train_masks, labels, n_classes)
        q = spec.ntm(n_classes)
        if q is not None:  # the synthesis matrix is exact; an estimate is never exactly rank-deficient
            rank, d_min = ntm_rank(q), min_crd(q)
        shown, valid = labels[0]
        first_labels[spec.name] = shown if valid is None else np.where(valid, shown, 0)
        result = StudyResult(spec, rank, d_min, wrong)
        t0 = time.perf_counter()
        net = None
        for net, scores in iter_train(
            train_images,
            labels,
            n_classes=n_classes,
            architecture=architecture,
            config=config,
            test_images=test_images,
            test_labels=test_masks,
            redraw=(lambda epoch, _rng: draw()) if spec.dynamic else None,
            ntm=q,
        ):
            result.dice.append(scores.dice)
            result.iou.append(scores.iou)
            result.loss.append(scores.loss)
            if on_epoch is not None:
                on_epoch(spec, scores)
        result.seconds = time.perf_counter() - t0
        results.append(result)
        log.info("study: %s dice %.3f (%.0f s)", spec.name, result.dice[-1], result.seconds)
        if out is not None:
            first_predictions[spec.name] = predict_classes(net, [first_test], config, ntm=q)[0]
            if architecture == "unet" and n_classes == 2:
                _save_model(net, config, out / "models" / f"{_safe(spec.name)}.igtt")
            write_tables(results, out, config=config, n_train=len(train_idx), n_test=len(test_idx))
    if out is not None:
        _write_figures(results, first_labels, first_predictions, out)
    return results


def study_outputs(specs: Sequence[LabelSpec], out, *, architecture: str = "unet", n_classes: int = 2) -> list[tuple[Path, str]]:
    """Every file :func:`run_study` writes in ``out``, with the label type that makes it (to plan them before any work)."""
    out = Path(out)
    files = [(out / name, "the study") for name in ("results.csv", "results.md", "curves.png", "labels.png")]
    if any(spec.kind == "CL" for spec in specs) and len(specs) > 1:
        files.append((out / "differences.png", "the study"))
    if architecture == "unet" and n_classes == 2:
        files += [(out / "models" / f"{_safe(spec.name)}.igtt", spec.name) for spec in specs]
    return files


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_")


def _save_model(net, config: Config, path: Path) -> None:
    from ..model import IGTT

    # the study scales images plainly: no inversion, no background subtraction
    model = IGTT(dataclasses.replace(config, objects="blobs", subtract_background=False))
    model.net, model.foreground_, model.objects_ = net, "bright", "blobs"
    model.hinted_ = True  # trained on given labels: its masks are never replaced by a label-free start
    model.save(path)


def write_tables(results: Sequence[StudyResult], out, *, config: Config, n_train: int, n_test: int) -> None:
    """Write ``results.csv`` and ``results.md`` (atomically) in ``out``."""
    out = Path(out)
    rows = [r.row() for r in results]
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row.values()) + " |\n" for row in rows)
    note = (
        f"\n{n_train} training and {n_test} test images; {config.epochs} epochs of "
        f"{config.steps_per_epoch} steps, batch {config.batch_size}, crops {config.crop_size}, seed {config.seed}. "
        "rank and min_d: of the NTM the labels were drawn with where there is one (RCL flips, RL), "
        "else of the NTM estimated from the training labels against the clean masks. "
        "wrong_pixels_%: counted pixels whose label differs from the clean mask. "
        "dice_%: mean per-image test Dice after the last epoch.\n"
    )
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(head + body + note)


def _write_figures(results, first_labels, first_predictions, out: Path) -> None:
    from .density import density_map
    from .feature_patterns import difference_image
    from .plots import curves_figure, density_figure, difference_figure

    curves = {
        "test Dice": {r.spec.name: r.dice for r in results},
        "test IoU": {r.spec.name: r.iou for r in results},
        "training loss": {r.spec.name: r.loss for r in results},
    }
    curves_figure(curves, out / "curves.png")
    crop = tuple(slice(0, min(256, n)) for n in next(iter(first_labels.values())).shape)
    labels = {name: np.asarray(lab)[crop] for name, lab in first_labels.items()}
    h = 4
    densities = {name: density_map(lab != 0, h) for name, lab in labels.items()}
    row = labels[next(iter(labels))].shape[0] // 2
    density_figure(labels, densities, out / "labels.png", row=row, h=h)
    reference = next((r.spec.name for r in results if r.spec.kind == "CL"), None)
    if reference is not None and len(first_predictions) > 1:
        base = first_predictions[reference]
        diffs = {name: difference_image(base, pred) for name, pred in first_predictions.items() if name != reference}
        difference_figure(diffs, out / "differences.png")
