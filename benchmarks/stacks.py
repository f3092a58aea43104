"""3D objects in z-stacks: igtt's volumes beside classical 3D and stitched 2D pipelines, scored per object in 3D.

A match is a predicted and a true 3D object with IoU > 0.5 (one to one);
per stack AP50 = TP / (TP + FP + FN), F1, mean AP over IoU 0.50-0.95 and
the count ratio (:func:`instances.object_scores`, the same score as 2D).

Rows per stack:

- ``igtt``: ``igtt segment <folder> --out ... --labels`` as a user runs it
  (default preset; the stacks' own voxel size; a z axis makes them volumes);
- ``igtt --2d, stitched``: the same with ``--2d`` (each plane alone), its
  plane labels joined between planes by overlap, as a user of 2D tools does;
- ``3D start``: the stack's label-free 3D start (:func:`igtt.starts.volume.volume_start`) through :func:`igtt.label_objects`;
- ``classical 3D``: Otsu on the stack smoothed by a Gaussian (sigma 1
  voxel, the issue's pipeline; and sigma 2, the best sigma on the embryo
  stacks, so tuned on them), holes filled, 3D watershed on the distance
  transform in the voxel size, seeded a third of the median diameter apart;
- ``classical 2D, stitched``: per plane Otsu on the plane smoothed by sigma 1,
  the 2D declumping of ``benchmarks/instances.py``, joined between planes by overlap.

Folders: ``images/`` and ``masks/`` (instance ids) of 3D TIFFs with a voxel
size in their metadata; ``--synthetic`` adds stacks the project generates
(:func:`igtt.io.synthetic.make_nuclei_3d`: touching, faded with depth).
``--timing`` times a 64 x 512 x 512 16-bit stack with ``--labels --measure``
against its 64 planes as 2D images (and peak memory of each, from the
process' maximum resident set size).

    python benchmarks/stacks.py ../shared/data/qcanet_embryo_nuclei_3d --synthetic
    python benchmarks/stacks.py --timing --threads 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage import feature, filters, segmentation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import igtt  # noqa: E402
from igtt.io.meta import image_info  # noqa: E402
from igtt.io.synthetic import make_nuclei_3d  # noqa: E402
from igtt.starts.images import intensity_range, rescale  # noqa: E402
from igtt.starts.volume import volume_start  # noqa: E402
from instances import classical_split, object_scores  # noqa: E402

SYNTHETIC = {  # name: make_nuclei_3d arguments (voxel 2 x 1 x 1)
    "synthetic_touching_40": dict(shape=(40, 256, 256), n_nuclei=40, touching=0.2, rng=1),
    "synthetic_faded_16": dict(shape=(32, 160, 160), n_nuclei=16, depth_fade=0.7, rng=2),
    "synthetic_dense_60": dict(shape=(32, 256, 256), n_nuclei=60, touching=0.3, radius=(7, 10), rng=3),
}


def stitch(planes: np.ndarray) -> np.ndarray:
    """2D labels of each plane joined into 3D ids: an object takes the id of the object below it it overlaps most,
    where that overlap is at least half of either; else a new id."""
    out = np.zeros(planes.shape, np.int64)
    top = 0
    for z, plane in enumerate(planes):
        ids = np.unique(plane[plane > 0])
        for i in ids:
            here = plane == i
            below = out[z - 1][here] if z else np.zeros(0, np.int64)
            below = below[below > 0]
            if below.size:
                j = np.bincount(below).argmax()
                overlap = np.count_nonzero(below == j)
                if overlap >= 0.5 * min(here.sum(), np.count_nonzero(out[z - 1] == j)):
                    out[z][here] = j
                    continue
            top += 1
            out[z][here] = top
    return out


def classical_3d(volume: np.ndarray, spacing, sigma: float) -> np.ndarray:
    smooth = filters.gaussian(volume.astype(np.float32), sigma)
    mask = ndi.binary_fill_holes(smooth > filters.threshold_otsu(smooth))
    regions = ndi.label(mask)[0]
    if regions.max() == 0:
        return regions
    steps = np.asarray(spacing) / spacing[-1]
    diameter = np.cbrt(6 * np.median(np.bincount(regions.ravel())[1:]) * np.prod(steps) / np.pi)  # x/y pixels
    distance = filters.gaussian(ndi.distance_transform_edt(mask, sampling=steps), 1)
    apart = [max(1, int(diameter / 3 / s)) for s in steps]
    peaks = feature.peak_local_max(distance, min_distance=min(apart), footprint=np.ones([2 * a + 1 for a in apart]), labels=regions, exclude_border=False)
    seeds = np.zeros(mask.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, seeds, mask=mask)


def classical_2d_stitched(volume: np.ndarray) -> np.ndarray:
    planes = []
    for plane in volume.astype(np.float32):
        smooth = filters.gaussian(plane, 1)
        planes.append(classical_split(smooth > filters.threshold_otsu(smooth)) if np.ptp(smooth) > 0 else np.zeros(plane.shape, int))
    return stitch(np.array(planes))


def run_igtt(folder: Path, out: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "igtt", "segment", str(folder), "--out", str(out), "--labels", "--quiet", *extra], check=True)
    return time.perf_counter() - t0


def score(row: str, name: str, labels: np.ndarray, truth: np.ndarray, seconds: str = "") -> tuple:
    ap50, f1, mean_ap, count = object_scores(labels, truth)
    print(f"| {name} | {row} | {ap50:.3f} | {f1:.3f} | {mean_ap:.3f} | {count:.2f} | {seconds} |", flush=True)
    return ap50, f1


def compare(folder: Path, work: Path) -> dict:
    """Every row for the stacks of ``folder``; returns AP50 per row per stack."""
    stacks = sorted((folder / "images").glob("*.tif"))
    seconds = run_igtt(folder / "images", work / "volumes")
    flat_seconds = run_igtt(folder / "images", work / "planes", "--2d")
    results = {}
    for path in stacks:
        volume, truth = tifffile.imread(path), tifffile.imread(folder / "masks" / path.name)
        spacing = image_info(path).spacing
        name = f"{folder.name}/{path.stem}"
        rows = {}
        rows["igtt"] = score("igtt", name, tifffile.imread(work / "volumes" / f"{path.stem}_labels.tif"), truth, f"{seconds / len(stacks):.0f}")
        rows["igtt --2d"] = score("igtt --2d, stitched", name, stitch(tifffile.imread(work / "planes" / f"{path.stem}_labels.tif")), truth, f"{flat_seconds / len(stacks):.0f}")
        start = volume_start(rescale(volume, *intensity_range(volume)), _size(work / "volumes"), spacing=spacing)
        rows["3D start"] = score("3D start", name, igtt.label_objects(start.mask, spacing=spacing), truth)
        for sigma in (1.0, 2.0):
            rows[f"classical 3D {sigma:g}"] = score(f"classical 3D (sigma {sigma:g})", name, classical_3d(volume, spacing, sigma), truth)
        rows["classical 2D"] = score("classical 2D, stitched", name, classical_2d_stitched(volume), truth)
        results[name] = rows
    return results


def _size(out: Path) -> float:
    """The object size the igtt run used, from its saved model."""
    return igtt.IGTT.load(out / "igtt-run" / "model.igtt").object_size_


def synthetic(root: Path) -> Path:
    """The synthetic stacks as a folder of images/ and masks/ (ImageJ TIFFs, voxel 2 x 1 x 1 µm)."""
    for name, kwargs in SYNTHETIC.items():
        volume, labels = make_nuclei_3d(anisotropy=2.0, **kwargs)
        for sub, data in (("images", volume), ("masks", labels.astype(np.uint16))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / sub / f"{name}.tif", data, imagej=True, resolution=(1.0, 1.0), metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    return root


def timing(work: Path, threads: int) -> None:
    """64 x 512 x 512 as one volume against its 64 planes as 2D files: seconds and peak memory of each run."""
    volume, _ = make_nuclei_3d((64, 512, 512), n_nuclei=120, touching=0.1, rng=5)
    (work / "stack").mkdir(parents=True)
    (work / "planes").mkdir()
    tifffile.imwrite(work / "stack" / "stack.tif", volume, imagej=True, resolution=(2.0, 2.0), metadata={"spacing": 1.0, "unit": "um", "axes": "ZYX"})
    for z, plane in enumerate(volume):
        tifffile.imwrite(work / "planes" / f"plane_{z:02d}.tif", plane)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    print("| input | seconds | peak memory (GB) |\n|---|---|---|")
    for name, folder in (("64 planes as 2D files", work / "planes"), ("one 64 x 512 x 512 volume", work / "stack")):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "igtt", "segment", str(folder), "--out", str(work / f"out_{folder.name}"), "--labels", "--measure", "--quiet"], check=True, env=env)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"| {name} | {time.perf_counter() - t0:.0f} | {max(peak, before) / 2**20:.2f}{'' if peak > before else ' (or less: an earlier run peaked higher)'} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--synthetic", action="store_true", help="also the project's synthetic stacks")
    parser.add_argument("--timing", action="store_true", help="time a 64 x 512 x 512 stack against its planes")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.timing:
            timing(tmp / "timing", args.threads)
        folders = list(args.folders) + ([synthetic(tmp / "synthetic")] if args.synthetic else [])
        if not folders:
            return
        print("| stack | method | AP50 | F1 | mean AP | count ratio | seconds |\n|---|---|---|---|---|---|---|")
        means: dict = {}
        for i, folder in enumerate(folders):
            for rows in compare(folder, tmp / f"run{i}").values():
                for row, (ap50, _) in rows.items():
                    means.setdefault((folder.name, row), []).append(ap50)
        print("\n| set | method | mean AP50 |\n|---|---|---|")
        for (name, row), values in means.items():
            print(f"| {name} | {row} | {np.mean(values):.3f} |")


if __name__ == "__main__":
    main()
