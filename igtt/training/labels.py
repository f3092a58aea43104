"""The pseudo-labels of self-training: drawn from the start, each epoch anew, and refreshed from the network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.morphology import skeletonize

from ..config import Config
from ..starts.labels import StartLabels
from .ems import extract_meta_structure, random_keep

__all__ = ["PseudoLabels", "UNLABELLED", "FOREGROUND", "BACKGROUND"]

# label values, one set for previews and hints (igtt.training.hints: 0 no hint, 1 object, 2 background, as ilastik paints)
UNLABELLED, FOREGROUND, BACKGROUND = 0, 1, 2


class PseudoLabels:
    """The current pseudo-labels of every image, and how each epoch's are drawn from them.

    Starts from each image's :class:`StartLabels`: its confident foreground
    and background; pixels in neither are unlabelled. :meth:`refresh`
    replaces an image's labels by a mask the network gave (the paper's
    update); :class:`igtt.training.hints.HintedLabels` wraps these with the
    user's strokes.
    """

    def __init__(self, starts: Sequence[StartLabels], config: Config, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.foreground = [s.foreground for s in starts]
        self.background = [s.background & ~s.foreground for s in starts]
        self._skeletons = [None] * len(starts)

    def __len__(self) -> int:
        return len(self.foreground)

    def refresh(self, i: int, mask: np.ndarray) -> None:
        """Image ``i``'s labels become ``mask`` (foreground) and its complement (background)."""
        self.foreground[i] = mask
        self.background[i] = ~mask
        self._skeletons[i] = None

    def draw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's (target, weight) for image ``i``, both float32 (M, N).

        With EMS the foreground is a random shifted sample of its skeleton,
        drawn anew each call (a dynamic RCL). With ``dmi_iou`` every pixel
        counts and the unsampled ones are background, as in the paper; with
        ``balanced_bce`` only the sampled pixels count.
        """
        c = self.config
        whole = fg = self.foreground[i]
        if c.ems:
            if self._skeletons[i] is None:
                self._skeletons[i] = skeletonize(fg)
            fg = extract_meta_structure(fg, radius=c.shift_radius, p_sample=c.p_sample, rng=self.rng, skeleton=self._skeletons[i])
        if c.loss == "dmi_iou":
            target = fg.astype(np.float32)
            return target, np.ones_like(target)
        if c.ems and c.p_foreground > 0:
            fg = fg | random_keep(whole, p_sample=c.p_foreground, rng=self.rng)
        target = fg.astype(np.float32)
        bg = self.background[i]
        if c.p_background < 1:
            bg = random_keep(bg, p_sample=c.p_background, rng=self.rng)
        return target, (fg | (bg & ~fg)).astype(np.float32)

    def anchors(self) -> tuple[list | None, float, int]:
        """Where crops must hold pixels (per image, or None), the fraction of such crops, and the factor on the steps."""
        return None, 0.0, 1

    def preview(self, i: int = 0) -> np.ndarray:
        """Image ``i``'s labels as uint8: 0 unlabelled, 1 foreground, 2 background."""
        out = np.full(self.foreground[i].shape, UNLABELLED, np.uint8)
        out[self.background[i]] = BACKGROUND
        out[self.foreground[i]] = FOREGROUND
        return out
