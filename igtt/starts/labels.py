"""What every start gives: a classical mask, and the confident foreground and background drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StartLabels"]


@dataclass
class StartLabels:
    """A start: the classical mask, and the confident foreground and background drawn from it.

    Pixels in neither ``foreground`` nor ``background`` are unlabelled.
    """

    mask: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
