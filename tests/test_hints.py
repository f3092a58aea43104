"""Hints (0 none, 1 object, 2 background) in the engine: validation, the start, every draw and refresh, polarity, refine."""

import numpy as np
import pytest

from igtt import IGTT
from igtt.starts.blobs import StartLabels
from igtt.training.hints import (
    BACKGROUND,
    OBJECT,
    REFINE_SHARE,
    UNHINTED_WEIGHT,
    apply_hints,
    as_hint_list,
    hints_only_labels,
    polarity_from_hints,
    start_trust,
)
from igtt.io.synthetic import make_nuclei
from igtt.training import paper
from igtt.training.hints import HintedLabels
from igtt.training.labels import PseudoLabels


def test_hints_are_checked_against_their_images():
    images = [np.zeros((8, 8)), np.zeros((6, 6))]
    assert as_hint_list(None, images) == [None, None]
    assert as_hint_list([np.zeros((8, 8), int), None], images) == [None, None]  # all zero: no hint
    with pytest.raises(ValueError, match="image 1: shape"):
        as_hint_list([None, np.zeros((8, 8), int)], images)
    with pytest.raises(ValueError, match="0 \\(none\\), 1 \\(object\\) or 2"):
        as_hint_list([np.full((8, 8), 3), None], images)
    with pytest.raises(ValueError, match="one per image"):
        as_hint_list([None], images)
    stack = np.zeros((2, 8, 8), np.uint8)
    stack[1, 0, 0] = OBJECT
    hints = as_hint_list(stack, [np.zeros((8, 8))] * 2)
    assert hints[0] is None and hints[1][0, 0] == OBJECT


def test_hints_override_the_start():
    start = StartLabels(mask=np.array([1, 1, 0, 0], bool), foreground=np.array([1, 0, 0, 0], bool), background=np.array([0, 0, 1, 1], bool))
    hinted = apply_hints(start, np.array([BACKGROUND, 0, OBJECT, 0], np.uint8))
    assert hinted.mask.tolist() == [False, True, True, False]
    assert hinted.foreground.tolist() == [False, False, True, False]
    assert hinted.background.tolist() == [True, False, False, True]


@pytest.mark.parametrize("ems", [False, True])
def test_hints_keep_their_label_and_corrections_weigh_a_share_of_their_class(tiny_config, ems):
    fg = np.zeros((40, 40), bool)
    fg[10:30, 10:30] = True
    start = StartLabels(mask=fg, foreground=fg, background=~fg)
    hint = np.zeros(fg.shape, np.uint8)
    hint[12:14, 12:20] = BACKGROUND  # corrections: the start is wrong here
    hint[0:2, 0:8] = OBJECT
    hint[20:22, 20:30] = OBJECT  # agrees with the start: no more weight than the start's
    hint[35:37, 0:10] = BACKGROUND
    config = tiny_config.replace(ems=ems, p_background=0.5, hint_share=0.5)
    labels = HintedLabels([start], [hint], config, np.random.default_rng(0), keep_start=True)
    assert 0.05 <= labels.trust < 1  # half the hints contradict the start
    corrective = labels.corrections[0]
    assert corrective.sum() == 2 * 8 + 2 * 8 and not corrective[20:22, 20:30].any()
    share = labels.share
    assert share == pytest.approx(max(0.5 * (1 - labels.trust), REFINE_SHARE))  # a refine: at least REFINE_SHARE
    fresh = HintedLabels([start], [hint], config, np.random.default_rng(0))
    assert fresh.share == pytest.approx(0.5 * (1 - fresh.trust))  # a fit: grows as the hints contradict the start
    for _ in range(3):
        target, weight = labels.draw(0)
        assert (target[hint == OBJECT] == 1).all() and (target[hint == BACKGROUND] == 0).all()
        assert (weight[(hint > 0) & ~corrective] <= 1.0 + 1e-6).all()
        for value, cls in ((OBJECT, 1), (BACKGROUND, 0)):
            new = (hint == value) & corrective
            assert np.ptp(weight[new]) == 0 and weight[new][0] >= labels.trust  # alike, never below a start pixel
            if weight[new][0] > labels.trust:  # then together they hold the share of their class's weight
                assert weight[new].sum() / weight[target == cls].sum() == pytest.approx(share, rel=1e-4)
    paper.refresh(labels, [np.ones(fg.shape, np.float32)], [np.where(fg, 0.9, 0.1).astype(np.float32)], n_thresholds=20)
    assert labels.labels.foreground[0][hint == OBJECT].all() and not labels.labels.foreground[0][hint == BACKGROUND].any()


def test_trust_in_the_start_follows_its_agreement_with_the_hints():
    fg = np.zeros((10, 10), bool)
    fg[:5] = True
    start = StartLabels(mask=fg, foreground=fg, background=~fg)
    agree = np.zeros(fg.shape, np.uint8)
    agree[1, :], agree[8, :] = OBJECT, BACKGROUND
    assert start_trust([start], [agree]) == 1.0
    assert start_trust([start], [np.where(agree == OBJECT, BACKGROUND, np.where(agree == BACKGROUND, OBJECT, 0)).astype(np.uint8)]) == 0.05
    assert start_trust([start], [None]) == 1.0


def test_hints_alone_take_the_unhinted_pixels_as_light_background():
    hint = np.zeros((20, 20), np.uint8)
    hint[2, 2:8], hint[15, 5:9] = OBJECT, BACKGROUND
    target, weight = hints_only_labels(hint, hint.shape)
    assert (target == (hint == OBJECT)).all()
    assert (weight[hint > 0] == 1).all()
    free = hint == 0
    assert weight[free].sum() == pytest.approx(UNHINTED_WEIGHT * (hint > 0).sum(), rel=1e-5)
    assert (weight[free] < 1).all()  # each unhinted pixel weighs far less than a hint
    target, weight = hints_only_labels(None, (5, 5))
    assert not target.any() and not weight.any()


def test_a_start_the_hints_contradict_is_set_aside_in_a_fit_not_in_a_refine(tiny_config):
    fg = np.zeros((30, 30), bool)
    fg[:15] = True
    start = StartLabels(mask=fg, foreground=fg, background=~fg)
    hint = np.zeros(fg.shape, np.uint8)
    hint[20:30:2, 5:25], hint[0:10:2, 5:25] = OBJECT, BACKGROUND  # the opposite of the start, 100 px each
    labels = HintedLabels([start] * 3, [hint, hint, None], tiny_config, np.random.default_rng(0))
    assert labels.trust < 0.5 and labels.hints_only  # 200 px of each kind
    few = HintedLabels([start, start], [hint, None], tiny_config, np.random.default_rng(0))
    assert few.trust < 0.5 and not few.hints_only  # 100 px of each: too few to replace the start
    target, weight = labels.draw(0)
    expected = hints_only_labels(hint, hint.shape)
    assert np.array_equal(target, expected[0]) and np.array_equal(weight, expected[1])
    assert not labels.draw(2)[1].any()  # an image without hints teaches nothing
    assert np.array_equal(labels.preview(0), hint)
    kept = HintedLabels([start], [hint], tiny_config, np.random.default_rng(0), keep_start=True)
    assert not kept.hints_only and kept.draw(0)[1][fg & (hint == 0)].all()
    agreeing = np.where(hint == OBJECT, BACKGROUND, np.where(hint == BACKGROUND, OBJECT, 0)).astype(np.uint8)
    assert not HintedLabels([start], [agreeing], tiny_config, np.random.default_rng(0)).hints_only


def _two_kinds_of_disc(rng):
    """Bright discs and dim discs on a dark noisy background: (image, dim, bright)."""
    from skimage.draw import disk

    image = rng.normal(0.1, 0.03, (128, 128)).astype(np.float32)
    dim, bright = np.zeros(image.shape, bool), np.zeros(image.shape, bool)
    for n, (r, c) in enumerate((r, c) for r in range(16, 128, 32) for c in range(16, 128, 32)):
        rr, cc = disk((r, c), 8, shape=image.shape)
        (dim if n % 2 else bright)[rr, cc] = True
    image[dim] += 0.4
    image[bright] += 0.9
    return image, dim, bright


def test_hints_teach_which_objects_count_when_the_start_takes_the_wrong_ones(tiny_config):
    rng = np.random.default_rng(0)
    images, hints, found = [], [], []
    for _ in range(2):
        image, dim, bright = _two_kinds_of_disc(rng)
        hint = np.zeros(image.shape, np.uint8)
        rows = np.isin(np.arange(128), [12, 14, 16, 18, 20])[:, None]  # strokes across the first row of discs
        hint[rows & dim] = OBJECT
        hint[rows & bright] = BACKGROUND
        images.append(image)
        hints.append(hint)
        found.append((dim, bright))
    config = tiny_config.replace(epochs=4, steps_per_epoch=5, foreground="bright", objects="blobs", object_size=16)
    model = IGTT(config).fit(images, hints=hints)
    for image, (dim, bright) in zip(images, found):
        p = model.predict_proba(image)
        assert p[dim].mean() > 0.5 > p[bright].mean()  # the dim discs, also those without a stroke

    fg = np.zeros((4, 4), bool)
    fg[0] = True
    labels = PseudoLabels([StartLabels(mask=fg, foreground=fg, background=~fg)], tiny_config, np.random.default_rng(0))
    preview = labels.preview(0)
    assert (preview[0] == OBJECT).all() and (preview[1:] == BACKGROUND).all()


def test_hints_decide_the_polarity():
    image = np.zeros((10, 10), np.float32)
    image[:5] = 1.0
    hint = np.zeros(image.shape, np.uint8)
    hint[1, 1], hint[8, 8] = OBJECT, BACKGROUND
    assert polarity_from_hints([image], [hint]) == "bright"
    hint[1, 1], hint[8, 8] = BACKGROUND, OBJECT
    assert polarity_from_hints([image], [hint]) == "dark"
    assert polarity_from_hints([image], [None]) is None


def test_fit_and_refine_with_hints_on_stacks_and_lists(tiny_config):
    image, truth = make_nuclei((128, 128), n_nuclei=10, radius=(6, 10), rng=0)
    hint = np.zeros(image.shape, np.uint8)
    hint[truth & (np.arange(128)[:, None] < 64)] = OBJECT
    hint[~truth & (np.arange(128)[None, :] < 20)] = BACKGROUND
    model = IGTT(tiny_config.replace(foreground="auto")).fit(np.stack([image, image]), hints=np.stack([hint, np.zeros_like(hint)]))
    assert model.foreground_ == "bright"
    before = [p.detach().clone() for p in model.net.parameters()]
    model.refine([image], [hint], epochs=1)
    assert any(not np.allclose(a, b.detach()) for a, b in zip(before, model.net.parameters()))
    assert model.predict(image).shape == image.shape
    with pytest.raises(ValueError, match="shape"):
        model.refine([image], [hint[:10]])
    with pytest.raises(RuntimeError, match="not trained"):
        IGTT(tiny_config).refine([image], [hint])


@pytest.fixture
def folders(tmp_path):
    import tifffile

    images, hints = tmp_path / "images", tmp_path / "hints"
    images.mkdir()
    hints.mkdir()
    for i in range(2):
        image, truth = make_nuclei((96, 96), n_nuclei=6, radius=(6, 10), rng=i)
        tifffile.imwrite(images / f"cell_{i}.tif", image)
    hint = np.zeros((96, 96), np.uint8)
    hint[truth] = OBJECT
    hint[:4] = BACKGROUND
    tifffile.imwrite(hints / "cell_1.tif", hint)  # hints on one image only
    return images, hints


@pytest.mark.usefixtures("tiny_cli")
def test_cli_segment_and_train_follow_a_hint_folder_and_never_write_over_it(folders, tmp_path):
    from .test_bad_inputs import invoke, snapshot

    images, hints = folders
    before = snapshot(images, hints)
    result = invoke("segment", images, "--out", tmp_path / "masks", "--hints", hints, "--save-model", tmp_path / "m.igtt")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["cell_0.tif", "cell_1.tif", "igtt-run", "report.csv"]
    assert not (tmp_path / "masks" / "igtt-run" / "model.igtt").exists()  # saved where --save-model says, once
    refined = invoke("segment", images, "--out", tmp_path / "again", "--model", tmp_path / "m.igtt", "--hints", hints)
    assert refined.exit_code == 0, refined.output
    trained = invoke("train", images, "--save-model", tmp_path / "t.igtt", "--hints", hints)
    assert trained.exit_code == 0, trained.output
    assert snapshot(images) == {k: v for k, v in before.items() if images in k.parents}
    assert snapshot(hints) == {k: v for k, v in before.items() if hints in k.parents}


@pytest.mark.usefixtures("tiny_cli")
@pytest.mark.parametrize("problem", ["missing", "unmatched", "shape", "values", "out"])
def test_cli_bad_hints_stop_the_run_in_one_line_before_work(folders, tmp_path, problem):
    import tifffile

    from .test_bad_inputs import invoke, snapshot

    images, hints = folders
    out = tmp_path / "masks"
    if problem == "missing":
        hints = tmp_path / "nowhere"
    elif problem == "unmatched":
        (hints / "cell_1.tif").rename(hints / "other.tif")
    elif problem == "shape":
        tifffile.imwrite(hints / "cell_1.tif", np.zeros((10, 10), np.uint8) + 1)
    elif problem == "values":
        tifffile.imwrite(hints / "cell_1.tif", np.full((96, 96), 7, np.uint8))
    before = snapshot(hints)
    extra = []
    if problem == "out":  # even --overwrite never writes over a hint image
        out, extra = hints, ["--overwrite"]
    result = invoke("segment", images, "--out", out, "--hints", hints, *extra)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    expected = {"missing": "nowhere", "unmatched": "no hint image", "shape": "cell_1.tif", "values": "cell_1.tif", "out": "hint image"}
    assert expected[problem] in result.output
    assert snapshot(hints) == before
    if problem != "out":
        assert not out.exists() or not any(out.iterdir())
