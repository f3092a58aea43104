"""Batches of random crops for self-training: flips, turns, gamma and zoom-outs, and crops held on hints."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config

__all__ = ["sample_batch"]


def _shrink(crop: list[np.ndarray], factor: float) -> list[np.ndarray]:
    """Zoom (image, target, weight) out by ``factor`` (area averaging); a label survives where one class fills the pixel."""
    image, target, weight = (torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None] for a in crop)
    area = lambda t: F.interpolate(t, scale_factor=factor, mode="area", recompute_scale_factor=False)[0, 0].numpy()
    has = (weight > 0).float()
    labelled, labelled_fg = area(has), area(target * has)
    sure = (labelled > 0.99) & ((labelled_fg > 0.99) | (labelled_fg < 0.01))
    # a sure pixel keeps the mean weight of what it was made of (hints weigh more than the start)
    return [area(image), (labelled_fg > 0.5).astype(np.float32), np.where(sure, area(weight), 0).astype(np.float32)]


def sample_batch(images, labels, config: Config, rng: np.random.Generator, anchors=None, anchored: float = 0.0):
    """A batch of random crops and the mask of real (unpadded) pixels.

    ``anchors``: per image, the (row, col) of its corrective hints or None;
    then the fraction ``anchored`` of the crops of a batch (at least one)
    holds one, so they count in every step.

    With ``augment``: flips, turns, a gamma jitter, and, for ``zoom < 1``, a
    random zoom-out down to ``zoom``: thick lines shrunk teach the network
    thin ones, which the start cannot label (DRIVE 72.7 -> 73.1).
    """
    size = config.crop_size
    areas = np.array([im.size for im in images], float)
    picks = rng.choice(len(images), size=config.batch_size, p=areas / areas.sum())
    zoom = config.zoom if config.zoom is not None else 1.0
    hinted = [i for i, a in enumerate(anchors or []) if a is not None]  # images with corrective hints
    n_anchored = max(1, round(anchored * len(picks))) if hinted and anchored > 0 else 0
    if n_anchored:
        picks[:n_anchored] = rng.choice(hinted, size=n_anchored)
    xs, ys, ws, ms = [], [], [], []
    for n, i in enumerate(picks):
        image, (target, weight) = images[i], labels[i]
        rows, cols = image.shape
        factor = rng.uniform(zoom, 1.0) if config.augment and zoom < 1 else 1.0
        span = int(round(size / factor)) if factor < 0.99 else size
        if n < n_anchored:  # a crop around a random corrective hint
            r, c = anchors[i][rng.integers(len(anchors[i]))]
            r0 = rng.integers(max(r - span + 1, 0), min(r, max(rows - span, 0)) + 1)
            c0 = rng.integers(max(c - span + 1, 0), min(c, max(cols - span, 0)) + 1)
        else:
            r0 = rng.integers(0, max(rows - span, 0) + 1)
            c0 = rng.integers(0, max(cols - span, 0) + 1)
        crop = [a[r0 : r0 + span, c0 : c0 + span] for a in (image, target, weight)]
        if span != size:
            crop = [a[:size, :size] for a in _shrink(crop, factor)]
        real = np.ones(crop[0].shape, np.float32)
        pad = ((0, size - crop[0].shape[0]), (0, size - crop[0].shape[1]))
        crop = [np.pad(a, pad) for a in crop + [real]]  # a padded pixel has weight 0 and is not real
        if config.augment:
            k = rng.integers(4)
            flip = rng.random() < 0.5
            crop = [np.rot90(a, k) for a in crop]
            if flip:
                crop = [a[:, ::-1] for a in crop]
            crop[0] = crop[0] ** np.float32(np.exp(rng.uniform(-0.4, 0.4)))
        xs.append(crop[0])
        ys.append(crop[1])
        ws.append(crop[2])
        ms.append(crop[3])
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a), dtype=np.float32)[:, None])
    return as_tensor(xs), as_tensor(ys), as_tensor(ws), as_tensor(ms)
