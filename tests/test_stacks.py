"""Stacks and channels: z-stacks as volumes (3D objects), every channel measured, pixel sizes from the files, bad stacks refused."""

import csv

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.measure import regionprops_table
from typer.testing import CliRunner

import igtt
from igtt.cli import app
from igtt.io.meta import image_info
from igtt.io.synthetic import make_nuclei_3d
from igtt.objects import VOLUME_COLUMNS, label_objects, measure

runner = CliRunner()


def ap50(pred, truth):
    """3D AP50: predicted and true objects matched one to one at IoU > 0.5."""
    n_pred, n_true = int(pred.max()), int(truth.max())
    pairs = np.bincount(pred.ravel().astype(np.int64) * (n_true + 1) + truth.ravel(), minlength=(n_pred + 1) * (n_true + 1))
    inter = pairs.reshape(n_pred + 1, n_true + 1)
    union = inter.sum(1)[1:, None] + inter.sum(0)[None, 1:] - inter[1:, 1:]
    tp = int((inter[1:, 1:] / np.maximum(union, 1) > 0.5).sum())
    return tp / (n_pred + n_true - tp)


def write_imagej(path, data, *, pixel=0.5, z=2.0, unit="um"):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel, 1 / pixel), metadata={"spacing": z, "unit": unit, "axes": "ZYX"})


def test_touching_nuclei_are_split_in_3d_with_one_id_over_their_planes():
    _, truth = make_nuclei_3d((32, 160, 160), n_nuclei=16, touching=0.2, rng=4)
    labels = label_objects(truth > 0, spacing=(2.0, 1.0, 1.0))
    assert labels.ndim == 3 and ap50(labels, truth) >= 0.9
    assert abs(labels.max() - truth.max()) <= 1
    # planes alone would restart their ids: here one id spans every plane of its nucleus
    deepest = max(range(1, labels.max() + 1), key=lambda i: len(np.unique(np.nonzero(labels == i)[0])))
    assert len(np.unique(np.nonzero(labels == deepest)[0])) >= 5


def test_volume_measurements_match_regionprops_table_in_pixels_and_microns():
    _, labels = make_nuclei_3d((16, 64, 64), n_nuclei=4, rng=5)
    rng = np.random.default_rng(0)
    channels = rng.random((2,) + labels.shape)
    spacing = (2.0, 0.5, 0.4)
    table = measure(labels, channels[0], channels=channels, names=["DAPI", "GFP"], spacing=spacing)
    assert list(table)[: len(VOLUME_COLUMNS)] == list(VOLUME_COLUMNS)
    ref = regionprops_table(labels, channels[0], properties=("label", "area", "centroid", "bbox", "equivalent_diameter_area", "intensity_mean", "intensity_min", "intensity_max"))
    np.testing.assert_allclose(table["volume"], ref["area"])
    np.testing.assert_allclose(table["equivalent_diameter"], ref["equivalent_diameter_area"])
    for column in ("centroid-0", "centroid-1", "centroid-2", "bbox-0", "bbox-5", "intensity_mean", "intensity_min", "intensity_max"):
        np.testing.assert_allclose(table[column], ref[column])
    physical = regionprops_table(labels, properties=("area", "centroid", "equivalent_diameter_area"), spacing=spacing)
    np.testing.assert_allclose(table["volume_um3"], physical["area"])
    np.testing.assert_allclose(table["equivalent_diameter_um"], physical["equivalent_diameter_area"])
    np.testing.assert_allclose(table["centroid-0_um"], physical["centroid-0"])
    every = regionprops_table(labels, np.moveaxis(channels, 0, -1), properties=("intensity_mean", "intensity_max"))
    np.testing.assert_allclose(table["intensity_mean_GFP"], every["intensity_mean-1"])
    np.testing.assert_allclose(table["intensity_max_DAPI"], every["intensity_max-0"])
    np.testing.assert_allclose(table["intensity_sum_GFP"], every["intensity_mean-1"] * ref["area"])


def test_plane_measurements_in_microns_and_every_channel_match_regionprops_table():
    labels = label_objects(igtt.io.synthetic.make_nuclei((96, 96), n_nuclei=6, rng=1)[1])
    channels = np.random.default_rng(1).random((3,) + labels.shape)
    table = measure(labels, channels[1], channels=channels, spacing=(0.3, 0.3))
    physical = regionprops_table(labels, properties=("area", "centroid", "equivalent_diameter_area"), spacing=(0.3, 0.3))
    np.testing.assert_allclose(table["area_um2"], physical["area"])
    np.testing.assert_allclose(table["centroid-1_um"], physical["centroid-1"])
    np.testing.assert_allclose(table["equivalent_diameter_um"], physical["equivalent_diameter_area"])
    every = regionprops_table(labels, np.moveaxis(channels, 0, -1), properties=("intensity_mean", "intensity_min"))
    for c in range(3):
        np.testing.assert_allclose(table[f"intensity_mean_ch{c}"], every[f"intensity_mean-{c}"])
        np.testing.assert_allclose(table[f"intensity_min_ch{c}"], every[f"intensity_min-{c}"])


def test_lines_in_3d_are_measured_along_their_skeleton_with_the_z_step():
    labels = np.zeros((12, 20, 20), np.int32)
    labels[6, 6, 2:18] = 1  # 16 voxels along x: 15 steps
    labels[2:9, 12, 12] = 2  # 7 voxels along z: 6 steps of 4 pixels each (z step 2 um, pixels 0.5 um)
    table = measure(labels, kind="lines", spacing=(2.0, 0.5, 0.5))
    np.testing.assert_allclose(table["skeleton_length"], [15, 24])
    np.testing.assert_allclose(table["skeleton_length_um"], [7.5, 12])


def test_pixel_sizes_are_read_from_ome_and_imagej_tiffs(tmp_path):
    data = np.zeros((4, 2, 16, 16), np.uint16)
    tifffile.imwrite(
        tmp_path / "a.ome.tif", data,
        metadata={"axes": "ZCYX", "PhysicalSizeX": 250, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 250, "PhysicalSizeYUnit": "nm",
                  "PhysicalSizeZ": 1.5, "Channel": {"Name": ["DAPI", "GFP"]}},
    )
    info = image_info(tmp_path / "a.ome.tif")
    assert info.has_z and info.spacing == pytest.approx((1.5, 0.25, 0.25)) and info.channels == ("DAPI", "GFP")
    write_imagej(tmp_path / "b.tif", data[:, 0], pixel=0.8, z=1.75)
    info = image_info(tmp_path / "b.tif")
    assert info.has_z and info.spacing == pytest.approx((1.75, 0.8, 0.8)) and info.channels is None
    tifffile.imwrite(tmp_path / "c.tif", data[:, 0])  # no metadata: nothing known, and no z axis
    assert image_info(tmp_path / "c.tif").spacing is None and not image_info(tmp_path / "c.tif").has_z
    assert image_info(tmp_path / "b.tif").given(pixel_size=0.5).spacing == pytest.approx((1.75, 0.5, 0.5))


def test_a_z_stack_segments_as_a_volume_with_3d_ids_units_and_a_summary(tmp_path):
    """The clean synthetic case as a user runs it: AP50 >= 0.9 in 3D, its count right, volumes in µm³, the summary written."""
    volume, truth = make_nuclei_3d((24, 128, 128), n_nuclei=10, rng=0)
    (tmp_path / "in").mkdir()
    write_imagej(tmp_path / "in" / "stack.tif", volume, pixel=0.5, z=1.0)
    result = runner.invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--labels", "--measure", "--epochs", "6"])
    assert result.exit_code == 0, result.output
    labels = tifffile.imread(tmp_path / "out" / "stack_labels.tif")
    assert labels.shape == volume.shape and ap50(labels, truth) >= 0.9
    rows = list(csv.DictReader(open(tmp_path / "out" / "stack_objects.csv")))
    assert len(rows) == labels.max() and "plane" not in rows[0]
    assert float(rows[0]["volume_um3"]) == pytest.approx(int(rows[0]["volume"]) * 0.25)
    summary = list(csv.DictReader(open(tmp_path / "out" / "objects_summary.csv")))
    assert len(summary) == 1 and int(summary[0]["objects"]) == labels.max() and summary[0]["median_volume_um3"]
    assert f"Objects: {labels.max()} in 1 volume (median" in result.output


def test_the_api_segments_a_volume_given_its_voxel_size():
    volume, truth = make_nuclei_3d((16, 96, 96), n_nuclei=5, radius=(8, 11), rng=6)
    mask = igtt.segment(volume, spacing=(2.0, 1.0, 1.0), epochs=4, steps_per_epoch=10)
    assert mask.shape == volume.shape and mask.dtype == bool
    assert ap50(label_objects(mask, spacing=(2.0, 1.0, 1.0)), truth) >= 0.8


def test_every_channel_is_measured_with_its_name_and_in_microns(tmp_path, tiny_cli):
    from igtt.io.synthetic import make_nuclei

    nuclei, mask = make_nuclei((96, 96), n_nuclei=6, rng=2)
    marker = (mask * 1000 + 50).astype(np.uint16)
    (tmp_path / "in").mkdir()
    tifffile.imwrite(
        tmp_path / "in" / "well.ome.tif", np.stack([nuclei, marker]),
        metadata={"axes": "CYX", "PhysicalSizeX": 0.65, "PhysicalSizeY": 0.65, "Channel": {"Name": ["DAPI", "marker"]}},
    )
    result = runner.invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--channel", "0", "--measure"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "well.ome_objects.csv")))
    assert rows and {"intensity_mean_DAPI", "intensity_sum_marker", "area_um2", "centroid-0_um"} <= set(rows[0])
    assert float(rows[0]["area_um2"]) == pytest.approx(int(rows[0]["area"]) * 0.65**2, rel=1e-4)
    assert all(float(r["intensity_mean_marker"]) > 500 for r in rows if int(r["area"]) > 30)  # the marker is in the nuclei
    summary = list(csv.DictReader(open(tmp_path / "out" / "objects_summary.csv")))
    assert summary[0]["plane"] == "0" and "mean_intensity_mean_marker" in summary[0]
    assert "µm²" in result.output and "no pixel size" not in result.output


@pytest.mark.parametrize(
    "case, extra, words",
    [
        ("no z step", ["--3d"], "without its pixel size and z step"),
        ("absurd z step", [], "not plausible"),
        ("2-D with --3d", ["--3d"], "not one z-stack"),
        ("channels last", [], "choose a channel"),
        ("channel out of range", ["--channel", "2"], "out of range"),
    ],
)
def test_a_bad_stack_gets_one_line_and_the_batch_goes_on(tmp_path, tiny_cli, case, extra, words):
    from igtt.io.synthetic import make_nuclei

    (tmp_path / "in").mkdir()
    good, _ = make_nuclei((64, 64), n_nuclei=4, rng=0)
    if case == "channel out of range":
        tifffile.imwrite(tmp_path / "in" / "good.tif", np.stack([good, good, good]), metadata={"axes": "CYX"})
        tifffile.imwrite(tmp_path / "in" / "bad.tif", np.stack([good, good]), metadata={"axes": "CYX"})
    elif case == "2-D with --3d":
        write_imagej(tmp_path / "in" / "good.tif", np.stack([good] * 4))
        tifffile.imwrite(tmp_path / "in" / "bad.tif", good)
    else:
        tifffile.imwrite(tmp_path / "in" / "good.tif", good) if case != "no z step" else write_imagej(tmp_path / "in" / "good.tif", np.stack([good] * 4))
        bad = {"no z step": np.stack([good] * 4), "absurd z step": np.stack([good] * 4), "channels last": np.stack([np.stack([good] * 3, -1)] * 4)}[case]
        if case == "absurd z step":
            write_imagej(tmp_path / "in" / "bad.tif", bad, pixel=0.1, z=500.0)
        else:
            tifffile.imwrite(tmp_path / "in" / "bad.tif", bad)
    result = runner.invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--labels", *extra])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "bad.tif" in line and words in line]
    assert lines, result.output
    assert (tmp_path / "out" / "good.tif").is_file() and not list((tmp_path / "out").glob("bad*"))


def test_a_volume_mask_that_ran_away_from_its_start_is_replaced_by_it():
    from igtt.nn.volume import checked_volume

    _, truth = make_nuclei_3d((16, 96, 96), n_nuclei=6, rng=7)
    start = truth > 0
    blurred = ndi.binary_dilation(start, iterations=4)  # fat, merged: the start's volume several times over
    assert blurred.mean() > 2 * start.mean()
    assert np.array_equal(checked_volume(blurred, start), start)
    close = ndi.binary_dilation(start)  # a pixel fatter: the network's own edge is kept
    assert np.array_equal(checked_volume(close, start), close)
    assert not checked_volume(np.zeros_like(start), np.zeros_like(start)).any()
