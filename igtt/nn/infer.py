"""Tiled inference on images of any size, with overlap blending and bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .network import as_input, use_bfloat16

__all__ = ["predict_tiled", "predict_with", "tile_layout", "pad_to_multiple"]

_MULTIPLE = 32  # the U-Net halves the size up to 5 times


def tile_layout(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """Tiles covering ``length``: their size (at most ``tile``, a multiple of 32) and start offsets.

    As few tiles as cover ``length`` with ``overlap`` between neighbours, all
    of one size shrunk to just fit and spaced evenly, so no tile runs far
    past the end (a 1100 px side takes two 608 px tiles, not two of 1024).
    """
    if length <= tile:
        return length, [0]
    n = -(-(length - overlap) // (tile - overlap))
    need = -(-(length + (n - 1) * overlap) // n)
    size = min(tile, -(-need // _MULTIPLE) * _MULTIPLE)
    step = -(-(length - size) // (n - 1))
    return size, [min(i * step, length - size) for i in range(n)]


def pad_to_multiple(image: np.ndarray, multiple: int = _MULTIPLE, minimum: int = 0) -> np.ndarray:
    """Pad the bottom and right edges (mirror) so each side is a multiple of ``multiple``."""
    rows, cols = image.shape
    target = [max(minimum, -(-n // multiple) * multiple) for n in (rows, cols)]
    pad = [(0, target[0] - rows), (0, target[1] - cols)]
    if pad[0][1] == 0 and pad[1][1] == 0:
        return image
    mode = "reflect" if pad[0][1] < rows and pad[1][1] < cols else "symmetric"
    return np.pad(image, pad, mode=mode)


def _ramp(length: int, overlap: int) -> np.ndarray:
    """A 1D blending weight rising linearly over ``overlap`` pixels at both ends."""
    if overlap <= 0:
        return np.ones(length, np.float32)
    i = np.arange(length, dtype=np.float32)
    return np.clip(np.minimum(i + 1, length - i) / (overlap + 1), 1e-3, 1.0)


@torch.no_grad()
def predict_tiled(
    net: nn.Module,
    image: np.ndarray,
    *,
    device: torch.device,
    tile_size: int = 512,
    tile_overlap: int = 64,
    bfloat16: bool = False,
    transform: Callable[[np.ndarray, slice, slice], np.ndarray] | None = None,
) -> np.ndarray:
    """Foreground probability of a whole image, predicted tile by tile.

    Tiles overlap by ``tile_overlap`` pixels and are blended with linear
    ramps, so no seam shows. The blending weights are separable, so memory is
    the image, one float32 map of its size and one tile on the device.

    Parameters
    ----------
    net : nn.Module
        Maps (1, 1, H, W) to (1, C, H, W) logits; put in eval mode here.
        One channel is read through a sigmoid, several through a softmax.
    image : (M, N) ndarray
        A normalised, oriented float32 image, or raw data with ``transform``.
    bfloat16 : bool
        Compute under bfloat16 autocast.
    transform : callable, optional
        ``transform(tile, rows, cols)`` turns the pixels ``image[rows, cols]``
        into network input (e.g. scaling a 16-bit image to [0, 1]), so the
        whole image is never converted at once.

    Returns
    -------
    proba : (M, N) float32 ndarray in [0, 1], or (C, M, N) for a C-class net
    """
    net.eval()
    rows, cols = image.shape
    tile = max(_MULTIPLE, tile_size // _MULTIPLE * _MULTIPLE)
    (tr, row_starts), (tc, col_starts) = tile_layout(rows, tile, tile_overlap), tile_layout(cols, tile, tile_overlap)
    ramp_r, ramp_c = _ramp(tr, tile_overlap), _ramp(tc, tile_overlap)
    total = None
    for r0 in row_starts:
        for c0 in col_starts:
            where = slice(r0, r0 + tr), slice(c0, c0 + tc)
            patch = image[where]
            patch = transform(patch, *where) if transform is not None else patch
            patch = pad_to_multiple(np.asarray(patch, np.float32))
            x = as_input(torch.from_numpy(np.ascontiguousarray(patch))[None, None], device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
                logits = net(x)
            logits = logits.float()[0, :, :tr, :tc]
            p = (torch.sigmoid(logits[0]) if len(logits) == 1 else torch.softmax(logits, 0)).cpu().numpy()
            p *= ramp_r[:, None]
            p *= ramp_c[None, :]
            if total is None:
                total = np.zeros(p.shape[:-2] + (rows, cols), np.float32)
            total[..., r0 : r0 + tr, c0 : c0 + tc] += p
    # the summed weight of a grid of separable ramps is itself separable
    total /= _coverage(rows, row_starts, ramp_r)[:, None]
    total /= _coverage(cols, col_starts, ramp_c)[None, :]
    return total


def _coverage(length: int, starts: list[int], ramp: np.ndarray) -> np.ndarray:
    """Sum of the 1D ramps placed at ``starts``."""
    weight = np.zeros(length, np.float32)
    for s in starts:
        weight[s : s + len(ramp)] += ramp
    return weight


def predict_with(net: nn.Module, image: np.ndarray, config, device: torch.device, *, transform=None) -> np.ndarray:
    """:func:`predict_tiled` with a :class:`~igtt.Config`'s tiles and precision."""
    return predict_tiled(
        net,
        image,
        device=device,
        tile_size=config.tile_size,
        tile_overlap=config.tile_overlap,
        bfloat16=use_bfloat16(config.precision, device),
        transform=transform,
    )
