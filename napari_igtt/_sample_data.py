"""Sample data: synthetic images from igtt's own generator (no real data is shipped)."""

from __future__ import annotations

import numpy as np


def sample_nuclei():
    from igtt.io.synthetic import make_nuclei

    image, _ = make_nuclei((384, 384), n_nuclei=40, rng=0)
    return [(image, {"name": "synthetic nuclei"}, "image")]


def sample_filaments():
    from igtt.io.synthetic import make_filaments

    image, _ = make_filaments((384, 384), n_filaments=18, dtype=np.uint8, rng=0)
    return [(image, {"name": "synthetic filaments"}, "image")]
