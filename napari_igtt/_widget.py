"""The dock widget: pick an image layer, train without labels, watch the pseudo-labels evolve.

The widget only collects parameters, runs igtt in a ``thread_worker`` and adds
layers. torch and igtt's engine are imported inside the workers, so napari
starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, SpinBox
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info

if TYPE_CHECKING:
    import napari

MASK, PROBABILITY = "igtt mask", "igtt probability"
PREVIEW_LABELS, PREVIEW_PREDICTION = "igtt pseudo-labels (live)", "igtt prediction (live)"


def _planes(data) -> list[np.ndarray]:
    data = np.asarray(data)
    if data.ndim == 2:
        return [data]
    if data.ndim == 3:
        return list(data)
    raise ValueError(f"igtt segments 2D images or stacks of 2D planes; this layer has shape {data.shape}")


def _stack_like(planes: list[np.ndarray], data) -> np.ndarray:
    return planes[0] if np.ndim(data) == 2 else np.stack(planes)


class IGTTWidget(Container):
    """Train igtt on an Image layer (2D, or a stack segmented as one set) and show the result."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._model = None
        self._worker = None
        _avoid_triton_llvm_clash()
        from igtt.config import KINDS, PRESETS  # light: no torch

        self._layer = ComboBox(label="Image", choices=self._image_layers)
        self._foreground = ComboBox(label="Foreground", choices=["bright", "dark", "auto"], value="bright")
        self._preset = ComboBox(label="Preset", choices=list(PRESETS), value="default")
        self._objects = ComboBox(label="Objects", choices=list(KINDS), value="auto")
        self._object_size = SpinBox(label="Object size px (0 = estimate)", value=0, min=0, max=10000)
        self._epochs = SpinBox(label="Epochs (0 = preset)", value=0, min=0, max=1000)
        self._seed = SpinBox(label="Seed", value=0, min=0, max=2**31 - 1)
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"], value="auto")
        self._with_proba = CheckBox(label="Add probability layer", value=False)
        self._run = PushButton(text="Run")
        self._stop = PushButton(text="Stop", enabled=False)
        self._progress = ProgressBar(label="Epoch", value=0, min=0, max=1)
        self._status = Label(value="")
        self._model_path = FileEdit(label="Model file", mode="w", filter="*.igtt")
        self._save = PushButton(text="Save model", enabled=False)
        self._load = PushButton(text="Load model")
        self._apply = PushButton(text="Apply model to layer", enabled=False)
        self.extend(
            [
                self._layer,
                self._foreground,
                self._preset,
                self._objects,
                self._object_size,
                self._epochs,
                self._seed,
                self._device,
                self._with_proba,
                self._run,
                self._stop,
                self._progress,
                self._status,
                self._model_path,
                self._save,
                self._load,
                self._apply,
            ]
        )
        self._run.changed.connect(self._start_training)
        self._stop.changed.connect(self._request_stop)
        self._save.changed.connect(self._save_model)
        self._load.changed.connect(self._load_model)
        self._apply.changed.connect(self._apply_model)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    # -- helpers ----------------------------------------------------------------
    def _image_layers(self, _widget=None):
        return [layer for layer in self._viewer.layers if isinstance(layer, Image)]

    def _busy(self, busy: bool):
        self._run.enabled = not busy
        self._stop.enabled = busy
        self._apply.enabled = not busy and self._model is not None
        self._save.enabled = not busy and self._model is not None
        self._load.enabled = not busy

    def _selected(self) -> Image:
        layer = self._layer.value
        if layer is None:
            raise ValueError("choose an Image layer first")
        return layer

    def _show(self, name: str, data, kind: str, **kwargs):
        if name in self._viewer.layers:
            self._viewer.layers[name].data = data
        elif kind == "labels":
            self._viewer.add_labels(data, name=name, **kwargs)
        else:
            self._viewer.add_image(data, name=name, **kwargs)

    # -- training ---------------------------------------------------------------
    def _start_training(self):
        try:
            layer = self._selected()
            planes = _planes(layer.data)
        except ValueError as exc:
            show_error(str(exc))
            return
        settings = dict(
            preset=self._preset.value,
            foreground=self._foreground.value,
            seed=int(self._seed.value),
            device=self._device.value,
            objects=self._objects.value,
            object_size=float(self._object_size.value) or None,
            epochs=int(self._epochs.value) or None,
        )
        self._model = None
        self._busy(True)
        self._status.value = "starting (loading torch)…"
        worker = _train(planes, settings, self)
        worker.yielded.connect(self._on_epoch)
        worker.errored.connect(lambda exc: self._on_error(exc))
        worker.finished.connect(lambda: self._after_training(layer))
        self._worker = worker
        worker.start()

    def _request_stop(self):
        if self._worker is not None:
            self._status.value = "stopping after this epoch…"
            self._worker.quit()

    def _on_epoch(self, event):
        self._progress.max = event.n_epochs
        self._progress.value = event.epoch
        self._status.value = f"epoch {event.epoch}/{event.n_epochs}  loss {event.loss:.4f}  {event.seconds:.0f} s"
        if event.labels is not None:
            self._show(PREVIEW_LABELS, event.labels, "labels", opacity=0.6)
        if event.prediction is not None:
            self._show(PREVIEW_PREDICTION, event.prediction, "image", colormap="magma", blending="additive", visible=False)

    def _on_error(self, exc):
        self._status.value = f"error: {exc}"
        self._errored = True
        self._busy(False)

    def _after_training(self, layer):
        self._worker = None
        if getattr(self, "_errored", False):
            self._errored = False
            return
        if self._model is None or self._model.net is None:
            self._busy(False)
            self._status.value = "stopped before the first epoch: no model"
            return
        self._predict_into(layer)

    # -- prediction -------------------------------------------------------------
    def _predict_into(self, layer):
        try:
            planes = _planes(layer.data)
        except ValueError as exc:
            show_error(str(exc))
            self._busy(False)
            return
        self._busy(True)
        self._stop.enabled = False
        self._status.value = "predicting…"
        worker = _predict(self._model, planes)
        worker.returned.connect(lambda result: self._show_result(layer, result))
        worker.errored.connect(lambda exc: self._on_error(exc))
        worker.start()

    def _show_result(self, layer, result):
        masks, probas = result
        self._show(MASK, _stack_like([m.astype(np.uint8) for m in masks], layer.data), "labels")
        if self._with_proba.value:
            self._show(PROBABILITY, _stack_like(probas, layer.data), "image", colormap="magma")
        size = f", size {self._model.object_size_:.0f} px" if self._model.object_size_ else ""
        self._status.value = f"done: {MASK} added for {layer.name} (objects: {self._model.objects_}{size})"
        self._busy(False)

    def _apply_model(self):
        if self._model is None:
            show_error("train or load a model first")
            return
        try:
            self._predict_into(self._selected())
        except ValueError as exc:
            show_error(str(exc))

    # -- persistence ------------------------------------------------------------
    def _save_model(self):
        path = self._model_path.value
        if self._model is None or not str(path) or path.is_dir():
            show_error("train a model and choose a model file first")
            return
        try:
            self._model.save(path)
        except (OSError, ValueError) as exc:
            show_error(f"cannot save model: {exc}")
            return
        show_info(f"saved model to {path}")

    def _load_model(self):
        path = self._model_path.value
        from igtt import IGTT

        try:
            self._model = IGTT.load(path, device=self._device.value)
        except (OSError, ValueError) as exc:
            show_error(f"{path}: cannot load model ({exc})")
            return
        self._status.value = f"loaded {path.name}"
        self._busy(False)


def _avoid_triton_llvm_clash() -> None:
    """Keep torch from loading triton where no NVIDIA GPU can use it.

    torchvision imports torch._dynamo, which imports triton if installed (the
    CUDA builds of torch ship it). triton's bundled LLVM crashes the process
    when Mesa's software OpenGL (llvmpipe, as on headless machines and under
    xvfb) has loaded its own LLVM for napari's canvas. Without an NVIDIA
    device triton is of no use, so it is marked missing; torch then runs
    without it.
    """
    if "triton" in sys.modules or os.path.exists("/dev/nvidiactl"):
        return
    sys.modules["triton"] = None  # import triton -> ImportError, which torch handles


@thread_worker
def _train(planes, settings, widget):
    from igtt import IGTT, preset

    changes = {k: settings[k] for k in ("foreground", "seed", "device")}
    changes.update((k, settings[k]) for k in ("objects", "object_size", "epochs") if settings[k])
    model = IGTT(preset(settings["preset"], **changes))
    widget._model = model  # kept even if Stop ends the loop early
    for event in model.iter_fit(planes, preview=True):
        yield event


@thread_worker
def _predict(model, planes):
    masks, probas = model.predict(planes, return_proba=True)
    return masks, probas
