"""Trusting every image: the per-image check against the image's own start, the report, the compartments start, per-image sizes."""

import csv

import numpy as np
import pytest
from scipy import ndimage as ndi
import tifffile
from typer.testing import CliRunner

from igtt.cli import app
from igtt.io.synthetic import make_compartments, make_filaments, make_nuclei
from igtt.quality import check_mask, folder_flags, report_row, to_check_first
from igtt.quality.check import dice
from igtt.quality.report import assess, write_report
from igtt.starts.images import orient
from igtt.starts.kinds import detect_kind, estimate_size, image_scale, own_diameter
from igtt.starts.start import start_labels

from .conftest import TINY


def nuclei(rng=0, shape=(128, 128), radius=(6, 10)):
    image, truth = make_nuclei(shape, n_nuclei=8, radius=radius, rng=rng)
    return orient([image], "bright")[0][0], truth


def test_a_mask_that_runs_away_from_the_start_is_replaced_by_it():
    image, truth = nuclei()
    start = start_labels(image, size=16).mask
    runaway = np.ones_like(start)  # background taken for objects
    runaway[:4] = False
    kept, check = check_mask(runaway, np.full(start.shape, 0.9, np.float32), image, start, kind="blobs", size=16)
    assert check.ran_away and check.replaced and np.array_equal(kept, start)
    assert check.agreement < 0.5 and check.foreground == pytest.approx(start.mean())
    assess(check)
    assert not any("ran away" in f for f in check.flags)  # the start it keeps is no reason to look: the report's "replaced" says it
    _, kept_anyway = check_mask(runaway, np.full(start.shape, 0.9, np.float32), image, start, kind="blobs", size=16, replace=False)
    assert "ran away" in assess(kept_anyway).flags[0] and "check it" in kept_anyway.flags[0]


def test_strokes_judge_a_mask_that_ran_away_from_the_start():
    image, truth = nuclei(3)
    regions, n = ndi.label(truth)
    start = truth & (regions <= n // 3)  # a start that lost most nuclei; the network's mask found them all
    lost = ndi.binary_erosion(truth & (regions == n), iterations=2)
    proba = truth.astype(np.float32)
    kept, check = check_mask(truth, proba, image, start, kind="blobs", size=16)
    assert check.ran_away and check.replaced  # without strokes the start is kept
    found = np.where(lost, 1, 0).astype(np.uint8)  # an object stroke on a nucleus the start lost
    kept, check = check_mask(truth, proba, image, start, kind="blobs", size=16, hint=found)
    assert check.ran_away and not check.replaced and kept is truth
    assert check.judged and not any("ran away" in f for f in assess(check).flags)  # the user judged: no "check it"
    debris = np.where(lost, 2, 0).astype(np.uint8)  # ... painted as background: the start was right
    kept, check = check_mask(truth, proba, image, start, kind="blobs", size=16, hint=debris)
    assert check.replaced and np.array_equal(kept, start)


def test_a_mask_close_to_the_start_is_kept_and_scored_high():
    image, truth = nuclei(1)
    start = start_labels(image, size=16).mask
    mask = truth.copy()
    kept, check = check_mask(mask, mask.astype(np.float32), image, start, kind="blobs", size=16)
    assert kept is mask and not check.ran_away and not check.replaced
    assert check.agreement > 0.85 and check.objects >= 5
    assess(check)
    assert check.score > 0.7 and not check.flags


def test_without_replace_a_runaway_is_only_reported():
    image, _ = nuclei(2)
    start = start_labels(image, size=16).mask
    runaway = ~start
    kept, check = check_mask(runaway, runaway.astype(np.float32), image, start, kind="blobs", size=16, replace=False)
    assert kept is runaway and check.ran_away and not check.replaced
    assert "check it" in assess(check).flags[0]


def test_fragments_and_low_contrast_are_flagged():
    rng = np.random.default_rng(0)
    noise = rng.random((128, 128)).astype(np.float32)  # no structure at all
    speckle = noise > 0.8  # hundreds of one-pixel pieces following no intensity step worth the name
    start = speckle.copy()
    _, check = check_mask(speckle, speckle.astype(np.float32), np.zeros_like(noise), start, kind="blobs", size=16)
    flags = " ".join(assess(check).flags)
    assert "many fragments" in flags and "low contrast" in flags


def test_compartments_are_flagged_as_weak_label_free():
    image, truth = nuclei(3)
    _, check = check_mask(truth, truth.astype(np.float32), image, truth, kind="compartments", size=4)
    assess(check)
    assert any("add hints" in f for f in check.flags) and check.score <= 0.5


def test_folder_flags_name_an_image_whose_score_is_far_below_the_folders():
    image, truth = nuclei(4)
    checks = []
    for shift in (0, 1, 0, 1, 0, 8):  # masks on their starts, one shifted off its objects
        mask = np.roll(truth, shift, axis=1)
        checks.append(assess(check_mask(mask, mask.astype(np.float32), image, truth, kind="blobs", size=16, replace=False)[1]))
    folder_flags(checks + [None])
    assert any("far below the folder's" in f for f in checks[5].flags)
    assert not any(c.flags for c in checks[:5])
    dense = assess(check_mask(truth, truth.astype(np.float32), image, truth, kind="blobs", size=16)[1])
    sparse = [assess(check_mask(m, m.astype(np.float32), image, m, kind="blobs", size=16)[1]) for m in (truth & (np.arange(truth.shape[0]) < 20)[:, None],) * 3]
    assert not any(c.flags for c in folder_flags([dense, *sparse]))  # a field denser than the folder's is no reason to look


def test_a_mask_that_changes_when_the_image_is_mirrored_scores_lower():
    image, truth = nuclei(5)
    proba = truth.astype(np.float32)
    _, steady = check_mask(truth, proba, image, truth, kind="blobs", size=16, twin=proba)
    _, unsteady = check_mask(truth, proba, image, truth, kind="blobs", size=16, twin=np.roll(proba, 3, axis=1))
    assert steady.stability == 1.0 and 0.3 < unsteady.stability < 0.95
    assert assess(unsteady).score < assess(steady).score - 0.2


def test_a_flag_most_of_the_folder_shares_is_said_once_and_kept_on_its_outliers():
    from igtt.quality import folder_notes

    image, truth = nuclei(6)
    checks = []
    for shift in (5, 6, 5, 6, 30):  # masks off their starts everywhere (vessel-like), one far more than the rest
        mask = np.roll(truth, shift, axis=1)
        checks.append(assess(check_mask(mask, mask.astype(np.float32), image, truth, kind="lines", size=4, replace=False)[1]))
    assert all(any("disagrees" in f or "ran away" in f for f in c.flags) for c in checks)  # each image alone: flagged
    notes = folder_notes(checks)
    folder_flags(checks)
    assert len(notes) >= 1 and "most images" in notes[0]
    assert not any(c.flags for c in checks[:4])  # the usual ones: said once, for the folder
    assert any("far below the folder's" in f for f in checks[4].flags)  # the one that stands out still says "look here"
    few = [assess(check_mask(np.roll(truth, 6, axis=1), truth.astype(np.float32), image, truth, kind="lines", size=4)[1]) for _ in range(2)]
    assert folder_notes(few) == [] and all(c.flags for c in folder_flags(few))  # two images are no folder to compare with


def test_report_rows_check_first_and_resumed_report(tmp_path):
    image, truth = nuclei(5)
    good = assess(check_mask(truth, truth.astype(np.float32), image, truth, kind="blobs", size=16)[1])
    bad = assess(check_mask(~truth, (~truth).astype(np.float32), image, truth, kind="blobs", size=16, replace=False)[1])
    rows = [report_row("a.tif", 0, good), report_row("b.tif", 0, bad)]
    assert [r["image"] for r in to_check_first(rows)] == ["b.tif"]
    path = tmp_path / "report.csv"
    write_report(path, rows)
    write_report(path, [report_row("b.tif", 0, good)], keep_others=True)  # b re-predicted, a kept
    read = list(csv.DictReader(open(path)))
    assert [r["image"] for r in read] == ["a.tif", "b.tif"] and read[1]["flags"] == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_walls_are_detected_and_removed_before_the_start():
    pairs = [make_compartments((256, 256), rng=i) for i in range(3)]
    oriented, _ = orient([p[0] for p in pairs], "dark")
    assert detect_kind(oriented) == "compartments"
    width = estimate_size(oriented, "compartments")
    assert 3 <= width <= 12  # walls drawn 3 px wide, blurred
    for image, (_, truth) in zip(oriented, pairs):
        walls_removed = dice(start_labels(image, kind="compartments", size=width).mask, truth)
        blobs = dice(start_labels(image, kind="blobs", size=34).mask, truth)
        assert walls_removed > blobs + 0.15, (walls_removed, blobs)


def test_filaments_and_nuclei_are_not_compartments():
    filaments, _ = orient([make_filaments((256, 256), rng=i)[0] for i in range(2)], "bright")
    blobs, _ = orient([make_nuclei((256, 256), rng=i)[0] for i in range(2)], "bright")
    assert detect_kind(filaments) == "lines" and detect_kind(blobs) == "blobs"


def test_an_image_at_another_magnification_is_resampled_to_the_folders_size():
    small, _ = nuclei(6, shape=(256, 256), radius=(5, 7))
    large, _ = nuclei(7, shape=(256, 256), radius=(18, 24))
    assert 9 <= own_diameter(small) <= 17 and 32 <= own_diameter(large) <= 55  # diameters 10-14 and 36-48 (+15 %: oval nuclei)
    size, factor = image_scale(small, "blobs", 40.0)
    assert factor == 1.0 and size == own_diameter(small)  # smaller objects: not enlarged, their own size
    size, factor = image_scale(large, "blobs", 20.0)
    assert size == 20.0 and 20 / 55 <= factor <= 20 / 32
    near = 1.15 * own_diameter(large)
    assert image_scale(large, "blobs", near) == (near, 1.0)  # within the same band: not resampled
    assert image_scale(large, "blobs", 400.0) == (400.0, 1.0)  # ten times off: the own size is not trusted
    assert image_scale(small, "lines", 40.0) == (40.0, 1.0)
    size, factor = image_scale(large[::2, ::2], "blobs", 20.0, step=2)  # a large image, seen strided: its own size
    assert factor == 1.0 and 32 <= size <= 55


def test_segment_writes_the_report_and_names_the_images_to_check_first(tmp_path, tiny_cli):
    (tmp_path / "in").mkdir()
    for i in range(3):
        tifffile.imwrite(tmp_path / "in" / f"img{i}.tif", make_nuclei((96, 96), n_nuclei=5, radius=(6, 9), rng=i)[0])
    tifffile.imwrite(tmp_path / "in" / "blank.tif", np.random.default_rng(0).integers(0, 50, (96, 96), dtype=np.uint16))
    result = CliRunner().invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "report.csv")))
    assert sorted(r["image"].rsplit("/", 1)[-1] for r in rows) == ["blank.tif", "img0.tif", "img1.tif", "img2.tif"]
    assert all(0 <= float(r["score"]) <= 1 for r in rows)
    assert "report.csv" in result.output and ("Check first" in result.output or "no image flagged" in result.output)
    # the report is an output like the masks: kept without --overwrite, extended by a resumed run
    again = CliRunner().invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert again.exit_code == 1 and "--overwrite" in again.output
    (tmp_path / "out" / "img1.tif").unlink()
    resumed = CliRunner().invoke(app, ["segment", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--skip-existing", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert len(list(csv.DictReader(open(tmp_path / "out" / "report.csv")))) == 4


def test_the_api_reports_every_image():
    import igtt

    images = [make_nuclei((96, 96), n_nuclei=5, radius=(6, 9), rng=i)[0] for i in range(2)]
    model = igtt.IGTT(**TINY).fit(images)
    checks = model.report(images)
    assert len(checks) == 2 and all(0 <= c.score <= 1 for c in checks)
    masks = model.predict(images)
    done = list(model.iter_predict(images))
    assert all(np.array_equal(m, d.mask) for m, d in zip(masks, done))  # predict applies the same check
    assert [s.mask.shape for s in model.starts(images)] == [(96, 96)] * 2


@pytest.mark.parametrize("dark", [True, False])
def test_the_wrong_polarity_is_flagged_with_the_option_to_try(dark):
    from igtt.quality import check_image

    checks = []
    for i in range(3):
        image = make_filaments((128, 128), width=3, dark=dark, rng=i)[0]
        small = orient([image], "bright")[0][0]
        mask = small > 0.5
        checks.append(check_image(mask, mask.astype(np.float32), small, kind="lines", size=3)[1])
    flags = [f for c in folder_flags(checks) for f in c.flags]
    wrong = [f for f in flags if "try --foreground dark" in f]
    assert (len(wrong) == 3) if dark else not wrong, flags
    assert all(c.score <= 0.5 for c in checks) if dark else True


def test_an_image_of_noise_alone_in_a_folder_gets_an_empty_mask_and_says_so(tmp_path):
    import igtt

    rng = np.random.default_rng(0)
    truths = [make_nuclei((96, 96), n_nuclei=6, radius=(6, 9), rng=i)[1] for i in range(3)] + [np.zeros((96, 96), bool)]
    # nuclei 2000 grey levels over a flat background with noise of 20; the last an empty well: background and noise alone
    images = [(1000 + 2000 * ndi.gaussian_filter(t.astype(float), 1) + rng.normal(0, 20, t.shape)).astype(np.uint16) for t in truths]
    model = igtt.IGTT(**TINY).fit(images)
    assert model.signal_ > 40
    done = list(model.iter_predict(images))
    assert not done[3].mask.any() and done[3].check.noise is not None
    assert done[3].check.flags[0].startswith("no objects: nothing stands out of the image's noise")
    assert all(d.check.noise is None for d in done[:3])
    hint = np.zeros((96, 96), np.uint8)
    hint[40:44, 40:50] = 1  # a user says there is an object: the image is not taken for noise
    painted = list(model.iter_predict(images[3:], hints=[hint]))[0]
    assert painted.check.noise is None
    # a large field with one nucleus (under 0.2 % of its pixels, so no percentile reaches it) is not noise,
    # and its mask is that nucleus, not its noise stretched over the range
    yy, xx = np.mgrid[:384, :384]
    one = (yy - 197) ** 2 + (xx - 197) ** 2 < 7**2
    single = (1000 + 2000 * ndi.gaussian_filter(one.astype(float), 1) + rng.normal(0, 20, one.shape)).astype(np.uint16)
    found = list(model.iter_predict([single]))[0]
    assert found.check.noise is None and found.mask[190:204, 190:204].any()
    assert found.mask.sum() < 2 * one.sum(), found.mask.mean()
    assert igtt.IGTT.load(model.save(tmp_path / "m.igtt")).signal_ == model.signal_
