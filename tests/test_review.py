"""Reviewing a results folder: the run's record, the order to look in, hint files, and refine-and-rewrite that loses nothing."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from igtt.batch import PlanError, review
from igtt.io.synthetic import make_nuclei
from igtt.training.hints import BACKGROUND, OBJECT

from .test_bad_inputs import invoke, snapshot

pytestmark = pytest.mark.usefixtures("tiny_cli")


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A folder of three synthetic images segmented with labels and measurements (given as a relative path); the truths beside."""
    monkeypatch.chdir(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    truths = {}
    for i in range(3):
        image, truth = make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i)
        tifffile.imwrite(images / f"cell_{i}.tif", image)
        truths[f"cell_{i}"] = truth
    out = tmp_path / "out"
    result = invoke("segment", "images", "--out", "out", "--labels", "--measure")
    assert result.exit_code == 0, result.output
    return images, out, truths


def test_a_segment_run_leaves_its_model_and_record_for_a_review(results):
    images, out, _ = results
    record = json.loads((out / review.RUN_FOLDER / review.RECORD).read_text())
    assert [item["relative"] for item in record["inputs"]] == ["cell_0", "cell_1", "cell_2"]
    assert record["outputs"] == {"probabilities": False, "labels": True, "measure": True}
    assert record["model"] == "igtt-run/model.igtt"
    run = review.load_run(out)
    assert run.model.is_file() and [job.source for job in run.jobs] == sorted(images.glob("*.tif"))
    order = review.review_order(run)
    assert all(row is not None for _, row in order)  # each image found in the report by the name it has there
    scores = [(not bool(row["flags"]), float(row["score"])) for _, row in order]
    assert scores == sorted(scores)  # flagged first, then the lowest scores


def test_refine_needs_a_results_folder_and_strokes(results, tmp_path):
    _, out, _ = results
    for command in ("refine", "review"):  # review says it before opening napari
        nothing = invoke(command, tmp_path / "images")
        assert nothing.exit_code == 1 and "not a results folder of igtt segment" in nothing.output
    unpainted = invoke("refine", out)
    assert unpainted.exit_code == 1 and "no hint strokes" in unpainted.output
    job = review.load_run(out).jobs[0]
    review.hint_path(out, job).parent.mkdir()
    tifffile.imwrite(review.hint_path(out, job), np.full((10, 10), 1, np.uint8))
    wrong = invoke("refine", out)
    assert wrong.exit_code == 1 and "cell_0.tif: shaped (10, 10), its image (96, 96)" in wrong.output


def test_refine_rewrites_every_output_and_keeps_the_strokes(results):
    images, out, truths = results
    run = review.load_run(out)
    inputs, model = snapshot(images), run.model.read_bytes()
    before = {p: p.read_bytes() for p in out.glob("*.*")}
    hint = np.zeros((96, 96), np.uint8)
    hint[truths["cell_1"]] = OBJECT
    hint[:6] = BACKGROUND
    assert review.save_hint(out, run.jobs[1], hint) == out / "hints" / "cell_1.tif"
    result = invoke("refine", out)
    assert result.exit_code == 0, result.output
    assert "Refined model saved to" in result.output
    after = {p: p.read_bytes() for p in out.glob("*.*")}
    assert set(after) == set(before)  # masks, labels, measurements, report: each one replaced, none added
    assert any(after[p] != before[p] for p in after if p.name.endswith("_labels.tif") or p.suffix == ".tif")
    assert run.model.read_bytes() != model  # the refined model replaces the run's
    assert snapshot(images) == inputs  # inputs never written
    assert (review.read_hint(out, run.jobs[1]) == hint).all()  # strokes kept: the refine can be rerun from the CLI
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no staging folder, no temporary left


def contradicting_strokes(truth: np.ndarray) -> np.ndarray:
    """Background on every object, objects in stripes of the background: strokes that contradict good masks outright."""
    from scipy import ndimage as ndi

    hint = np.zeros(truth.shape, np.uint8)
    hint[ndi.binary_erosion(truth, iterations=2)] = BACKGROUND
    hint[~ndi.binary_dilation(truth, iterations=6) & (np.arange(truth.shape[0]) % 12 < 3)[:, None]] = OBJECT
    return hint


def test_strokes_on_the_errors_of_good_masks_refine_them_and_win_on_their_images(results):
    """Strokes painted on what a user disagrees with contradict the masks; a few of them must not replace what the masks knew."""
    from igtt import IGTT

    _, out, truths = results
    run = review.load_run(out)
    for i, job in enumerate(run.jobs[:2]):
        review.save_hint(out, job, contradicting_strokes(truths[f"cell_{i}"]))
    assert invoke("refine", out).exit_code == 0
    assert not IGTT.load(run.model).hinted_  # refined from the masks, not learnt anew from the strokes alone
    mask = tifffile.imread(out / "cell_0.tif") > 0
    hint = review.read_hint(out, run.jobs[0])
    assert mask[hint == OBJECT].all() and not mask[hint == BACKGROUND].any()


def test_strokes_that_contradict_em_like_masks_outright_are_learnt_anew(tmp_path, monkeypatch):
    """EM, where label-free masks are rough (whole compartments): strokes that contradict them make a model of the strokes."""
    from igtt import IGTT
    from igtt.io.synthetic import make_compartments

    monkeypatch.chdir(tmp_path)
    Path("em").mkdir()
    truths = []
    for i in range(3):
        image, truth = make_compartments((96, 96), n_cells=12, n_organelles=3, radius=(7, 10), rng=i)
        tifffile.imwrite(f"em/em_{i}.tif", image)
        truths.append(truth)
    assert invoke("segment", "em", "--out", "out", "--objects", "compartments").exit_code == 0
    run = review.load_run(Path("out"))
    for job, truth in zip(run.jobs[:2], truths):
        review.save_hint(Path("out"), job, contradicting_strokes(truth))
    assert invoke("refine", "out").exit_code == 0
    assert IGTT.load(run.model).hinted_  # a model of the strokes: its masks are not replaced by the label-free starts


def test_an_object_stroke_the_mask_missed_brings_its_object():
    from igtt.training.hints import honour_strokes

    image = np.full((60, 60), 10.0)
    image[10:30, 10:30] = 40.0  # a dim object the mask missed
    image[40:50, 40:50] = 100.0  # a bright one it found
    mask = np.zeros(image.shape, bool)
    mask[40:50, 40:50] = True
    hint = np.zeros(image.shape, np.uint8)
    hint[19:21, 15:25] = OBJECT
    hint[2, 40:50] = OBJECT  # in plain background: only its pixels
    found = honour_strokes(mask, hint, kind="blobs", size=20, image=image)
    assert found[10:30, 10:30].all() and found[40:50, 40:50].all() and found[2, 40:50].all()
    assert found.sum() == 400 + 100 + 10
    assert np.array_equal(honour_strokes(mask, hint, kind="blobs", size=20, image=image, bright=False), mask | (hint == OBJECT))


def test_a_refine_that_fails_midway_leaves_the_folder_as_it_was(results, monkeypatch):
    from igtt.batch import step
    from igtt.io.files import write_tiff

    _, out, _ = results
    run = review.load_run(out)
    review.save_hint(out, run.jobs[0], np.pad(np.full((4, 4), BACKGROUND, np.uint8), 46))
    before = snapshot(out)
    written = []

    def kill_at_the_third_image(path, data, **kwargs):
        if len(written) == 4:  # two images' masks and labels are in the staging folder
            raise KeyboardInterrupt
        written.append(path)
        return write_tiff(path, data, **kwargs)

    monkeypatch.setattr(step, "write_tiff", kill_at_the_third_image)
    with pytest.raises(KeyboardInterrupt):
        list(review.refine_folder(out))
    assert len(written) == 4 and snapshot(out) == before  # nothing replaced before every output is written
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_hints_are_saved_removed_and_checked(results):
    _, out, _ = results
    job = review.load_run(out).jobs[2]
    assert review.save_hint(out, job, np.zeros((96, 96), np.uint8)) is None and not review.hint_path(out, job).exists()
    hint = np.zeros((96, 96), np.uint8)
    hint[5, 5] = 2
    review.save_hint(out, job, hint)
    assert (review.read_hint(out, job, (96, 96)) == hint).all()
    review.save_hint(out, job, np.zeros((96, 96), np.uint8))  # all erased: the file goes
    assert review.read_hint(out, job) is None
    tifffile.imwrite(review.hint_path(out, job), np.full((96, 96), 7, np.uint8))
    with pytest.raises(PlanError, match="values must be 0"):
        review.read_hint(out, job)


def test_strokes_win_a_background_stroke_through_a_blob_removes_it_one_at_its_edge_does_not():
    from igtt.training.hints import honour_strokes

    mask = np.zeros((60, 60), bool)
    mask[5:25, 5:25] = mask[35:55, 35:55] = True  # two 20-px blobs
    hint = np.zeros(mask.shape, np.uint8)
    hint[14:16, 0:30] = BACKGROUND  # through the middle of the first
    hint[35, 30:60] = BACKGROUND  # along the edge of the second
    kept = honour_strokes(mask, hint, kind="blobs", size=20)
    assert not kept[5:25, 5:25].any()
    assert kept[36:55, 35:55].all() and not kept[35].any()  # only the stroked row leaves it
    hint[20, 10] = OBJECT  # an object stroke in the first: it stays, less the stroked pixels
    kept = honour_strokes(mask, hint, kind="blobs", size=20)
    assert kept[5:14, 5:25].all() and not kept[14:16].any()
    lines = honour_strokes(mask, hint, kind="lines", size=20)
    assert np.array_equal(lines, mask & (hint != BACKGROUND))  # a network keeps its parts
    assert honour_strokes(mask, None) is mask



def test_unpainted_images_the_refine_takes_further_from_their_starts_keep_their_outputs(results, monkeypatch):
    _, out, truths = results
    run = review.load_run(out)
    hint = np.zeros((96, 96), np.uint8)
    hint[truths["cell_0"]] = OBJECT
    review.save_hint(out, run.jobs[0], hint)
    before = {p.name: p.read_bytes() for p in out.glob("cell_*")}
    rows = {r.split(",")[0]: r for r in (out / "report.csv").read_text().splitlines()[1:]}
    monkeypatch.setattr(review, "KEEP_BELOW", -2.0)  # every new mask counts as further from its start
    events = list(review.refine_folder(out))
    assert any("2 unpainted image(s) kept their masks" in note for note in events[-1].notes)
    after = {p.name: p.read_bytes() for p in out.glob("cell_*")}
    assert all(after[n] == before[n] for n in before if not n.startswith("cell_0"))  # mask, labels, measurements kept
    kept = [r for r in (out / "report.csv").read_text().splitlines()[1:] if "cell_0" not in r]
    assert [r.split(",", 1)[1] for r in kept] == [rows[k].split(",", 1)[1] for k in sorted(rows) if "cell_0" not in k]
