"""The model users hold: fit on their images, predict, save, load; and ``segment``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .io.blocks import is_lazy, predict_lazy
from .nn.infer import predict_with
from .nn.network import for_inference, prepare, resolve_device, unet_for
from .nn.network_input import NetworkInput
from .nn.postprocess import clean_mask
from .quality import ImageCheck, Segmentation, check_image, folder_flags
from .starts.field import field_step
from .starts.images import as_image_list, intensity_range, orient, per_image, rescale, restore_shape
from .starts.kinds import image_size, resolve_objects
from .starts.labels import StartLabels
from .starts.start import own_start, start_labels
from .training import paper
from .training.hints import as_hint_list, polarity_from_hints
from .training.train import Progress, iter_fit

__all__ = ["IGTT", "Segmentation"]

log = logging.getLogger(__name__)

class IGTT:
    """A U-Net trained without labels on the images it is to segment.

    Parameters
    ----------
    config : Config, optional
        Settings; default ``Config()`` (the ``default`` preset).
    **changes
        Config fields to change, e.g. ``IGTT(epochs=4, seed=1)``.

    Examples
    --------
    >>> model = IGTT(foreground="bright").fit(images)      # doctest: +SKIP
    >>> masks = model.predict(images)                      # doctest: +SKIP
    >>> model.save("nuclei.igtt")                          # doctest: +SKIP
    """

    def __init__(self, config: Config | None = None, **changes):
        config = config or Config()
        self.config = config.replace(**changes) if changes else config
        self.net = None
        self.foreground_: str | None = None  # the polarity used, 'auto' resolved at fit
        self.objects_: str | None = None  # the kind of object used, 'auto' resolved at fit
        self.object_size_: float | None = None  # blob diameter or line width used (None: not needed)
        self.hinted_ = False  # learnt from hints (or labels): its masks are then never replaced by the label-free start
        self._folded = None  # (net, its BatchNorm-folded copy for prediction), made on first use

    # -- training -----------------------------------------------------------------
    def iter_fit(self, images, *, preview: bool = False, ranges=None, hints=None) -> Iterator[Progress]:
        """Train on ``images``, yielding a :class:`Progress` event after every epoch.

        Stopping the iteration early (``break``, or a Stop button) keeps the
        network as trained so far; :meth:`predict` works from then on.

        Parameters
        ----------
        images : (M, N) ndarray, (planes, M, N) ndarray or sequence of (M, N) ndarray
            Any integer or float dtype; sizes may differ.
        preview : bool
            Put the first image's pseudo-labels and prediction in each event.
        ranges : (lo, hi) or sequence of (lo, hi), optional
            Grey levels mapped to 0 and 1, for all images or per image
            (default: each image's percentiles). Give the whole image's range
            when the images are blocks of one larger image.
        hints : array or sequence of arrays, optional
            Strokes painted on the images, shaped like them: 0 no hint,
            1 object, 2 background (:mod:`igtt.training.hints`). They override the
            label-free start and, with ``foreground="auto"``, decide the polarity.

        Raises
        ------
        ValueError, TypeError
            Bad images (see :func:`igtt.starts.images.as_image_list`) or hints.
        """
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        hints = as_hint_list(hints, raw)
        self.hinted_ = any(h is not None and h.any() for h in hints)
        foreground = self.config.foreground
        if foreground == "auto":
            foreground = polarity_from_hints(raw, hints) or foreground
        oriented, self.foreground_ = orient(raw, foreground, ranges)
        usable = [i for i, im in enumerate(oriented) if np.ptp(im) > 0]
        if not usable:
            log.warning("every image is constant: nothing to learn, masks will be empty")
        device = resolve_device(self.config.device)
        self._resolve_objects([oriented[i] for i in usable])
        config = self._resolved()
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
            torch.manual_seed(config.seed)
            self.net = prepare(self._build(), device)
        if not usable:
            return
        inputs, starts, hints = [], [], [hints[i] for i in usable]
        for i in usable:
            size = self._image_size(oriented[i], ranges[i])
            scaling = self._input(raw[i], ranges[i], size)
            inputs.append(scaling(raw[i]))
            starts.append(start_labels(oriented[i], start=config.start, kind=self.objects_, size=size, background=scaling.background))
            oriented[i] = None  # free as we go: the network inputs replace the oriented images
        yield from self._train(inputs, starts, config, device, preview, hints)

    def iter_refine(self, images, hints, *, epochs: int = 5, steps: int = 6, preview: bool = False, ranges=None) -> Iterator[Progress]:
        """Refine a fitted model with hints: a short training from its current weights, one event per epoch.

        The model's own masks are the start, the hints (0 none, 1 object, 2 background) override
        them; polarity and kind stay as fitted. ``epochs`` of ``steps`` batches each (30: seconds on a CPU).
        """
        self._check_fitted()
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        hints = as_hint_list(hints, raw)
        self.hinted_ = True
        usable = [i for i, im in enumerate(raw) if np.ptp(im) > 0]
        inputs, starts = [], []
        for i in usable:
            mask = self.predict(raw[i], ranges=ranges[i])
            inputs.append(self._prepare(raw[i], ranges[i])[0](raw[i]))  # the input predict gave it, at its own size
            starts.append(StartLabels(mask=mask, foreground=mask, background=~mask))
        config = self._resolved().replace(epochs=epochs, steps_per_epoch=steps)
        device = next(self.net.parameters()).device
        yield from self._train(inputs, starts, config, device, preview, [hints[i] for i in usable], keep_start=True)

    def refine(self, images, hints, *, epochs: int = 5, steps: int = 6, ranges=None) -> IGTT:
        """:meth:`iter_refine` to the end. Returns self."""
        for _ in self.iter_refine(images, hints, epochs=epochs, steps=steps, ranges=ranges):
            pass
        return self

    def _train(self, inputs, starts, config, device, preview, hints, keep_start=False) -> Iterator[Progress]:
        for event in iter_fit(self.net, inputs, starts, config, device=device, preview=preview, hints=hints, keep_start=keep_start):
            self._folded = None  # the weights changed: fold them again when predicting
            yield event

    def _resolve_objects(self, oriented: list[np.ndarray]) -> None:
        """Decide the kind of object and its size (given, or estimated from the images)."""
        self.objects_, self.object_size_ = resolve_objects(oriented, self.config)
        log.info("objects: %s, size %s px", self.objects_, self.object_size_)

    def _resolved(self) -> Config:
        """The config with the fitted kind's defaults filled in."""
        return self.config.for_kind(self.objects_)

    def fit(self, images, *, progress: Callable[[Progress], None] | None = None, ranges=None, hints=None) -> IGTT:
        """Train on ``images`` (with optional ``hints``, see :meth:`iter_fit`); ``progress`` gets every epoch's event. Returns self."""
        for event in self.iter_fit(images, ranges=ranges, hints=hints):
            if progress is not None:
                progress(event)
        return self

    # -- prediction ---------------------------------------------------------------
    def predict_proba(self, images, *, ranges=None):
        """Foreground probability maps, float32 in [0, 1], shaped like ``images``.

        A constant image gives a map of zeros; ``ranges`` as in :meth:`iter_fit`.
        """
        self._check_fitted()
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        return restore_shape([self._proba_one(im, self._prepare(im, r)[0]) for im, r in zip(raw, ranges)], images)

    def predict(self, images, *, return_proba: bool = False, ranges=None, check: bool = True):
        """Binary masks (bool), shaped like ``images``.

        The rule from probability to mask is ``Config.mask_threshold``: a
        fixed value (default 0.5: the balanced loss makes 0.5 the point where
        foreground and background are equally likely), or ``"dmi"``: the
        per-image threshold search of the paper and a polarity check. Holes
        smaller than a typical object are filled, pixels outside the field of
        view are background (:func:`igtt.nn.postprocess.clean_mask`). Images
        are scaled tile by tile: the peak is about one float32 map per image.

        Each mask is checked against the image's own start and replaced by
        it where it ran away (:meth:`iter_predict`; ``check=False``: not).
        With ``return_proba=True`` returns ``(masks, probabilities)``;
        ``ranges`` as in :meth:`iter_fit`. A zarr or dask array is read block
        by block (:func:`igtt.io.blocks.predict_lazy`); only the mask is held.
        """
        self._check_fitted()
        if is_lazy(images) and not return_proba:  # zarr, dask: block by block, scaled like the whole
            return predict_lazy(self, images)
        done = list(self.iter_predict(images, ranges=ranges, proba=return_proba, check=check))
        masks = restore_shape([d.mask for d in done], images)
        return (masks, restore_shape([d.proba for d in done], images)) if return_proba else masks

    def report(self, images, *, ranges=None) -> list[ImageCheck]:
        """Every image's quality check (:class:`igtt.quality.ImageCheck`: score, flags, measurements; folder flags over the list)."""
        return folder_flags([d.check for d in self.iter_predict(images, ranges=ranges)])

    def iter_predict(self, images, *, ranges=None, proba: bool = False, check: bool = True) -> Iterator[Segmentation]:
        """One :class:`Segmentation` per image (mask, probability if asked, quality check), image by image.

        Each mask is checked against the image's own start
        (:func:`igtt.quality.check_image`): one that ran away from what the
        image supports is replaced by the start (unless the model learnt from
        hints), and the check says so. ``check=False``, and images given with
        ``ranges`` (blocks of a larger image), give the network's mask and no check.
        """
        self._check_fitted()
        raw = as_image_list(images)
        for image, range_ in zip(raw, per_image(ranges, len(raw))):
            scaling, small, step, size = self._prepare(image, range_)
            probability = self._proba_one(image, scaling)
            mask = self._threshold(probability, small, step)
            seen = probability[::step, ::step].copy() if step > 1 else probability  # what the check looks at
            if not proba:
                del probability  # free the float map before the label-hungry clean-up
            mask, quality = clean_mask(mask, small, step), None
            if check and range_ is None and scaling.hi > scaling.lo:
                background = scaling.background if step == 1 else None
                mask, quality = check_image(
                    mask, seen, small, kind=self.objects_, size=size, step=step, background=background,
                    replace=not self.hinted_, polarity=self.foreground_,
                )
            del seen
            yield Segmentation(mask, probability if proba else None, quality)

    def starts(self, images, *, ranges=None) -> list[StartLabels]:
        """Each image's own label-free start, as training and the quality check use it (the fitted kind, each image's size)."""
        self._check_fitted()
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        oriented, _ = orient(raw, self.foreground_, ranges)
        return [own_start(o, self.objects_, self._image_size(o, r)) for o, r in zip(oriented, ranges)]

    def _prepare(self, image: np.ndarray, range_) -> tuple[NetworkInput, np.ndarray, int, float | None]:
        """One image's network input (at its own size), oriented view (<= 2048 px a side, for the checks), stride, size."""
        step = field_step(image.shape)
        lo, hi = intensity_range(image) if range_ is None else map(float, range_[:2])
        small = rescale(image[::step, ::step], lo, hi, invert=self.foreground_ == "dark")
        size = self._image_size(small, range_, step)
        return self._input(image, range_ if range_ is not None else (lo, hi), size), small, step, size

    def _image_size(self, oriented: np.ndarray, range_, step: int = 1) -> float | None:
        """The fitted object size, or the image's own (:func:`igtt.starts.kinds.image_size`) when estimated and the image whole."""
        if range_ is not None or self.config.object_size is not None:
            return self.object_size_
        return image_size(oriented, self.objects_, self.object_size_, step=step)

    def scaling_of(self, view: np.ndarray, *, step: int = 1) -> tuple[float, float, float]:
        """The intensity scaling of a large image from its strided view ``image[::step, ::step]``: ``(lo, hi, gain)``.

        Pass it as ``ranges=`` to :meth:`predict` blocks of that image, so
        every block is scaled like the whole (:func:`igtt.io.blocks.predict_blocks`).
        """
        self._check_fitted()
        lo, hi = intensity_range(view)
        subtract = self._resolved().subtract_background and hi > lo
        diameter = self.object_size_ / step if subtract else None
        scaling = NetworkInput.for_image(view, invert=self.foreground_ == "dark", diameter=diameter, range=(lo, hi))
        return lo, hi, scaling.gain

    def _input(self, image: np.ndarray, range_=None, size: float | None = None) -> NetworkInput:
        """How ``image`` becomes network input: its range, the model's polarity, its background at ``size`` (default the fitted one) if the kind wants it."""
        subtract = self._resolved().subtract_background
        size = size or self.object_size_
        return NetworkInput.for_image(image, invert=self.foreground_ == "dark", diameter=size if subtract else None, range=range_)

    def _proba_one(self, image: np.ndarray, scaling: NetworkInput) -> np.ndarray:
        if scaling.hi <= scaling.lo:
            return np.zeros(image.shape, np.float32)
        device = next(self.net.parameters()).device
        if self._folded is None or self._folded[0] is not self.net:
            self._folded = (self.net, for_inference(self.net))
        return predict_with(self._folded[1], image, self.config, device, transform=scaling)

    def _threshold(self, proba: np.ndarray, small: np.ndarray, step: int) -> np.ndarray:
        config = self._resolved()
        if config.mask_threshold == "dmi":
            return paper.dmi_mask(proba, small, step, n_thresholds=config.n_thresholds)
        return proba > float(config.mask_threshold)

    # -- persistence --------------------------------------------------------------
    def save(self, path) -> Path:
        """Write weights, config, polarity and version to one file, atomically (:func:`igtt.io.model_file.save`).

        An existing model file at ``path`` is replaced; any other existing
        file (an image, a folder) is never written over.

        Raises
        ------
        ValueError
            ``path`` is a folder or an existing file that is not a model.
        """
        from .io.model_file import save

        self._check_fitted()
        return save(self, path)

    @classmethod
    def load(cls, path, *, device: str | None = None) -> IGTT:
        """Read a model written by :meth:`save`; ``device`` overrides the saved one (:func:`igtt.io.model_file.load`)."""
        from .io.model_file import load

        return load(cls, path, device=device)

    # -- helpers ------------------------------------------------------------------
    def _build(self):
        return unet_for(self.config)

    def _check_fitted(self):
        if self.net is None:
            raise RuntimeError("this model is not trained yet: call fit(images) or IGTT.load(path) first")

    def __repr__(self) -> str:
        state = "fitted" if self.net is not None else "not fitted"
        return f"IGTT({state}, foreground={self.foreground_ or self.config.foreground!r})"

