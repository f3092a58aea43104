"""Losses of iGTT: DMI, soft IoU, and the class-balanced BCE of the default preset.

Pure tensor functions first, thin ``nn.Module`` wrappers after, in the way of
segmentation_models_pytorch. Every function takes probabilities ``p`` (after the
sigmoid) or logits, and labels ``y`` in {0, 1}, both of shape (batch, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "joint_matrix",
    "dmi_loss",
    "soft_iou_loss",
    "masked_balanced_bce",
    "masked_bce",
    "masked_cross_entropy",
    "potts_loss",
]

_EPS = 1e-6


def joint_matrix(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Normalised 2x2 joint matrix ``Q = [p, 1-p] @ [y, 1-y]^T / n`` per sample.

    Parameters
    ----------
    p : (B, ...) tensor
        Foreground probabilities in [0, 1].
    y : (B, ...) tensor
        Labels or candidate masks in [0, 1], same shape as ``p``.

    Returns
    -------
    q : (B, 2, 2) tensor
        ``q[b, i, j]`` is the mean over pixels of ``P_i * Y_j`` with
        ``P_0 = p, P_1 = 1 - p`` (and the same for ``y``); it sums to 1.
    """
    p = p.flatten(1)
    y = y.flatten(1).to(p.dtype)
    pp = torch.stack([p, 1 - p], dim=1)  # (B, 2, N)
    yy = torch.stack([y, 1 - y], dim=1)  # (B, 2, N)
    # dividing by N keeps det(Q) in [-1/4, 1/4] whatever the image size
    return pp @ yy.transpose(1, 2) / p.shape[1]


def dmi_loss(p: torch.Tensor, y: torch.Tensor, *, signed: bool = False) -> torch.Tensor:
    """Determinant-based mutual information loss ``-log(|det Q| + eps)``.

    ``det Q`` equals ``Cov(p, y)`` over the pixels, so the loss is lowest when
    the prediction and the labels are most correlated. With ``signed=False``
    (the paper) an anti-correlated prediction scores as well as a correlated
    one; with ``signed=True`` a negative correlation counts as none.

    Returns the mean over the batch. An all-zero label has ``det Q = 0``: the
    loss is then a constant ``-log(eps)`` with zero gradient.
    """
    det = torch.linalg.det(joint_matrix(p, y))
    det = det.clamp(min=0) if signed else det.abs()
    return -torch.log(det + _EPS).mean()


def soft_iou_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Soft IoU loss ``1 - sum(p*y) / (sum(p + y - p*y) + eps)``, batch mean."""
    p = p.flatten(1)
    y = y.flatten(1).to(p.dtype)
    inter = (p * y).sum(1)
    union = (p + y - p * y).sum(1)
    return (1 - inter / (union + _EPS)).mean()


def masked_balanced_bce(
    logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy on the labelled pixels only, classes weighted equally.

    Parameters
    ----------
    logits : (B, ...) tensor
    y : (B, ...) tensor of {0, 1}
    weight : (B, ...) tensor, >= 0
        How much each pixel counts: 0 where it is ignored, 1 for a start
        pixel, fractions or more where hints weigh it (each class's mean is
        weighted by these).

    Returns
    -------
    loss : scalar tensor
        ``(mean BCE over labelled foreground + mean BCE over labelled
        background) / 2``; a class with no labelled pixel contributes 0.
    """
    y = y.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    fg = weight * y
    bg = weight * (1 - y)
    loss_fg = (bce * fg).sum() / fg.sum().clamp(min=1)
    loss_bg = (bce * bg).sum() / bg.sum().clamp(min=1)
    return (loss_fg + loss_bg) / 2


def _pairs(t: torch.Tensor, dr: int, dc: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``t`` and ``t`` shifted by (dr, dc >= 0), both cropped to where the pair exists."""
    rows, cols = t.shape[-2:]
    r0, r1 = max(0, -dr), rows - max(0, dr)
    return t[..., r0:r1, : cols - dc], t[..., r0 + dr : r1 + dr, dc:]


def potts_loss(
    p: torch.Tensor, image: torch.Tensor, valid: torch.Tensor, *, sigma: float = 0.1, radius: int = 2
) -> torch.Tensor:
    """Relaxed Potts energy with intensity-gated pairs: a dense-CRF loss on every pixel.

    ``sum over neighbour pairs (i, j) within radius of w_ij * [p_i (1 - p_j) + p_j (1 - p_i)]``
    with ``w_ij = exp(-(I_i - I_j)^2 / (2 sigma^2))``, per valid pixel. Cutting
    between similar pixels costs, cutting across an edge does not, so
    boundaries move onto intensity edges; pixels without a label are
    decided by the image instead of by extrapolation (the regularised loss
    of weakly supervised segmentation, Tang et al. 2018; Obukhov et al. 2019).

    Parameters
    ----------
    p : (B, 1, H, W) tensor
        Foreground probabilities.
    image : (B, 1, H, W) tensor
        The network's input, in [0, 1].
    valid : (B, 1, H, W) tensor of {0, 1}
        Pixels that exist (0 on padding).
    sigma : float
        Intensity difference at which a pair's weight falls to ``exp(-1/2)``.
    radius : int
        Pairs within a (2 radius + 1)^2 window; each unordered pair once.

    Returns
    -------
    loss : scalar tensor
    """
    total = p.new_zeros(())
    for dr in range(-radius, radius + 1):
        for dc in range(0, radius + 1):
            if dc == 0 and dr <= 0:
                continue  # each unordered pair once
            pa, pb = _pairs(p, dr, dc)
            ia, ib = _pairs(image, dr, dc)
            va, vb = _pairs(valid, dr, dc)
            weight = torch.exp(-((ia - ib) ** 2) / (2 * sigma**2)) * va * vb
            total = total + (weight * (pa * (1 - pb) + pb * (1 - pa))).sum()
    return total / valid.sum().clamp(min=1)


def masked_bce(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Plain binary cross-entropy averaged over the pixels with ``weight`` 1 (the papers' study loss)."""
    bce = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
    return (bce * weight).sum() / weight.sum().clamp(min=1)


def masked_cross_entropy(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (B, M, ...) logits against (B, ...) class indices, over pixels with ``weight`` 1."""
    ce = F.cross_entropy(logits, y.long(), reduction="none")
    return (ce * weight).sum() / weight.sum().clamp(min=1)
