"""The napari widget end to end, driven through the viewer fixture (needs a display: xvfb-run)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from igtt import config as config_module  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402

from .conftest import TINY  # noqa: E402

TIMEOUT = 120_000


@pytest.fixture(autouse=True)
def tiny_default(monkeypatch):
    small = {k: v for k, v in TINY.items() if k not in ("epochs", "device")}
    monkeypatch.setitem(config_module.PRESETS, "default", {**small, "epochs": 2})


PLUGIN, WIDGET = "igtt", "iGTT segmentation"


@pytest.fixture
def widget(make_napari_viewer):
    """The widget as a user gets it: found by napari's plugin discovery and docked from the Plugins menu."""
    from napari_igtt import IGTTWidget

    viewer = make_napari_viewer()
    image, _ = make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=0)
    viewer.add_image(image, name="nuclei")
    dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(w, IGTTWidget)
    w._device.value = "cpu"
    return viewer, w


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: w._run.enabled and w._worker is None and "predicting" not in w._status.value, timeout=TIMEOUT)


def test_run_shows_live_preview_and_a_mask(qtbot, widget, tmp_path):
    viewer, w = widget
    w._with_proba.value = True
    w._run.clicked.emit()
    assert not w._run.enabled  # disabled while running
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    mask = viewer.layers["igtt mask"]
    assert mask.data.shape == (96, 96) and mask.data.max() >= 2  # one id per nucleus
    features = mask.features
    assert list(features["index"]) == list(np.unique(mask.data[mask.data > 0]))  # a row per object: hover shows it
    assert {"area", "eccentricity", "intensity_mean"} <= set(features.columns)
    assert features["area"].sum() == (mask.data > 0).sum()
    viewer.layers.selection.active = mask
    w._table_path.value = tmp_path / "objects.csv"
    w._save_table.clicked.emit()
    saved = (tmp_path / "objects.csv").read_text().splitlines()
    assert saved[0].startswith("label,area") and len(saved) == len(features) + 1
    assert "igtt pseudo-labels (live)" in viewer.layers and "igtt prediction (live)" in viewer.layers
    assert viewer.layers["igtt probability"].data.dtype == np.float32
    assert w._progress.value == 2 and "done: 1 mask(s)" in w._status.value
    assert "objects: bright blobs" in w._status.value  # synthetic nuclei are detected as bright blobs


def test_stop_keeps_the_result_so_far(qtbot, widget):
    viewer, w = widget
    w._epochs.value = 50
    w._objects.value, w._object_size.value = "lines", 5
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: w._progress.value >= 1, timeout=TIMEOUT)
    w._stop.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    assert w._progress.value < 50
    assert viewer.layers["igtt mask"].data.shape == (96, 96)
    assert (w._model.objects_, w._model.object_size_) == ("lines", 5.0)


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
    w._layer.value = [viewer.layers["stack"]]
    w._volumes.value = False  # the planes of a stack, one by one (a time series, separate fields)
    w._apply.clicked.emit()
    qtbot.waitUntil(lambda: viewer.layers["igtt mask"].data.shape == (2, 96, 96), timeout=TIMEOUT)
    wait_idle(qtbot, w)
    data = viewer.layers["igtt mask"].data
    assert np.array_equal(data[0], first)  # loaded model predicts identically
    assert np.array_equal(data[1] > 0, first > 0) and data[1][data[1] > 0].min() > first.max()  # ids run on over the planes
    assert list(viewer.layers["igtt mask"].features["plane"].unique()) == [0, 1]


def test_a_3d_layer_is_segmented_as_a_volume_with_3d_objects_and_their_features(qtbot, widget):
    from igtt.io.synthetic import make_nuclei_3d

    viewer, w = widget
    volume, truth = make_nuclei_3d((12, 64, 64), n_nuclei=3, radius=(8, 10), rng=7)
    viewer.add_image(volume, name="stack", scale=(2.0, 1.0, 1.0))
    viewer.add_image((truth > 0) * 100.0 + 5, name="marker", scale=(2.0, 1.0, 1.0))  # a second channel, as its own layer
    w._layer.value = [viewer.layers["stack"]]
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    mask = viewer.layers["igtt mask"]
    assert mask.data.shape == volume.shape and tuple(mask.scale) == (2.0, 1.0, 1.0)
    ids = np.unique(mask.data[mask.data > 0])
    assert len(ids) >= 1 and all(len(np.unique(np.nonzero(mask.data == i)[0])) > 1 for i in ids)  # each id spans planes
    features = mask.features
    assert list(features["index"]) == list(ids) and {"volume", "centroid-2", "intensity_mean"} <= set(features.columns)
    assert "plane" not in features.columns and features["volume"].sum() == (mask.data > 0).sum()
    assert {"intensity_mean_stack", "intensity_sum_marker"} <= set(features.columns)  # every channel's layer measured
    marker = viewer.layers["marker"].data
    assert np.allclose(features["intensity_mean_marker"], [marker[mask.data == i].mean() for i in ids])


def test_bad_layer_is_reported_not_raised(qtbot, widget):
    viewer, w = widget
    viewer.add_image(np.zeros((8, 8, 3), np.uint8), name="colour", rgb=True)
    w._layer.value = [viewer.layers["colour"]]
    w._run.clicked.emit()
    assert w._run.enabled and w._worker is None  # nothing started


def test_several_layers_in_one_run(qtbot, widget):
    """Two selected layers train one model through the batch engine and each gets its own mask."""
    viewer, w = widget
    other, _ = make_nuclei((80, 112), n_nuclei=5, radius=(6, 10), rng=1)
    viewer.add_image(other, name="more")
    w._layer.value = [viewer.layers["nuclei"], viewer.layers["more"]]
    w._with_proba.value = True
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask: more" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    assert viewer.layers["igtt mask: nuclei"].data.shape == (96, 96)
    assert viewer.layers["igtt mask: more"].data.shape == (80, 112)
    assert "done: 2 mask(s)" in w._status.value
    assert "igtt probability: more" in viewer.layers
    assert [layer.name for layer in w._image_layers()] == ["nuclei", "more"]  # its own maps are not offered as inputs


def test_plugin_is_discovered_by_npe2():
    """The installed distribution's manifest passes npe2's checks (name = package) and lists the widget."""
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    assert PLUGIN in pm._manifests, f"npe2 did not register the {PLUGIN!r} plugin: {sorted(pm._manifests)}"
    manifest = pm.get_manifest(PLUGIN)
    assert manifest.package_metadata.name == "igtt"
    assert [w.display_name for w in manifest.contributions.widgets] == [WIDGET, "iGTT review of a results folder"]
    assert {c.id for c in manifest.contributions.commands} >= {"igtt.widget", "igtt.sample_nuclei", "igtt.sample_filaments"}
    menus = manifest.contributions.menus
    assert any(item.command == "igtt.widget" for item in menus["napari/layers/segment"])


def test_sample_data_opens_through_the_file_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    for key in ("nuclei", "filaments"):
        viewer.open_sample(PLUGIN, key)
    assert [layer.data.ndim for layer in viewer.layers] == [2, 2]
    assert all(layer.data.std() > 0 for layer in viewer.layers)


def test_docked_widget_is_drawn(qtbot, make_napari_viewer):
    """A screenshot of the docked widget in a shown viewer: visible, sized, showing controls (not a blank panel)."""
    viewer = make_napari_viewer(show=True)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    panel = w.native  # the Qt widget napari docked
    qtbot.waitUntil(panel.isVisible, timeout=10_000)
    shot = panel.grab().toImage()
    assert shot.width() > 150 and shot.height() > 300
    pixels = np.array([shot.pixel(x, y) for x in range(0, shot.width(), 7) for y in range(0, shot.height(), 7)])
    assert len(np.unique(pixels)) > 10  # text and controls, not a flat colour


def test_paint_three_strokes_and_refine_updates_the_mask_on_screen(qtbot, make_napari_viewer, tmp_path):
    """From a fresh viewer: open an image, Run, add the hints layer, paint three strokes, Refine; the canvas shows the new mask."""
    viewer = make_napari_viewer(show=True)
    image, truth = make_nuclei((128, 128), n_nuclei=8, radius=(8, 12), rng=3)
    viewer.add_image(image, name="nuclei")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    w._device.value = "cpu"
    w._run.clicked.emit()
    qtbot.waitUntil(lambda: "igtt mask" in viewer.layers, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    preview = viewer.layers["igtt pseudo-labels (live)"]
    assert preview.colormap.map(2)[3] < 0.5  # the background preview is a faint wash, objects stay visible
    before = viewer.layers["igtt mask"].data.copy()
    shot_before = viewer.screenshot(canvas_only=True)
    w._add_hints.clicked.emit()
    hints = viewer.layers["igtt hints: nuclei"]
    assert hints.data.shape == image.shape and hints.selected_label == 1 and hints.mode == "paint"
    # three strokes: the whole left half is background (nuclei there included), two object strokes on the right
    strokes = np.zeros(image.shape, np.uint8)
    strokes[:, 2:60] = 2
    right = truth & (np.arange(128)[None, :] > 70)
    strokes[right] = 1
    hints.data = strokes
    w._refine_epochs.value = 10
    w._refine.clicked.emit()
    qtbot.waitUntil(lambda: "refin" not in w._status.value and w._worker is None, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    after = viewer.layers["igtt mask"].data
    assert not np.array_equal(after, before)  # a test-sized network moves, not necessarily the right way
    assert w._progress.value == w._progress.max == 10  # the refine epochs ran, with a live preview each
    shot = viewer.screenshot(canvas_only=True)
    __import__("imageio.v3").v3.imwrite(tmp_path / "refined.png", shot)
    rows, cols = (min(a, b) for a, b in zip(shot.shape[:2], shot_before.shape[:2]))  # the dock's wrapped text may move the canvas edge by a pixel
    assert np.abs(shot[:rows, :cols].astype(int) - shot_before[:rows, :cols].astype(int)).sum() > 0
    assert w._quality.value.startswith("quality ")  # the score and flags of the image in view
    assert w._status.native.wordWrap()


def test_review_a_results_folder_paint_refine_and_rewrite(qtbot, make_napari_viewer, tmp_path, tiny_cli):
    """A results folder of igtt segment opened through the plugin: flagged first, strokes painted and saved, the folder rewritten."""
    import tifffile

    from igtt.batch import review
    from igtt.training.hints import BACKGROUND, OBJECT
    from napari_igtt._review import HINTS, IMAGE, MASK, ReviewWidget

    from .test_bad_inputs import invoke

    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    truths = {}
    for i in range(3):
        image, truths[f"cell_{i}.tif"] = make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i)
        tifffile.imwrite(images / f"cell_{i}.tif", image)
    assert invoke("segment", images, "--out", out, "--labels").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.tif")}
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "iGTT review of a results folder")
    assert isinstance(w, ReviewWidget)
    w.open(out)
    first = review.review_order(review.load_run(out))[0][0].source
    assert w.job.source == first and w._where.value.startswith(f"1 of 3: {first.name}")
    assert {IMAGE, MASK, HINTS} <= {layer.name for layer in viewer.layers} and viewer.layers.selection.active.name == HINTS
    from scipy import ndimage as ndi

    mask = tifffile.imread(out / first.name) > 0
    objects, _ = ndi.label(mask)
    biggest = objects == np.argmax(np.bincount(objects.ravel())[1:]) + 1
    strokes = np.zeros((96, 96), np.uint8)
    strokes[ndi.binary_erosion(biggest, iterations=2)] = BACKGROUND  # "this is not an object": it leaves the mask
    strokes[:3] = OBJECT
    viewer.layers[HINTS].data = strokes
    w._next.clicked.emit()  # moving on saves the strokes
    assert (review.read_hint(out, review.load_run(out).jobs[int(first.stem[-1])]) == strokes).all()
    assert w._where.value.startswith("2 of 3") and not viewer.layers[HINTS].data.any()
    w._previous.clicked.emit()
    assert (viewer.layers[HINTS].data == strokes).all()  # saved strokes come back
    w._refine.clicked.emit()
    qtbot.waitUntil(lambda: w._worker is None and "rewritten" in w._status.value, timeout=TIMEOUT)
    after = {p.name: p.read_bytes() for p in out.glob("*.tif")}
    assert set(after) == set(before) and after != before  # masks and labels rewritten
    assert (out / "report.csv").is_file() and "igtt refine" in w._status.value
    assert w.job.source == first  # the image in view stays in view, its new mask shown
    assert np.array_equal(viewer.layers[MASK].data > 0, tifffile.imread(out / first.name) > 0)
    assert not (tifffile.imread(out / first.name) > 0)[strokes == BACKGROUND].any()
