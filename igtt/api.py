"""The one-call API: :func:`segment` trains on images and predicts them."""

from __future__ import annotations

from collections.abc import Callable

from .config import Config, preset
from .model import IGTT
from .training.train import Progress
from .nn.volume import fit_volumes, predict_volume

__all__ = ["segment"]


def segment(
    images,
    *,
    foreground: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    config: Config | str | None = None,
    progress: Callable[[Progress], None] | None = None,
    spacing=None,
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
    spacing : (float, float, float), optional
        The voxel size (z, y, x) of a z-stack ``images`` (planes, M, N): it is
        segmented as one volume (:mod:`igtt.nn.volume`), its mask 3D; give the
        mask to :func:`igtt.label_objects` with the same ``spacing`` for 3D objects.
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
    if spacing is not None:
        for event in fit_volumes(model, [images], [spacing]):
            if progress is not None:
                progress(event)
        return predict_volume(model, images, spacing=spacing)[0]
    return model.fit(images, progress=progress).predict(images)
