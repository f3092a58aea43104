import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from igtt.cli import app
from igtt.io.synthetic import make_nuclei

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("tiny_cli")


def write_set(folder, n=2, shape=(80, 96), dtype=np.uint16, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for i in range(start, start + n):
        image, mask = make_nuclei(shape, n_nuclei=5, radius=(5, 9), dtype=dtype, rng=i)
        tifffile.imwrite(folder / f"img{i}.tif", image)
        truths[f"img{i}"] = mask
    return truths


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def test_segment_a_folder(tmp_path):
    write_set(tmp_path / "in")
    before = {p: p.read_bytes() for p in (tmp_path / "in").iterdir()}
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--device", "cpu", "--quiet")
    assert result.exit_code == 0, out
    for name in ("img0.tif", "img1.tif"):
        mask = tifffile.imread(tmp_path / "out" / name)
        assert mask.dtype == np.uint8 and mask.shape == (80, 96) and set(np.unique(mask)) <= {0, 255}
    assert {p: p.read_bytes() for p in (tmp_path / "in").iterdir()} == before  # inputs untouched
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files


def test_recursive_tree_is_mirrored_with_extra_outputs(tmp_path):
    write_set(tmp_path / "in" / "a", n=1)
    write_set(tmp_path / "in" / "b" / "c", n=1, start=5)
    result, out = run(
        "segment", tmp_path / "in", "-r", "--out", tmp_path / "out", "--probabilities", "--labels", "--quiet"
    )
    assert result.exit_code == 0, out
    assert (tmp_path / "out" / "a" / "img0.tif").exists()
    assert (tmp_path / "out" / "b" / "c" / "img5.tif").exists()
    prob = tifffile.imread(tmp_path / "out" / "a" / "img0_prob.tif")
    labels = tifffile.imread(tmp_path / "out" / "a" / "img0_labels.tif")
    assert prob.dtype == np.float32 and labels.shape == (80, 96)
    mask = tifffile.imread(tmp_path / "out" / "a" / "img0.tif")
    assert not ((labels > 0) & (mask == 0)).any() and labels.max() >= 1  # objects of the mask, specks left out


def test_16bit_stack_keeps_its_planes(tmp_path):
    (tmp_path / "in").mkdir()
    stack = np.stack([make_nuclei((64, 64), n_nuclei=4, rng=i)[0] for i in range(3)])
    tifffile.imwrite(tmp_path / "in" / "stack.tif", stack)
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, out
    assert tifffile.imread(tmp_path / "out" / "stack.tif").shape == (3, 64, 64)


def test_save_model_then_apply_it_without_training(tmp_path):
    write_set(tmp_path / "in")
    write_set(tmp_path / "new", start=7)
    model = tmp_path / "m.igtt"
    result, out = run("train", tmp_path / "in", "--save-model", model, "--quiet")
    assert result.exit_code == 0, out
    assert model.exists()
    result, out = run("predict", tmp_path / "new", "--model", model, "--out", tmp_path / "o1", "--quiet")
    assert result.exit_code == 0, out
    result, out = run("segment", tmp_path / "new", "--model", model, "--out", tmp_path / "o2", "--quiet")
    assert result.exit_code == 0, out
    for name in ("img7.tif", "img8.tif"):
        assert np.array_equal(tifffile.imread(tmp_path / "o1" / name), tifffile.imread(tmp_path / "o2" / name))


def test_bad_files_are_reported_skipped_and_fail_the_exit_code(tmp_path):
    write_set(tmp_path / "in")
    (tmp_path / "in" / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    (tmp_path / "in" / "empty.tif").write_bytes(b"")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "broken.tif" in out and "empty.tif" in out and "0 bytes" in out
    assert (tmp_path / "out" / "img0.tif").exists() and not (tmp_path / "out" / "broken.tif").exists()
    assert "notes" not in out  # a .txt is not an image type: not picked up at all


def test_rerun_resumes_with_skip_existing_and_refuses_to_overwrite(tmp_path):
    write_set(tmp_path / "in", n=3)
    result, _ = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--quiet")
    first = tifffile.imread(tmp_path / "out" / "img1.tif")
    (tmp_path / "out" / "img1.tif").unlink()  # as if the run had been killed before this file
    stamp = (tmp_path / "out" / "img0.tif").stat().st_mtime_ns
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--skip-existing")
    assert result.exit_code == 0, out
    assert (tmp_path / "out" / "img0.tif").stat().st_mtime_ns == stamp
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "img1.tif"), first)  # same seed, same mask
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "--overwrite" in out
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--overwrite", "--quiet")
    assert result.exit_code == 0, out


@pytest.mark.parametrize(
    "args, message",
    [
        (["segment", "{tmp}/nothing", "--out", "{tmp}/o"], "no such file"),
        (["segment", "{tmp}/emptydir", "--out", "{tmp}/o"], "no images found"),
        (["segment", "{tmp}/in", "--out", "{tmp}/in"], "overwrite an input"),
        (["segment", "{tmp}/in", "--out", "{tmp}/o", "--foreground", "light"], "light"),
        (["predict", "{tmp}/in", "--model", "{tmp}/in/img0.tif", "--out", "{tmp}/o"], "cannot load model"),
    ],
)
def test_clear_errors(tmp_path, args, message):
    write_set(tmp_path / "in", n=1)
    (tmp_path / "emptydir").mkdir()
    # an input folder whose outputs would land on the inputs themselves
    tifffile.imwrite(tmp_path / "in" / "img0.tif", tifffile.imread(tmp_path / "in" / "img0.tif"))
    result, out = run(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code != 0
    assert message in out


def test_unwritable_output_is_an_error_before_training(tmp_path):
    write_set(tmp_path / "in", n=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result, out = run("segment", tmp_path / "in", "--out", blocker / "sub")
    assert result.exit_code == 1 and "cannot write to output folder" in out


def test_rgb_needs_a_channel(tmp_path):
    (tmp_path / "in").mkdir()
    image = make_nuclei((64, 64), dtype=np.uint8, rng=0)[0]
    tifffile.imwrite(tmp_path / "in" / "rgb.tif", np.stack([image, image // 2, image // 3], -1))
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "--channel" in out
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "o2", "--channel", "0", "--quiet")
    assert result.exit_code == 0, out


def test_evaluate_against_known_masks(tmp_path):
    truths = write_set(tmp_path / "in")
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for stem, mask in truths.items():
        tifffile.imwrite(tmp_path / "gt" / f"{stem}.tif", mask.astype(np.uint8))
    # img0 perfect; img1 with its top half removed
    tifffile.imwrite(tmp_path / "pred" / "img0.tif", truths["img0"].astype(np.uint8) * 255)
    half = truths["img1"].copy()
    half[:40] = False
    tifffile.imwrite(tmp_path / "pred" / "img1.tif", half.astype(np.uint8) * 255)
    tifffile.imwrite(tmp_path / "pred" / "img0_prob.tif", truths["img0"].astype(np.float32))
    result, out = run("evaluate", tmp_path / "pred", tmp_path / "gt", "--csv", tmp_path / "s.csv")
    assert result.exit_code == 0, out
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "image,dice,iou,precision,recall,accuracy,auc"
    row0 = dict(zip(lines[0].split(","), lines[1].split(",")))
    assert float(row0["dice"]) == 1.0 and float(row0["auc"]) == 1.0
    row1 = dict(zip(lines[0].split(","), lines[2].split(",")))
    t = truths["img1"]
    expected = 2 * half.sum() / (half.sum() + t.sum())
    assert float(row1["dice"]) == pytest.approx(expected, abs=1e-6)
    assert float(row1["precision"]) == 1.0


def test_info_and_help():
    result, out = run("info")
    assert result.exit_code == 0 and "torch" in out and "device" in out
    result, out = run("segment", "--help")
    assert result.exit_code == 0 and "--skip-existing" in out and "Example" in out


def test_outputs_get_ordinary_file_permissions(tmp_path):
    import os

    from igtt.io.files import write_tiff

    path = write_tiff(tmp_path / "m.tif", np.zeros((4, 4), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("command", ["train", "segment"])
def test_save_model_never_writes_over_an_input_image(tmp_path, command):
    write_set(tmp_path / "in")
    target = tmp_path / "in" / "img0.tif"
    before = target.read_bytes()
    extra = ["--out", tmp_path / "out"] if command == "segment" else []
    result, out = run(command, tmp_path / "in", "--save-model", target, *extra, "--quiet")
    assert result.exit_code == 1 and "is one of the inputs" in out
    assert target.read_bytes() == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # failed before any work


def test_save_model_never_replaces_a_file_that_is_not_a_model(tmp_path):
    write_set(tmp_path / "in")
    other = tmp_path / "notes.tif"
    other.write_bytes(b"not a model")
    result, out = run("train", tmp_path / "in", "--save-model", other, "--overwrite", "--quiet")
    assert result.exit_code == 1 and "not an igtt model" in out
    assert other.read_bytes() == b"not a model"
    result, out = run("train", tmp_path / "in", "--save-model", tmp_path, "--quiet")
    assert result.exit_code == 1 and "is a folder" in out


def test_existing_model_needs_overwrite(tmp_path):
    write_set(tmp_path / "in")
    model = tmp_path / "m.igtt"
    assert run("train", tmp_path / "in", "--save-model", model, "--quiet")[0].exit_code == 0
    first = model.read_bytes()
    result, out = run("train", tmp_path / "in", "--save-model", model, "--quiet")
    assert result.exit_code == 1 and "--overwrite" in out and model.read_bytes() == first
    assert run("train", tmp_path / "in", "--save-model", model, "--overwrite", "--quiet")[0].exit_code == 0


def test_evaluate_csv_never_writes_over_a_mask_or_ground_truth(tmp_path):
    truths = write_set(tmp_path / "in")
    (tmp_path / "gt").mkdir()
    for stem, mask in truths.items():
        tifffile.imwrite(tmp_path / "gt" / f"{stem}.tif", mask.astype(np.uint8) * 255)
    assert run("segment", tmp_path / "in", "--out", tmp_path / "out", "--quiet")[0].exit_code == 0
    for target in (tmp_path / "gt" / "img0.tif", tmp_path / "out" / "img1.tif"):
        before = target.read_bytes()
        result, out = run("evaluate", tmp_path / "out", tmp_path / "gt", "--csv", target, "--overwrite", "--quiet")
        assert result.exit_code == 1 and "is one of the inputs" in out
        assert target.read_bytes() == before
    result, _ = run("evaluate", tmp_path / "out", tmp_path / "gt", "--csv", tmp_path / "new" / "s.csv", "--quiet")
    assert result.exit_code == 0 and (tmp_path / "new" / "s.csv").read_text().startswith("image,dice")


def test_objects_are_detected_or_taken_from_the_command_line(tmp_path):
    from igtt.io.synthetic import make_filaments

    (tmp_path / "lines").mkdir()
    for i in range(2):
        image, _ = make_filaments((256, 256), rng=i)
        tifffile.imwrite(tmp_path / "lines" / f"f{i}.tif", image)
    result, out = run("segment", tmp_path / "lines", "--out", tmp_path / "auto", "--device", "cpu")
    assert result.exit_code == 0, out
    assert "objects: bright lines, size" in out and "(found from the images" in out
    result, out = run(
        "segment", tmp_path / "lines", "--out", tmp_path / "set", "--objects", "blobs", "--object-size", "12"
    )
    assert result.exit_code == 0, out
    assert "objects: bright blobs, size 12 px (found" in out
    result, out = run("segment", tmp_path / "lines", "--out", tmp_path / "bad", "--objects", "cells")
    assert result.exit_code != 0 and "cells" in out


def test_messages_print_brackets_literally(tmp_path, monkeypatch):
    """File names and install hints with [brackets] are not taken for console markup."""
    write_set(tmp_path / "in")
    (tmp_path / "in" / "bad[1].tif").write_bytes(b"not a tiff")
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "bad[1].tif" in out
    from igtt.study import plots

    def missing():
        raise ImportError("the study figures need matplotlib: pip install 'igtt[study]'")

    monkeypatch.setattr(plots, "require_matplotlib", missing)
    result, out = run("density", "--example", "--out", tmp_path / "d")
    assert result.exit_code == 1 and "pip install 'igtt[study]'" in out


def test_a_log_file_gets_plain_progress_lines_and_counts_that_add_up(tmp_path):
    """Run as a cluster job writes to a file (no terminal): a line per epoch and every few images; unreadable = failed."""
    write_set(tmp_path / "in", n=3)
    (tmp_path / "in" / "broken.tif").write_bytes(b"not a tiff")
    result, out = run("segment", tmp_path / "in", "--out", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 1, out
    assert "training: epoch 1/1, loss" in out and "written: 3/3 (img2.tif)" in out
    assert any(line.startswith("Failed") and "broken.tif" in line for line in out.splitlines())
    assert "Skipped" not in out and "skipped (already done)" in out
