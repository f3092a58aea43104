"""The one-call API: :func:`segment` trains on images and predicts them."""

from __future__ import annotations

from collections.abc import Callable

from .config import Config, preset
from .model import IGTT
from .training.train import Progress

__all__ = ["segment"]


def segment(
    images,
    *,
    foreground: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    config: Config | str | None = None,
    progress: Callable[[Progress], None] | None = None,
    **changes,
):
    """Segment ``images`` without labels: train on them, then predict them.

    Parameters
    ----------
    images : (M, N) ndarray, (planes, M, N) ndarray or sequence of (M, N) ndarray
    foreground : {"bright", "dark", "auto"}, optional
        Polarity of the objects (default: the config's; ``bright`` in every preset).
    seed : int, optional
        Default: the config's (0 in every preset).
    device : {"auto", "cpu", "cuda", "mps"}, optional
        Default: the config's (``auto`` in every preset).
    config : Config or preset name, optional
        Default ``"default"``. ``foreground``, ``seed``, ``device`` and the
        ``changes`` given here replace its fields; those left out keep its values.
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
    given = {k: v for k, v in dict(foreground=foreground, seed=seed, device=device).items() if v is not None}
    model = IGTT(config.replace(**given, **changes))
    return model.fit(images, progress=progress).predict(images)
