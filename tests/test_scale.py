"""One object scale for a folder of mixed magnifications, and results that do not depend on the order of the files."""

import numpy as np
import tifffile
from typer.testing import CliRunner

from igtt import IGTT, preset
from igtt.cli import app
from igtt.io.metrics import scores
from igtt.io.synthetic import make_nuclei
from igtt.starts.scale import content_order, resample, resample_labels, resize_mask, scale_factor


def two_magnifications():
    """Two fields of small nuclei (diameters ~12-16 px) and two of large ones (~36-48 px), as a 10x and a 40x image."""
    small = [make_nuclei((160, 160), n_nuclei=20, radius=(6, 8), rng=i) for i in range(2)]
    large = [make_nuclei((192, 192), n_nuclei=5, radius=(18, 24), rng=10 + i) for i in range(2)]
    return [small[0], large[0], small[1], large[1]]


def test_scale_factor_brings_an_image_to_the_folders_size_and_no_further():
    assert scale_factor(40.0, 20.0) == 0.5
    assert scale_factor(10.0, 20.0) == 1.0  # smaller objects are not enlarged
    assert scale_factor(22.0, 20.0) == 1.0  # within the band: no resampling, no interpolation blur
    assert scale_factor(200.0, 20.0) == 1.0 and scale_factor(float("nan"), 20.0) == 1.0  # not trusted


def test_resampling_round_trips_shapes_and_labels():
    image = np.arange(60 * 80, dtype=np.uint16).reshape(60, 80)
    up = resample(image, 2.0)
    assert up.shape == (120, 160) and up.dtype == np.float32
    assert resample(image, 1.0) is image
    hints = np.zeros((60, 80), np.uint8)
    hints[10:20, 10:20] = 1
    hints[40:50, 60:70] = 2
    scaled = resample_labels(hints, up.shape)
    assert scaled.dtype == np.uint8 and set(np.unique(scaled)) == {0, 1, 2} and (scaled == 1).sum() == 4 * 100
    assert (resize_mask(scaled == 1, hints.shape) == (hints == 1)).all()


def test_content_order_ignores_the_given_order():
    images = [p[0] for p in two_magnifications()]
    order = content_order(images)
    assert sorted(order) == [0, 1, 2, 3]
    assert [images[i] is images[::-1][j] for i, j in zip(order, content_order(images[::-1]))] == [True] * 4


def test_one_network_for_two_magnifications_in_any_order(tiny_config):
    pairs = two_magnifications()
    images, truths = [p[0] for p in pairs], [p[1] for p in pairs]
    config = tiny_config.replace(epochs=3, steps_per_epoch=6, objects="blobs")  # (the textured synthetic 40-px nuclei pass for compartments)
    model = IGTT(config).fit(images)
    views = [model._prepare(im, None) for im in images]
    assert views[0].factor == views[2].factor == 1.0 and views[0].size < model.object_size_  # small nuclei: their own size
    assert all(v.factor < 1 and v.size == model.object_size_ for v in (views[1], views[3]))  # large ones: shrunk to the folder's
    masks = model.predict(images)
    assert [m.shape for m in masks] == [im.shape for im in images]
    for order in (images[::-1], [images[2], images[0], images[3], images[1]]):
        other = IGTT(config).fit(order)
        assert other.object_size_ == model.object_size_
        again = other.predict(images)
        assert all((a == b).all() for a, b in zip(masks, again))  # the same masks, whatever the order of the files
    assert np.mean([scores(m, t)["dice"] for m, t in zip(masks, truths)]) > 0.5


def test_the_command_line_gives_the_apis_masks_for_any_file_names(tmp_path, tiny_cli):
    pairs = two_magnifications()
    for names, folder in ((("a", "b", "c", "d"), "in1"), (("z", "y", "x", "w"), "in2")):
        (tmp_path / folder).mkdir()
        for name, (image, _) in zip(names, pairs):
            tifffile.imwrite(tmp_path / folder / f"{name}.tif", image)
        result = CliRunner().invoke(app, ["segment", str(tmp_path / folder), "--out", str(tmp_path / f"out_{folder}")])
        assert result.exit_code == 0, result.output
    first = [tifffile.imread(tmp_path / "out_in1" / f"{n}.tif") > 0 for n in "abcd"]
    second = [tifffile.imread(tmp_path / "out_in2" / f"{n}.tif") > 0 for n in "zyxw"]
    assert all((a == b).all() for a, b in zip(first, second))
    images = [p[0] for p in pairs]
    api = IGTT(preset("default")).fit(images[::-1]).predict(images)  # the API, files given the other way round
    assert all((a == b).all() for a, b in zip(first, api))
