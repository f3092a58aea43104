"""What a trained network responds to: top channels, synthesised patterns (papers' Algorithm 1), difference images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.infer import pad_to_multiple
from ..nn.network import as_input

__all__ = ["penultimate_layer", "channel_activations", "top_channels", "synthesize_pattern", "patterns_for", "difference_image"]


def penultimate_layer(net: nn.Module) -> nn.Module:
    """The layer whose output feeds the final classifier: the decoder of an smp model."""
    decoder = getattr(net, "decoder", None)
    if decoder is None:
        raise ValueError(f"{type(net).__name__} has no .decoder; pass the layer to read explicitly")
    return decoder


def _features(net: nn.Module, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        net(x)
    finally:
        handle.remove()
    return captured[0]


@torch.no_grad()
def channel_activations(net: nn.Module, image: np.ndarray, *, layer: nn.Module | None = None) -> np.ndarray:
    """Mean activation of every channel of ``layer`` (default the penultimate one) for a normalised image."""
    net.eval()
    layer = layer if layer is not None else penultimate_layer(net)
    device = next(net.parameters()).device
    rows, cols = image.shape
    x = as_input(torch.from_numpy(np.ascontiguousarray(pad_to_multiple(np.asarray(image, np.float32))))[None, None], device)
    features = _features(net, x, layer)[0, :, :rows, :cols]
    return features.float().mean(dim=(1, 2)).cpu().numpy()


def top_channels(net: nn.Module, image: np.ndarray, k: int = 3, *, layer: nn.Module | None = None) -> tuple[list[int], np.ndarray]:
    """The ``k`` channels with the highest mean activation for ``image``, and all channels' activations."""
    activations = channel_activations(net, image, layer=layer)
    order = np.argsort(activations)[::-1][:k]
    return [int(c) for c in order], activations


def synthesize_pattern(
    net: nn.Module,
    channel: int,
    *,
    shape: tuple[int, int] = (128, 128),
    steps: int = 100,
    lr: float = 0.05,
    blur: float = 1.0,
    seed: int = 0,
    layer: nn.Module | None = None,
) -> np.ndarray:
    """An image that maximally activates ``channel`` of ``layer``, by gradient ascent from noise.

    The papers' Algorithm 1: start from a random image X (grey, 0.5, with
    noise of s.d. 0.1) and repeat ``X <- X + lr * grad`` of the channel's mean
    activation (over the image less a border of 1/8 of its side, which the
    network's zero padding would otherwise dominate). The gradient is
    divided by its RMS so ``lr`` is a step in intensity units whatever the
    network's scale, and X is kept in [0, 1] like a normalised image. A
    channel that never fires inside the image gets no gradient: its pattern
    is the smoothed start image. Every second step X is smoothed with a Gaussian
    of s.d. ``blur`` pixels: without it the ascent finds pixel-scale noise
    that activates the channel but shows nothing (on a U-Net trained on
    BBBC039 the smoothed patterns show nucleus-sized ellipses); ``blur=0``
    is the plain ascent of the papers.

    Returns
    -------
    pattern : (rows, cols) float32 ndarray in [0, 1]
    """
    net.eval()
    layer = layer if layer is not None else penultimate_layer(net)
    device = next(net.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.1 * torch.randn((1, 1, *shape), generator=generator)).clamp(0, 1).to(device).requires_grad_(True)
    margin = max(1, min(shape) // 8)  # the zero-padded border excites many channels; leave it out
    for step in range(steps):
        features = _features(net, as_input(x, device), layer)
        objective = features[0, channel, margin:-margin, margin:-margin].float().mean()
        (grad,) = torch.autograd.grad(objective, x)
        with torch.no_grad():
            x += lr * grad / (grad.pow(2).mean().sqrt() + 1e-12)
            if blur > 0 and step % 2 == 0:
                x.copy_(_gaussian(x, blur))
            x.clamp_(0, 1)
    return x.detach()[0, 0].cpu().numpy()


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of a (1, 1, H, W) tensor, mirrored at the edges."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))


def difference_image(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``reference - other`` of two binary masks as int8: +1 only in ``reference``, -1 only in ``other``, 0 where they agree."""
    reference, other = np.asarray(reference) != 0, np.asarray(other) != 0
    if reference.shape != other.shape:
        raise ValueError(f"masks differ in shape: {reference.shape} vs {other.shape}")
    return reference.astype(np.int8) - other.astype(np.int8)


def patterns_for(net: nn.Module, image: np.ndarray, k: int = 3, **kwargs) -> tuple[list[int], np.ndarray, Sequence[np.ndarray]]:
    """Top ``k`` channels for ``image``, all activations, and one synthesised pattern per top channel."""
    top, activations = top_channels(net, image, k)
    return top, activations, [synthesize_pattern(net, c, **kwargs) for c in top]
