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
from .nn.view import ImageView, at_image_size, network_pixels, view_image, whole_scaling
from .nn.postprocess import clean_mask
from .quality import ImageCheck, Segmentation, check_image, folder_flags, standing_out
from .starts.images import as_image_list, orient, per_image, restore_shape
from .starts.kinds import image_scale, resolve_objects
from .starts.labels import StartLabels
from .starts.scale import content_order, resample, resample_labels, resize_mask
from .starts.start import own_start, start_labels
from .starts.volume import quiet_planes
from .nn.volume import stack_planes
from .training import paper
from .training.hints import REFINE_LR, as_hint_list, polarity_from_hints
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
        self.resamples_ = True  # blob images are resampled to the folder's object size (False: a model file from before)
        self.signal_: float | None = None  # how far the training images' brightest pixels stand out of their noise (median)
        self._folded = None  # (net, its BatchNorm-folded copy for prediction), made on first use

    # -- training -----------------------------------------------------------------
    def iter_fit(self, images, *, preview: bool = False, ranges=None, hints=None, volumes=None) -> Iterator[Progress]:
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
        volumes : sequence, optional
            Per image, None or ``(key, spacing)``: the planes of one z-stack (same key, in z order, given with
            the stack's range) train from the stack's 3D start (:func:`igtt.nn.volume.stack_planes`).

        Raises
        ------
        ValueError, TypeError
            Bad images (see :func:`igtt.starts.images.as_image_list`) or hints.
        """
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        hints = as_hint_list(hints, raw)
        order = content_order(raw)  # the same images in any order train the same network
        volumes = [volumes[i] and (*volumes[i], i) for i in order] if volumes is not None else [None] * len(raw)  # i: z order
        raw, ranges, hints = [raw[i] for i in order], [ranges[i] for i in order], [hints[i] for i in order]
        self.hinted_ = any(h is not None and h.any() for h in hints)
        foreground = self.config.foreground
        if foreground == "auto":
            foreground = polarity_from_hints(raw, hints) or foreground
        oriented, self.foreground_ = orient(raw, foreground, ranges)
        usable = [i for i, im in enumerate(oriented) if np.ptp(im) > 0]
        if not usable:
            log.warning("every image is constant: nothing to learn, masks will be empty")
        device = resolve_device(self.config.device)
        deciding = [i for i in usable if i not in quiet_planes(oriented, volumes)] or usable  # not the empty planes of a stack
        self.objects_, self.object_size_, own = resolve_objects([oriented[i] for i in deciding], self.config)
        own = dict(zip(deciding, own or ()))  # each image's own blob size
        log.info("objects: %s, size %s px", self.objects_, self.object_size_)
        config = self._resolved()
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
            torch.manual_seed(config.seed)
            self.net = prepare(unet_for(self.config), device)
        if not usable:
            return
        inputs, starts, hints, signals = [], [], [hints[i] for i in usable], []
        ranges, planned = stack_planes(self, raw, oriented, ranges, volumes, usable)  # z-stacks: the stack's gain and 3D start
        for n, i in enumerate(usable):  # each image at the folder's object size: one network for every magnification
            view = self._prepare(raw[i], ranges[i], own=own.get(i), oriented=oriented[i])
            inputs.append(view.scaling(view.pixels))
            signals.append(standing_out(raw[i], view.small, step=view.step, size=view.size and view.size / view.factor, polarity=self.foreground_))
            planes_start = planned.pop(i, None) if config.start == "objects" else None  # a plane of a volume: never resampled
            starts.append(planes_start or start_labels(
                resample(oriented[i], view.factor), start=config.start, kind=self.objects_, size=view.size, background=view.scaling.background
            ))
            hints[n] = resample_labels(hints[n], view.pixels.shape)
            oriented[i] = raw[i] = None  # free as we go: the network inputs replace the oriented images
        self.signal_ = float(np.median(finite)) if (finite := [up for up, _ in signals if np.isfinite(up)]) else None
        yield from self._train(inputs, starts, config, device, preview, hints)

    def iter_refine(self, images, hints, *, epochs: int = 5, steps: int = 6, preview: bool = False, ranges=None, masks=None) -> Iterator[Progress]:
        """Refine a fitted model with hints: a short training from its current weights, one event per epoch.

        The model's own masks (predicted, or ``masks`` when known) are the start, the hints (0 none, 1 object,
        2 background) override them; polarity and kind stay as fitted. ``epochs`` of ``steps`` batches each (30: seconds on a CPU).
        """
        self._check_fitted()
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        hints = as_hint_list(hints, raw)
        self.hinted_ = True
        usable = [i for i, im in enumerate(raw) if np.ptp(im) > 0]
        inputs, starts = [], []
        for i in usable:
            mask = self.predict(raw[i], ranges=ranges[i]) if masks is None else np.asarray(masks[i], bool)
            view = self._prepare(raw[i], ranges[i])  # the input predict gave it, at the folder's object size
            inputs.append(view.scaling(view.pixels))
            mask = resize_mask(mask, view.pixels.shape)
            starts.append(StartLabels.tight(mask))  # its rim unlabelled, as a fit's start: the refine does not move every edge
            hints[i] = resample_labels(hints[i], view.pixels.shape)
        config = self._resolved().replace(epochs=epochs, steps_per_epoch=steps, lr=self.config.lr * REFINE_LR)
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
        return restore_shape([self._proba_one(im, self._prepare(im, r)) for im, r in zip(raw, ranges)], images)

    def predict(self, images, *, return_proba: bool = False, ranges=None, check: bool = True):
        """Binary masks (bool), shaped like ``images``.

        The rule from probability to mask is ``Config.mask_threshold``: a fixed value (default 0.5: the
        balanced loss makes 0.5 the point where foreground and background are equally likely), or ``"dmi"``:
        the per-image threshold search of the paper and a polarity check. Holes smaller than a typical object
        are filled, pixels outside the field of view are background (:func:`igtt.nn.postprocess.clean_mask`).
        Images are scaled tile by tile: the peak is about one float32 map per image.

        Each mask is checked (:meth:`iter_predict`; ``check=False``: not). With ``return_proba=True`` returns
        ``(masks, probabilities)``; ``ranges`` as in :meth:`iter_fit`. A zarr or dask array is read block
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

    def iter_predict(self, images, *, ranges=None, proba: bool = False, check: bool = True, hints=None) -> Iterator[Segmentation]:
        """One :class:`Segmentation` per image (mask, probability if asked, quality check), image by image.

        Each mask is checked against the image's own start and its mask of the mirrored image (:func:`igtt.quality.check_image`):
        one that ran away from the start is replaced by it, unless the model learnt from hints or ``hints`` (strokes on the images,
        as in :meth:`iter_fit`) agree with it better. ``check=False``, and images given with ``ranges`` (blocks), give no check.
        """
        self._check_fitted()
        raw = as_image_list(images)
        for image, range_, hint in zip(raw, per_image(ranges, len(raw)), as_hint_list(hints, raw)):
            view = self._prepare(image, range_)
            scaling, small, step = view.scaling, view.small, view.step
            probability = self._proba_one(image, view)
            mask = self._threshold(probability, small, step)
            seen = probability[::step, ::step].copy() if step > 1 else probability  # what the check looks at
            if not proba:
                del probability  # free the float map before the label-hungry clean-up
            mask, quality = clean_mask(mask, small, step), None
            if check and range_ is None and scaling.hi > scaling.lo:
                background = scaling.background if step == 1 and view.factor == 1 else None
                size = view.size / view.factor if view.size else None  # in the image's own pixels
                twin = self._proba_one(image, view, mirror=True) if step == 1 else None  # large: one float map only
                mask, quality = check_image(
                    mask, seen, small, kind=self.objects_, size=size, step=step, background=background,
                    replace=not self.hinted_, polarity=self.foreground_, twin=twin, hint=hint, signal=self.signal_,
                    image=image,
                )
            del seen
            yield Segmentation(mask, probability if proba else None, quality)

    def starts(self, images, *, ranges=None) -> list[StartLabels]:
        """Each image's own label-free start, as training and the quality check use it (the fitted kind, each image's size)."""
        self._check_fitted()
        raw = as_image_list(images)
        ranges = per_image(ranges, len(raw))
        oriented, _ = orient(raw, self.foreground_, ranges)
        scales = [self._image_scale(o, r) for o, r in zip(oriented, ranges)]  # the size in the image's own pixels: size / factor
        return [own_start(o, self.objects_, size / factor if size else None) for o, (size, factor) in zip(oriented, scales)]

    def _prepare(self, image: np.ndarray, range_, *, own: float | None = None, oriented: np.ndarray | None = None) -> ImageView:
        """How one image is predicted (:func:`igtt.nn.view.view_image`); at fit, with its own size and oriented image known."""
        def scale(small, step):  # at fit the whole oriented image and its own size are known already
            return self._image_scale(small if oriented is None else oriented, range_, step, own=own)

        return view_image(image, range_, invert=self.foreground_ == "dark", scale=scale, subtract=self._resolved().subtract_background)

    def _image_scale(self, oriented: np.ndarray, range_, step: int = 1, own: float | None = None) -> tuple[float | None, float]:
        """The object size and resampling factor of one image (:func:`igtt.starts.kinds.image_scale`): the fitted size
        and 1 where the size was given or the image is a block of a larger one."""
        if range_ is not None or self.config.object_size is not None:
            return self.object_size_, 1.0
        return image_scale(oriented, self.objects_, self.object_size_, step=step, own=own, resample=self.resamples_)

    def scaling_of(self, view: np.ndarray, *, step: int = 1) -> tuple[float, float, float]:
        """The intensity scaling of a large image from its strided view ``image[::step, ::step]``: ``(lo, hi, gain)``.

        Pass it as ``ranges=`` to :meth:`predict` blocks of that image, so
        every block is scaled like the whole (:func:`igtt.io.blocks.predict_blocks`).
        """
        self._check_fitted()
        diameter = self.object_size_ / step if self._resolved().subtract_background else None
        return whole_scaling(view, invert=self.foreground_ == "dark", diameter=diameter)

    def _proba_one(self, image: np.ndarray, view: ImageView, *, mirror: bool = False) -> np.ndarray:
        """The probability map of ``image``, predicted on its view's (resampled, ``mirror``: flipped) pixels, at the image's own size."""
        if view.scaling.hi <= view.scaling.lo:
            return np.zeros(image.shape, np.float32)
        if self._folded is None or self._folded[0] is not self.net:
            self._folded = (self.net, for_inference(self.net))
        pixels, scaling = network_pixels(view, mirror=mirror)
        proba = predict_with(self._folded[1], pixels, self.config, next(self.net.parameters()).device, transform=scaling)
        return at_image_size(proba[:, ::-1] if mirror else proba, image.shape)

    def _threshold(self, proba: np.ndarray, small: np.ndarray, step: int) -> np.ndarray:
        config = self._resolved()
        if config.mask_threshold == "dmi":
            return paper.dmi_mask(proba, small, step, n_thresholds=config.n_thresholds)
        return proba > float(config.mask_threshold)

    # -- persistence --------------------------------------------------------------
    def save(self, path) -> Path:
        """Write weights, config, polarity and version to one file, atomically (:func:`igtt.io.model_file.save`).

        An existing model file at ``path`` is replaced; a ValueError where ``path`` is a folder or another file.
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
    def _check_fitted(self):
        if self.net is None:
            raise RuntimeError("this model is not trained yet: call fit(images) or IGTT.load(path) first")

    def __repr__(self) -> str:
        state = "fitted" if self.net is not None else "not fitted"
        return f"IGTT({state}, foreground={self.foreground_ or self.config.foreground!r})"

