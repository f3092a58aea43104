"""Cost that fits the folder: peak memory and seconds of ``igtt segment`` on plates of N images, and the Dice cost of training on a sample.

    python benchmarks/folder_scale.py --counts 100 1000 3456
    python benchmarks/folder_scale.py --counts --dev ../shared/data/bbbc039_nuclei ../shared/data/drive_vessels:dark

Plates: N synthetic 16-bit images of 520x696 (BBBC039-like nuclei, 36
different ones repeated), laid out as wells of 9 fields, segmented by the
real command line (``igtt segment PLATE --out MASKS --recursive``, default
preset) in a child process. Prints per N: megapixels, peak resident memory
of the child (``ru_maxrss``, torch included), training seconds, prediction
seconds and prediction seconds per megapixel (training excluded).

Dev sets: the same preset trained on the whole folder (every dev set is
under the training budget, :data:`igtt.TRAIN_PIXELS`) and on
samples of ``--sample`` megapixels spread over it, every image predicted
either way; prints Dice (inside ``fov/`` where there is one) and seconds
side by side, with the start labels' Dice, so the cost of a sample is seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import igtt  # noqa: E402
from igtt import batch  # noqa: E402
from igtt.batch.sample import TRAIN_PIXELS  # noqa: E402
from igtt.batch.step import keep_in_memory  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402
from segment_quality import load_folder, mean_dice  # noqa: E402

SHAPE = (520, 696)
FIELDS = 9  # fields per well, as in a 384-well screen
DISTINCT = 36


def write_plate(root: Path, n: int) -> None:
    """``n`` synthetic 16-bit images as ``root/wellWWW/fieldF.tif``."""
    images = [make_nuclei(SHAPE, n_nuclei=60, radius=(8, 14), dtype=np.uint16, rng=i)[0] for i in range(DISTINCT)]
    for i in range(n):
        well = root / f"well{i // FIELDS:03d}"
        well.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(well / f"field{i % FIELDS}.tif", images[i % len(images)])


def child(argv: list[str]) -> None:
    """Run the command line in this process; print when training ended and the run ended (perf_counter seconds)."""
    from igtt.cli import app

    t0, marks = time.perf_counter(), {}
    run = batch.run

    def timed(*args, **kwargs):
        for event in run(*args, **kwargs):
            if isinstance(event, batch.Trained):
                marks["trained"] = time.perf_counter() - t0
            yield event

    batch.run = timed
    app(argv, standalone_mode=False)
    marks["total"] = time.perf_counter() - t0
    print("TIMES " + json.dumps(marks), flush=True)


def measured(cmd: list[str]) -> tuple[dict, float]:
    """The child's TIMES line and its peak resident memory (MB, from wait4)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}")
    line = next(line for line in out.splitlines() if line.startswith("TIMES "))
    return json.loads(line[6:]), usage.ru_maxrss / 1024


def plates(counts: list[int], work: Path) -> None:
    print("| images | megapixels | peak RSS (MB) | training s | prediction s | prediction s / Mpx |\n|---|---|---|---|---|---|", flush=True)
    for n in counts:
        plate, out = work / f"plate{n}", work / f"masks{n}"
        write_plate(plate, n)
        cmd = [sys.executable, __file__, "--child", "segment", str(plate), "--out", str(out), "--recursive", "--quiet"]
        times, peak = measured(cmd)
        assert len(list(out.rglob("*.tif"))) == n, "a mask is missing"
        mpx = n * SHAPE[0] * SHAPE[1] / 1e6
        predict = times["total"] - times["trained"]
        print(f"| {n} | {mpx:.0f} | {peak:.0f} | {times['trained']:.0f} | {predict:.0f} | {predict / mpx:.3f} |", flush=True)
        for folder in (plate, out):
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()


def dev_sets(specs: list[str], samples: list[float], seed: int) -> None:
    print("\n| set | megapixels | trained on | start Dice | Dice | seconds |\n|---|---|---|---|---|---|", flush=True)
    for spec in specs:
        folder, _, foreground = spec.partition(":")
        folder = Path(folder)
        names, _, truths, fovs = load_folder(folder, None)
        paths = [next(p for p in (folder / "images").iterdir() if p.stem == name) for name in names]
        mpx = sum(t.size for t in truths) / 1e6
        for budget in [None] + samples:
            jobs = [batch.Job(path, Path(path.stem)) for path in paths]
            config = igtt.preset("default", foreground=foreground or "bright", seed=seed)
            t0 = time.perf_counter()
            pixels = TRAIN_PIXELS if budget is None else int(budget * 1e6)
            for event in batch.run(jobs, config=config, reading={}, write=keep_in_memory, train_pixels=pixels):
                if isinstance(event, batch.Trained):
                    model = event.model
            seconds = time.perf_counter() - t0
            masks = [job.result[0] for job in jobs]
            starts = [start.mask for start in model.starts([job.image for job in jobs])]
            label = f"whole ({min(mpx, pixels / 1e6):.0f} Mpx)" if budget is None else f"sample of {budget:g} Mpx"
            print(f"| {folder.name} | {mpx:.1f} | {label} | {mean_dice(starts, truths, fovs)[0]:.1f} "
                  f"| {mean_dice(masks, truths, fovs)[0]:.1f} | {seconds:.0f} |", flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="*", default=[100, 1000, 3456])
    parser.add_argument("--dev", nargs="*", default=[], help="data folders (images/, masks/), each optionally :dark")
    parser.add_argument("--sample", type=float, nargs="*", default=[4, 10], help="sample budgets in megapixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        if args.counts:
            plates(args.counts, Path(work))
    if args.dev:
        dev_sets(args.dev, args.sample, args.seed)


if __name__ == "__main__":
    main()
