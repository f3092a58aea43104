"""The one-call API: :func:`segment` trains on images and predicts them."""

from __future__ import annotations

from collections.abc import Callable

from .config import Config, preset
from .model import IGTT
from .train import Progress

__all__ = ["segment"]


def segment(
    images,
    *,
    foreground: str = "bright",
    seed: int = 0,
    device: str = "auto",
    config: Config | str | None = None,
    progress: Callable[[Progress], None] | None = None,
    **changes,
):
    """Segment ``images`` without labels: train on them, then predict them.

    Parameters
    ----------
    images : (M, N) ndarray, (planes, M, N) ndarray or sequence of (M, N) ndarray
    foreground : {"bright", "dark", "auto"}
        Polarity of the objects.
    seed : int
    device : {"auto", "cpu", "cuda", "mps"}
    config : Config or preset name, optional
        ``foreground``, ``seed`` and ``device`` given here replace its fields.
    progress : callable, optional
        Called with every epoch's :class:`Progress`.
    **changes
        Any other :class:`Config` field, e.g. ``objects="lines"``,
        ``object_size=12`` or ``epochs=5``.

    Returns
    -------
    masks : bool ndarray or list of bool ndarray, shaped like ``images``
    """
    if config is None or isinstance(config, str):
        config = preset(config or "default")
    model = IGTT(config.replace(foreground=foreground, seed=seed, device=device, **changes))
    return model.fit(images, progress=progress).predict(images)
