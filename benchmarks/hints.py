"""A few strokes against none, and against a random forest on the same (and on far more) strokes.

    pip install scikit-learn   # for the random forest only
    python benchmarks/hints.py ../shared/data/drive_vessels:dark ../shared/data/sstem_mito_em:dark --limit 10

Simulates a user on each data folder: on each of the first N images, k
object strokes and k background strokes (short lines 3 px wide, inside the
ground-truth objects / background at least 3 px from an edge, seeded). Then
compares, scored on every image of the folder (mean per-image Dice %, inside
``fov/`` where there is one):

- igtt without hints (the default, as ``igtt segment`` runs it);
- igtt with the hints (``IGTT.fit(images, hints=...)``);
- the peers' recipe (ilastik, napari-apoc): a random forest of 50 trees on
  scikit-image's ``multiscale_basic_features`` (sigma 1-16), trained with
  ``fit_segmenter`` on the stroke pixels, applied to every image.

Settings: igtt and forest with 3 + 3 strokes on 3 images, and the forest with
20 + 20 strokes on 5 images. ``--figure`` saves an overlay per folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from segment_quality import load_folder  # noqa: E402

import igtt  # noqa: E402
from igtt.training.hints import BACKGROUND, OBJECT  # noqa: E402
from igtt.io.metrics import scores  # noqa: E402

EDGE = 3  # strokes stay this far from an edge of the truth


def strokes(truth: np.ndarray, fov: np.ndarray | None, k: int, rng: np.random.Generator, length: int = 25) -> np.ndarray:
    """k object and k background strokes on one image: uint8, 0 none, 1 object, 2 background."""
    hint = np.zeros(truth.shape, np.uint8)
    inside = np.ones(truth.shape, bool) if fov is None else ndi.binary_erosion(fov, iterations=EDGE)
    for value, region in ((OBJECT, truth), (BACKGROUND, ~truth)):
        allowed = ndi.binary_erosion(region, iterations=EDGE) & inside
        places = np.argwhere(allowed)
        if not len(places):
            continue
        for _ in range(k):
            r, c = places[rng.integers(len(places))]
            angle = rng.uniform(0, np.pi)
            dr, dc = np.sin(angle), np.cos(angle)
            rr, cc = line(int(r), int(c), int(r + dr * length), int(c + dc * length))
            keep = (rr >= 0) & (rr < truth.shape[0]) & (cc >= 0) & (cc < truth.shape[1])
            rr, cc = rr[keep], cc[keep]
            # the stroke ends where it would leave its region (a user paints inside the object)
            stop = np.argmin(allowed[rr, cc]) if not allowed[rr, cc].all() else len(rr)
            stroke = np.zeros(truth.shape, bool)
            stroke[rr[:stop], cc[:stop]] = True
            hint[ndi.binary_dilation(stroke) & allowed] = value  # 3 px wide
    return hint


def simulate(truths, fovs, n_images: int, k: int, seed: int) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed)
    return [strokes(t, f, k, rng) if i < n_images else None for i, (t, f) in enumerate(zip(truths, fovs))]


def mean_dice(masks, truths, fovs) -> float:
    """As benchmarks/segment_quality.py scores: inside the field of view, images without objects left out."""
    dice = [scores(m, t, region=f)["dice"] if (t if f is None else t[f]).any() else np.nan for m, t, f in zip(masks, truths, fovs)]
    return 100 * float(np.nanmean(dice))


def forest(images, hints, seed: int):
    """The ilastik recipe: multiscale features (sigma 1-16), a 50-tree random forest fit on the stroke pixels."""
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from skimage.future import predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    features = partial(multiscale_basic_features, sigma_min=1, sigma_max=16, channel_axis=None)
    scaled = [(im - np.percentile(im, 0.5)) / (np.ptp(im) or 1) for im in (np.asarray(i, np.float32) for i in images)]
    labelled = [i for i, h in enumerate(hints) if h is not None]
    # what fit_segmenter does for one image (fit on the labelled pixels), over several images of any size
    found = [(features(scaled[i]), hints[i]) for i in labelled]
    x = np.concatenate([f[h > 0] for f, h in found])
    y = np.concatenate([h[h > 0] for f, h in found])
    clf = RandomForestClassifier(n_estimators=50, n_jobs=-1, max_depth=10, random_state=seed).fit(x, y)
    return [predict_segmenter(features(im), clf) == OBJECT for im in scaled]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="data folders, each optionally ending in :bright/:dark/:auto")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--figure", type=Path, default=None, help="folder for one overlay PNG per data folder")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="igtt Config fields")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    overrides = {k: eval(v, {}) for k, v in (item.split("=", 1) for item in args.set)}
    print(f"torch threads {args.threads}, seed {args.seed}")
    print("| dataset | n | method | strokes | Dice % | seconds |\n|---|---|---|---|---|---|")
    refine_s = []
    for spec in args.folders:
        folder, _, polarity = spec.partition(":")
        folder = Path(folder)
        names, images, truths, fovs = load_folder(folder, args.limit)
        few = simulate(truths, fovs, 3, 3, args.seed)
        many = simulate(truths, fovs, 5, 20, args.seed)
        config = igtt.Config(foreground=polarity or "bright", seed=args.seed, **overrides)
        results, fitted = {}, {}

        def with_hints():
            fitted["model"] = igtt.IGTT(config).fit(images, hints=few)
            return fitted["model"].predict(images)

        for method, setting, run in [
            ("igtt", "none", lambda: igtt.IGTT(config).fit(images).predict(images)),
            ("igtt + hints", "3 + 3 on 3", with_hints),
            ("random forest", "3 + 3 on 3", lambda: forest(images, few, args.seed)),
            ("random forest", "20 + 20 on 5", lambda: forest(images, many, args.seed)),
        ]:
            t0 = time.perf_counter()
            masks = run()
            seconds = time.perf_counter() - t0
            results[(method, setting)] = masks
            print(f"| {folder.name} | {len(images)} | {method} | {setting} | {mean_dice(masks, truths, fovs):.1f} | {seconds:.0f} |", flush=True)
        # what napari's Refine button does on a 512² view: refine from the current weights, then predict
        crop = (slice(0, 512), slice(0, 512))
        t0 = time.perf_counter()
        fitted["model"].refine([images[0][crop]], [few[0][crop]])
        fitted["model"].predict(images[0][crop])
        refine_s.append((folder.name, time.perf_counter() - t0))
        if args.figure is not None:
            overlay(args.figure / f"hints_{folder.name}.png", images[0], truths[0], few[0], results)
    print("\n| dataset | refine (5 epochs x 6 steps) + predict of a 512² crop, seconds |\n|---|---|")
    for name, seconds in refine_s:
        print(f"| {name} | {seconds:.1f} |")


def overlay(path: Path, image, truth, hint, results) -> None:
    """Image with strokes (green object, magenta background), then each method's mask against the truth."""
    import imageio.v3 as iio

    grey = np.asarray(image, np.float32)
    grey = np.clip((grey - np.percentile(grey, 0.5)) / (np.ptp(grey) or 1), 0, 1)
    panels = [np.stack([grey] * 3, -1)]
    panels[0][hint == OBJECT] = (0, 1, 0)
    panels[0][hint == BACKGROUND] = (1, 0, 1)
    for masks in results.values():
        m = masks[0]
        rgb = np.stack([grey * 0.5] * 3, -1)
        rgb[m & truth] = (1, 1, 1)  # right
        rgb[m & ~truth] = (1, 0.2, 0.2)  # false object
        rgb[~m & truth] = (0.2, 0.4, 1)  # missed
        panels.append(rgb)
    gap = np.ones((grey.shape[0], 6, 3))
    row = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (row * 255).astype(np.uint8))


if __name__ == "__main__":
    main()
