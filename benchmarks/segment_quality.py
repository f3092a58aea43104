"""Dice and wall seconds of igtt, its start labels and classical label-free rules on folders with ground truth.

Each data folder holds ``images/``, ``masks/`` (foreground = mask > 0) and
optionally ``fov/`` (score inside it only); files pair by stem. Every igtt
method is fit and predicted on the folder itself, as a user would run it,
and its start labels (the classical mask it starts from, before any
training) are scored beside it, so the gain of self-training is visible.

    python benchmarks/segment_quality.py ../shared/data/bbbc039_nuclei \\
        ../shared/data/drive_vessels:dark --methods otsu rule default default:blobs default:lines

A folder may end in ``:bright``, ``:dark`` or ``:auto`` (default bright), and
then in ``:RULE`` to pick its classical rule (default: by folder name).

Methods
-------
otsu, adaptive
    scikit-image thresholds of the raw intensities.
rule
    The best classical label-free rule found for the folder's kind of data
    (``li``, ``gauss-li``, ``vessels``, ``em``; see ``RULES``): settings are
    one global choice per kind, never per image.
PRESET or PRESET:KIND
    igtt with a preset (``default``, ``ems``, ``paper``, ...) and optionally
    ``objects=KIND`` (``blobs`` or ``lines``; default the preset's, ``auto``).

Prints a Markdown table (dataset, method, kind, size, start Dice, the
network's own Dice (no check), the checked masks' Dice, the share of
images where the network beats its start by 2 or more (and loses by as
much), seconds, and per image: the 5th-percentile Dice, how many images end more
than 5 Dice below their own start, the Spearman rank correlation between
igtt's quality score (``igtt.quality``, no ground truth) and the true Dice,
and the same for the trivial score, the Dice between igtt's mask and
Otsu's, and the share of images flagged among those of 70 Dice or more and
among those under 60); then the worst images of each igtt run with their flags, and the
score's Spearman over every image of every folder pooled. ``--csv`` writes
the per-image Dice, score and flags too.

``--sweep igtt.starts.scale.SAME=1.15,1.25,1.5`` checks that a constant
carries over: every igtt method runs once per value on every folder, then
each folder's Dice is printed at the value that is best over all folders
(tuned) and at the value best over the other folders (leave one set out).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from skimage import exposure, filters, morphology, transform

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import igtt  # noqa: E402
from igtt.io.files import find_images, read_image  # noqa: E402
from igtt.io.metrics import scores  # noqa: E402
from igtt.quality import folder_flags  # noqa: E402


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


# -- the best classical label-free rules found for each kind of data (issue #10's table) ----------------
def _scaled(image):
    image = image.astype(np.float32)
    lo, hi = np.percentile(image, [0.5, 99.8])
    return np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)


def rule_li(image, fov=None):
    return image > filters.threshold_li(image)


def rule_gauss_li(image, fov=None):
    smooth = filters.gaussian(image.astype(np.float32), 1)
    return smooth > filters.threshold_li(smooth)


def rule_vessels(image, fov=None):
    """Dark vessels: CLAHE -> Gaussian 1 -> black top-hat (disk 7) -> hysteresis (0.75 Otsu, Otsu) inside the FOV."""
    x = filters.gaussian(exposure.equalize_adapthist(_scaled(image), clip_limit=0.01), 1)
    response = morphology.black_tophat(x, morphology.disk(7))
    otsu = filters.threshold_otsu(response if fov is None else response[fov])
    return filters.apply_hysteresis_threshold(response, 0.75 * otsu, otsu)


def rule_em(image, fov=None):
    """Dark organelles in EM: half size -> closing (disk 8) -> Gaussian 1.5 -> Li (dark side) -> opening (disk 6) -> drop < 125 px."""
    x = _scaled(image)
    small = filters.gaussian(morphology.closing(transform.rescale(x, 0.5, anti_aliasing=True), morphology.disk(8)), 1.5)
    mask = morphology.opening(small < filters.threshold_li(small), morphology.disk(6))
    labels = morphology.label(mask)
    sizes = np.bincount(labels.ravel())
    mask = (sizes >= 125)[labels] & mask
    return transform.resize(mask, x.shape, order=0) > 0


RULES = {"li": rule_li, "gauss-li": rule_gauss_li, "vessels": rule_vessels, "em": rule_em}
RULE_BY_FOLDER = {"bbbc039": "li", "nuclei_mixed": "gauss-li", "drive": "vessels", "sstem": "em"}


def classical(method: str, images, fovs, foreground: str, rule: str):
    if method == "rule":
        return [RULES[rule](im, f) for im, f in zip(images, fovs)]
    out = []
    for im in images:
        im = im.astype(np.float64) * (-1 if foreground == "dark" else 1)
        if method == "otsu":
            out.append(im > filters.threshold_otsu(im))
        else:
            block = min(im.shape) // 8 | 1
            out.append(im > filters.threshold_local(im, block, method="gaussian", offset=0))
    return out


def run_igtt(method: str, images, foreground: str, seed: int, overrides: dict):
    """Fit and predict as a user would; the masks, the fitted model and every image's quality check."""
    name, _, kind = method.partition(":")
    changes = dict(overrides, foreground=foreground, seed=seed)
    if kind:
        changes["objects"] = kind
    model = igtt.IGTT(igtt.preset(name, **changes)).fit(images)
    done = list(model.iter_predict(images))
    masks = [d.mask for d in done]
    # the network's own mask: the checked one, except where the check kept the start instead
    network = [model.predict(im, check=False) if d.check is not None and d.check.replaced else d.mask for im, d in zip(images, done)]
    return masks, network, model, folder_flags([d.check for d in done])


def parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def mean_dice(masks, truths, fovs):
    # a field with no object in its ground truth has no Dice: skipped in the mean
    dice = [
        scores(m, t, region=f)["dice"] if (t if f is None else t[f]).any() else float("nan")
        for m, t, f in zip(masks, truths, fovs)
    ]
    return 100 * np.nanmean(dice), dice


def _spearman(score, dice) -> float:
    keep = np.isfinite(score) & np.isfinite(dice)
    return float(spearmanr(score[keep], dice[keep])[0]) if keep.sum() > 2 else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="data folders, each optionally ending in :bright/:dark/:auto[:RULE]")
    parser.add_argument("--methods", nargs="+", default=["otsu", "rule", "default", "default:blobs", "default:lines"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each folder")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="Config changes for igtt methods")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--worst", type=int, default=3, help="list this many worst images per igtt run")
    parser.add_argument("--csv", type=Path, default=None, help="write per-image Dice here")
    parser.add_argument(
        "--sweep", default=None, metavar="MODULE.NAME=V1,V2,...",
        help="run the igtt methods once per value of a constant of igtt (e.g. igtt.starts.scale.SAME=1.15,1.25,1.5), "
        "then print each folder's Dice at the value picked on all folders (tuned) and at the value picked on the others (leave one set out)",
    )
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sweep:
        return sweep(args)
    overrides = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    per_image, worst, pooled = [], [], {}
    print(f"torch threads: {torch.get_num_threads()}, seed {args.seed}", flush=True)
    print(
        "| dataset | n | method | kind | size px | start Dice % | network Dice % | Dice % | network beats / loses to start by >= 2, % of images "
        "| p5 Dice % | below start by >5 | Spearman score | Spearman trivial | flagged % of images >= 70 / < 60 Dice | seconds |", flush=True
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for spec in args.folders:
        folder, _, rest = spec.partition(":")
        foreground, _, rule = rest.partition(":")
        folder = Path(folder)
        foreground = foreground or "bright"
        rule = rule or next((r for key, r in RULE_BY_FOLDER.items() if key in folder.name), "li")
        names, images, truths, fovs = load_folder(folder, args.limit)
        otsu = classical("otsu", images, fovs, foreground, rule)
        for method in args.methods:
            t0 = time.perf_counter()
            kind = size = start = p5 = below = rho = trivial = net = adds = flagged = ""
            checks = None
            if method in ("otsu", "adaptive", "rule"):
                masks = otsu if method == "otsu" else classical(method, images, fovs, foreground, rule)
                seconds = time.perf_counter() - t0
                label = f"rule ({rule})" if method == "rule" else method
            else:
                masks, network, model, checks = run_igtt(method, images, foreground, args.seed, overrides)
                seconds = time.perf_counter() - t0
                kind, size = model.objects_, f"{model.object_size_:.1f}" if model.object_size_ else "-"
                start_mean, start_dice = mean_dice([s.mask for s in model.starts(images)], truths, fovs)
                start = f"{start_mean:.1f}"
                net_mean, net_dice = mean_dice(network, truths, fovs)
                net = f"{net_mean:.1f}"
                gain = np.array(net_dice, float) - np.array(start_dice, float)
                adds = f"{100 * np.mean(gain[np.isfinite(gain)] >= 0.02):.0f} / {100 * np.mean(gain[np.isfinite(gain)] <= -0.02):.0f}"
                label = method
            mean, dice = mean_dice(masks, truths, fovs)
            dice = np.array(dice, float)
            if checks is not None:
                start_dice = np.array(start_dice, float)
                score = np.array([c.score for c in checks], float)
                agree = np.array([scores(m, o)["dice"] for m, o in zip(masks, otsu)], float)
                p5 = f"{100 * np.nanpercentile(dice, 5):.1f}"
                below = str(int(np.sum(dice < start_dice - 0.05)))
                rho, trivial = f"{_spearman(score, dice):.2f}", f"{_spearman(agree, dice):.2f}"
                marked = np.array([bool(c.flags) for c in checks])
                good, bad = dice >= 0.7, dice < 0.6
                flagged = f"{100 * marked[good].mean():.0f} / " + (f"{100 * marked[bad].mean():.0f}" if bad.any() else "-")
                pooled.setdefault(method, []).append((score, dice))
                order = [i for i in np.argsort(np.nan_to_num(dice, nan=2.0))[: args.worst]]
                worst += [
                    f"{folder.name} {method} {names[i]}: Dice {100 * dice[i]:.1f} (start {100 * start_dice[i]:.1f}), "
                    f"score {score[i]:.2f}, {'; '.join(checks[i].flags) or 'no flags'}"
                    for i in order
                ]
            marks = [(c.score, "; ".join(c.flags)) for c in checks] if checks is not None else [("", "")] * len(names)
            per_image += [(folder.name, label, n, d, *m) for n, d, m in zip(names, dice, marks)]
            print(
                f"| {folder.name} | {len(images)} | {label} | {kind} | {size} | {start} | {net} | {mean:.1f} | {adds} | {p5} | {below} | {rho} | {trivial} | {flagged} | {seconds:.1f} |",
                flush=True,
            )
    for line in worst:
        print("worst:", line)
    for method, runs in pooled.items():
        score, dice = (np.concatenate(x) for x in zip(*runs))
        print(f"pooled Spearman, {method}, {len(dice)} images of {len(runs)} folders: {_spearman(score, dice):.2f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            csv.writer(f).writerows([("dataset", "method", "image", "dice", "score", "flags")] + per_image)


def sweep(args) -> None:
    """The leave-one-set-out check of one constant: every value on every folder, then the value each folder would get
    if it had not been there to choose it."""
    import importlib

    target, _, values = args.sweep.partition("=")
    module_name, _, name = target.rpartition(".")
    module = importlib.import_module(module_name)
    shipped = getattr(module, name)
    values = [parse_value(v) for v in values.split(",")]
    methods = [m for m in args.methods if m not in ("otsu", "adaptive", "rule")]
    table = {}  # (folder, method) -> {value: mean Dice}
    for value in values:
        setattr(module, name, value)
        print(f"\n## {target} = {value}", flush=True)
        for spec in args.folders:
            folder, _, rest_spec = spec.partition(":")
            foreground = rest_spec.partition(":")[0] or "bright"
            names, images, truths, fovs = load_folder(Path(folder), args.limit)
            overrides = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
            for method in methods:
                masks = run_igtt(method, images, foreground, args.seed, overrides)[0]
                mean = mean_dice(masks, truths, fovs)[0]
                table.setdefault((Path(folder).name, method), {})[value] = mean
                print(f"| {Path(folder).name} | {method} | {target} = {value} | {mean:.1f} |", flush=True)
    setattr(module, name, shipped)
    print(f"\n| dataset | method | {name} shipped ({shipped}) | Dice % | {name} tuned on all sets | Dice % | picked on the other sets | Dice % | LOSO - tuned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for method in methods:
        sets = [k for k in table if k[1] == method]
        for key in sets:
            def best(over):
                return max(values, key=lambda v: np.mean([table[k][v] for k in over]))
            tuned, loso = best(sets), best([k for k in sets if k != key])
            here = table[key]
            print(
                f"| {key[0]} | {method} | {shipped} | {here.get(shipped, float('nan')):.1f} | {tuned} | {here[tuned]:.1f} "
                f"| {loso} | {here[loso]:.1f} | {here[loso] - here[tuned]:+.1f} |"
            )


if __name__ == "__main__":
    main()
