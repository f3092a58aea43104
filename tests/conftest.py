import numpy as np
import pytest

import igtt
from igtt.io.synthetic import make_nuclei

# A configuration small enough for a test to train in about a second on a CPU.
TINY = dict(
    epochs=2,
    steps_per_epoch=3,
    crop_size=64,
    batch_size=2,
    encoder_depth=3,
    decoder_channels=(8, 8, 8),
    tile_size=128,
    tile_overlap=16,
    device="cpu",
)


@pytest.fixture
def tiny_config():
    return igtt.Config(**TINY)


@pytest.fixture(scope="session")
def nuclei_images():
    pairs = [make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i) for i in range(3)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tiny_cli(monkeypatch):
    """The command line's default preset, made small enough to train in a second."""
    from igtt import config as config_module

    small = {k: v for k, v in TINY.items() if k not in ("epochs", "device")}
    monkeypatch.setitem(config_module.PRESETS, "default", {**small, "epochs": 1})
