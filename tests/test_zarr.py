"""OME-Zarr in and out: lazy planes, training on blocks, block-wise prediction, atomic stores, one-line errors."""

import csv

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_zarr")

from igtt import IGTT, preset  # noqa: E402
from igtt.io.blocks import Plane, predict_blocks, sample_blocks  # noqa: E402
from igtt.cli import app  # noqa: E402
from igtt.io.synthetic import make_nuclei  # noqa: E402
from igtt.io.zarr_store import open_zarr, write_mask_zarr  # noqa: E402

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ome_zarr(path, data, axes, scale, chunks):
    """An OME-Zarr 0.5 image with one level, written the way other tools write it."""
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(path), mode="w")
    group.create_array("0", shape=data.shape, chunks=chunks, dtype=data.dtype)[...] = data
    types = {"c": "channel", "t": "time"}
    axes = [{"name": n, "type": types.get(n, "space"), **({"unit": "micrometer"} if n in "yx" else {})} for n in axes]
    write_multiscales_metadata(group, datasets=[{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}], axes=axes)
    return path


def nuclei(shape=(300, 340), rng=0):
    return make_nuclei(shape, n_nuclei=int(np.prod(shape) / 2500), radius=(6, 10), rng=rng)[0]


def test_blocks_meet_without_seams(tiny_config):
    """Block-wise prediction with margins gives the whole-image prediction wherever the network is sure.

    A test-sized network is unsure (p within 0.2 of 0.5) on two thirds of the
    pixels; there the per-block background and the tiles' placement may tip a
    pixel either way. (A real model on 3000² nuclei, 1024² blocks: 99.95 % of
    the pixels with p outside 0.4-0.6 agree, whatever the margin from 64 to 256.)
    """
    # a resnet18 network: the test-sized mobilenet is unsure on too many pixels for the comparison to mean much
    config = tiny_config.replace(epochs=4, steps_per_epoch=4, crop_size=128, decoder_channels=(32, 16, 8), encoder="resnet18")
    model = IGTT(config).fit([nuclei(rng=1)])
    image = nuclei((400, 380), rng=2)
    scaling = model.scaling_of(image)
    whole, proba = model.predict(image, ranges=scaling, return_proba=True)
    sink = np.zeros(image.shape, np.uint8)
    steps = list(predict_blocks(model, image, sink, block=128, margin=48))
    assert steps[-1] == (len(steps), 12)
    sure = np.abs(proba - 0.5) > 0.2
    assert sure.mean() > 0.3 and np.mean(((sink > 0) == whole)[sure]) > 0.998


def test_sample_blocks_are_seeded_and_never_the_whole_large_image():
    image = nuclei((900, 1000), rng=3)
    a, b = sample_blocks(image, size=256, count=3, seed=5), sample_blocks(image, size=256, count=3, seed=5)
    assert [x.shape for x in a] == [(256, 256)] * 3 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert [x.shape for x in sample_blocks(image[:200, :300], size=256, count=3)] == [(200, 300)]  # small: whole
    assert [x.shape for x in sample_blocks(image[:100], size=256, count=3)] == [(100, 100)] * 3  # a strip: its height


@pytest.mark.usefixtures("tiny_cli")
def test_segment_ome_zarr_keeps_axes_scale_and_leaves_the_input_alone(tmp_path):
    data = np.stack([nuclei(rng=4), nuclei(rng=5)])  # (c, y, x): channel 1 is the nuclei
    src = ome_zarr(tmp_path / "cells.ome.zarr", data, "cyx", [1.0, 0.325, 0.325], (1, 128, 128))
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    result = invoke("segment", src, "--out", tmp_path / "masks.ome.zarr", "--channel", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    mask = open_zarr(tmp_path / "masks.ome.zarr")
    assert mask.array.shape == (300, 340) and mask.array.dtype == np.uint8
    assert set(np.unique(mask.array[:])) <= {0, 255} and mask.array[:].any()
    assert [a["name"] for a in mask.axes] == ["y", "x"] and mask.scale == [0.325, 0.325]
    assert mask.axes[0].get("unit") == "micrometer"
    assert before == {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".igtt-")]  # no temporary store left
    again = invoke("segment", src, "--out", tmp_path / "masks.ome.zarr", "--channel", "1", "--device", "cpu")
    assert again.exit_code == 1 and "exists" in again.output  # never over an existing result
    resumed = invoke("segment", src, "--out", tmp_path / "masks.ome.zarr", "--channel", "1", "--skip-existing")
    assert resumed.exit_code == 0 and "nothing to do" in resumed.output


@pytest.mark.usefixtures("tiny_cli")
def test_a_folder_of_tiffs_and_zarr_stacks(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", nuclei(rng=6))
    ome_zarr(folder / "stack.ome.zarr", np.stack([nuclei(rng=7), nuclei(rng=8)]), "zyx", [2.0, 0.5, 0.5], (1, 128, 128))
    result = invoke("segment", folder, "--out", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert tifffile.imread(tmp_path / "out" / "a.tif").shape == (300, 340)
    stack = open_zarr(tmp_path / "out" / "stack.ome.zarr")
    assert stack.array.shape == (2, 300, 340) and stack.scale == [2.0, 0.5, 0.5]
    assert stack.array[0].any() and stack.array[1].any()


@pytest.mark.usefixtures("tiny_cli")
@pytest.mark.parametrize(
    "args, says",
    [
        ((), "has 2 channels; choose one with --channel 0..1"),
        (("--channel", "5"), "--channel 5 is out of range (0..1)"),
        (("--channel", "0", "--level", "3"), "no resolution level 3"),
    ],
)
def test_bad_zarr_choices_are_one_line(tmp_path, args, says):
    src = ome_zarr(tmp_path / "two.ome.zarr", np.stack([nuclei(rng=9)] * 2), "cyx", [1.0, 1.0, 1.0], (1, 128, 128))
    result = invoke("segment", src, "--out", tmp_path / "o.ome.zarr", "--device", "cpu", *args)
    assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.ome.zarr").exists()


@pytest.mark.usefixtures("tiny_cli")
def test_probabilities_for_zarr_are_refused_before_work(tmp_path):
    src = ome_zarr(tmp_path / "one.ome.zarr", nuclei(rng=10), "yx", [1.0, 1.0], (128, 128))
    result = invoke("segment", src, "--out", tmp_path / "o", "--probabilities")
    assert result.exit_code == 1 and "not written for zarr inputs" in result.output


def test_a_failed_write_leaves_no_store(tmp_path):
    src = open_zarr(ome_zarr(tmp_path / "s.ome.zarr", nuclei(rng=11), "yx", [1.0, 1.0], (128, 128)))
    with pytest.raises(RuntimeError):
        with write_mask_zarr(tmp_path / "m.ome.zarr", src) as out:
            Plane(out)[0:10, 0:10] = 255
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == [tmp_path / "s.ome.zarr"]


def test_the_mask_opens_in_napari_with_its_scale(make_napari_viewer, tmp_path):
    """The OME-Zarr mask opens through napari's plugin discovery (napari-ome-zarr) with the input's pixel size."""
    pytest.importorskip("napari_ome_zarr")
    src = open_zarr(ome_zarr(tmp_path / "s.ome.zarr", nuclei(rng=12), "yx", [0.325, 0.325], (128, 128)))
    with write_mask_zarr(tmp_path / "m.ome.zarr", src) as out:
        Plane(out)[0:50, 0:60] = 255
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "m.ome.zarr"), plugin="napari-ome-zarr")
    layer = viewer.layers[-1]
    assert tuple(layer.scale) == (0.325, 0.325) and np.asarray(layer.data[0] if layer.multiscale else layer.data)[:50, :60].all()


def test_predict_on_a_zarr_or_dask_array_goes_block_by_block(tiny_config, tmp_path, monkeypatch):
    import dask.array as da
    import zarr

    from igtt.io import blocks

    model = IGTT(tiny_config.replace(epochs=4, steps_per_epoch=4, crop_size=128, decoder_channels=(32, 16, 8))).fit([nuclei(rng=1)])
    image = nuclei((300, 340), rng=6)
    stack = zarr.create_array(str(tmp_path / "stack.zarr"), shape=(2, 300, 340), chunks=(1, 128, 128), dtype=image.dtype)
    stack[0], stack[1] = image, image[::-1]
    seen = []
    real = blocks.predict_blocks
    monkeypatch.setattr(blocks, "predict_blocks", lambda *a, **k: (seen.append(a[1].shape), real(*a, block=128, margin=48))[1])
    masks = model.predict(stack)
    assert masks.shape == (2, 300, 340) and masks.dtype == bool and seen == [(300, 340)] * 2
    whole, proba = model.predict(image, ranges=model.scaling_of(image), return_proba=True)
    sure = np.abs(proba - 0.5) > 0.2  # near the whole-image mask (how near: test_blocks_meet_without_seams)
    assert np.mean((masks[0] == whole)[sure]) > 0.99
    lazy = model.predict(da.from_array(image, chunks=100))
    assert np.array_equal(lazy, masks[0])  # a dask array takes the same path


@pytest.mark.usefixtures("tiny_cli")
def test_labels_of_a_zarr_stack_go_into_its_store(tmp_path):
    src = ome_zarr(tmp_path / "stack.ome.zarr", np.stack([nuclei(rng=12), nuclei(rng=13)]), "tyx", [2.0, 0.5, 0.5], (1, 128, 128))
    result = invoke("segment", src, "--out", tmp_path / "out", "--labels", "--device", "cpu")
    assert result.exit_code == 0, result.output
    store = tmp_path / "out" / "stack.ome.zarr"
    mask = open_zarr(store).array[:]
    objects = open_zarr(store / "labels" / "objects")
    assert objects.array.dtype == np.uint32 and objects.scale == [2.0, 0.5, 0.5]
    ids = objects.array[:]
    assert np.array_equal(ids > 0, (ids > 0) & (mask > 0)) and ids[0].max() >= 2 and ids[1].max() >= 2
    labels_group = zarr.open_group(str(store / "labels"), mode="r")
    assert "objects" in str(dict(labels_group.attrs))  # the OME-Zarr labels list names it
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["blobs", "lines"])
def test_objects_cut_by_block_seams_keep_one_id(kind):
    from igtt.io.synthetic import make_filaments
    from igtt.objects import label_objects
    from igtt.objects.blocks import label_blocks

    if kind == "blobs":
        mask = make_nuclei((400, 420), n_nuclei=70, radius=(9, 15), rng=2)[1] > 0
    else:
        mask = make_filaments((400, 420), rng=1)[1] > 0
    whole = label_objects(mask, kind=kind, object_size=24)
    blocks = np.zeros(mask.shape, np.uint32)
    count = label_blocks(mask, blocks, kind=kind, object_size=24, block=96)  # seams every 96 px cut many objects
    assert count == whole.max()
    pairs = np.unique(np.stack([whole[whole > 0], blocks[whole > 0]]), axis=1)
    assert pairs.shape[1] == count  # the same objects: one block id per whole-image object and back
    assert not (blocks[whole == 0]).any()


def test_ome_zarr_pixel_sizes_and_channel_names_are_read_in_microns(tmp_path):
    data = np.zeros((2, 4, 32, 32), np.uint16)
    src = ome_zarr(tmp_path / "a.ome.zarr", data, "czyx", [1.0, 2000.0, 0.5, 0.5], (1, 1, 32, 32))
    group = zarr.open_group(str(src), mode="r+")
    multiscales = dict(group.attrs)["ome"]["multiscales"] if "ome" in group.attrs else group.attrs["multiscales"]
    multiscales[0]["axes"][1]["unit"] = "nanometer"  # z in nm, y and x in µm
    attrs = {"multiscales": multiscales, "omero": {"channels": [{"label": "DAPI"}, {"label": "GFP"}]}}
    group.attrs.update({"ome": {**dict(group.attrs).get("ome", {}), **attrs}} if "ome" in group.attrs else attrs)
    info = open_zarr(src, channel=1).info
    assert info.has_z and info.spacing == pytest.approx((2.0, 0.5, 0.5)) and info.channels == ("DAPI", "GFP")
    assert open_zarr(ome_zarr(tmp_path / "b.ome.zarr", data[0, 0], "yx", [0.3, 0.3], (32, 32))).info.pixel == pytest.approx((0.3, 0.3))
    plain = zarr.open_array(str(tmp_path / "c.zarr"), mode="w", shape=(4, 32, 32), dtype="uint16")
    assert plain is not None and open_zarr(tmp_path / "c.zarr").info.spacing is None  # no metadata: nothing known


def test_a_zarr_z_stack_is_a_volume_as_its_tiff_is(tmp_path):
    """An OME-Zarr z-stack goes as a volume: the same 3D mask and objects as the same stack in an ImageJ TIFF."""
    from igtt.io.synthetic import make_nuclei_3d

    volume, _ = make_nuclei_3d((12, 96, 96), n_nuclei=5, radius=(8, 11), rng=6)
    (tmp_path / "z").mkdir()
    (tmp_path / "t").mkdir()
    ome_zarr(tmp_path / "z" / "stack.ome.zarr", volume, "zyx", [2.0, 1.0, 1.0], (1, 64, 64))
    tifffile.imwrite(tmp_path / "t" / "stack.tif", volume, imagej=True, resolution=(1, 1), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    model = IGTT(preset("default", epochs=1, steps_per_epoch=4, crop_size=64)).fit([volume[6]]).save(tmp_path / "m.igtt")
    for folder in ("z", "t"):
        result = invoke("predict", tmp_path / folder, "--model", model, "--out", tmp_path / f"out-{folder}", "--labels", "--measure")
        assert result.exit_code == 0, result.output
    store = tmp_path / "out-z" / "stack.ome.zarr"
    mask, ids = open_zarr(store).array[:], open_zarr(store / "labels" / "objects").array[:]
    assert np.array_equal(mask, tifffile.imread(tmp_path / "out-t" / "stack.tif"))
    expected = tifffile.imread(tmp_path / "out-t" / "stack_labels.tif")
    assert ids.max() == expected.max() >= 1 and np.array_equal(ids > 0, expected > 0)
    assert any(len(np.unique(np.nonzero(ids == i)[0])) > 1 for i in range(1, ids.max() + 1))  # an object spans planes: one id
    tables = [list(csv.DictReader(open(tmp_path / f"out-{folder}" / "stack_objects.csv"))) for folder in ("z", "t")]
    assert len(tables[0]) == ids.max() and list(tables[0][0]) == list(tables[1][0]) and "volume_um3" in tables[0][0]
    for column in ("volume", "volume_um3", "centroid-0_um", "centroid-2", "bbox-5", "intensity_mean"):
        assert sorted(float(r[column]) for r in tables[0]) == pytest.approx(sorted(float(r[column]) for r in tables[1]))
    summary = list(csv.DictReader(open(tmp_path / "out-z" / "objects_summary.csv")))
    assert len(summary) == 1 and int(summary[0]["objects"]) == ids.max()


def test_measure_of_a_zarr_image_has_every_channel_in_microns(tmp_path):
    """--measure on a two-channel OME-Zarr: one row per object of the labels image, every channel by name, µm from its scale."""
    nuclei_image, truth = make_nuclei((160, 150), n_nuclei=8, radius=(7, 10), rng=3)
    marker = ((truth > 0) * 900 + 40).astype(np.uint16)
    src = ome_zarr(tmp_path / "well.ome.zarr", np.stack([nuclei_image.astype(np.uint16), marker]), "cyx", [1.0, 0.4, 0.4], (1, 64, 64))
    group = zarr.open_group(str(src), mode="r+")
    key = "ome" if "ome" in group.attrs else None
    attrs = dict(group.attrs[key]) if key else dict(group.attrs)
    attrs["omero"] = {"channels": [{"label": "DAPI"}, {"label": "marker"}]}
    group.attrs.update({key: attrs} if key else attrs)
    model = IGTT(preset("default", epochs=1, steps_per_epoch=4, crop_size=64)).fit([nuclei_image]).save(tmp_path / "m.igtt")
    result = invoke("predict", src, "--model", model, "--out", tmp_path / "out", "--channel", "0", "--measure")
    assert result.exit_code == 0, result.output
    ids = open_zarr(tmp_path / "out" / "well.ome.zarr" / "labels" / "objects").array[:]
    rows = list(csv.DictReader(open(tmp_path / "out" / "well_objects.csv")))
    assert len(rows) == ids.max() >= 1 and [int(r["label"]) for r in rows] == list(range(1, ids.max() + 1))
    first = rows[0]
    assert float(first["area_um2"]) == pytest.approx(int(first["area"]) * 0.16)
    assert float(first["centroid-1_um"]) == pytest.approx(float(first["centroid-1"]) * 0.4)
    inside = ids == int(first["label"])
    assert float(first["intensity_mean_marker"]) == pytest.approx(marker[inside].mean(), rel=1e-4)
    assert float(first["intensity_sum_DAPI"]) == pytest.approx(nuclei_image[inside].astype(float).sum(), rel=1e-4)


@pytest.mark.parametrize("kind", ["blobs", "lines"])
def test_objects_of_a_stack_cut_by_block_seams_keep_one_id_in_3d(kind):
    from igtt.io.synthetic import make_nuclei_3d
    from igtt.objects import label_objects
    from igtt.objects.blocks import label_blocks

    mask = make_nuclei_3d((16, 150, 140), n_nuclei=24, radius=(8, 12), rng=3)[1] > 0
    spacing = (2.0, 1.0, 1.0)
    whole = label_objects(mask, kind=kind, spacing=spacing)
    blocks = np.zeros(mask.shape, np.uint32)
    count = label_blocks(Plane(mask, (slice(None),)), Plane(blocks, (slice(None),)), kind=kind, object_size=20, spacing=spacing, block=40)
    assert count == whole.max() >= 20
    pairs = np.unique(np.stack([whole[whole > 0], blocks[whole > 0]]), axis=1)
    assert pairs.shape[1] == count and not (blocks[whole == 0]).any()
