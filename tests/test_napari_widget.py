"""The napari widget end to end, driven through the viewer fixture (needs a display: xvfb-run)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from igtt import config as config_module  # noqa: E402
from igtt.synthetic import make_nuclei  # noqa: E402

from .conftest import TINY  # noqa: E402

TIMEOUT = 120_000


@pytest.fixture(autouse=True)
def tiny_default(monkeypatch):
    small = {k: v for k, v in TINY.items() if k not in ("epochs", "device")}
    monkeypatch.setitem(config_module.PRESETS, "default", {**small, "epochs": 2})


@pytest.fixture
def widget(make_napari_viewer):
    from napari_igtt import IGTTWidget

    viewer = make_napari_viewer()
    image, _ = make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=0)
    viewer.add_image(image, name="nuclei")
    w = IGTTWidget(viewer)
    viewer.window.add_dock_widget(w)
    w._device.value = "cpu"
    return viewer, w


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: w._run.enabled and w._worker is None and "predicting" not in w._status.value, timeout=TIMEOUT)


def test_run_shows_live_preview_and_a_mask(qtbot, widget):
    viewer, w = widget
    w._with_proba.value = True
    w._run.clicked.emit()
    assert not w._run.enabled  # disabled while running
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    mask = viewer.layers["igtt mask"]
    assert mask.data.shape == (96, 96) and set(np.unique(mask.data)) <= {0, 1}
    assert "igtt pseudo-labels (live)" in viewer.layers and "igtt prediction (live)" in viewer.layers
    assert viewer.layers["igtt probability"].data.dtype == np.float32
    assert w._progress.value == 2 and "done" in w._status.value


def test_stop_keeps_the_result_so_far(qtbot, widget):
    viewer, w = widget
    w._epochs.value = 50
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: w._progress.value >= 1, timeout=TIMEOUT)
    w._stop.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    assert w._progress.value < 50
    assert viewer.layers["igtt mask"].data.shape == (96, 96)


def test_save_load_and_apply_to_a_stack(qtbot, widget, tmp_path):
    viewer, w = widget
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    first = viewer.layers["igtt mask"].data.copy()
    w._model_path.value = tmp_path / "m.igtt"
    w._save.clicked.emit()
    assert (tmp_path / "m.igtt").exists()
    w._model = None
    w._load.clicked.emit()
    assert w._model is not None and w._apply.enabled
    stack = np.stack([viewer.layers["nuclei"].data] * 2)
    viewer.add_image(stack, name="stack")
    w._layer.value = viewer.layers["stack"]
    w._apply.clicked.emit()
    qtbot.waitUntil(lambda: viewer.layers["igtt mask"].data.shape == (2, 96, 96), timeout=TIMEOUT)
    wait_idle(qtbot, w)
    assert np.array_equal(viewer.layers["igtt mask"].data[0], first)  # loaded model predicts identically


def test_bad_layer_is_reported_not_raised(qtbot, widget):
    viewer, w = widget
    viewer.add_image(np.zeros((2, 2, 8, 8)), name="4d")
    w._layer.value = viewer.layers["4d"]
    w._run.clicked.emit()
    assert w._run.enabled  # nothing started


def test_sample_data_and_manifest():
    from napari_igtt._sample_data import sample_filaments, sample_nuclei

    for sample in (sample_nuclei, sample_filaments):
        ((data, meta, kind),) = sample()
        assert data.ndim == 2 and kind == "image" and meta["name"]
    import npe2

    manifest = npe2.PluginManifest.from_file(__import__("napari_igtt").__path__[0] + "/napari.yaml")
    assert {c.id for c in manifest.contributions.commands} >= {"napari-igtt.widget", "napari-igtt.sample_nuclei"}
