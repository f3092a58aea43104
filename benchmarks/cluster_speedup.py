"""Prediction of a folder on a dask LocalCluster: speed-up of 2 workers over 1, and the overhead per task.

    python benchmarks/cluster_speedup.py --images 24 --size 512

Writes IMAGES synthetic nuclei images of SIZE², trains a model once, then
times ``igtt predict`` (through the command line's code, in this process)
locally with one torch thread, and with ``--scheduler`` on LocalClusters of
1 and 2 single-threaded worker processes (started before timing, warmed up
with one run so that workers have imported torch and loaded the model).
Overhead per task = (1-worker cluster - local 1 thread) / images. Masks of
every run are compared byte for byte with the local run's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typer.testing import CliRunner  # noqa: E402

from igtt import IGTT  # noqa: E402
from igtt.cli import app  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402


def predict(folder: Path, model: Path, out: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["predict", str(folder), "--model", str(model), "--out", str(out), "--device", "cpu", "--quiet", *extra])
    if result.exit_code:
        raise SystemExit(result.output)
    return time.perf_counter() - t0


def main(argv=None):
    import torch
    from distributed import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        n = max(4, args.size**2 // 2600)
        for i in range(args.images):
            tifffile.imwrite(tmp / "in" / f"img{i:03d}.tif", make_nuclei((args.size, args.size), n_nuclei=n, rng=i)[0])
        model = IGTT(epochs=2, device="cpu").fit(tifffile.imread(tmp / "in" / "img000.tif")).save(tmp / "m.igtt")
        torch.set_num_threads(1)
        local = predict(tmp / "in", model, tmp / "local")
        rows = [("local, 1 process, 1 thread", local)]
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                predict(tmp / "in", model, tmp / f"warm{workers}", "--scheduler", cluster.scheduler_address)
                seconds = predict(tmp / "in", model, tmp / f"c{workers}", "--scheduler", cluster.scheduler_address)
            same = all((tmp / "local" / p.name).read_bytes() == p.read_bytes() for p in (tmp / f"c{workers}").iterdir())
            rows.append((f"LocalCluster, {workers} worker(s) x 1 thread{'' if same else ' (masks differ!)'}", seconds))
        print(f"{args.images} images of {args.size}², torch threads 1 per process")
        print("| run | seconds | images/s |\n|---|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} | {args.images / seconds:.2f} |")
        print(f"speed-up of 2 workers over 1: {rows[1][1] / rows[2][1]:.2f}x; overhead per task: {(rows[1][1] - local) / args.images * 1000:.0f} ms")


if __name__ == "__main__":
    main()
