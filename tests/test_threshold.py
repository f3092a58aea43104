import numpy as np
import pytest
import torch

from igtt.nn.losses import joint_matrix
from igtt.nn.threshold import bright_side, threshold_search


def brute_force(p, k):
    ts = torch.linspace(p.min(), p.max(), k)
    dets = [torch.linalg.det(joint_matrix(p[None], (p > t).float()[None]))[0].abs() for t in ts]
    return ts[int(np.argmax(dets))]


def test_two_plateaus_split_between_them():
    p = torch.full((1, 10, 10), 0.1)
    p[0, :3] = 0.9
    masks, thresholds = threshold_search(p, n_thresholds=30)
    assert masks[0, :3].all() and not masks[0, 3:].any()
    assert 0.1 <= thresholds[0] < 0.9


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(3, 16, 16, generator=g) ** 3
    _, thresholds = threshold_search(p, n_thresholds=11)
    for i in range(3):
        assert thresholds[i].item() == pytest.approx(brute_force(p[i], 11).item(), abs=1e-6)


def test_constant_image_gives_empty_mask():
    masks, _ = threshold_search(torch.full((2, 5, 5), 0.3))
    assert not masks.any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_thresholds"):
        threshold_search(torch.rand(1, 4, 4), n_thresholds=2)
    with pytest.raises(ValueError, match="shape"):
        threshold_search(torch.rand(4, 4))


def test_bright_side_flips_a_background_mask():
    image = np.zeros((8, 8), np.float32)
    image[2:4, 2:4] = 1
    objects = image > 0.5
    assert (bright_side(~objects, image) == objects).all()
    assert (bright_side(objects, image) == objects).all()
