"""Counting and measuring: one id per object (touching blobs split), measurement tables, the CLI's --measure."""

import csv

import numpy as np
import pytest
import tifffile
from skimage.draw import disk, ellipse

import igtt
from igtt.objects import BLOB_COLUMNS, LINE_COLUMNS, label_objects, measure, measure_lines, write_measurements

from .conftest import TINY


def touching_pair(shape=(100, 120), radius=15, gap=26):
    mask = np.zeros(shape, bool)
    mask[disk((50, 40), radius, shape=shape)] = True
    mask[disk((50, 40 + gap), radius, shape=shape)] = True
    return mask


def test_touching_blobs_get_one_id_each():
    mask = touching_pair()
    assert np.unique(label_objects(mask, object_size=30)).tolist() == [0, 1, 2]
    assert label_objects(mask, object_size=30).dtype == np.int32
    two = label_objects(mask)  # the size estimated from the mask itself
    assert two.max() == 2 and not ((two > 0) ^ mask).any()
    halves = [two[:, :52], two[:, 55:]]  # each disk one id, the cut at the neck (column 53)
    assert len(np.unique(halves[0][halves[0] > 0])) == 1 and len(np.unique(halves[1][halves[1] > 0])) == 1


def test_an_elongated_blob_is_not_cut_and_specks_are_left_out():
    mask = np.zeros((80, 120), bool)
    mask[ellipse(40, 45, 10, 35)] = True  # one long nucleus, 20 px wide, 70 long
    mask[5:7, 100:102] = True  # a speck
    labels = label_objects(mask, object_size=20)
    assert labels.max() == 1 and labels[5, 100] == 0


def test_lines_keep_their_connected_networks():
    mask = np.zeros((60, 60), bool)
    mask[10, 5:55] = mask[10:50, 30] = True  # a T: one network, however thin its joints
    mask[55, 5:20] = True
    labels = label_objects(mask, kind="lines")
    assert labels.max() == 2 and labels[10, 5] == labels[49, 30]


def test_blob_measurements_are_those_of_the_objects():
    labels = np.zeros((50, 60), np.int32)
    labels[10:20, 10:30] = 1
    labels[30:40, 40:45] = 2
    image = np.where(labels == 1, 100.0, 7.0)
    table = igtt.measure(labels, image)
    assert tuple(table) == BLOB_COLUMNS
    assert table["label"].tolist() == [1, 2] and table["area"].tolist() == [200, 50]
    assert table["centroid-0"][0] == pytest.approx(14.5) and table["centroid-1"][0] == pytest.approx(19.5)
    assert [table[f"bbox-{i}"][0] for i in range(4)] == [10, 10, 20, 30]
    assert table["intensity_mean"].tolist() == [100, 7] and table["solidity"][0] == pytest.approx(1)
    assert table["eccentricity"][0] > table["eccentricity"][1] * 0 and np.isnan(measure(labels)["intensity_max"]).all()


def test_line_measurements_count_length_branches_and_ends():
    labels = np.zeros((60, 60), np.int32)
    labels[10, 5:55] = 1  # 50 px across
    labels[11:50, 30] = 1  # 39 px down from it: a T with one branch point and three ends
    labels[55, 10:20] = 2
    table = measure_lines(labels)
    assert tuple(table) == LINE_COLUMNS
    assert table["branch_points"].tolist() == [1, 0] and table["end_points"].tolist() == [3, 2]
    assert table["skeleton_length"][0] == pytest.approx(88, abs=3) and table["skeleton_length"][1] == pytest.approx(9, abs=1)
    assert table["mean_width"][1] == pytest.approx(10 / 9)
    diagonal = np.eye(20, dtype=np.int32)
    assert measure_lines(diagonal)["skeleton_length"][0] == pytest.approx(19 * np.sqrt(2))


def test_bad_labels_are_refused_in_one_line():
    with pytest.raises(ValueError, match="2D integer"):
        measure(np.zeros((4, 4), float))
    with pytest.raises(ValueError, match="differs"):
        measure(np.zeros((4, 4), int), np.zeros((5, 4)))


def test_the_table_is_written_with_its_planes(tmp_path):
    labels = label_objects(touching_pair(), object_size=30)
    path = write_measurements(tmp_path / "t.csv", [measure(labels), measure(labels[:, :53])])
    rows = list(csv.DictReader(open(path)))
    assert [r["plane"] for r in rows] == ["0", "0", "1"] and rows[0]["intensity_mean"] == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_object_across_tile_seams_keeps_one_id():
    """A large image predicted in small tiles: the objects that tiles cut are whole in the labels."""
    from igtt.io.synthetic import make_nuclei

    image, truth = make_nuclei((384, 384), n_nuclei=30, radius=(10, 16), rng=3)
    model = igtt.IGTT(**{**TINY, "tile_size": 96, "tile_overlap": 16, "epochs": 3}).fit([image])
    mask = model.predict(image)
    labels = label_objects(mask, object_size=model.object_size_)
    seams = [x for x in range(64, 384, 80)]  # tile borders fall every ~80 px at this layout
    crossing = [i for i in np.unique(labels[:, seams]) if i]
    assert crossing
    for i in crossing:  # one id per object: each id is one connected piece
        from scipy import ndimage as ndi

        assert ndi.label(labels == i)[1] == 1


def test_cli_measure_writes_a_table_per_image_and_the_summary_counts(tmp_path, tiny_cli):
    from typer.testing import CliRunner

    from igtt.cli import app
    from igtt.io.synthetic import make_nuclei

    (tmp_path / "in").mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "in" / f"img{i}.tif", make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i)[0])
    result = CliRunner().invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--measure", "--labels"])
    assert result.exit_code == 0, result.output
    labels = tifffile.imread(tmp_path / "out" / "img0_labels.tif")
    rows = list(csv.DictReader(open(tmp_path / "out" / "img0_objects.csv")))
    assert [int(r["label"]) for r in rows] == list(range(1, labels.max() + 1))
    assert sum(int(r["area"]) for r in rows) == (labels > 0).sum()
    report = list(csv.DictReader(open(tmp_path / "out" / "report.csv")))
    assert int(report[0]["instances"]) + int(report[1]["instances"]) > 0
    assert "Objects:" in result.output and "per image" in result.output
    assert "no pixel size in the files: sizes in pixels" in " ".join(result.output.split())  # said once, in the summary
