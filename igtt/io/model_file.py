"""The model file: one torch file with the weights the network uses, its config and a format version.

Format versions: 4 resamples blob images to the folder's object size
(:func:`igtt.starts.kinds.image_scale`: a model of format 3 or older
predicts each image at its own size without resampling, as it was trained); 3 leaves out the encoder stages the network never runs
(a depth-3 resnet18 U-Net: 3 MB instead of 45 MB); 2 added object kinds
(``objects``, ``object_size``); 1 is the first. Older files load; newer
ones, damaged ones and other files are refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import __version__
from ..config import STARTS, Config
from .outputs import atomic_path, check_target
from ..nn.network import prepare, resolve_device, unet_for

__all__ = ["save", "load", "FORMAT_VERSION"]

_FORMAT = "igtt-model"
FORMAT_VERSION = 4


def save(model, path) -> Path:
    """Write a fitted model's weights, config, polarity and version to ``path``, atomically."""
    path = check_target(path, overwrite=True, kind="model")
    state = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "config": model.config.to_dict(),
        "foreground": model.foreground_,
        "objects": model.objects_,
        "object_size": model.object_size_,
        "hinted": model.hinted_,
        "signal": model.signal_,
        "state_dict": {k: v.detach().cpu() for k, v in model.net.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load(cls, path, *, device: str | None = None):
    """Read a model written by :func:`save` as a ``cls`` (:class:`igtt.IGTT`); ``device`` overrides the saved one.

    Raises
    ------
    ValueError
        One line: the file is not an igtt model, is damaged (no config,
        weights that do not fit it), or was written by a newer igtt.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: not a readable igtt model ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path}: not an igtt model file")
    made = state.get("format_version", 1)
    if not isinstance(made, int) or made > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written by a newer igtt ({state.get('version', '?')}, model format {made}); "
            f"this igtt {__version__} reads formats up to {FORMAT_VERSION}: upgrade igtt"
        )
    missing = [k for k in ("config", "foreground", "state_dict") if not isinstance(state.get(k), dict | str)]
    if missing:
        raise ValueError(f"{path}: damaged igtt model file (no {', '.join(missing)})")
    try:
        values = dict(state["config"])
        if values.get("start") not in STARTS:  # a start since removed (contrast, otsu): it shaped training, not prediction
            values["start"] = "objects"
        config = Config.from_dict(values)
        if made == 1:  # before object kinds: plain scaled input, the blob pipeline
            config = config.replace(objects="blobs", subtract_background=False)
        if device is not None:
            config = config.replace(device=device)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: damaged igtt model file (bad config: {exc})") from None
    model = cls(config)
    model.foreground_ = state["foreground"]
    model.objects_ = state.get("objects", "blobs")
    model.object_size_ = state.get("object_size", config.object_size)
    model.hinted_ = bool(state.get("hinted", False))
    model.signal_ = state.get("signal")  # None in older files: no image is taken for noise alone
    model.resamples_ = made >= 4
    model.net = unet_for(config)
    try:
        model.net.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{path}: the weights do not match the model's config ({first})") from None
    model.net = prepare(model.net, resolve_device(config.device))
    model.net.eval()
    return model
