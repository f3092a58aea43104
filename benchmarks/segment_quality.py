"""Dice and wall seconds of igtt and classical baselines on folders with ground truth.

Each data folder holds ``images/``, ``masks/`` (foreground = mask > 0) and
optionally ``fov/`` (score inside it only); files pair by stem. Every igtt
method is fit and predicted on the folder itself, as a user would run it.

    python benchmarks/segment_quality.py ../shared/data/bbbc039_nuclei \\
        ../shared/data/drive_vessels:dark --methods otsu adaptive start default paper no-ems

A folder may end in ``:bright``, ``:dark`` or ``:auto`` (default bright).
Prints a Markdown table (dataset, method, Dice %, seconds) and, with
``--csv``, writes the per-image Dice too.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from skimage.filters import threshold_local, threshold_otsu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import igtt  # noqa: E402
from igtt.images import orient  # noqa: E402
from igtt.io import find_images, read_image  # noqa: E402
from igtt.metrics import scores  # noqa: E402
from igtt.start import start_labels  # noqa: E402


def load_folder(folder: Path, limit: int | None):
    images, truths, fovs, names = [], [], [], []
    for path in find_images([folder / "images"])[:limit]:
        stem = path.stem
        mask = next((folder / "masks").glob(stem + ".*"), None)
        if mask is None:
            continue
        fov = next((folder / "fov").glob(stem + ".*"), None) if (folder / "fov").is_dir() else None
        images.append(read_image(path))
        truths.append(read_image(mask) > 0)
        fovs.append(read_image(fov) > 0 if fov is not None else None)
        names.append(stem)
    return names, images, truths, fovs


def classical(method: str, images, foreground: str):
    """Baselines on the raw intensities (dark objects: the image negated), skimage defaults."""
    if method == "start":  # the default preset's confident foreground alone
        oriented, _ = orient(images, foreground)
        return [start_labels(im, start=igtt.Config().start)[0] for im in oriented]
    out = []
    for im in images:
        im = im.astype(np.float64) * (-1 if foreground == "dark" else 1)
        if method == "otsu":
            out.append(im > threshold_otsu(im))
        else:
            block = min(im.shape) // 8 | 1
            out.append(im > threshold_local(im, block, method="gaussian", offset=0))
    return out


def run_method(method: str, images, foreground: str, seed: int, epochs: int | None, overrides: dict):
    if method in ("otsu", "adaptive", "start"):
        return classical(method, images, foreground)
    changes = dict(overrides)
    if epochs is not None:
        changes["epochs"] = epochs
    config = igtt.preset(method, **changes)
    return igtt.segment(images, foreground=foreground, seed=seed, config=config)


def parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="data folders, each optionally ending in :bright/:dark/:auto")
    parser.add_argument("--methods", nargs="+", default=["otsu", "adaptive", "start", "default", "no-ems", "paper"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each folder")
    parser.add_argument("--paper-epochs", type=int, default=None, help="epochs for the paper presets (default: theirs)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="Config changes for igtt methods")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--csv", type=Path, default=None, help="write per-image Dice here")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(item.split("=", 1) for item in args.set)
    overrides = {k: parse_value(v) for k, v in overrides.items()}
    rows, per_image = [], []
    print(f"torch threads: {torch.get_num_threads()}, seed {args.seed}", flush=True)
    print("| dataset | n | method | Dice % | seconds |\n|---|---|---|---|---|", flush=True)
    for spec in args.folders:
        folder, _, foreground = spec.partition(":")
        folder = Path(folder)
        foreground = foreground or "bright"
        names, images, truths, fovs = load_folder(folder, args.limit)
        for method in args.methods:
            epochs = args.paper_epochs if method.startswith("paper") else None
            t0 = time.perf_counter()
            masks = run_method(method, images, foreground, args.seed, epochs, overrides)
            seconds = time.perf_counter() - t0
            # a field with no object in its ground truth has no Dice: skipped in the mean
            dice = [
                scores(m, t, region=f)["dice"] if (t if f is None else t[f]).any() else float("nan")
                for m, t, f in zip(masks, truths, fovs)
            ]
            mean = 100 * np.nanmean(dice)
            rows.append((folder.name, len(images), method, mean, seconds))
            per_image += [(folder.name, method, n, d) for n, d in zip(names, dice)]
            print(f"| {folder.name} | {len(images)} | {method} | {mean:.1f} | {seconds:.1f} |", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            csv.writer(f).writerows([("dataset", "method", "image", "dice")] + per_image)


if __name__ == "__main__":
    main()
