"""Hard inputs and mistakes a microscopist meets, run through the ``igtt`` command line.

Every case checks the same invariants: no traceback, inputs byte-identical,
no partial or temporary files, the right exit code, and a mask (shaped like
its input) for every good file.
"""

import csv
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

import igtt
from igtt.cli import app
from igtt.io.synthetic import make_nuclei

from .conftest import TINY

pytestmark = pytest.mark.usefixtures("tiny_cli")
runner = CliRunner()


# -- helpers ----------------------------------------------------------------------
def nuclei(shape=(64, 64), dtype=np.uint16, rng=0):
    return make_nuclei(shape, n_nuclei=4, radius=(4, 8), dtype=dtype, rng=rng)[0]


def write_good(folder: Path, name="good.tif", rng=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / name, nuclei(rng=rng))
    return folder / name


def snapshot(*folders) -> dict:
    return {p: p.read_bytes() for f in folders if Path(f).is_dir() for p in sorted(Path(f).rglob("*")) if p.is_file()}


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    return result


def assert_clean(*folders):
    for folder in folders:
        left = [p for p in Path(folder).rglob("*") if p.name.startswith(".igtt-") or p.suffix == ".part"]
        assert not left, left


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.igtt"
    igtt.IGTT(igtt.Config(**TINY)).fit([nuclei(rng=i) for i in range(2)]).save(path)
    return path


def run_on(command, folder, out, model_file, *extra):
    if command == "predict":
        return invoke("predict", folder, "--model", model_file, "--out", out, "--device", "cpu", *extra)
    return invoke("segment", folder, "--out", out, "--device", "cpu", *extra)


# -- bad files: skipped with one line naming them, the rest of the batch written ------------
def _tiff_bytes(path):
    tifffile.imwrite(path, nuclei(), compression="zlib")


def truncated_tiff(path):
    _tiff_bytes(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def bad_zlib_tiff(path):
    _tiff_bytes(path)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[0]
    data[offset + 2 : offset + 40] = b"\xff" * 38  # the compressed stream broken, the header intact
    path.write_bytes(bytes(data))


def huge_header_tiff(path):
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(200000)
        tif.pages[0].tags["ImageLength"].overwrite(200000)


def png_bomb(path):
    # 30000 x 30000 one-bit pixels compress to a few hundred kB; Pillow refuses over ~179 Mpx
    row = b"\x00" + b"\x00" * (30000 // 8)
    raw = zlib.compress(row * 30000, 9)
    import struct

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def pages_of_different_sizes(path):
    with tifffile.TiffWriter(path) as tif:
        tif.write(nuclei((64, 64)))
        tif.write(nuclei((32, 48)))


def nan_pixels(path):
    image = nuclei().astype(np.float32)
    image[3, 5] = np.nan
    tifffile.imwrite(path, image)


def inf_pixels(path):
    image = nuclei().astype(np.float32)
    image[10, 10] = np.inf
    tifffile.imwrite(path, image)


BAD_FILES = {
    "zero_bytes.tif": (lambda p: p.write_bytes(b""), "empty"),
    "zero_bytes.png": (lambda p: p.write_bytes(b""), "empty"),
    "text.tif": (lambda p: p.write_text("not an image\n"), "cannot read"),
    "text.png": (lambda p: p.write_text("not an image\n"), "cannot read"),
    "text.jpg": (lambda p: p.write_text("not an image\n"), "cannot read"),
    "garbage.tif": (lambda p: p.write_bytes(b"II*\x00" + bytes(range(256)) * 4), "cannot read"),
    "garbage.bmp": (lambda p: p.write_bytes(b"BM" + bytes(range(200))), "cannot read"),
    "truncated.tif": (truncated_tiff, "cannot read"),
    "bad_zlib.tif": (bad_zlib_tiff, "cannot read"),
    "huge_header.tif": (huge_header_tiff, "exceeds the limit"),
    "bomb.png": (png_bomb, "decompression bomb"),
    "pages.tif": (pages_of_different_sizes, "pages of different sizes"),
    "nan.tif": (nan_pixels, "NaN or infinite"),
    "inf.tif": (inf_pixels, "NaN or infinite"),
    "rgb.png": (lambda p: Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(p), "--channel"),
    "rgba.tif": (lambda p: tifffile.imwrite(p, np.zeros((40, 40, 4), np.uint8)), "--channel"),
    "two_channels.tif": (
        lambda p: tifffile.imwrite(p, np.zeros((3, 2, 32, 32), np.uint8), imagej=True, metadata={"axes": "ZCYX"}),
        "--channel",
    ),
    "complex.tif": (lambda p: tifffile.imwrite(p, np.zeros((16, 16), np.complex64)), "pixel type"),
    "one_d.tif": (lambda p: tifffile.imwrite(p, np.zeros(100, np.uint8)), "shape"),
}


@pytest.mark.parametrize("command", ["predict", "segment"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_skipped_and_the_batch_goes_on(tmp_path, model_file, name, command):
    make, reason = BAD_FILES[name]
    folder = tmp_path / "in"
    write_good(folder, "a_good.tif")
    make(folder / name)
    write_good(folder, "z_good.tif", rng=1)
    before = snapshot(folder)
    result = run_on(command, folder, tmp_path / "out", model_file)
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if name in line and reason in line)
    assert len(line) < 400
    for good in ("a_good.tif", "z_good.tif"):
        assert tifffile.imread(tmp_path / "out" / good).shape == (64, 64)
    assert not (tmp_path / "out" / (Path(name).stem + ".tif")).exists()
    assert snapshot(folder) == before
    assert_clean(tmp_path)


def test_max_pixels_skips_a_large_image_before_reading_it(tmp_path, model_file):
    folder = tmp_path / "in"
    write_good(folder)
    tifffile.imwrite(folder / "big.tif", np.zeros((200, 200), np.uint16))
    result = run_on("predict", folder, tmp_path / "out", model_file, "--max-pixels", 10000)
    assert result.exit_code == 1 and "big.tif" in result.output and "exceeds the limit" in result.output
    assert (tmp_path / "out" / "good.tif").exists() and not (tmp_path / "out" / "big.tif").exists()


# -- awkward but valid images: a mask shaped like the input ---------------------------------
def _tif(array, **kwargs):
    return lambda p: tifffile.imwrite(p, array, **kwargs)


def _pil(array):
    return lambda p: Image.fromarray(array).save(p)


def _pages(p):
    with tifffile.TiffWriter(p) as tif:
        tif.write(nuclei(rng=1))
        tif.write(nuclei(rng=2))


_rgb = np.stack([nuclei(dtype=np.uint8, rng=3)] * 3, axis=-1)
VALID = {
    # name: (writer, extra arguments, expected mask shape)
    "one_pixel.tif": (_tif(np.full((1, 1), 7, np.uint8)), [], (1, 1)),
    "two_by_two.tif": (_tif(np.arange(4, dtype=np.uint8).reshape(2, 2)), [], (2, 2)),
    "three_by_500.tif": (_tif(nuclei((3, 500))), [], (3, 500)),
    "500_by_3.tif": (_tif(nuclei((500, 3))), [], (500, 3)),
    "500_by_3.png": (_pil(nuclei((500, 3), dtype=np.uint8)), [], (500, 3)),
    "one_by_2000.tif": (_tif(nuclei((1, 2000))), [], (1, 2000)),
    "constant.tif": (_tif(np.full((48, 48), 1000, np.uint16)), [], (48, 48)),
    "all_zero.tif": (_tif(np.zeros((48, 48), np.uint16)), [], (48, 48)),
    "int32_negative.tif": (_tif(nuclei(dtype=np.int32) - 2**20), [], (64, 64)),
    "int8.tif": (_tif((nuclei(dtype=np.uint8) // 2).astype(np.int8)), [], (64, 64)),
    "uint32.tif": (_tif(nuclei(dtype=np.uint32)), [], (64, 64)),
    "bool.tif": (_tif(nuclei() > 30000), [], (64, 64)),
    "float32.tif": (_tif(nuclei().astype(np.float32) / 65535), [], (64, 64)),
    "float64_huge.tif": (_tif(nuclei().astype(np.float64) * 1e30), [], (64, 64)),
    "float16.tif": (_tif((nuclei().astype(np.float32) / 65535).astype(np.float16)), [], (64, 64)),
    "png8.png": (_pil(nuclei(dtype=np.uint8)), [], (64, 64)),
    "png16.png": (_pil(nuclei(dtype=np.uint16)), [], (64, 64)),
    "jpeg.jpg": (_pil(nuclei(dtype=np.uint8)), [], (64, 64)),
    "bitmap.bmp": (_pil(nuclei(dtype=np.uint8)), [], (64, 64)),
    "upper.TIF": (_tif(nuclei()), [], (64, 64)),
    "dots.in.name.tif": (_tif(nuclei()), [], (64, 64)),
    "spaces and ünïcode.tif": (_tif(nuclei()), [], (64, 64)),
    "rgb.png": (_pil(_rgb), ["--channel", 1], (64, 64)),
    "rgba.tif": (_tif(np.concatenate([_rgb, _rgb[..., :1]], axis=-1)), ["--channel", 3], (64, 64)),
    "planar_three.tif": (_tif(np.stack([nuclei(rng=i) for i in range(3)])), [], (3, 64, 64)),
    "stack_five.tif": (_tif(np.stack([nuclei(rng=i) for i in range(5)])), [], (5, 64, 64)),
    "stack_pick.tif": (_tif(np.stack([nuclei(rng=i) for i in range(5)])), ["--channel", 2], (64, 64)),
    "four_d.tif": (_tif(np.stack([np.stack([nuclei(rng=i)] * 3) for i in range(2)])), [], (2, 3, 64, 64)),
    "five_d.tif": (_tif(nuclei()[None, None, None].repeat(2, axis=0)), [], (2, 1, 1, 64, 64)),
    "singleton.tif": (_tif(nuclei()[None]), [], (1, 64, 64)),
    "imagej_zcyx.tif": (  # an uncalibrated z-stack: its planes one by one with --2d (without: refused, tests/test_stacks.py)
        _tif(np.stack([np.stack([nuclei(rng=i)] * 2) for i in range(3)]), imagej=True, metadata={"axes": "ZCYX"}),
        ["--channel", 1, "--2d"],
        (3, 64, 64),
    ),
    "imagej_zcyx_volume.tif": (  # the same as a volume, its voxel size given
        _tif(np.stack([np.stack([nuclei(rng=i)] * 2) for i in range(3)]), imagej=True, metadata={"axes": "ZCYX"}),
        ["--channel", 1, "--pixel-size", 0.5, "--z-step", 1.0],
        (3, 64, 64),
    ),
    "pages_same_size.tif": (_pages, [], (2, 64, 64)),
}


@pytest.mark.parametrize("command", ["predict", "segment"])
@pytest.mark.parametrize("name", sorted(VALID))
def test_an_awkward_image_gets_a_mask_of_its_shape(tmp_path, model_file, name, command):
    make, extra, shape = VALID[name]
    folder = tmp_path / "in"
    folder.mkdir()
    make(folder / name)
    before = snapshot(folder)
    result = run_on(command, folder, tmp_path / "out", model_file, *extra)
    assert result.exit_code == 0, result.output
    mask = tifffile.imread(tmp_path / "out" / (Path(name).stem + ".tif"))
    assert mask.shape == shape and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert snapshot(folder) == before
    assert_clean(tmp_path)


def test_a_long_file_name_is_written(tmp_path, model_file):
    name = "n" * 240 + ".tif"
    write_good(tmp_path / "in", name)
    result = run_on("predict", tmp_path / "in", tmp_path / "out", model_file)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / name).exists()


# -- mistakes caught before any work: nothing written, one line -----------------------------
def two_folders_same_stem(tmp):
    write_good(tmp / "a", "x.tif")
    write_good(tmp / "b", "x.tif", rng=1)
    return [tmp / "a", tmp / "b"], []


def same_stem_two_suffixes(suffixes):
    def make(tmp):
        for i, suffix in enumerate(suffixes):
            (tmp / "in").mkdir(exist_ok=True)
            image = nuclei(dtype=np.uint8, rng=i)
            (tifffile.imwrite if suffix.startswith(".tif") else lambda p, a: Image.fromarray(a).save(p))(
                tmp / "in" / f"a{suffix}", image
            )
        return [tmp / "in"], []

    return make


def extra_output_named_like_an_input(kind):
    def make(tmp):
        write_good(tmp / "in", "x.tif")
        write_good(tmp / "in", f"x_{kind}.tif", rng=1)
        return [tmp / "in"], ["--probabilities" if kind == "prob" else "--labels"]

    return make


COLLISIONS = {
    "two folders, same stem": two_folders_same_stem,
    "a.tif + a.png": same_stem_two_suffixes([".tif", ".png"]),
    "a.tif + a.tiff": same_stem_two_suffixes([".tif", ".tiff"]),
    "a.png + a.jpg": same_stem_two_suffixes([".png", ".jpg"]),
    "x.tif + x_prob.tif": extra_output_named_like_an_input("prob"),
    "x.tif + x_labels.tif": extra_output_named_like_an_input("labels"),
}


@pytest.mark.parametrize("command", ["predict", "segment"])
@pytest.mark.parametrize("case", sorted(COLLISIONS))
def test_outputs_that_would_collide_are_refused_before_any_work(tmp_path, model_file, case, command):
    inputs, extra = COLLISIONS[case](tmp_path)
    before = snapshot(tmp_path)
    if command == "predict":
        result = invoke("predict", *inputs, "--model", model_file, "--out", tmp_path / "out", *extra)
    else:
        result = invoke("segment", *inputs, "--out", tmp_path / "out", *extra)
    assert result.exit_code == 1 and "would be shared" in result.output, result.output
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert snapshot(tmp_path) == before | snapshot(tmp_path / "out")


def test_a_recursive_glob_mirrors_subfolders_instead_of_flattening(tmp_path, model_file):
    write_good(tmp_path / "in" / "a", "x.tif")
    write_good(tmp_path / "in" / "b", "x.tif", rng=1)
    result = invoke("predict", f"{tmp_path}/in/**/*.tif", "-r", "--model", model_file, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a" / "x.tif").exists() and (tmp_path / "out" / "b" / "x.tif").exists()


def _setup_out_is_a_file(tmp):
    write_good(tmp / "in")
    (tmp / "out").write_text("a file")
    return ["segment", tmp / "in", "--out", tmp / "out"], "out"


def _setup_output_is_a_folder(tmp):
    write_good(tmp / "in")
    (tmp / "out" / "good.tif").mkdir(parents=True)
    return ["segment", tmp / "in", "--out", tmp / "out"], "is a folder"


def _setup_subfolder_blocked(tmp):
    write_good(tmp / "in" / "sub")
    (tmp / "out").mkdir()
    (tmp / "out" / "sub").write_text("a file where a folder should be")
    return ["segment", tmp / "in", "-r", "--out", tmp / "out"], "not a folder"


def _setup_out_is_the_input_folder(tmp):
    write_good(tmp / "in")
    return ["segment", tmp / "in", "--out", tmp / "in"], "overwrite an input"


def _setup_save_model_on_input(tmp):
    write_good(tmp / "in")
    return ["train", tmp / "in", "--save-model", tmp / "in" / "good.tif", "--overwrite"], "one of the inputs"


def _setup_save_model_on_folder(tmp):
    write_good(tmp / "in")
    (tmp / "models").mkdir()
    return ["train", tmp / "in", "--save-model", tmp / "models"], "is a folder"


def _setup_save_model_on_other_file(tmp):
    write_good(tmp / "in")
    (tmp / "notes.txt").write_text("my notes")
    return ["segment", tmp / "in", "--out", tmp / "out", "--save-model", tmp / "notes.txt", "--overwrite"], "not an igtt model"


def _setup_existing_outputs(tmp):
    write_good(tmp / "in")
    (tmp / "out").mkdir()
    (tmp / "out" / "good.tif").write_bytes(b"previous result")
    return ["segment", tmp / "in", "--out", tmp / "out"], "--overwrite"


def _setup_empty_folder(tmp):
    (tmp / "in").mkdir()
    return ["segment", tmp / "in", "--out", tmp / "out"], "no images found"


def _setup_glob_matches_nothing(tmp):
    write_good(tmp / "in")
    return ["segment", f"{tmp}/in/*.png", "--out", tmp / "out"], "no such file"


def _setup_missing_path(tmp):
    return ["segment", tmp / "nowhere", "--out", tmp / "out"], "no such file"


def _device(name):
    def setup(tmp):
        write_good(tmp / "in")
        return ["segment", tmp / "in", "--out", tmp / "out", "--device", name], "not available"

    return setup


def _option(*option):
    def setup(tmp):
        write_good(tmp / "in")
        return ["segment", tmp / "in", "--out", tmp / "out", *option], option[0]

    return setup


def _model(content):
    def setup(tmp):
        write_good(tmp / "in")
        content(tmp / "m.igtt")
        return ["predict", tmp / "in", "--model", tmp / "m.igtt", "--out", tmp / "out"], "m.igtt"

    return setup


def _torch_file(state):
    def write(path):
        import torch

        torch.save(state, path)

    return write


def _model_with(tmp_model_changes):
    def write(path):
        import torch

        model = igtt.IGTT(igtt.Config(**TINY)).fit([nuclei()])
        model.save(path)
        state = torch.load(path, weights_only=True)
        tmp_model_changes(state)
        torch.save(state, path)

    return write


def _evaluate(setup_csv, words):
    def setup(tmp):
        for folder in ("pred", "gt"):
            (tmp / folder).mkdir()
            tifffile.imwrite(tmp / folder / "a.tif", (nuclei() > 30000).astype(np.uint8))
        return ["evaluate", tmp / "pred", tmp / "gt", "--csv", setup_csv(tmp)], words

    return setup


MISTAKES = {
    "out is a file": _setup_out_is_a_file,
    "an output is a folder": _setup_output_is_a_folder,
    "output subfolder blocked by a file": _setup_subfolder_blocked,
    "out is the input folder": _setup_out_is_the_input_folder,
    "save-model on an input": _setup_save_model_on_input,
    "save-model on a folder": _setup_save_model_on_folder,
    "save-model on another file": _setup_save_model_on_other_file,
    "existing outputs": _setup_existing_outputs,
    "empty folder": _setup_empty_folder,
    "glob matching nothing": _setup_glob_matches_nothing,
    "missing path": _setup_missing_path,
    "negative seed": _option("--seed", "-1"),
    "huge seed": _option("--seed", str(2**40)),
    "zero epochs": _option("--epochs", "0"),
    "zero object size": _option("--object-size", "0"),
    "unknown objects": _option("--objects", "cells"),
    "unknown preset": _option("--preset", "fastest"),
    "negative channel": _option("--channel", "-1"),
    "zero max pixels": _option("--max-pixels", "0"),
    "model missing": _model(lambda p: None),
    "model is text": _model(lambda p: p.write_text("hello")),
    "model is an image": _model(lambda p: tifffile.imwrite(p, nuclei())),
    "model is a pickle of something else": _model(_torch_file({"weights": [1, 2, 3]})),
    "model without config": _model(_model_with(lambda s: s.pop("config"))),
    "model with mismatched weights": _model(_model_with(lambda s: s["config"].update(decoder_channels=[16, 16, 16]))),
    "model from a newer igtt": _model(_model_with(lambda s: s.update(format_version=99))),
    "evaluate csv on a ground truth": _evaluate(lambda tmp: tmp / "gt" / "a.tif", "one of the inputs"),
    "evaluate csv below a file": _evaluate(
        lambda tmp: (tmp / "blocker").write_text("x") and tmp / "blocker" / "scores.csv", "not a folder"
    ),
}
if not __import__("torch").cuda.is_available():
    MISTAKES["cuda without a GPU"] = _device("cuda")
if not __import__("torch").backends.mps.is_available():
    MISTAKES["mps without a Mac GPU"] = _device("mps")


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_a_mistake_fails_in_one_line_before_any_work(tmp_path, case):
    args, words = MISTAKES[case](tmp_path)
    before = snapshot(tmp_path)
    result = invoke(*args)
    assert result.exit_code != 0, result.output
    assert words.lower() in result.output.lower(), result.output
    assert "Training" not in result.output  # failed before training started
    after = snapshot(tmp_path)
    assert {p: after[p] for p in before} == before  # nothing written over
    assert set(after) == set(before)  # and nothing new written
    assert_clean(tmp_path)


# -- resume, temporaries, disk full, evaluate ----------------------------------------------
def test_resume_with_the_output_inside_the_input_tree(tmp_path, model_file):
    write_good(tmp_path / "in", "a.tif")
    write_good(tmp_path / "in" / "sub", "b.tif", rng=1)
    args = ("segment", tmp_path / "in", "-r", "--out", tmp_path / "in" / "masks")
    assert invoke(*args).exit_code == 0
    first = snapshot(tmp_path / "in" / "masks")
    (tmp_path / "in" / "masks" / "sub" / "b.tif").unlink()
    result = invoke(*args, "--skip-existing")
    assert result.exit_code == 0, result.output
    assert snapshot(tmp_path / "in" / "masks") == first  # same masks, its own outputs never read as inputs
    assert not (tmp_path / "in" / "masks" / "masks").exists()


def test_stale_temporaries_are_removed_on_the_next_run(tmp_path, model_file):
    write_good(tmp_path / "in")
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / ".igtt-good.tif.abc123.part"
    stale.write_bytes(b"half a mask")
    assert run_on("predict", tmp_path / "in", tmp_path / "out", model_file).exit_code == 0
    assert not stale.exists() and (tmp_path / "out" / "good.tif").exists()


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, model_file, monkeypatch):
    import errno

    import tifffile as tf

    write_good(tmp_path / "in", "a.tif")
    write_good(tmp_path / "in", "b.tif", rng=1)
    real = tf.imwrite

    def full(path, *args, **kwargs):
        if "b.tif" in str(path):
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tf, "imwrite", full)
    result = run_on("predict", tmp_path / "in", tmp_path / "out", model_file)
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert (tmp_path / "out" / "a.tif").exists() and not (tmp_path / "out" / "b.tif").exists()
    assert_clean(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_folder(tmp_path):
    write_good(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o500)
    try:
        result = invoke("segment", tmp_path / "in", "--out", tmp_path / "out")
    finally:
        (tmp_path / "out").chmod(0o700)
    assert result.exit_code == 1 and "cannot write" in result.output


def test_evaluate_lists_unmatched_files_and_fails_when_nothing_matches(tmp_path):
    for folder, names in (("pred", ["a", "b"]), ("gt", ["a", "c"])):
        (tmp_path / folder).mkdir()
        for n in names:
            tifffile.imwrite(tmp_path / folder / f"{n}.tif", (nuclei() > 30000).astype(np.uint8))
    result = invoke("evaluate", tmp_path / "pred", tmp_path / "gt")
    assert result.exit_code == 0
    assert "prediction without ground truth): b.tif" in result.output
    assert "ground truth without prediction): c.tif" in result.output
    (tmp_path / "none").mkdir()
    tifffile.imwrite(tmp_path / "none" / "z.tif", np.zeros((8, 8), np.uint8))
    result = invoke("evaluate", tmp_path / "none", tmp_path / "gt")
    assert result.exit_code == 1 and "matches" in result.output


# -- signals: the real console script -------------------------------------------------------
def _console(tmp_path, *args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "igtt", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_leaves_no_partial_file_and_resumes(tmp_path, model_file, sig):
    for i in range(12):
        tifffile.imwrite(write_good(tmp_path / "in", f"img{i:02d}.tif", rng=i), nuclei((256, 256), rng=i))
    args = ("predict", tmp_path / "in", "--model", model_file, "--out", tmp_path / "out", "--device", "cpu")
    process = _console(tmp_path, *args)
    # wait for the first mask, then interrupt
    for _ in range(600):
        if (tmp_path / "out").is_dir() and any((tmp_path / "out").glob("img*.tif")):
            break
        if process.poll() is not None:
            break
        __import__("time").sleep(0.1)
    process.send_signal(sig)
    output = process.communicate(timeout=60)[0].decode()
    assert "Traceback" not in output
    if sig == signal.SIGINT and process.returncode not in (0,):
        assert process.returncode == 130, output
    for mask in (tmp_path / "out").glob("*.tif"):
        tifffile.imread(mask)  # every mask there is complete
    reported = {Path(r["image"]).name for r in csv.DictReader(open(tmp_path / "out" / "report.csv"))}
    assert {p.name for p in (tmp_path / "out").glob("*.tif")} <= reported  # a row for every mask written before the end
    resumed = invoke(*args, "--skip-existing")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == [f"img{i:02d}.tif" for i in range(12)]
    rows = list(csv.DictReader(open(tmp_path / "out" / "report.csv")))
    assert sorted(Path(r["image"]).name for r in rows) == [f"img{i:02d}.tif" for i in range(12)]  # one each
    assert_clean(tmp_path)
