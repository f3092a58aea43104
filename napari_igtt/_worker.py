"""The widget's link to igtt's batch engine: layers become jobs, the engine runs in a ``thread_worker``."""

from __future__ import annotations

import os
import sys

import numpy as np
from napari.qt.threading import thread_worker

__all__ = ["avoid_triton_llvm_clash", "jobs_of", "run_batch"]


def jobs_of(layers, *, volumes: bool = False) -> list:
    """One batch job per Image layer (2D, or any stack of 2D planes); RGB layers are refused in one line.

    ``volumes``: a 3D layer is a z-stack, segmented as one volume with the
    layer's scale (z, y, x) as its voxel size (3D objects); else its planes one by one.
    """
    from igtt.batch import Job
    from igtt.io.meta import check_spacing

    if not layers:
        raise ValueError("choose one or more Image layers first")
    jobs = []
    for layer in layers:
        if layer.rgb:
            raise ValueError(f"layer {layer.name!r} is RGB; split its channels (right click > Split RGB) and choose one")
        spacing = tuple(float(s) for s in layer.scale[-3:]) if volumes and layer.data.ndim == 3 else None
        if spacing is not None:
            check_spacing(f"layer {layer.name!r}", spacing)
        jobs.append(Job(layer.name, image=np.asarray(layer.data), spacing=spacing))
    return jobs


def avoid_triton_llvm_clash() -> None:
    """Keep torch from loading triton where no NVIDIA GPU can use it.

    torchvision imports torch._dynamo, which imports triton if installed (the
    CUDA builds of torch ship it). triton's bundled LLVM crashes the process
    when Mesa's software OpenGL (llvmpipe, as on headless machines and under
    xvfb) has loaded its own LLVM for napari's canvas. Without an NVIDIA
    device triton is of no use, so it is marked missing; torch then runs
    without it.
    """
    if "triton" in sys.modules or os.path.exists("/dev/nvidiactl"):
        return
    sys.modules["triton"] = None  # import triton -> ImportError, which torch handles


@thread_worker
def run_batch(jobs, config, model, probabilities: bool, stop, hints=None, refine: int = 0):
    from igtt import batch

    yield from batch.run(
        jobs, config=config, model=model, probabilities=probabilities, write=batch.keep_in_memory, preview=True, stop=stop,
        hints=hints, refine=refine,
    )
