"""Nothing lost anywhere: every command that writes plans its outputs, and storage faults are one line.

The first tests run every command that writes, through the installed
``igtt`` console script, against the three ways a run can lose a file (the
output is the input folder, the output exists, two inputs map to one
output). The command list comes from the app itself: a command added later
that writes (it has an --out, --save-model, --csv or --bioimageio option)
fails the coverage test until it has its cases here.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import typer
from typer.testing import CliRunner

import igtt
from igtt.cli import app
from igtt.io.outputs import OutputPlan, PlanError, atomic_path, remove_stale_temporaries
from igtt.io.synthetic import make_nuclei

from .conftest import TINY

WRITE_OPTIONS = {"--out", "--save-model", "--csv", "--bioimageio"}
SCENARIOS = ("output is the input folder", "output exists", "two inputs, one output")


def nuclei(shape=(64, 64), rng=0):
    return make_nuclei(shape, n_nuclei=4, radius=(4, 8), rng=rng)[0]


def _write(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        from PIL import Image

        Image.fromarray(data).save(path)
    else:
        tifffile.imwrite(path, data)
    return path


def image(path: Path, rng=0) -> Path:
    return _write(path, (nuclei(rng=rng) // 256).astype(np.uint8))


def label(path: Path, rng=0) -> Path:
    return _write(path, (nuclei(rng=rng) > 20000).astype(np.uint8) * 255)


def existing(path: Path, data: bytes = b"keep me") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.igtt"
    igtt.IGTT(igtt.Config(**TINY)).fit([nuclei(rng=i) for i in range(2)]).save(path)
    return path


def _model(tmp: Path, model_file: Path, name="m.igtt") -> Path:
    target = tmp / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_file, target)
    return target


def _study_data(tmp: Path, names=("a.tif", "b.tif", "c.tif")) -> Path:
    for i, name in enumerate(names):
        image(tmp / "data" / "images" / name, rng=i)
        label(tmp / "data" / "masks" / name, rng=i)
    return tmp / "data"


def _segment(command):
    def make(tmp, scenario, model_file):
        extra = ["--model", _model(tmp, model_file)] if command == "predict" else []
        if scenario == "output is the input folder":
            image(tmp / "in" / "a.tif")
            return [command, tmp / "in", "--out", tmp / "in", *extra]
        if scenario == "output exists":
            image(tmp / "in" / "a.tif")
            existing(tmp / "out" / "a.tif")
            return [command, tmp / "in", "--out", tmp / "out", *extra]
        image(tmp / "in" / "one" / "a.tif")
        image(tmp / "in" / "two" / "a.tif", rng=1)
        return [command, tmp / "in" / "one", tmp / "in" / "two", "--out", tmp / "out", *extra]

    return make


def _train(tmp, scenario, model_file):
    image(tmp / "in" / "a.tif")
    if scenario == "output is the input folder":
        return ["train", tmp / "in", "--save-model", tmp / "in" / "a.tif", "--overwrite"]
    if scenario == "output exists":
        return ["train", tmp / "in", "--save-model", _model(tmp, model_file, "old.igtt")]
    raise AssertionError(scenario)


def _evaluate(tmp, scenario, model_file):
    for folder in ("pred", "gt"):
        label(tmp / folder / "a.tif")
    if scenario == "output is the input folder":
        return ["evaluate", tmp / "pred", tmp / "gt", "--csv", tmp / "gt" / "a.tif", "--overwrite"]
    if scenario == "output exists":
        return ["evaluate", tmp / "pred", tmp / "gt", "--csv", existing(tmp / "scores.csv")]
    raise AssertionError(scenario)


def _export(tmp, scenario, model_file):
    if scenario == "output is the input folder":  # a model file may carry any name; torch files are zip archives
        model = _model(tmp, model_file, "m.zip")
        return ["export", model, "--bioimageio", model, "--overwrite"]
    if scenario == "output exists":
        return ["export", _model(tmp, model_file), "--bioimageio", existing(tmp / "m.zip")]
    raise AssertionError(scenario)


def _label_command(command, in_folder_names, made_name):
    """A command over label images: ``in_folder_names`` collide with its outputs, ``made_name`` is one it writes."""

    def make(tmp, scenario, model_file):
        if scenario == "output is the input folder":
            for i, name in enumerate(in_folder_names):
                label(tmp / "labels" / name, rng=i)
            return [command, tmp / "labels", "--out", tmp / "labels"]
        if scenario == "output exists":
            label(tmp / "labels" / "a.tif")
            existing(tmp / "out" / made_name)
            return [command, tmp / "labels", "--out", tmp / "out"]
        label(tmp / "one" / "a.tif")
        label(tmp / "two" / "a.tif", rng=1)
        return [command, tmp / "one", tmp / "two", "--out", tmp / "out"]

    return make


def _patterns(tmp, scenario, model_file):
    if scenario == "output is the input folder":
        return ["patterns", image(tmp / "pat" / "m_patterns.png"), "--model", _model(tmp, model_file), "--out", tmp / "pat"]
    if scenario == "output exists":
        existing(tmp / "pat" / "m_patterns.png")
        return ["patterns", image(tmp / "a.tif"), "--model", _model(tmp, model_file), "--out", tmp / "pat"]
    one, two = _model(tmp / "one", model_file), _model(tmp / "two", model_file)
    return ["patterns", image(tmp / "a.tif"), "--model", one, "--model", two, "--out", tmp / "pat"]


def _study(tmp, scenario, model_file):
    if scenario == "output is the input folder":  # the study writes labels.png; so is one of these images named
        data = _study_data(tmp, names=("a.tif", "b.tif", "labels.png"))
        return ["study", "noise", data, "--labels", "CL", "--out", data / "images", "--epochs", "1", "--steps", "1"]
    data = _study_data(tmp)
    if scenario == "output exists":
        existing(tmp / "study" / "results.csv")
        return ["study", "noise", data, "--labels", "CL", "--out", tmp / "study", "--epochs", "1", "--steps", "1"]
    # two label types whose names differ but whose model files would not
    return ["study", "noise", data, "--labels", "RCL:flip=0.45", "RCL: flip=0.45", "--out", tmp / "study", "--epochs", "1"]


CASES = {
    "segment": _segment("segment"),
    "predict": _segment("predict"),
    "train": _train,
    "evaluate": _evaluate,
    "export": _export,
    "noise": _label_command("noise", ["a.tif", "b.tif"], "a.tif"),  # the loss: ground truth replaced by noise
    "density": _label_command("density", ["a.tif", "a_density.tif"], "a_density.png"),  # a rerun over its own output
    "patterns": _patterns,
    "study noise": _study,
}


def _commands(group: typer.core.TyperGroup, prefix=()) -> dict:
    found = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found |= _commands(command, (*prefix, name))
        else:
            found[" ".join((*prefix, name))] = command
    return found


def test_every_command_that_writes_has_cases():
    commands = _commands(typer.main.get_command(app))
    writers = {name for name, command in commands.items() if any(set(p.opts) & WRITE_OPTIONS for p in command.params)}
    assert writers == set(CASES), f"commands that write without cases here: {writers - set(CASES)}"


def _installed_igtt() -> list[str]:
    script = Path(sys.executable).with_name("igtt")
    return [str(script)] if script.exists() else [sys.executable, "-m", "igtt"]


ONE_OUTPUT = {"train", "evaluate", "export"}  # one output from all inputs: no two inputs can share it


@pytest.mark.parametrize(
    "command, scenario", [(c, s) for c in sorted(CASES) for s in SCENARIOS if not (c in ONE_OUTPUT and s == SCENARIOS[2])]
)
def test_no_command_writes_over_an_input_or_an_existing_output(tmp_path, model_file, command, scenario):
    args = CASES[command](tmp_path, scenario, model_file)
    before = snapshot(tmp_path)
    run = subprocess.run([*_installed_igtt(), *map(str, args)], capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and len(output.strip().splitlines()) == 1, output  # one line, naming the path
    assert any(word in errors[0] for word in ("one of the inputs", "exists", "would be shared")), errors[0]
    assert snapshot(tmp_path) == before  # nothing changed, nothing new


# -- the planner itself: links, letter case, folders, messages ----------------------------------
def test_an_output_reached_through_a_link_is_still_the_input(tmp_path):
    source = image(tmp_path / "in" / "a.tif")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "soft.tif").symlink_to(source)
    os.link(source, tmp_path / "out" / "hard.tif")
    (tmp_path / "linked").symlink_to(tmp_path / "in")
    for path in (tmp_path / "out" / "soft.tif", tmp_path / "out" / "hard.tif", tmp_path / "linked" / "a.tif"):
        with pytest.raises(PlanError, match="one of the inputs"):
            OutputPlan([source], overwrite=True).add(path)


def test_names_that_differ_only_in_case_clash_on_a_case_insensitive_file_system(tmp_path, monkeypatch):
    import igtt.io.outputs as outputs

    plan = OutputPlan()
    plan.add(tmp_path / "A.tif", "a")
    plan.add(tmp_path / "a.tif", "b")
    plan.check()  # a case-sensitive file system keeps both
    monkeypatch.setattr(outputs, "_case_insensitive", lambda folder: True)
    plan = OutputPlan()
    plan.add(tmp_path / "A.tif", "in/A.png")
    plan.add(tmp_path / "a.tif", "in/a.tif")
    with pytest.raises(PlanError, match=r"1 output name\(s\) would be shared.*in/A.png and in/a.tif"):
        plan.check()


def test_nothing_is_written_inside_an_input_store(tmp_path):
    store = tmp_path / "in.ome.zarr"
    (store / "0").mkdir(parents=True)
    with pytest.raises(PlanError, match="inside the input"):
        OutputPlan([store]).add(store / "0" / "mask.tif")


def test_a_file_that_appears_after_planning_is_kept(tmp_path):
    target = tmp_path / "a.tif"
    with pytest.raises(FileExistsError, match="appeared while igtt was running"):
        with atomic_path(target, replace=False) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"another run's")
    assert target.read_bytes() == b"another run's"
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]


def test_a_running_run_keeps_its_temporaries_while_an_ended_one_loses_them(tmp_path):
    import igtt.io.outputs as outputs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = tmp_path / f".igtt-a.tif.{outputs._HOST}-{os.getppid()}-abc.part"  # our parent: alive
    ended = tmp_path / f".igtt-b.tif.{outputs._HOST}-{dead.pid}-abc.part"
    elsewhere = tmp_path / ".igtt-c.tif.zzzz-1-abc.part"  # another machine's, on shared storage
    old = tmp_path / ".igtt-d.tif.zzzz-1-abc.part"
    for path in (alive, ended, elsewhere, old):
        path.write_bytes(b"half")
    os.utime(old, (0, 0))
    assert remove_stale_temporaries([tmp_path]) == 2
    assert alive.exists() and elsewhere.exists() and not ended.exists() and not old.exists()


# -- storage faults: one line naming the input (and the block), the batch goes on ----------------
zarr = pytest.importorskip("zarr")
runner = CliRunner()


def _store(path: Path, rng=0) -> Path:
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(path), mode="w")
    data = make_nuclei((256, 256), n_nuclei=20, radius=(5, 9), rng=rng)[0]
    group.create_array("0", shape=data.shape, chunks=(64, 64), dtype=data.dtype)[...] = data
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    write_multiscales_metadata(group, datasets=[{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}], axes=axes)
    return path


def _chunk(store: Path) -> Path:
    return store / "0" / "c" / "1" / "2"  # rows 64-128, cols 128-192


def _failing_read(error):
    """The store's chunk reads raise ``error`` for the damaged chunk (root reads anything, so permissions are simulated)."""

    def damage(store, monkeypatch):
        import zarr.storage._local as local

        real = local._get

        def get(path, *args, **kwargs):
            if Path(path) == _chunk(store):
                raise error
            return real(path, *args, **kwargs)

        monkeypatch.setattr(local, "_get", get)

    return damage


def _on_disk(change):
    return lambda store, monkeypatch: change(store)


CHUNK = "rows 64-128, cols 128-192"
FAULTS = {
    "corrupt chunk": (_on_disk(lambda s: _chunk(s).write_bytes(b"\x00garbage" * 9)), CHUNK),
    "truncated chunk": (_on_disk(lambda s: _chunk(s).write_bytes(_chunk(s).read_bytes()[:40])), CHUNK),
    "chunk without permission": (_failing_read(PermissionError(13, "Permission denied")), f"{CHUNK} (PermissionError: Permission denied)"),
    "network share I/O error": (_failing_read(OSError(5, "Input/output error")), f"{CHUNK} (OSError: Input/output error)"),
    "broken group metadata": (_on_disk(lambda s: (s / "zarr.json").write_text("{not json")), "not a readable zarr store"),
    "broken array metadata": (_on_disk(lambda s: (s / "0" / "zarr.json").write_text('{"zarr_format": 3}')), "not a readable zarr store"),
    "missing array metadata": (_on_disk(lambda s: (s / "0" / "zarr.json").unlink()), "not a readable zarr store"),
}


@pytest.mark.usefixtures("tiny_cli")
@pytest.mark.parametrize("command", ["predict", "segment"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_storage_fault_is_one_line_and_the_batch_goes_on(tmp_path, model_file, fault, command, monkeypatch):
    damage, words = FAULTS[fault]
    _store(tmp_path / "in" / "good.ome.zarr")
    bad = _store(tmp_path / "in" / "bad.ome.zarr", rng=1)
    damage(bad, monkeypatch)
    before = snapshot(tmp_path / "in")
    extra = ["--model", model_file] if command == "predict" else []
    result = runner.invoke(app, [command, str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--device", "cpu", *map(str, extra)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    named = [line for line in result.output.splitlines() if line.startswith("Failed") and "bad.ome.zarr" in line]
    assert named and words in named[0], result.output
    assert (tmp_path / "out" / "good.ome.zarr" / "zarr.json").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.ome.zarr"]  # no partial store, no temporary
    assert snapshot(tmp_path / "in") == before


def test_a_missing_chunk_reads_as_the_fill_value_as_zarr_defines(tmp_path, model_file):
    store = _store(tmp_path / "in.ome.zarr")
    _chunk(store).unlink()  # zarr leaves empty chunks unwritten: not a fault
    result = runner.invoke(app, ["predict", str(store), "--model", str(model_file), "--out", str(tmp_path / "m.ome.zarr")])
    assert result.exit_code == 0, result.output
    mask = zarr.open_array(str(tmp_path / "m.ome.zarr" / "0"), mode="r")[...]
    assert mask.shape == (256, 256)


def test_evaluate_skips_an_unreadable_mask_in_one_line_and_scores_the_rest(tmp_path):
    for folder in ("pred", "gt"):
        label(tmp_path / folder / "a.tif")
        label(tmp_path / folder / "b.tif", rng=1)
    (tmp_path / "pred" / "b.tif").write_bytes(b"II*\x00 truncated")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Skipped")][0].startswith(f"Skipped {tmp_path / 'pred' / 'b.tif'}")
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["image", "a", "mean"]
