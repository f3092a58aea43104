"""Objects as a napari Labels layer: one id per object over the whole stack, its measurements as the layer's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["objects_layer", "save_features"]


def objects_layer(
    objects: np.ndarray, image: np.ndarray, kind: str, *, volume: bool = False, spacing=None, channels: dict | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels for a layer and their features (:func:`igtt.measure`, an ``index`` column giving each row's label).

    ``objects`` holds ids per plane (1..n in each); a stack gets ids that
    run on over its planes, so each object has its own row, with its plane.
    A volume's ``objects`` are already 3D: one row per 3D object (volume,
    centroid z, y, x, ...), in ``spacing`` where given. ``channels``: other
    images of the same shape by name (the other channels' layers), each
    measured in the objects too (``intensity_mean_<name>`` ...).
    """
    from igtt.objects import measure

    names = list(channels or {})
    every = np.stack([np.asarray(channels[n]) for n in names]) if names else None
    if volume:
        table = measure(objects, image, kind=kind, spacing=spacing, channels=every, names=names or None)
        return objects.astype(np.uint32), {"index": table["label"], **table}
    shape = objects.shape
    planes = objects.reshape((-1,) + shape[-2:])
    images = np.asarray(image).reshape(planes.shape)
    labels = np.zeros(planes.shape, np.uint32)
    tables, offset = [], 0
    every = None if every is None else every.reshape((len(names),) + planes.shape)
    for plane, (ids, values) in enumerate(zip(planes, images)):
        table = measure(ids, values, kind=kind, channels=None if every is None else every[:, plane], names=names or None)
        labels[plane] = np.where(ids > 0, ids + offset, 0)
        tables.append({"index": table["label"] + offset, "plane": np.full(len(table["label"]), plane), **table})
        offset += int(ids.max())
    features = {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}
    if len(planes) == 1:
        del features["plane"]
    return labels.reshape(shape), features


def save_features(layer, path: str | Path) -> Path:
    """Write a Labels layer's features as CSV (without napari's ``index`` column), atomically."""
    from igtt.io.outputs import atomic_path

    table = layer.features.drop(columns=["index"], errors="ignore")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
