"""The dock widget: pick image layers, train without labels, watch the pseudo-labels evolve.

The widget only collects parameters, runs igtt's batch engine
(:func:`igtt.batch.run`, the one the command line uses) in a
``thread_worker`` and renders its events as layers. torch and igtt's engine
are imported inside the workers, so napari starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, Select, SpinBox
from napari.layers import Image
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_error, show_info

from ._objects import objects_layer, save_features
from ._worker import avoid_triton_llvm_clash, jobs_of, run_batch

if TYPE_CHECKING:
    import napari

MASK, PROBABILITY = "igtt mask", "igtt probability"
PREVIEW_LABELS, PREVIEW_PREDICTION = "igtt pseudo-labels (live)", "igtt prediction (live)"
HINTS = "igtt hints"
# hints and the pseudo-label preview share ilastik's convention: 1 object (green), 2 background (magenta)
HINT_COLORS = {0: "transparent", 1: "#00e060", 2: "#ff30ff", None: "transparent"}
PREVIEW_COLORS = {0: "transparent", 1: "#00e060", 2: (1.0, 0.2, 1.0, 0.15), None: "transparent"}


def _hints_name(image: str) -> str:
    return f"{HINTS}: {image}"


def _names(source: str, several: bool) -> tuple[str, str]:
    """The mask and probability layer names: plain for one image, with the image's name for several."""
    return (f"{MASK}: {source}", f"{PROBABILITY}: {source}") if several else (MASK, PROBABILITY)


class IGTTWidget(Container):
    """Train igtt on one or several Image layers (2D or stacks, segmented as one set) and show the results."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._model = None
        self._worker = None
        self._stop_requested = False
        avoid_triton_llvm_clash()
        from igtt.config import KINDS, PRESETS  # light: no torch

        self._layer = Select(label="Images", choices=self._image_layers)
        self._foreground = ComboBox(label="Foreground", choices=["bright", "dark", "auto"], value="auto")
        self._preset = ComboBox(label="Preset", choices=list(PRESETS), value="default")
        self._objects = ComboBox(label="Objects", choices=list(KINDS), value="auto")
        self._object_size = SpinBox(label="Object size px (0 = estimate)", value=0, min=0, max=10000)
        self._epochs = SpinBox(label="Epochs (0 = preset)", value=0, min=0, max=1000)
        self._seed = SpinBox(label="Seed", value=0, min=0, max=2**31 - 1)
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"], value="auto")
        self._with_proba = CheckBox(label="Add probability layer", value=False)
        self._volumes = CheckBox(label="3D layers are z-stacks (3D objects; the layer's scale is the voxel size)", value=True)
        self._run = PushButton(text="Run")
        self._stop = PushButton(text="Stop", enabled=False)
        self._progress = ProgressBar(label="Epoch", value=0, min=0, max=1)
        self._status = Label(value="")
        self._quality = Label(value="")  # the quality check of the image (or mask) in view
        self._rows: dict[str, list[dict]] = {}  # quality report rows by image and mask layer name
        self._model_path = FileEdit(label="Model file", mode="w", filter="*.igtt")
        self._save = PushButton(text="Save model", enabled=False)
        self._load = PushButton(text="Load model")
        self._apply = PushButton(text="Apply model to layers", enabled=False)
        self._table_path = FileEdit(label="Measurements", mode="w", filter="*.csv")
        self._save_table = PushButton(text="Save measurements of the mask in view")
        self._add_hints = PushButton(text="Add hints layer (paint 1 = object, 2 = background)")
        self._refine_epochs = SpinBox(label="Refine epochs", value=5, min=1, max=100)
        self._refine = PushButton(text="Refine with hints", enabled=False)
        self._status.native.setWordWrap(True)  # a long status wraps instead of being cut
        self._quality.native.setWordWrap(True)
        self.extend([
            self._layer, self._foreground, self._preset, self._objects, self._object_size, self._epochs, self._seed,
            self._device, self._with_proba, self._volumes, self._run, self._stop, self._add_hints, self._refine_epochs, self._refine,
            self._progress, self._status, self._quality, self._model_path, self._save, self._load, self._apply,
            self._table_path, self._save_table,
        ])  # fmt: skip
        self._save_table.changed.connect(self._save_measurements)
        self._run.changed.connect(self._start_training)
        self._stop.changed.connect(self._request_stop)
        self._save.changed.connect(self._save_model)
        self._load.changed.connect(self._load_model)
        self._apply.changed.connect(self._apply_model)
        self._add_hints.changed.connect(self._add_hints_layers)
        self._refine.changed.connect(self._refine_model)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.selection.events.active.connect(self._show_quality)
        viewer.dims.events.current_step.connect(self._show_quality)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    # -- helpers ----------------------------------------------------------------
    def _image_layers(self, _widget=None):
        """Image layers, without the probability maps and previews this widget adds."""
        ours = (PROBABILITY, PREVIEW_PREDICTION)
        return [layer for layer in self._viewer.layers if isinstance(layer, Image) and not layer.name.startswith(ours)]

    def _busy(self, busy: bool):
        self._run.enabled = not busy
        self._stop.enabled = busy
        self._apply.enabled = not busy and self._model is not None
        self._refine.enabled = not busy and self._model is not None
        self._save.enabled = not busy and self._model is not None
        self._load.enabled = not busy

    def _selected(self) -> list[Image]:
        """The layers chosen in the list; with none chosen, the active Image layer, or the only one."""
        chosen = list(self._layer.value or [])
        if not chosen:
            active = self._viewer.layers.selection.active
            images = self._image_layers()
            chosen = [active] if isinstance(active, Image) else images if len(images) == 1 else []
        return chosen

    def _show(self, name: str, data, kind: str, **kwargs):
        if name in self._viewer.layers:
            self._viewer.layers[name].data = data
        elif kind == "labels":
            colors = kwargs.pop("colors", None)
            layer = self._viewer.add_labels(data, name=name, **kwargs)
            if colors is not None:
                layer.colormap = DirectLabelColormap(color_dict=colors)
        else:
            self._viewer.add_image(data, name=name, **kwargs)

    # -- running the batch engine ---------------------------------------------------
    def _start_training(self):
        from igtt import preset

        changes = dict(
            foreground=self._foreground.value,
            seed=int(self._seed.value),
            device=self._device.value,
            objects=self._objects.value,
            object_size=float(self._object_size.value) or None,
            epochs=int(self._epochs.value) or None,
        )
        try:
            config = preset(self._preset.value, **{k: v for k, v in changes.items() if v is not None})
        except ValueError as exc:
            show_error(str(exc))
            return
        self._model = None
        self._start(config=config, model=None, status="starting (loading torch)…")

    def _add_hints_layers(self):
        """One Labels layer per chosen image, shaped like it, brush set to 1 = object."""
        layers = self._selected()
        if not layers:
            show_error("choose one or more Image layers first")
            return
        for layer in layers:
            name = _hints_name(layer.name)
            if name not in self._viewer.layers:
                shape = layer.data.shape[:-1] if layer.rgb else layer.data.shape
                hints = self._viewer.add_labels(np.zeros(shape, np.uint8), name=name, scale=layer.scale, translate=layer.translate)
                hints.colormap = DirectLabelColormap(color_dict=HINT_COLORS)
                hints.brush_size = 5
                hints.selected_label = 1
                hints.mode = "paint"
        self._viewer.layers.selection.active = self._viewer.layers[_hints_name(layers[-1].name)]
        self._status.value = "paint 1 = object, 2 = background (keys 1 / 2), then Refine"

    def _refine_model(self):
        if self._model is None:
            show_error("train or load a model first")
            return
        # a copy taken here: the user may paint on while the worker trains
        names = {layer.name: _hints_name(layer.name) for layer in self._selected()}
        layers = {image: self._viewer.layers[hints] for image, hints in names.items() if hints in self._viewer.layers}
        painted = {name: np.array(layer.data) for name, layer in layers.items() if np.any(layer.data)}
        if not painted:
            show_error("paint hints first: Add hints layer, then strokes of 1 (object) and 2 (background)")
            return
        refine = int(self._refine_epochs.value)
        self._start(config=None, model=self._model, status="refining…", hints=lambda job: painted.get(job.source), refine=refine)

    def _start(self, *, config, model, status: str, hints=None, refine: int = 0):
        try:
            layers = self._selected()
            jobs = jobs_of(layers, volumes=self._volumes.value)
        except ValueError as exc:
            show_error(str(exc))
            return
        self._busy(True)
        self._stop_requested = False
        self._status.value = status
        worker = run_batch(jobs, config, model, self._with_proba.value, lambda: self._stop_requested, hints, refine)
        worker.yielded.connect(lambda event: self._on_event(event, len(jobs) > 1))
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def _request_stop(self):
        if self._worker is not None:
            self._status.value = "stopping after this epoch…"
            self._stop_requested = True

    def _on_event(self, event, several: bool):
        from igtt import batch
        from igtt.training.train import Progress

        if isinstance(event, Progress):
            self._progress.max = event.n_epochs
            self._progress.value = event.epoch
            self._status.value = f"epoch {event.epoch}/{event.n_epochs}  loss {event.loss:.4f}  {event.seconds:.0f} s"
            if event.labels is not None:
                self._show(PREVIEW_LABELS, event.labels, "labels", opacity=0.6, colors=PREVIEW_COLORS)
            if event.prediction is not None:
                self._show(PREVIEW_PREDICTION, event.prediction, "image", colormap="magma", blending="additive", visible=False)
        elif isinstance(event, batch.Trained):
            self._model = event.model
            self._stop.enabled = False
            self._status.value = "predicting…"
        elif isinstance(event, batch.Written):
            _, probabilities, objects = event.job.result
            mask_name, proba_name = _names(event.job.source, several)
            kind = next((c.kind for c in event.job.checks or () if c is not None), self._model.objects_)
            shape = np.shape(event.job.image)  # the layers of the other channels: measured in the objects too
            channels = {layer.name: layer.data for layer in self._image_layers() if not layer.rgb and layer.data.shape == shape}
            labels, features = objects_layer(objects, event.job.image, kind, volume=event.job.is_volume, channels=channels if len(channels) > 1 else None)
            source = self._viewer.layers[event.job.source] if event.job.source in self._viewer.layers else None
            place = {"scale": source.scale, "translate": source.translate} if source is not None else {}
            self._show(mask_name, labels, "labels", **place)
            self._viewer.layers[mask_name].features = features  # hover an object: its measurements
            if probabilities is not None:
                self._show(proba_name, probabilities, "image", colormap="magma", **place)
        elif isinstance(event, (batch.Skipped, batch.Failed)):
            show_error(event.reason)
        elif isinstance(event, batch.Report):
            model = event.model
            size = f", size {model.object_size_:.0f} px" if model.object_size_ else ""
            flagged = sum(1 for row in event.rows if row["flags"])
            notes = "".join(f"; {note}" for note in event.notes)
            self._status.value = f"done: {event.written} mask(s); objects: {model.foreground_} {model.objects_}{size}; {flagged} flagged{notes}"
            by_image = {row["image"]: [r for r in event.rows if r["image"] == row["image"]] for row in event.rows}
            self._rows.update({name: rows for image, rows in by_image.items() for name in (image, _names(image, several)[0])})
            self._show_quality()

    def _show_quality(self, _event=None):
        """The score and flags of the active image or mask layer, for the plane in view."""
        layer = self._viewer.layers.selection.active
        rows = self._rows.get(layer.name.removeprefix(f"{HINTS}: ")) if layer is not None else None  # an image, its mask or its hints
        if not rows:
            self._quality.value = ""
            return
        step = self._viewer.dims.current_step
        row = rows[min(step[-layer.ndim] if len(rows) > 1 else 0, len(rows) - 1)]
        self._quality.value = f"quality {row['score']}: {row['flags'] or 'no flags'}"

    def _on_error(self, exc):
        self._status.value = f"error: {exc}"

    def _on_finished(self):
        self._worker = None
        self._busy(False)

    def _apply_model(self):
        if self._model is None:
            show_error("train or load a model first")
            return
        self._start(config=None, model=self._model, status="predicting…")

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

    def _save_measurements(self):
        layer, path = self._viewer.layers.selection.active, self._table_path.value
        if layer is None or "label" not in getattr(layer, "features", {}) or not str(path) or path.is_dir():
            show_error("select an igtt mask layer and choose a .csv file first")
            return
        try:
            show_info(f"saved {len(layer.features)} objects to {save_features(layer, path)}")
        except OSError as exc:
            show_error(f"{path}: cannot save measurements ({exc})")

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
