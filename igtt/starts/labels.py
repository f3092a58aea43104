"""What every start gives: a classical mask, and the confident foreground and background drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["StartLabels"]


@dataclass
class StartLabels:
    """A start: the classical mask, and the confident foreground and background drawn from it.

    Pixels in neither ``foreground`` nor ``background`` are unlabelled.
    """

    mask: np.ndarray
    foreground: np.ndarray
    background: np.ndarray

    @classmethod
    def tight(cls, mask: np.ndarray, inside: np.ndarray | None = None) -> StartLabels:
        """Labels tight on both sides of ``mask``: its 1-pixel rim inside and outside unlabelled, the rest labelled (within ``inside``)."""
        if inside is not None:
            mask = mask & inside
        background = ~ndi.binary_dilation(mask)
        if inside is not None:
            background &= inside
        return cls(mask, ndi.binary_erosion(mask), background)
