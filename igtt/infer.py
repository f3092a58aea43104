"""Tiled inference on images of any size, with overlap blending and bounded memory."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .network import as_input

__all__ = ["predict_tiled", "tile_starts", "pad_to_multiple"]

_MULTIPLE = 32  # the U-Net halves the size up to 5 times


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


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
) -> np.ndarray:
    """Foreground probability of a whole image, predicted tile by tile.

    Tiles overlap by ``tile_overlap`` pixels and are blended with linear
    ramps, so no seam shows. Memory is two float32 maps of the image's size
    plus one tile on the device.

    Parameters
    ----------
    net : nn.Module
        Maps (1, 1, H, W) to (1, 1, H, W) logits; put in eval mode here.
    image : (M, N) float32 ndarray
        A normalised, oriented image.
    bfloat16 : bool
        Compute under bfloat16 autocast.

    Returns
    -------
    proba : (M, N) float32 ndarray in [0, 1]
    """
    net.eval()
    rows, cols = image.shape
    tile = max(_MULTIPLE, tile_size // _MULTIPLE * _MULTIPLE)
    padded = pad_to_multiple(image, minimum=0)
    prow, pcol = padded.shape
    tr, tc = min(tile, prow), min(tile, pcol)
    total = np.zeros((prow, pcol), np.float32)
    weight = np.zeros((prow, pcol), np.float32)
    w_tile = _ramp(tr, tile_overlap)[:, None] * _ramp(tc, tile_overlap)[None, :]
    for r0 in tile_starts(prow, tr, tile_overlap):
        for c0 in tile_starts(pcol, tc, tile_overlap):
            patch = np.ascontiguousarray(padded[r0 : r0 + tr, c0 : c0 + tc])
            x = as_input(torch.from_numpy(patch)[None, None], device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
                logits = net(x)
            p = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
            total[r0 : r0 + tr, c0 : c0 + tc] += p * w_tile
            weight[r0 : r0 + tr, c0 : c0 + tc] += w_tile
    total /= weight
    return total[:rows, :cols] if total.shape != (rows, cols) else total
