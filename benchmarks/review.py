"""A simulated review: strokes on the images a results folder says to look at first, then refine-and-rewrite.

    python benchmarks/review.py ../shared/data/nuclei_mixed ../shared/data/sstem_mito_em --threads 1

For each data folder, as a user would: ``igtt segment <folder>/images --out
OUT`` (the default preset, polarity found); then the 3 images ``igtt
review`` shows first (flagged, lowest score first) get 3 object and 3
background strokes each, drawn from the ground truth as ``benchmarks/hints.py``
draws them (``--where errors``: on what the mask misses and wrongly takes), saved in ``OUT/hints``; then ``igtt refine OUT``
(:func:`igtt.batch.review.refine_folder`). Prints the mean per-image Dice of
the whole folder before and after (inside ``fov/`` where there is one),
beside Otsu, the rise on the painted images and on the others, the images
that dropped by more than 2, and the seconds of the segment run, of the
refine (training) and of the rewrite (prediction and writing).

The strokes decide much (two draws on the same three ssTEM images: +3 and
+13 Dice), so ``--draws N`` repeats the review N times on the one segment
run, strokes drawn anew each time (seed + draw), and prints each draw and
their mean.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import filters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hints import strokes  # noqa: E402
from segment_quality import load_folder  # noqa: E402

from igtt.batch import Trained, review  # noqa: E402
from igtt.io.files import read_image  # noqa: E402
from igtt.io.metrics import scores  # noqa: E402

PAINTED, STROKES = 3, 3  # images painted, strokes of each kind on each


def on_errors(truth, mask, fov, k: int, rng) -> np.ndarray:
    """k object strokes in what the mask misses, k background strokes in what it wrongly takes (as a user who disagrees paints)."""
    from igtt.training.hints import BACKGROUND, OBJECT

    missed = strokes(truth & ~mask, fov, k, rng)
    wrong = strokes(~(mask & ~truth), fov, k, rng)
    return np.where(missed == OBJECT, OBJECT, np.where(wrong == BACKGROUND, BACKGROUND, 0)).astype(np.uint8)


def dice(mask, truth, fov) -> float:
    return 100 * scores(mask, truth, region=fov)["dice"] if (truth if fov is None else truth[fov]).any() else np.nan


def folder_dice(out: Path, names, truths, fovs) -> np.ndarray:
    return np.array([dice(read_image(out / f"{n}.tif") > 0, t, f) for n, t, f in zip(names, truths, fovs)])


def otsu(image, fov, bright: bool):
    image = np.asarray(image, np.float32)
    level = filters.threshold_otsu(image if fov is None else image[fov])
    return image > level if bright else image < level


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="data folders with images/ and masks/ (and fov/)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=review.REFINE_EPOCHS, help="epochs of the refine")
    parser.add_argument(
        "--where", choices=["truth", "errors"], default="truth",
        help="strokes anywhere in the truth's objects and background (benchmarks/hints.py), or on the mask's errors",
    )
    parser.add_argument("--draws", type=int, default=1, help="reviews of the one segment run, strokes drawn anew each time")
    parser.add_argument("--keep", type=Path, default=None, help="keep each results folder (after the review) here")
    parser.add_argument("--cache", type=Path, default=None, help="keep each segment run here and start from it next time")
    args = parser.parse_args(argv)
    import torch

    from igtt.cli import app

    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}, seed {args.seed}, refine {args.epochs} epochs, strokes on the {args.where}")
    print(
        "| dataset | n | Otsu | igtt | after review | rise | painted: before → after | others: rise | worst drop | dropped > 2 "
        "| segment s | refine s | rewrite s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for folder in args.folders:
        names, images, truths, fovs = load_folder(folder, None)
        work = Path(tempfile.mkdtemp(prefix="igtt-review-"))
        try:
            t0 = time.perf_counter()
            segmented = work / "segmented"
            cached = args.cache / folder.name if args.cache is not None else None
            if cached is not None and (cached / review.RUN_FOLDER).is_dir():  # the segment run of an earlier call
                shutil.copytree(cached, segmented)
            else:
                app(["segment", str(folder / "images"), "--out", str(segmented), "--seed", str(args.seed), "--quiet"], standalone_mode=False)
                if cached is not None:
                    shutil.copytree(segmented, cached)
            segment_s = time.perf_counter() - t0
            from igtt import IGTT

            bright = IGTT.load(review.load_run(segmented).model).foreground_ == "bright"
            base = np.nanmean([dice(otsu(im, f, bright), t, f) for im, t, f in zip(images, truths, fovs)])
            before = folder_dice(segmented, names, truths, fovs)
            rows = []
            for draw in range(args.draws):
                out = work / f"draw{draw}"
                shutil.copytree(segmented, out)
                rows.append(review_once(out, names, truths, fovs, args, np.random.default_rng(args.seed + draw), before))
                label = folder.name if args.draws == 1 else f"{folder.name} draw {draw}"
                print_row(label, names, base, before, rows[-1], segment_s)
                if args.keep is not None:
                    shutil.copytree(out, args.keep / (folder.name if args.draws == 1 else f"{folder.name}-draw{draw}"), dirs_exist_ok=True)
                shutil.rmtree(out, ignore_errors=True)
            if args.draws > 1:
                print_mean(f"{folder.name} mean of {args.draws}", len(names), base, before, rows, segment_s)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def review_once(out: Path, names, truths, fovs, args, rng, before) -> dict:
    """Strokes on the images the review shows first, then refine-and-rewrite: the folder's Dice after, and the times."""
    run = review.load_run(out)
    painted = []
    for job, _ in review.review_order(run)[:PAINTED]:
        i = names.index(Path(job.source).stem)
        if args.where == "errors":
            hint = on_errors(truths[i], read_image(out / f"{names[i]}.tif") > 0, fovs[i], STROKES, rng)
        else:
            hint = strokes(truths[i], fovs[i], STROKES, rng)
        review.save_hint(out, job, hint)
        painted.append(i)
    t0 = time.perf_counter()
    refine_s = None
    for event in review.refine_folder(out, epochs=args.epochs):
        if isinstance(event, Trained):
            refine_s = time.perf_counter() - t0
    rewrite_s = time.perf_counter() - t0 - refine_s
    after = folder_dice(out, names, truths, fovs)
    return {"after": after, "change": after - before, "painted": painted, "refine_s": refine_s, "rewrite_s": rewrite_s}


def print_row(label, names, base, before, row, segment_s) -> None:
    change, painted, after, n = row["change"], row["painted"], row["after"], len(names)
    others = np.setdiff1d(np.arange(n), painted)
    drops = [f"{names[i]} {change[i]:+.1f}" for i in np.argsort(change) if change[i] < -2]
    print(
        f"| {label} | {n} | {base:.1f} | {np.nanmean(before):.1f} | {np.nanmean(after):.1f} "
        f"| {np.nanmean(change):+.1f} | {np.nanmean(before[painted]):.1f} → {np.nanmean(after[painted]):.1f} "
        f"| {np.nanmean(change[others]):+.1f} | {np.nanmin(change):+.1f} | {len(drops)} {', '.join(drops[:3])} "
        f"| {segment_s:.0f} | {row['refine_s']:.0f} | {row['rewrite_s']:.0f} |",
        flush=True,
    )


def print_mean(label, n, base, before, rows, segment_s) -> None:
    after = np.mean([np.nanmean(r["after"]) for r in rows])
    painted = [(np.nanmean(before[r["painted"]]), np.nanmean(r["after"][r["painted"]])) for r in rows]
    others = [np.nanmean(r["change"][np.setdiff1d(np.arange(n), r["painted"])]) for r in rows]
    print(
        f"| **{label}** | {n} | {base:.1f} | {np.nanmean(before):.1f} | {after:.1f} | **{after - np.nanmean(before):+.1f}** "
        f"| {np.mean([p[0] for p in painted]):.1f} → {np.mean([p[1] for p in painted]):.1f} | {np.mean(others):+.1f} "
        f"| {min(np.nanmin(r['change']) for r in rows):+.1f} | {sum(int((r['change'] < -2).sum()) for r in rows)} "
        f"| {segment_s:.0f} | {np.median([r['refine_s'] for r in rows]):.0f} | {np.median([r['rewrite_s'] for r in rows]):.0f} |",
        flush=True,
    )

if __name__ == "__main__":
    main()
