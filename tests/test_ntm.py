import numpy as np
import pytest

from igtt.study.label_noise import binary_ntm, symmetric_ntm
from igtt.study.ntm import crd, estimate_ntm, min_crd, ntm_rank

# The papers' Table 4 (Cityscapes-3), matrices written row by row, with the smallest CRD and the rank.
TABLE4 = [
    ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], 2.0, 3),
    ([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.3, 0.1, 0.6]], 0.6, 3),
    ([[0.4, 0.3, 0.3], [0.3, 0.4, 0.3], [0.3, 0.3, 0.4]], 0.2, 3),
    ([[0.5, 0.5, 0.2], [0.2, 0.2, 0.2], [0.3, 0.3, 0.6]], 0.0, 2),
    ([[0.2, 0.3, 0.2], [0.1, 0.5, 0.1], [0.7, 0.2, 0.7]], 0.0, 2),
    ([[0.4, 0.4, 0.4], [0.3, 0.3, 0.3], [0.3, 0.3, 0.3]], 0.0, 1),
]


@pytest.mark.parametrize("q, d, rank", TABLE4)
def test_crd_and_rank_of_the_papers_table4(q, d, rank):
    assert min_crd(q) == pytest.approx(d)
    assert ntm_rank(q) == rank


def test_crd_of_the_papers_binary_examples():
    # Table 3: Q = [[0.79, 0.8], [0.21, 0.2]] has d = 0.02; a symmetric flip of 0.45 has d = 0.2
    assert crd([[0.79, 0.8], [0.21, 0.2]])[0, 1] == pytest.approx(0.02)
    assert min_crd(binary_ntm(0.45, 0.45)) == pytest.approx(0.2)
    assert min_crd(binary_ntm(0.7, 0.3)) == pytest.approx(0.0) and ntm_rank(binary_ntm(0.7, 0.3)) == 1
    d = crd(symmetric_ntm(3, 0.3))
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)


def test_estimate_ntm_counts_only_valid_pixels_and_marks_absent_classes():
    clean = np.array([0, 0, 1, 1, 1, 1])
    noisy = np.array([0, 1, 1, 0, 1, 1])
    valid = np.array([1, 1, 1, 0, 1, 1], bool)
    assert np.allclose(estimate_ntm(clean, noisy, valid=valid), [[0.5, 0], [0.5, 1]])
    q = estimate_ntm(np.zeros(4, int), np.zeros(4, int), n_classes=3)
    assert np.isnan(q[:, 1:]).all() and q[0, 0] == 1
    with pytest.raises(ValueError, match="shape"):
        estimate_ntm(np.zeros(3), np.zeros(4))
