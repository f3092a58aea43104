"""The paper's recipe where it differs from the default: the DMI refresh of the pseudo-labels, DMI + soft IoU, the DMI mask rule.

Selected by the ``paper`` preset (``refresh="dmi"``, ``loss="dmi_iou"``,
``mask_threshold="dmi"``, with SGD in :class:`igtt.nn.loop.Trainer`); the
default recipe never runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..nn.losses import dmi_loss, soft_iou_loss
from ..nn.threshold import bright_side, covers_brighter, threshold_search

__all__ = ["refresh", "loss", "dmi_mask"]


def refresh(labels, images: Sequence[np.ndarray], probabilities: Sequence[np.ndarray], *, n_thresholds: int) -> None:
    """The paper's update: per image, the candidate mask the DMI search picks becomes the foreground (``labels.refresh``)."""
    for i, (image, p) in enumerate(zip(images, probabilities)):
        mask, _ = threshold_search(torch.from_numpy(p)[None], n_thresholds=n_thresholds)
        labels.refresh(i, bright_side(mask[0].numpy(), image))


def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DMI + soft IoU on the foreground probability: every pixel counts, unlabelled ones as background."""
    p = torch.sigmoid(logits)
    return dmi_loss(p, target) + soft_iou_loss(p, target)


def dmi_mask(proba: np.ndarray, small: np.ndarray, step: int, *, n_thresholds: int) -> np.ndarray:
    """The paper's mask rule: the DMI threshold search, flipped unless the mask covers the brighter side of ``small``.

    ``small``: the oriented image at every ``step``-th pixel.
    """
    mask = threshold_search(torch.from_numpy(proba)[None], n_thresholds=n_thresholds)[0][0].numpy()
    if not covers_brighter(mask[::step, ::step], small):
        np.logical_not(mask, out=mask)
    return mask
