import numpy as np
import pytest

from igtt.study import label_noise as noise
from igtt.study.ntm import estimate_ntm

N = 400_000


def test_binary_flip_rates_follow_the_ntm(rng):
    clean = rng.random(N) < 0.3
    q = noise.binary_ntm(p10=0.2, p01=0.6)
    noisy = noise.apply_ntm(clean, q, rng)
    assert noisy.dtype == bool
    assert abs(noisy[~clean].mean() - 0.2) < 0.005  # P(noisy 1 | true 0)
    assert abs(1 - noisy[clean].mean() - 0.6) < 0.005  # P(noisy 0 | true 1)


def test_estimate_ntm_recovers_a_three_class_matrix(rng):
    q = np.array([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.3, 0.1, 0.6]])
    clean = rng.integers(0, 3, N).astype(np.uint8)
    noisy = noise.apply_ntm(clean, q, rng)
    assert noisy.dtype == np.uint8 and set(np.unique(noisy)) == {0, 1, 2}
    assert np.abs(estimate_ntm(clean, noisy, n_classes=3) - q).max() < 0.01


def test_symmetric_flip_moves_the_given_fraction_evenly(rng):
    clean = rng.integers(0, 4, N)
    noisy = noise.apply_ntm(clean, noise.symmetric_ntm(4, 0.45), rng)
    assert abs((noisy != clean).mean() - 0.45) < 0.005
    moved = noisy[(clean == 0) & (noisy != 0)]
    assert np.abs(np.bincount(moved, minlength=4)[1:] / moved.size - 1 / 3).max() < 0.01


def test_random_sample_keeps_labels_and_ignores_unsampled_foreground(rng):
    clean = rng.random((600, 600)) < 0.4
    labels, valid = noise.random_sample(clean, 0.1, rng)
    assert (labels == clean).all() and labels is not clean
    assert valid[~clean].all()
    assert abs(valid[clean].mean() - 0.1) < 0.005


def test_random_sample_exact_keeps_exactly_the_fraction(rng):
    clean = rng.random((300, 300)) < 0.4
    out = noise.random_sample_exact(clean, 0.1, rng)
    assert out.sum() == round(0.1 * clean.sum())
    assert not (out & ~clean).any()


def test_morphological_perturbations():
    clean = np.zeros((40, 40), bool)
    clean[10:30, 5:35] = True
    grown, shrunk, thin = noise.dilate(clean), noise.erode(clean), noise.skeleton(clean)
    assert grown.sum() == 22 * 32 and shrunk.sum() == 18 * 28
    assert noise.dilate(clean, iterations=2).sum() == 24 * 34
    assert (thin <= clean).all() and 0 < thin.sum() < 60
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True
    assert noise.erode(edge)[:, 0].all()  # the image border is not an object border


def test_random_label_ignores_the_truth(rng):
    rl = noise.random_label((700, 700), 0.1, rng)
    assert abs(rl.mean() - 0.1) < 0.003


def test_noise_is_reproducible_with_a_seed():
    clean = np.random.default_rng(1).random((50, 50)) < 0.5
    a = noise.apply_ntm(clean, noise.binary_ntm(0.3, 0.3), 7)
    b = noise.apply_ntm(clean, noise.binary_ntm(0.3, 0.3), 7)
    assert (a == b).all()


@pytest.mark.parametrize(
    "call",
    [
        lambda: noise.apply_ntm(np.zeros(4, int), [[0.5, 0.5], [0.4, 0.5]]),
        lambda: noise.apply_ntm(np.full(4, 2), noise.binary_ntm(0.1, 0.1)),
        lambda: noise.binary_ntm(1.2, 0),
        lambda: noise.random_sample(np.zeros(3), -0.1),
        lambda: noise.dilate(np.zeros((3, 3)), size=2),
    ],
)
def test_bad_arguments_are_refused(call):
    with pytest.raises(ValueError):
        call()
