"""Make the README's napari screenshots from images the project generates (needs a display: xvfb-run -a).

    xvfb-run -a python docs/screenshots.py

docs/napari_widget.png: the segmentation widget after a run on synthetic
nuclei, with hints painted; docs/napari_review.png: ``igtt review`` on a
results folder of ``igtt segment``, the first flagged image in view.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent


def _wait(app, done, seconds=900):
    import time

    end = time.time() + seconds
    while not done() and time.time() < end:
        app.processEvents()
        time.sleep(0.05)


def main():
    import napari
    from qtpy.QtWidgets import QApplication

    from igtt.cli import app as cli
    from igtt.io.synthetic import make_nuclei
    from napari_igtt import IGTTWidget
    from napari_igtt._review import HINTS, ReviewWidget

    qt = QApplication.instance() or QApplication([])
    image, truth = make_nuclei((256, 256), n_nuclei=14, radius=(8, 14), rng=3)
    viewer = napari.Viewer(title="igtt")
    viewer.window._qt_window.resize(1400, 900)
    viewer.add_image(image, name="nuclei")
    widget = IGTTWidget(viewer)
    viewer.window.add_dock_widget(widget, name="iGTT segmentation", area="right")
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    _wait(qt, lambda: "done" in widget._status.value)
    widget._add_hints.clicked.emit()
    hints = viewer.layers["igtt hints: nuclei"]
    strokes = np.zeros(image.shape, np.uint8)
    strokes[120:124, 20:60], strokes[200:204, 150:200] = 2, 2
    strokes[truth & (np.arange(256)[:, None] < 60)] = 1
    hints.data = strokes
    viewer.layers.selection.active = viewer.layers["igtt mask"]
    viewer.reset_view()
    _wait(qt, lambda: False, 1)
    viewer.screenshot(str(HERE / "napari_widget.png"), canvas_only=False)
    viewer.close()

    with tempfile.TemporaryDirectory() as work:
        images, out = Path(work) / "images", Path(work) / "masks"
        images.mkdir()
        for i in range(4):
            im, _ = make_nuclei((256, 256), n_nuclei=12, radius=(8, 14), rng=10 + i)
            tifffile.imwrite(images / f"well_A0{i + 1}.tif", im)
        cli(["segment", str(images), "--out", str(out), "--labels", "--quiet"], standalone_mode=False)
        viewer = napari.Viewer(title=f"igtt review: {out.name}")
        viewer.window._qt_window.resize(1400, 900)
        review = ReviewWidget(viewer)
        viewer.window.add_dock_widget(review, name="igtt review", area="right")
        review.open(out)
        paint = np.zeros(viewer.layers[HINTS].data.shape, np.uint8)
        paint[10:14, 10:80] = 2
        viewer.layers[HINTS].data = paint
        viewer.reset_view()
        _wait(qt, lambda: False, 1)
        viewer.screenshot(str(HERE / "napari_review.png"), canvas_only=False)
        viewer.close()


if __name__ == "__main__":
    main()
