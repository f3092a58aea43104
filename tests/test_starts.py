"""The default path, piece by piece: the blob and line starts, kind and size detection, the background, the Potts term, batches.

The start figures are golden: measured on fixed synthetic images when the
starts were last changed on purpose, so a change of behaviour shows here
first (and then in benchmarks/segment_quality.py on real images).
"""

import numpy as np
import pytest
import torch

from igtt import Config
from igtt.io.synthetic import make_filaments, make_nuclei
from igtt.nn.losses import potts_loss
from igtt.starts.background import Background
from igtt.starts.blobs import per_object_cut
from igtt.starts.images import orient
from igtt.starts.kinds import blob_diameter, detect_kind, estimate_size, own_diameter, resolve_objects
from igtt.starts.start import black_labels, start_labels
from igtt.training.batches import sample_batch

from .conftest import TINY


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def bright(images):
    return orient(images, "bright")[0]


def measures(start, truth):
    """Dice of the start's mask, precision of its confident foreground and background, fraction labelled."""
    fg, bg = start.foreground, start.background
    return dice(start.mask, truth), (fg & truth).sum() / fg.sum(), (bg & ~truth).sum() / bg.sum(), (fg | bg).mean()


def test_the_blob_start_on_nuclei():
    image, truth = make_nuclei((256, 256), n_nuclei=25, radius=(8, 12), rng=3)
    start = start_labels(bright([image])[0], kind="blobs", size=20.0)
    assert not (start.foreground & start.background).any()
    assert measures(start, truth) == pytest.approx((0.9406, 0.9958, 1.0, 0.9608), abs=0.01)


@pytest.mark.parametrize("rng, golden", [(0, (0.7883, 0.7347, 0.9995, 0.8506)), (1, (0.7571, 0.6816, 1.0, 0.8667))])
def test_the_line_start_on_filaments(rng, golden):
    images, truths = zip(*(make_filaments((256, 256), width=3, rng=r) for r in range(2)))
    oriented = bright(list(images))
    width = estimate_size(oriented, "lines")
    start = start_labels(oriented[rng], kind="lines", size=width)
    assert measures(start, truths[rng]) == pytest.approx(golden, abs=0.01)


def test_the_paper_start_is_all_background():
    start = black_labels(np.ones((4, 5)))
    assert not start.mask.any() and not start.foreground.any() and start.background.all()
    with pytest.raises(ValueError, match="start must be one of objects, black"):
        start_labels(np.ones((4, 5)), start="otsu")


def test_kinds_and_sizes_are_read_from_the_images():
    nuclei = bright([make_nuclei((256, 256), n_nuclei=25, radius=(8, 12), rng=r)[0] for r in range(2)])
    filaments = bright([make_filaments((256, 256), width=3, rng=r)[0] for r in range(2)])
    assert detect_kind(nuclei) == "blobs" and detect_kind(filaments) == "lines"
    assert 16 <= blob_diameter(nuclei) <= 24  # semi-axes 8-12: diameters 16-24
    assert 5 <= estimate_size(filaments, "lines") <= 10  # 3 px lines, widest where they cross
    kind, size, own = resolve_objects(nuclei, Config())
    assert kind == "blobs" and 16 <= size <= 24 and size == pytest.approx(np.median(own))  # the median of each image's own
    assert [own_diameter(n) for n in nuclei] == pytest.approx(own)
    assert resolve_objects(nuclei[::-1], Config()).size == size  # any order
    assert resolve_objects(nuclei, Config(objects="lines", object_size=7))[:2] == ("lines", 7.0)
    assert resolve_objects(nuclei, Config(objects="lines", start="black", object_size=7))[:2] == ("lines", None)  # no start, no background: no size
    assert resolve_objects(nuclei, Config(object_size=30))[:2] == ("blobs", 30.0)
    assert resolve_objects([np.zeros((8, 8))], Config())[:2] == ("blobs", 20.0)  # slivers say nothing: the fallback


def _ramp_with_discs():
    rows, cols = np.mgrid[:256, :256]
    ramp = (0.2 + 0.3 * cols / 255).astype(np.float32)
    discs = np.zeros((256, 256), np.float32)
    for r, c in np.random.default_rng(0).integers(20, 236, (15, 2)):
        discs[(rows - r) ** 2 + (cols - c) ** 2 < 8**2] = 0.5
    return ramp, discs


def test_the_background_is_the_ramp_under_the_objects_not_the_objects():
    ramp, discs = _ramp_with_discs()
    background = Background(ramp + discs, 16.0)
    full = background.full()
    assert np.abs(full - ramp)[discs == 0].mean() < 0.002 and np.abs(full - ramp)[discs > 0].mean() < 0.02
    assert np.array_equal(background.crop(slice(30, 100), slice(50, 200)), full[30:100, 50:200])  # tiles meet exactly
    assert background.small.shape[0] < 256  # kept at reduced size


def test_each_object_is_cut_at_its_own_peak():
    response = np.zeros((60, 120), np.float32)
    rows, cols = np.mgrid[:60, :120]
    for c, peak in ((30, 1.0), (90, 0.5)):  # a bright and a dim object: one level for both would cut them unlike
        response += peak * np.exp(-((rows - 30) ** 2 + (cols - c) ** 2) / (2 * 8**2))
    mask = per_object_cut(response)
    assert mask[30, 30] and mask[30, 90]
    assert abs(mask[:, :60].sum() - mask[:, 60:].sum()) < 0.1 * mask[:, :60].sum()  # both cut alike, at 30 % of their peak


def test_the_potts_term_by_hand():
    """Two pixels side by side: a cut between equal intensities costs its weight 1; across an edge it costs ~0."""
    p = torch.tensor([[[[1.0, 0.0]]]])
    valid = torch.ones_like(p)
    same = potts_loss(p, torch.tensor([[[[0.5, 0.5]]]]), valid, radius=1)
    edge = potts_loss(p, torch.tensor([[[[0.0, 1.0]]]]), valid, radius=1)
    assert same.item() == pytest.approx(1 / 2)  # one pair, cut, weight 1, per valid pixel
    assert edge.item() == pytest.approx(np.exp(-1 / (2 * 0.1**2)) / 2)
    assert potts_loss(torch.tensor([[[[1.0, 1.0]]]]), torch.tensor([[[[0.5, 0.5]]]]), valid, radius=1).item() == 0


def test_a_batch_of_crops_marks_padding_and_holds_the_anchors():
    config = Config(**{**TINY, "crop_size": 32, "batch_size": 4, "augment": False})
    small = np.full((20, 24), 0.5, np.float32)  # smaller than a crop: padded
    label = (np.ones_like(small), np.ones_like(small))
    x, y, w, real = sample_batch([small], [label], config, np.random.default_rng(0))
    assert x.shape == y.shape == w.shape == real.shape == (4, 1, 32, 32)
    assert real[:, 0, :20, :24].all() and not real[:, 0, 20:].any() and not w[:, 0, :, 24:].any()
    big = np.zeros((200, 200), np.float32)
    big[150, 170] = 1.0
    target = np.zeros_like(big)
    anchors = [None, np.array([[150, 170]])]
    x, *_ = sample_batch([np.zeros_like(big), big], [(target, target), (target, target)], config, np.random.default_rng(1), anchors, 0.5)
    assert (x[:2].amax(dim=(1, 2, 3)) == 1).all()  # half the crops (2 of 4) hold the anchored pixel
