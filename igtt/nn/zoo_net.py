"""The network of an igtt model as a BioImage.IO package runs it, written with torch and segmentation_models_pytorch only.

This file is copied into the package (the architecture of its
pytorch_state_dict weights), so it imports nothing from igtt. The package's
preprocessing scales the image to [0, 1] (0.5 and 99.8 percentiles, clip,
inverted for dark objects); :class:`IGTTNet` does the rest of what igtt
feeds its network (for blob models: the background subtracted at the scale
of the objects) and returns the foreground probability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class IGTTNet(nn.Module):
    """(batch, 1, y, x) image in [0, 1], objects bright -> (batch, 1, y, x) foreground probability.

    Parameters
    ----------
    encoder, encoder_depth, decoder_channels :
        The smp U-Net (1 input channel, 1 output channel, random start).
    background : dict or None
        ``{"factor": f, "radius": r, "percentile": q}``: the image is reduced
        by ``f`` (objects ~12 px), smoothed, opened with a disk of radius ``r``
        (reduced pixels) and brought back to full size; the image minus that
        background, divided by its ``q``-th percentile and clipped to [0, 1],
        is what the U-Net sees. ``None``: the U-Net sees the image itself.
    """

    def __init__(self, encoder="mobilenet_v2", encoder_depth=3, decoder_channels=(32, 16, 8), background=None):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.unet = smp.Unet(
            encoder_name=encoder,
            encoder_depth=encoder_depth,
            encoder_weights=None,
            decoder_channels=tuple(decoder_channels),
            in_channels=1,
            classes=1,
        )
        drop_unused_stages(self.unet.encoder, encoder_depth)
        self.background = dict(background) if background else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.background is not None:
            x = subtract_background(x, **self.background)
        return torch.sigmoid(self.unet(x))


def subtract_background(x: torch.Tensor, factor: float, radius: int, percentile: float) -> torch.Tensor:
    """``clip((x - background) / gain, 0, 1)`` per image, as igtt's blob input (igtt.starts.blobs.Background)."""
    size = x.shape[-2:]
    small = x
    if factor < 1:
        small = _gaussian(small, (1 / factor - 1) / 2)  # anti-aliasing, as skimage's rescale
        small = F.interpolate(small, size=[max(1, round(n * factor)) for n in size], mode="bilinear", align_corners=False)
    small = _gaussian(small, max(0.5, factor))
    small = _dilate(-_dilate(-small, radius), radius)  # grey opening with a disk
    background = F.interpolate(small, size=list(size), mode="bilinear", align_corners=False)
    residual = x - background
    flat = residual.flatten(1)
    flat = flat[:, :: max(1, flat.shape[1] // 4_000_000)]
    gain = torch.quantile(flat, percentile / 100, dim=1).clamp_min(1e-6)
    return (residual / gain[:, None, None, None]).clamp(0, 1)


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    half = int(4 * sigma + 0.5)
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    for dim in (2, 3):
        pad = [0, 0, half, half] if dim == 2 else [half, half, 0, 0]
        x = F.pad(x, pad, mode="replicate")
        x = F.conv2d(x, k.view(1, 1, -1, 1) if dim == 2 else k.view(1, 1, 1, -1))
    return x


def _dilate(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Grey dilation with a disk of ``radius`` (x² + y² <= r²), edges reflected."""
    padded = F.pad(x, [radius] * 4, mode="reflect") if min(x.shape[-2:]) > radius else F.pad(x, [radius] * 4, mode="replicate")
    rows, cols = x.shape[-2:]
    out = None
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                shifted = padded[..., radius + dy : radius + dy + rows, radius + dx : radius + dx + cols]
                out = shifted if out is None else torch.maximum(out, shifted)
    return out


def drop_unused_stages(encoder: nn.Module, depth: int) -> None:
    """Remove the encoder stages deeper than ``depth``: never run, they would only fill model files.

    smp builds every stage of the backbone (resnet18: 11 M parameters) and
    runs only the first ``depth``; at depth 3 the rest is 93 % of the weights
    (mobilenet_v2: 75 %, and its encoder would run the next stage too).
    Encoders without smp's ``get_stages`` (timm ``tu-`` ones) are left whole.
    """
    stages = getattr(encoder, "get_stages", None)
    if stages is None:
        return
    # a stage is modules or slices of a Sequential: take both the module and its children
    unused = {id(x) for stride, modules in stages().items() if stride > 2**depth for m in modules for x in (m, *m.children())}
    for parent in list(encoder.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in unused:
                delattr(parent, name)  # the deepest stages come last: what runs keeps its place
