"""Settings: one frozen dataclass, defaults defined once, and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["Config", "PRESETS", "preset"]

STARTS = ("objects", "black")
KINDS = ("auto", "blobs", "lines", "compartments")

# What each kind of object changes, where the field is left at None (measured reasons in the README):
# blobs: the Potts term puts boundaries on edges (BBBC039 95.4 -> 96.5 over its start); lines: it erases thin
# vessels (DRIVE 73 -> 66), so none; lines learn thin vessels from shrunken thick ones (zoom down to 0.5) and
# need more steps.
KIND_DEFAULTS = {
    "blobs": dict(crf_weight=1.0, zoom=1.0, epochs=20, subtract_background=True),
    "lines": dict(crf_weight=0.0, zoom=0.5, epochs=15, subtract_background=False),
    # compartments: the size is the walls' width, so no background at it (it would take the objects away)
    "compartments": dict(crf_weight=1.0, zoom=1.0, epochs=20, subtract_background=False),
}
REFRESHES = ("none", "dmi")
LOSSES = ("balanced_bce", "dmi_iou")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class Config:
    """Everything that decides a run; saved inside every model file.

    The defaults are the ``default`` preset (fast on a CPU, measured better on
    real images); ``preset("paper")`` gives the paper's settings. See the
    README sections "Object kinds" and "How it works" for the measured reason behind each difference.

    Attributes
    ----------
    foreground : {"bright", "dark", "auto"}
        Polarity of the objects. ``auto`` (default) decides once for all the
        images from their pooled intensity skewness (objects are the minority
        tail: bright nuclei skew right, dark vessels and EM organelles left);
        strokes painted as hints decide it where given.
    objects : {"auto", "blobs", "lines", "compartments"}
        The kind of structure: ``blobs`` (compact objects: nuclei, cells),
        ``lines`` (vessels, filaments, ER, membranes), ``compartments``
        (objects inside a network of walls: mitochondria among membranes in
        EM), or ``auto``: decided from the images (:func:`igtt.starts.kinds.detect_kind`).
    object_size : float or None
        Typical blob diameter, or width of the widest lines or walls, in pixels;
        ``None`` estimates it from the images.
    start : {"objects", "black"}
        Where the pseudo-labels start. ``objects``: the start built for the
        kind of object (:mod:`igtt.starts.blobs`, :mod:`igtt.starts.lines`). ``black``: all
        background (the paper).
    refresh : {"none", "dmi"}
        How pseudo-labels change after each epoch. ``dmi`` (the paper):
        predict, pick the threshold by the DMI criterion, then EMS. ``none``:
        keep the start, re-drawing its random EMS sample every epoch.
    ems : bool
        Apply EMS (skeleton, random shift, random keep) to the foreground.
    n_thresholds, shift_radius, p_sample :
        K, r and the keep probability of the paper.
    p_background : float
        Fraction of the labelled background pixels used each epoch, drawn
        anew every epoch (with ``loss="balanced_bce"``).
    p_foreground : float
        With EMS and ``loss="balanced_bce"``: fraction of the whole start
        foreground added to the EMS sample each epoch (0 = the EMS sample only).
    loss : {"balanced_bce", "dmi_iou"}
        ``dmi_iou``: the paper's ``L_DMI + L_IoU`` on every pixel.
        ``balanced_bce``: BCE on labelled pixels only, classes weighted equally.
    crf_weight : float or None
        Weight of the Potts (dense CRF) term on all pixels, which moves the
        boundaries of the prediction onto intensity edges
        (:func:`igtt.nn.losses.potts_loss`); ``None``: the kind's default.
    zoom : float or None
        Smallest random zoom-out of the training crops (1 = none); ``None``:
        the kind's default.
    subtract_background : bool or None
        Feed the network the image minus its background at the object size
        (a grey opening, :class:`igtt.starts.blobs.Background`), so that glow and
        uneven illumination larger than the objects are gone before it
        learns; ``None``: the kind's default.
    mask_threshold : float or "dmi"
        The final rule from probability to mask: a fixed value, or the
        per-image DMI threshold search.
    epochs : int or None
        ``None``: the kind's default.
    steps_per_epoch : int
        ``steps_per_epoch = 0`` means one pass over the images per epoch.
    encoder, encoder_depth, decoder_channels, encoder_weights :
        The smp U-Net (see :func:`igtt.nn.network.build_unet`).
    optimizer, lr, momentum, weight_decay, lr_step, lr_gamma :
        ``lr_step > 0`` multiplies the learning rate by ``lr_gamma`` every
        ``lr_step`` epochs.
    crop_size, batch_size, augment :
        Training crops; ``augment`` adds flips, 90-degree turns and an
        intensity jitter.
    tile_size, tile_overlap :
        Tiled inference.
    hint_share : float
        With hints (:mod:`igtt.training.hints`): the largest share of each class's
        loss weight in an image that the hints correcting the start carry,
        reached when they contradict the start everywhere; it shrinks as the
        start agrees with them (0 < share < 1).
    seed : int
        Seeds every random draw; the same seed gives the same masks on the
        same machine.
    device : str
        ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda`` or ``mps``.
    precision : {"auto", "float32", "bfloat16"}
        ``auto``: bfloat16 autocast on CPUs that compute it natively (AMX,
        AVX-512 BF16), else float32 (see :func:`igtt.nn.network.use_bfloat16`).
    """

    foreground: str = "auto"
    objects: str = "auto"
    object_size: float | None = None
    start: str = "objects"
    refresh: str = "none"
    ems: bool = False
    n_thresholds: int = 30
    shift_radius: int = 1
    p_sample: float = 0.5
    p_background: float = 1.0
    p_foreground: float = 0.1
    loss: str = "balanced_bce"
    crf_weight: float | None = None
    zoom: float | None = None
    subtract_background: bool | None = None
    mask_threshold: float | str = 0.5
    epochs: int | None = None
    steps_per_epoch: int = 25
    encoder: str = "mobilenet_v2"
    encoder_depth: int = 3
    decoder_channels: tuple[int, ...] = field(default=(32, 16, 8))
    encoder_weights: str | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step: int = 0
    lr_gamma: float = 0.1
    crop_size: int = 256
    batch_size: int = 4
    augment: bool = True
    tile_size: int = 1024
    tile_overlap: int = 64
    hint_share: float = 0.95
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self):
        _choice("foreground", self.foreground, ("bright", "dark", "auto"))
        _choice("start", self.start, STARTS)
        _choice("refresh", self.refresh, REFRESHES)
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("precision", self.precision, ("auto", "float32", "bfloat16"))
        _choice("objects", self.objects, KINDS)
        if self.object_size is not None and not float(self.object_size) >= 1:
            raise ValueError(f"object_size must be None or at least 1 pixel, got {self.object_size!r}")
        if self.crf_weight is not None and not float(self.crf_weight) >= 0:
            raise ValueError(f"crf_weight must be None or >= 0, got {self.crf_weight!r}")
        if self.zoom is not None and not 0.1 <= float(self.zoom) <= 1:
            raise ValueError(f"zoom must be None or in [0.1, 1], got {self.zoom!r}")
        if not 0 <= int(self.seed) < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed!r}")
        if self.epochs is not None and int(self.epochs) < 1:
            raise ValueError(f"epochs must be None or a positive integer, got {self.epochs!r}")
        for name in ("crop_size", "batch_size", "tile_size", "n_thresholds"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.n_thresholds < 3:
            raise ValueError(f"n_thresholds must be at least 3, got {self.n_thresholds}")
        if self.steps_per_epoch < 0 or self.lr_step < 0 or self.shift_radius < 0:
            raise ValueError("steps_per_epoch, lr_step and shift_radius must be >= 0")
        for name in ("p_sample", "p_background"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= self.p_foreground <= 1.0:
            raise ValueError(f"p_foreground must be in [0, 1], got {self.p_foreground!r}")
        if not 0.0 < self.hint_share < 1.0:
            raise ValueError(f"hint_share must be in (0, 1), got {self.hint_share!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.tile_overlap < self.tile_size // 2:
            raise ValueError(
                f"tile_overlap must be in [0, tile_size/2), got {self.tile_overlap} for tile_size {self.tile_size}"
            )
        if isinstance(self.mask_threshold, str):
            _choice("mask_threshold", self.mask_threshold, ("dmi",))
        elif not 0.0 < float(self.mask_threshold) < 1.0:
            raise ValueError(f"mask_threshold must be 'dmi' or in (0, 1), got {self.mask_threshold!r}")
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))

    def for_kind(self, kind: str) -> Config:
        """This config with ``objects`` set to ``kind`` and every ``None`` field given the kind's default."""
        _choice("objects", kind, KINDS[1:])
        defaults = {k: v for k, v in KIND_DEFAULTS[kind].items() if getattr(self, k) is None}
        return self.replace(objects=kind, **defaults)

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown Config field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _choice(name: str, value, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}; got {value!r}")


PRESETS: dict[str, dict] = {
    "default": {},
    # The paper (and its reference code) as closely as an smp U-Net allows:
    # black start, DMI + IoU, DMI threshold search every epoch, EMS r=1 p=0.1,
    # SGD 0.05 / 0.9 / 1e-3, StepLR x0.1 every 20 epochs, 100 epochs.
    "paper": dict(
        encoder="resnet18",
        objects="blobs",
        crf_weight=0.0,
        zoom=1.0,
        subtract_background=False,
        start="black",
        refresh="dmi",
        ems=True,
        n_thresholds=30,
        shift_radius=1,
        p_sample=0.1,
        loss="dmi_iou",
        mask_threshold="dmi",
        epochs=100,
        steps_per_epoch=0,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-3,
        lr_step=20,
        lr_gamma=0.1,
        augment=False,
    ),
    # The default recipe with the paper's EMS on the start's foreground (skeleton, shift, keep 50 %,
    # plus a random 10 % of the whole foreground): the ablation of the papers' claim on real images.
    "ems": dict(ems=True),
}
# The paper's loop without EMS: the thresholded prediction is the next label.
PRESETS["paper-no-ems"] = {**PRESETS["paper"], "ems": False}


def preset(name: str = "default", **changes) -> Config:
    """The named preset's Config, with optional field changes.

    Raises
    ------
    ValueError
        Unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return Config(**{**PRESETS[name], **changes})
