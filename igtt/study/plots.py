"""PNG figures for the study tools (matplotlib, imported only here and only when a figure is drawn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io.outputs import atomic_path

__all__ = ["require_matplotlib", "density_figure", "curves_figure", "difference_figure", "patterns_figure"]


def require_matplotlib() -> None:
    """Raise ImportError with the install line when matplotlib (the ``study`` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("the study figures need matplotlib: pip install 'igtt[study]'") from None


def _figure(width: float, height: float):
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, safe in threads and on servers

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def density_figure(
    labels: Mapping[str, np.ndarray],
    densities: Mapping[str, np.ndarray],
    path,
    *,
    row: int,
    outlines: Sequence[float] = (),
    h: int | None = None,
) -> Path:
    """One column per label: the label, its density heatmap (hKDE) and the density curve along ``row``."""
    n = len(labels)
    fig = _figure(3.2 * n, 8.4)
    axes = fig.subplots(3, n, squeeze=False)
    for j, name in enumerate(labels):
        density = densities[name]
        axes[0, j].imshow(labels[name], cmap="gray", interpolation="nearest")
        axes[0, j].set_title(name, fontsize=9)
        im = axes[1, j].imshow(density, cmap="viridis", vmin=0, vmax=1)
        axes[1, j].axhline(row, color="white", lw=0.6, ls="--")
        axes[2, j].plot(density[row], lw=1)
        for x in outlines:
            axes[2, j].plot([x], [density[row][int(x)]], "o", color="red", ms=3)
        axes[2, j].set_ylim(-0.02, 1.02)
        axes[2, j].set_xlabel("column")
        for ax in axes[:2, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1, 0].set_ylabel("density heatmap" + (f" (h={h})" if h is not None else ""))
    axes[2, 0].set_ylabel(f"density along row {row}")
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8)
    return _save(fig, path)


def curves_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], path, *, title: str = "") -> Path:
    """Line plots of per-epoch curves: ``curves[metric][label] = values``, one panel per metric."""
    metrics = list(curves)
    fig = _figure(4.2 * len(metrics), 3.6)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for label, values in curves[metric].items():
            ax.plot(np.arange(1, len(values) + 1), values, marker=".", lw=1, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def difference_figure(differences: Mapping[str, np.ndarray], path) -> Path:
    """Difference images (+1 red, -1 blue, 0 white), one panel each."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#2166ac", "#ffffff", "#b2182b"])
    n = len(differences)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = _figure(3.4 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.axis("off")
    for ax, (name, diff) in zip(axes, differences.items()):
        ax.imshow(diff, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{name}\n+1: {int((diff > 0).sum())}  -1: {int((diff < 0).sum())}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def patterns_figure(activations: np.ndarray, top: Sequence[int], patterns: Sequence[np.ndarray], path, *, title: str = "") -> Path:
    """The papers' Fig. 7 B-C: mean activation per channel (top ones marked) and the synthesised patterns."""
    k = len(patterns)
    fig = _figure(3.0 * (k + 1), 3.2)
    axes = fig.subplots(1, k + 1, squeeze=False)[0]
    axes[0].bar(np.arange(len(activations)), activations, color="0.6")
    axes[0].bar(list(top), activations[list(top)], color="red")
    axes[0].set_xlabel("channel")
    axes[0].set_ylabel("mean activation")
    for ax, channel, pattern in zip(axes[1:], top, patterns):
        ax.imshow(pattern, cmap="gray")
        ax.set_title(f"channel {channel}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
