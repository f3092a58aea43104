"""Segment one OME-Zarr image far larger than a block, end to end, and report time, throughput and peak memory.

    python benchmarks/large_zarr.py --size 16384

Writes a SIZE x SIZE 16-bit OME-Zarr of synthetic nuclei (chunks of
1024², pixel size 0.325 µm), chunk by chunk, then runs ``igtt segment
big.ome.zarr --out mask.ome.zarr`` in a child process (train on random
blocks, predict block by block, write an OME-Zarr mask) and ``igtt predict``
with the saved model, each measured for wall time and peak resident memory
(``ru_maxrss``: Python, torch and everything read). Prediction throughput is
megapixels per second of the ``predict`` run, reading and writing included,
and its ratio to the fp32 compute limit of the network on this machine
measured the same way (plain float32 forward passes of the default network on
1024² tiles, no input scaling, no I/O). Dice is scored against the synthetic truth, read back in
blocks.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from igtt.io.synthetic import make_nuclei  # noqa: E402

TILE = 1024


def write_big(path: Path, size: int) -> Path:
    """A SIZE² OME-Zarr of nuclei (synthetic 1024² tiles, turned and flipped) and its truth as a plain zarr array."""
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(path / "big.ome.zarr"), mode="w")
    image = group.create_array("0", shape=(size, size), chunks=(TILE, TILE), dtype="uint16")
    truth = zarr.create_array(str(path / "truth.zarr"), shape=(size, size), chunks=(TILE, TILE), dtype="bool")
    tiles = [make_nuclei((TILE, TILE), n_nuclei=240, rng=i) for i in range(4)]
    for r in range(0, size, TILE):
        for c in range(0, size, TILE):
            h, w = min(TILE, size - r), min(TILE, size - c)
            k = (r // TILE) * 7 + c // TILE  # four tiles, turned and flipped: 32 different chunks
            tile, mask = (np.rot90(a, k % 4)[:, :: 1 - 2 * (k // 4 % 2)] for a in tiles[k // 8 % 4])
            image[r : r + h, c : c + w] = tile[:h, :w]
            truth[r : r + h, c : c + w] = mask[:h, :w]
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "yx"]
    write_multiscales_metadata(group, datasets=[{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.325, 0.325]}]}], axes=axes)
    return path / "big.ome.zarr"


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a child process, read from wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def compute_limit(threads: int) -> float:
    """Megapixels per second of plain fp32 forward passes of the default network on 1024² tiles (no I/O, no scaling)."""
    import torch

    from igtt import Config
    from igtt.nn.network import prepare, unet_for

    torch.set_num_threads(threads)
    net = prepare(unet_for(Config()), torch.device("cpu")).eval()
    x = torch.rand(1, 1, TILE, TILE).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        net(x)
        t0 = time.perf_counter()
        for _ in range(3):
            net(x)
    return 3 * TILE * TILE / 1e6 / (time.perf_counter() - t0)


def dice(mask_path: Path, truth_path: Path) -> float:
    import zarr

    mask, truth = zarr.open_group(str(mask_path), mode="r")["0"], zarr.open_array(str(truth_path), mode="r")
    inter = total = 0
    for r in range(0, mask.shape[0], 4096):
        m, t = mask[r : r + 4096] > 0, truth[r : r + 4096]
        inter += int((m & t).sum())
        total += int(m.sum() + t.sum())
    return 2 * inter / max(total, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    base = [sys.executable, "-m", "igtt"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        big = write_big(tmp, args.size)
        print(f"wrote {args.size}x{args.size} uint16 OME-Zarr in {time.perf_counter() - t0:.0f} s", flush=True)
        epochs = ["--epochs", str(args.epochs)] if args.epochs else []
        os.environ.update(env)
        segment = [*base, "segment", str(big), "--out", str(tmp / "mask.ome.zarr"), "--save-model", str(tmp / "m.igtt"),
                   "--device", "cpu", "--quiet", *epochs]
        seg_s, seg_mb = run_measured(segment)
        predict = [*base, "predict", str(big), "--model", str(tmp / "m.igtt"), "--out", str(tmp / "again.ome.zarr"), "--device", "cpu", "--quiet"]
        pred_s, pred_mb = run_measured(predict)
        megapixels = args.size**2 / 1e6
        limit = compute_limit(args.threads)
        score = dice(tmp / "mask.ome.zarr", tmp / "truth.zarr")
        print(f"torch threads {args.threads}; fp32 compute limit of the network here: {limit:.2f} MP/s")
        print("| run | seconds | MP/s | of limit | peak memory (MB) | Dice % |\n|---|---|---|---|---|---|")
        print(f"| segment (train on blocks + predict + write) | {seg_s:.0f} | | | {seg_mb:.0f} | {100 * score:.1f} |")
        print(f"| predict (read + predict + write) | {pred_s:.0f} | {megapixels / pred_s:.2f} | {megapixels / pred_s / limit:.2f} | {pred_mb:.0f} | |")


if __name__ == "__main__":
    main()
