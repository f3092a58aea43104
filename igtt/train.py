"""The self-training loop, as a generator of small progress events.

Reads top to bottom: start labels, then for every epoch: draw this epoch's
labels, train on random crops, re-estimate the BatchNorm statistics, refresh
the pseudo-labels, report.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.morphology import skeletonize
from torch import nn

from .blobs import StartLabels
from .config import Config
from .ems import extract_meta_structure, random_keep
from .hints import BACKGROUND as HINT_BACKGROUND
from .hints import OBJECT, apply_hints, corrections, hints_only_labels, sets_start_aside, start_trust
from .infer import predict_tiled
from .loop import Trainer
from .losses import dmi_loss, masked_balanced_bce, potts_loss, soft_iou_loss
from .network import use_bfloat16
from .threshold import bright_side, threshold_search

__all__ = ["Progress", "iter_fit", "PseudoLabels"]

log = logging.getLogger(__name__)

UNLABELLED, FOREGROUND, BACKGROUND = 0, 1, 2  # the hints' convention (igtt.hints): 1 object, 2 background
HINTS_ONLY_STEPS = 3  # learning from a few strokes takes longer: this many times the steps per epoch (ssTEM 36 -> 50 Dice)


@dataclass
class Progress:
    """One epoch's report.

    Attributes
    ----------
    epoch : int
        1-based number of the epoch just finished.
    n_epochs : int
    loss : float
        Mean training loss over the epoch.
    seconds : float
        Wall time since training started.
    labels : (M, N) uint8 ndarray or None
        Preview of the first image's pseudo-labels for the next epoch:
        0 unlabelled, 1 foreground (object), 2 background, as hints are painted.
    prediction : (M, N) float32 ndarray or None
        Preview of the first image's foreground probability.
    """

    epoch: int
    n_epochs: int
    loss: float
    seconds: float
    labels: np.ndarray | None = None
    prediction: np.ndarray | None = None


class PseudoLabels:
    """The current pseudo-labels of every image, and how they are redrawn.

    With hints that contradict the start (:func:`igtt.hints.sets_start_aside`),
    the start is set aside and the labels are the hints alone, made once
    (:func:`igtt.hints.hints_only_labels`), unless ``keep_start`` (a refine,
    whose start is the model's own masks).
    """

    def __init__(self, starts: Sequence[StartLabels], config: Config, rng: np.random.Generator, hints=None, keep_start=False):
        self.config = config
        self.rng = rng
        self.hints = list(hints) if hints is not None else [None] * len(starts)
        self.trust = start_trust(starts, self.hints)
        self.hints_only = not keep_start and sets_start_aside(self.trust, self.hints)
        self._hints_only = [hints_only_labels(h, s.foreground.shape) for h, s in zip(self.hints, starts)] if self.hints_only else None
        # the hints that correct the start (it labelled them otherwise, or not at all) are what is new to learn
        self.corrections = [None if h is None else corrections(s, h) for s, h in zip(starts, self.hints)]
        self.share = config.hint_share * (1 - self.trust)  # of a class's weight in an image, for its corrections
        starts = [apply_hints(s, h) for s, h in zip(starts, self.hints)]
        self.foreground = [s.foreground for s in starts]
        self.background = [s.background & ~s.foreground for s in starts]
        self._skeletons = [None] * len(starts)

    def refresh(self, images: Sequence[np.ndarray], probabilities: Sequence[np.ndarray]) -> None:
        """The paper's update: the DMI-chosen candidate becomes the foreground."""
        for i, (image, p) in enumerate(zip(images, probabilities)):
            mask, _ = threshold_search(torch.from_numpy(p)[None], n_thresholds=self.config.n_thresholds)
            mask = bright_side(mask[0].numpy(), image)
            if self.hints[i] is not None:  # hints outlive every refresh
                mask = (mask | (self.hints[i] == OBJECT)) & (self.hints[i] != HINT_BACKGROUND)
            self.foreground[i] = mask
            self.background[i] = ~mask
            self._skeletons[i] = None

    def draw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's (target, weight) for image ``i``, both float32 (M, N).

        With EMS the foreground is a random shifted sample of its skeleton,
        drawn anew each call (a dynamic RCL). With ``dmi_iou`` every pixel
        counts and the unsampled ones are background, as in the paper; with
        ``balanced_bce`` only the sampled pixels count. Hinted pixels are
        always labelled; those that correct the start carry a share of
        their class's weight that grows as the hints contradict the start:
        ``Config.hint_share * (1 - trust)`` (:func:`igtt.hints.start_trust`).
        """
        if self.hints_only:
            return self._hints_only[i]
        target, weight = self._draw(i)
        if self.trust < 1:
            weight *= np.float32(self.trust)
        hint = self.hints[i]
        if hint is not None:
            share = self.share
            for value, cls in ((OBJECT, 1), (HINT_BACKGROUND, 0)):
                hinted = hint == value
                target[hinted] = cls
                weight[hinted] = np.maximum(weight[hinted], self.trust)
                new = hinted & self.corrections[i]
                if new.any() and share > 0:
                    rest = float(weight[(target == cls) & ~new].sum())
                    weight[new] = max(self.trust, share / (1 - share) * rest / new.sum())  # never below a start pixel
        return target, weight

    def _draw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        whole = fg = self.foreground[i]
        if c.ems:
            if self._skeletons[i] is None:
                self._skeletons[i] = skeletonize(fg)
            fg = extract_meta_structure(fg, radius=c.shift_radius, p_sample=c.p_sample, rng=self.rng, skeleton=self._skeletons[i])
        if c.loss == "dmi_iou":
            target = fg.astype(np.float32)
            return target, np.ones_like(target)
        if c.ems and c.p_foreground > 0:
            fg = fg | random_keep(whole, p_sample=c.p_foreground, rng=self.rng)
        target = fg.astype(np.float32)
        bg = self.background[i]
        if c.p_background < 1:
            bg = random_keep(bg, p_sample=c.p_background, rng=self.rng)
        return target, (fg | (bg & ~fg)).astype(np.float32)

    def preview(self, i: int = 0) -> np.ndarray:
        if self.hints_only:  # the hints are the labels
            return np.zeros(self.foreground[i].shape, np.uint8) if self.hints[i] is None else self.hints[i].copy()
        out = np.full(self.foreground[i].shape, UNLABELLED, np.uint8)
        out[self.background[i]] = BACKGROUND
        out[self.foreground[i]] = FOREGROUND
        return out


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


def _loss(logits, target, weight, x, real, config: Config) -> torch.Tensor:
    if config.loss == "dmi_iou":
        p = torch.sigmoid(logits)
        return dmi_loss(p, target) + soft_iou_loss(p, target)
    loss = masked_balanced_bce(logits, target, weight)
    if config.crf_weight:
        loss = loss + config.crf_weight * potts_loss(torch.sigmoid(logits), x, real)
    return loss


def iter_fit(
    net: nn.Module,
    images: Sequence[np.ndarray],
    starts: Sequence[StartLabels],
    config: Config,
    *,
    device: torch.device,
    preview: bool = False,
    hints: Sequence[np.ndarray | None] | None = None,
    keep_start: bool = False,
) -> Iterator[Progress]:
    """Train ``net`` on ``images`` by iterative pseudo-labelling, one event per epoch.

    Parameters
    ----------
    net : nn.Module
        A freshly built U-Net (see :func:`igtt.network.build_unet`).
    images : sequence of (M, N) float32 ndarray
        Network inputs in [0, 1], objects bright (:class:`igtt.network_input.NetworkInput`).
    starts : sequence of StartLabels
        Each image's start (:func:`igtt.start.start_labels`).
    config : Config
        With every kind-dependent field resolved (:meth:`Config.for_kind`).
    device : torch.device
    preview : bool
        Add the first image's pseudo-labels and prediction to every event.
    hints : sequence of (M, N) uint8 ndarray or None, optional
        Per image: 0 no hint, 1 object, 2 background (:mod:`igtt.hints`).
    keep_start : bool
        Never set the start aside for the hints (see :class:`PseudoLabels`).

    Yields
    ------
    Progress
        After every epoch; stopping the iteration early keeps the network
        as trained so far.
    """
    rng = np.random.default_rng(config.seed)
    labels = PseudoLabels(starts, config, rng, hints, keep_start)
    anchors, anchored = [np.argwhere(c) if c is not None and c.any() else None for c in labels.corrections], labels.share
    if any(h is not None for h in labels.hints):
        n = sum(int(c.sum()) for c in labels.corrections if c is not None)
        log.info("hints: %d pixels correct the start; trust in the start %.2f", n, labels.trust)
    steps = config.steps_per_epoch or math.ceil(len(images) / config.batch_size)
    if labels.hints_only:  # every crop holds hints: they are the only labels
        log.info("hints contradict the start: learning from the hints alone")
        anchors = [None if h is None else np.argwhere(h) for h in labels.hints]
        anchored, steps = 1.0, steps * HINTS_ONLY_STEPS
    trainer = Trainer(net, config, device)
    plain = config.replace(augment=False)
    t0 = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        drawn = [labels.draw(i) for i in range(len(images))]
        loss = trainer.epoch(
            steps,
            lambda: sample_batch(images, drawn, config, rng, anchors, anchored),
            lambda logits, batch: _loss(logits, batch[1], batch[2], batch[0], batch[3], config),
        )
        trainer.recalibrate_batchnorm(lambda: sample_batch(images, drawn, plain, rng))
        probabilities = None
        if config.refresh == "dmi":
            probabilities = [_predict(net, im, config, device) for im in images]
            labels.refresh(images, probabilities)
        prediction = None
        if preview:
            prediction = probabilities[0] if probabilities else _predict(net, images[0], config, device)
        event = Progress(
            epoch=epoch,
            n_epochs=config.epochs,
            loss=loss,
            seconds=time.perf_counter() - t0,
            labels=labels.preview(0) if preview else None,
            prediction=prediction,
        )
        log.info("epoch %d/%d loss %.4f (%.1f s)", epoch, config.epochs, event.loss, event.seconds)
        yield event


def _predict(net: nn.Module, image: np.ndarray, config: Config, device: torch.device) -> np.ndarray:
    return predict_tiled(
        net,
        image,
        device=device,
        tile_size=config.tile_size,
        tile_overlap=config.tile_overlap,
        bfloat16=use_bfloat16(config.precision, device),
    )
