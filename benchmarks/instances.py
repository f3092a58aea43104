"""Per-object scores of igtt's instances (``--labels``) beside the classical split, on folders with instance ground truth.

A match is a predicted and a true object with IoU > 0.5 (one to one); per
image AP50 = TP / (TP + FP + FN) at that IoU (the Data Science Bowl 2018
score at one threshold), F1 = 2TP / (2TP + FP + FN), mean AP the AP
averaged over IoU 0.50, 0.55, ..., 0.95, and the count ratio predicted /
true objects. Set figures are means over images (median for the count
ratio); images without a true object are left out. Masks whose ground
truth holds only 0 and one value (e.g. 0/255) are scored against its
connected components (touching objects there count as one).

Rows per folder:

- ``igtt``: fit and predict as a user would (default preset), then
  :func:`igtt.label_objects` (what ``--labels`` writes);
- ``igtt components``: the same masks as connected components (``--labels`` before instances);
- ``start split``: each image's own start labels through the same split;
- ``classical split``: Otsu, and the folder's classical rule, then the
  CellProfiler-style declumping of the data README (fill holes, drop
  objects < 50 px, watershed on the smoothed distance seeded by maxima at
  least a third of the median object diameter apart).

Also printed: seconds to predict (masks and checks), to make the instances,
and to measure them (:func:`igtt.measure`); and the mask Dice.

    python benchmarks/instances.py ../shared/data/bbbc039_nuclei ../shared/data/dsb2018_train_fluo ../shared/data/nuclei_mixed
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import feature, filters, morphology, segmentation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import igtt  # noqa: E402
from igtt.io.files import find_images, read_image  # noqa: E402
from segment_quality import RULE_BY_FOLDER, RULES, classical, mean_dice  # noqa: E402

THRESHOLDS = np.arange(0.5, 1.0, 0.05)


def load_instances(folder: Path, limit: int | None):
    names, images, truths = [], [], []
    for path in find_images([folder / "images"])[:limit]:
        mask = next((folder / "masks").glob(path.stem + ".*"), None)
        if mask is None:
            continue
        truth = read_image(mask).astype(np.int64)
        if len(np.unique(truth)) <= 2:  # a binary mask: its connected components
            truth = ndi.label(truth > 0)[0]
        names.append(path.stem)
        images.append(read_image(path))
        truths.append(truth)
    return names, images, truths


def object_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, float] | None:
    """AP50, F1, mean AP over IoU 0.5-0.95 and count ratio of one image; None without true objects."""
    pred = segmentation.relabel_sequential(np.asarray(pred, np.int64))[0]
    truth = segmentation.relabel_sequential(truth)[0]
    n_pred, n_true = int(pred.max()), int(truth.max())
    if n_true == 0:
        return None
    pairs = np.bincount(pred.ravel() * (n_true + 1) + truth.ravel(), minlength=(n_pred + 1) * (n_true + 1))
    inter = pairs.reshape(n_pred + 1, n_true + 1)
    area_p, area_t = inter.sum(1)[1:], inter.sum(0)[1:]
    inter = inter[1:, 1:]
    iou = inter / np.maximum(area_p[:, None] + area_t[None, :] - inter, 1)
    tp = np.array([(iou > t).sum() for t in THRESHOLDS])  # IoU > 0.5 pairs are one to one
    ap = tp / (n_pred + n_true - tp)
    return float(ap[0]), float(2 * tp[0] / (n_pred + n_true)), float(ap.mean()), n_pred / n_true


def classical_split(mask: np.ndarray) -> np.ndarray:
    """The data README's declumping: fill holes, drop < 50 px, distance watershed seeded a third of the median diameter apart."""
    mask = morphology.remove_small_objects(ndi.binary_fill_holes(mask), max_size=49)
    regions = ndi.label(mask)[0]
    if regions.max() == 0:
        return regions
    diameter = 2 * np.sqrt(np.median(np.bincount(regions.ravel())[1:]) / np.pi)
    distance = filters.gaussian(ndi.distance_transform_edt(mask), 1)
    peaks = feature.peak_local_max(distance, min_distance=max(1, int(diameter / 3)), labels=regions, exclude_border=False)
    seeds = np.zeros(mask.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, seeds, mask=mask)


def summary(rows) -> dict:
    rows = np.array([r for r in rows if r is not None])
    return dict(ap50=rows[:, 0].mean(), f1=rows[:, 1].mean(), map=rows[:, 2].mean(), count=np.median(rows[:, 3]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| set | method | AP50 | F1 | mean AP | count ratio | seconds |")
    print("|---|---|---|---|---|---|---|")
    timing = []
    for folder in args.folders:
        names, images, truths = load_instances(folder, args.limit)
        fovs = [None] * len(images)

        def row(method, labels, seconds=""):
            s = summary(object_scores(p, t) for p, t in zip(labels, truths))
            print(f"| {folder.name} | {method} | {s['ap50']:.3f} | {s['f1']:.3f} | {s['map']:.3f} | {s['count']:.2f} | {seconds} |", flush=True)

        t0 = time.perf_counter()
        model = igtt.IGTT(igtt.preset("default", seed=args.seed)).fit(images)
        t1 = time.perf_counter()
        done = list(model.iter_predict(images))
        t2 = time.perf_counter()
        labels = [igtt.label_objects(d.mask, kind=model.objects_, object_size=d.check.object_size) for d in done]
        t3 = time.perf_counter()
        for lab, image in zip(labels, images):
            igtt.measure(lab, image, kind=model.objects_)
        t4 = time.perf_counter()
        row("igtt", labels, f"fit {t1 - t0:.0f}, predict {t2 - t1:.1f}, instances {t3 - t2:.1f}, measure {t4 - t3:.1f}")
        row("igtt components", [ndi.label(d.mask)[0] for d in done])
        starts = [s.mask for s in model.starts(images)]
        row("start split", [igtt.label_objects(s, kind=model.objects_, object_size=d.check.object_size) for s, d in zip(starts, done)])
        rule = next((r for key, r in RULE_BY_FOLDER.items() if key in folder.name), "li")
        for method, masks in (("otsu", classical("otsu", images, fovs, "bright", rule)), (rule, [RULES[rule](im) for im in images])):
            row(f"classical split ({method})", [classical_split(m) for m in masks])
        dice = mean_dice([d.mask for d in done], [t > 0 for t in truths], fovs)[0]
        timing.append(f"{folder.name}: {len(images)} images, mask Dice {dice:.1f}; instances add {100 * (t3 - t2) / (t2 - t1):.0f} % "
                      f"to the predict time; measuring took {t4 - t3:.1f} s")
    print()
    for line in timing:
        print(line)


if __name__ == "__main__":
    main()
