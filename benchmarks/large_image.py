"""Peak memory and time of predicting one very large image with a saved model.

    python benchmarks/large_image.py --size 8192

Trains a small model on a 512x512 synthetic image, writes a SIZE x SIZE
16-bit synthetic TIFF (nuclei tiled across it), then runs ``igtt predict`` on
it in a child process, once for the mask alone and once with probabilities
and labels too, and reports wall time and peak resident memory (``ru_maxrss``
of each child, which includes Python, torch and the image).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from igtt import IGTT  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small, _ = make_nuclei((512, 512), n_nuclei=60, rng=0)
        IGTT(epochs=args.epochs, device="cpu").fit(small).save(tmp / "m.igtt")
        tile = make_nuclei((1024, 1024), n_nuclei=240, rng=1)[0]
        reps = -(-args.size // 1024)
        big = np.tile(tile, (reps, reps))[: args.size, : args.size]
        (tmp / "in").mkdir()
        tifffile.imwrite(tmp / "in" / "big.tif", big)
        del big, tile
        print("| image | dtype | outputs | seconds | peak memory (MB) |\n|---|---|---|---|---|", flush=True)
        for extra in ([], ["--probabilities", "--labels"]):
            out = tmp / f"out{len(extra)}"
            cmd = [sys.executable, "-m", "igtt", "predict", str(tmp / "in"), "--model", str(tmp / "m.igtt"),
                   "--out", str(out), "--quiet", "--device", "cpu", *extra]
            seconds, peak_mb = _run_measured(cmd)
            mask = tifffile.imread(out / "big.tif")
            assert mask.shape == (args.size, args.size)
            outputs = "mask" + (", probabilities, labels" if extra else "")
            print(f"| {args.size}x{args.size} | uint16 | {outputs} | {seconds:.1f} | {peak_mb:.0f} |", flush=True)


def _run_measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a child process, read from wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return seconds, usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
