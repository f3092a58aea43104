"""Supervised training on (noisy) labels: the papers' study of what networks learn from them.

Binary labels train a network with one logit and binary cross-entropy;
labels with more classes train one logit per class with cross-entropy. An
optional ``valid`` mask per image leaves pixels out of the loss (random
sampling the papers' way). Test Dice and IoU against clean masks are
measured after every epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config import Config
from ..starts.images import normalize
from ..nn.infer import predict_with
from ..nn.loop import Trainer
from ..nn.losses import masked_bce, masked_cross_entropy
from ..io.metrics import scores
from ..nn.network import build_deeplabv3plus, prepare, resolve_device, unet_for
from ..training.batches import sample_batch

__all__ = ["ARCHITECTURES", "STUDY_EPOCHS", "EpochScores", "build_network", "iter_train", "train_supervised", "predict_classes", "test_scores"]

log = logging.getLogger(__name__)

ARCHITECTURES = ("unet", "deeplabv3plus")
STUDY_EPOCHS = 10  # epochs per label type when no config is given (as `igtt study noise`)

# Labels (and an optional valid mask) for every training image; redrawn each epoch when dynamic.
LabelSet = Sequence[tuple[np.ndarray, np.ndarray | None]]


@dataclass
class EpochScores:
    """What one epoch of supervised training measured."""

    epoch: int
    loss: float
    seconds: float
    dice: float = float("nan")  # mean over test images (binary) or over test images and classes
    iou: float = float("nan")
    per_class_iou: list[float] = field(default_factory=list)


def build_network(architecture: str, n_classes: int, config: Config) -> nn.Module:
    """A U-Net (``config``'s encoder and decoder) or a DeepLabV3+; one logit for 2 classes, else one per class."""
    classes = 1 if n_classes == 2 else n_classes
    if architecture == "unet":
        return unet_for(config, classes)
    if architecture == "deeplabv3plus":
        return build_deeplabv3plus(encoder=config.encoder, encoder_weights=config.encoder_weights, classes=classes)
    raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


def _as_targets(labels: LabelSet) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for target, valid in labels:
        target = np.asarray(target).astype(np.float32)
        weight = np.ones(target.shape, np.float32) if valid is None else np.asarray(valid, np.float32)
        out.append((target, weight))
    return out


@torch.no_grad()
def predict_classes(
    net: nn.Module,
    images: Sequence[np.ndarray],
    config: Config,
    *,
    ntm: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Class maps of normalised images.

    A network trained on labels flipped by a known NTM ``Q`` learns the
    noisy posterior ``Q @ p`` rather than ``p``. With ``ntm`` given, a binary
    network's probability is cut halfway between ``Q[1, 0]`` and ``Q[1, 1]``
    (the foreground side being the larger one) and a multi-class one is
    unmixed with ``Q``'s inverse before the argmax; without it, 0.5 and a
    plain argmax. A rank-deficient ``Q`` cannot be unmixed: argmax as is.
    """
    device = next(net.parameters()).device
    threshold, invert, unmix = 0.5, False, None
    if ntm is not None:
        q = np.asarray(ntm, float)
        threshold, invert = (q[1, 0] + q[1, 1]) / 2, q[1, 1] < q[1, 0]
        if len(q) > 2 and np.linalg.matrix_rank(q) == len(q):
            unmix = np.linalg.inv(q).astype(np.float32)
    out = []
    for image in images:
        proba = predict_with(net, image, config, device)
        if proba.ndim == 2:
            out.append(((proba > threshold) != invert).astype(np.uint8))
        else:
            proba = np.tensordot(unmix, proba, axes=1) if unmix is not None else proba
            out.append(proba.argmax(0).astype(np.uint8))
    return out


def test_scores(predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], n_classes: int) -> tuple[float, float, list[float]]:
    """Mean Dice, mean IoU and per-class IoU over images.

    Binary: Dice and IoU of the foreground, averaged over images (images
    with no foreground in either are skipped). Multi-class: every class's
    Dice and IoU per image, averaged over images and then classes.
    """
    classes = [1] if n_classes == 2 else list(range(n_classes))
    dice = np.full((len(predictions), len(classes)), np.nan)
    iou = np.full_like(dice, np.nan)
    for i, (pred, truth) in enumerate(zip(predictions, truths)):
        truth = np.asarray(truth).astype(np.intp) if n_classes > 2 else np.asarray(truth) != 0
        for j, m in enumerate(classes):
            s = scores(pred == m, truth == m)
            dice[i, j], iou[i, j] = s["dice"], s["iou"]
    with np.errstate(all="ignore"):
        per_class = np.nanmean(iou, axis=0)
        return float(np.nanmean(np.nanmean(dice, 0))), float(np.nanmean(per_class)), [float(v) for v in per_class]


def iter_train(
    images: Sequence[np.ndarray],
    labels: LabelSet,
    *,
    n_classes: int = 2,
    architecture: str = "unet",
    config: Config | None = None,
    test_images: Sequence[np.ndarray] = (),
    test_labels: Sequence[np.ndarray] = (),
    redraw: Callable[[int, np.random.Generator], LabelSet] | None = None,
    ntm: np.ndarray | None = None,
    net: nn.Module | None = None,
) -> Iterator[tuple[nn.Module, EpochScores]]:
    """Train a network on ``labels``, yielding ``(net, scores)`` after every epoch.

    Parameters
    ----------
    images : sequence of (M, N) ndarray
        Raw images; each is normalised (percentiles) here.
    labels : sequence of (labels, valid or None)
        Class maps (0/1 or bool for binary) and the pixels that count.
    n_classes : int
        2 for binary (one logit, BCE), more for multi-class (cross-entropy).
    architecture : {"unet", "deeplabv3plus"}
    config : Config
        Network, optimiser, crops, batch size, epochs, steps, seed, device.
    test_images, test_labels : sequences
        Clean test data scored after every epoch.
    redraw : callable, optional
        ``redraw(epoch, rng)`` returns fresh labels for the epoch (dynamic noise).
    ntm : (M, M) ndarray, optional
        The NTM the labels were flipped with, to decode test predictions
        (see :func:`predict_classes`).
    net : nn.Module, optional
        Train this network instead of building one.
    """
    config = config or Config(encoder="resnet18", epochs=STUDY_EPOCHS)  # the papers' study: a ResNet U-Net
    if config.epochs is None:
        raise ValueError("config.epochs must be set for supervised training (None means a kind's default in self-training only)")
    if len(images) != len(labels) or not images:
        raise ValueError(f"need one label per image, got {len(images)} images and {len(labels)} labels")
    device = resolve_device(config.device)
    rng = np.random.default_rng(config.seed)
    if net is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            net = build_network(architecture, n_classes, config)
    net = prepare(net, device)
    trainer = Trainer(net, config, device)
    normed = [normalize(im) for im in images]
    test_normed = [normalize(im) for im in test_images]
    binary = n_classes == 2
    loss = (lambda logits, b: masked_bce(logits, b[1], b[2])) if binary else (lambda logits, b: masked_cross_entropy(logits, b[1][:, 0], b[2][:, 0]))
    targets = _as_targets(labels)
    steps = config.steps_per_epoch or -(-len(images) // config.batch_size)
    t0 = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        if redraw is not None and epoch > 1:
            targets = _as_targets(redraw(epoch, rng))
        mean_loss = trainer.epoch(steps, lambda: sample_batch(normed, targets, config, rng), loss)
        result = EpochScores(epoch=epoch, loss=mean_loss, seconds=0.0)
        if test_normed:
            predictions = predict_classes(net, test_normed, config, ntm=ntm)
            result.dice, result.iou, result.per_class_iou = test_scores(predictions, test_labels, n_classes)
        result.seconds = time.perf_counter() - t0
        log.info("epoch %d/%d loss %.4f dice %.3f (%.1f s)", epoch, config.epochs, result.loss, result.dice, result.seconds)
        yield net, result


def train_supervised(images, labels, **kwargs) -> tuple[nn.Module, list[EpochScores]]:
    """Run :func:`iter_train` to the end; return the network and every epoch's scores."""
    history = []
    net = None
    for net, result in iter_train(images, labels, **kwargs):
        history.append(result)
    return net, history
