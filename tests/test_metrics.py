import numpy as np
import pytest

from igtt.io.metrics import confusion, roc_auc, scores


def test_scores_by_hand():
    pred = np.array([1, 1, 0, 0, 1], bool)
    truth = np.array([1, 0, 1, 0, 1], bool)
    # tp = 2, fp = 1, fn = 1, tn = 1
    assert confusion(pred, truth) == (2, 1, 1, 1)
    s = scores(pred, truth)
    assert s["dice"] == pytest.approx(4 / 6)
    assert s["iou"] == pytest.approx(2 / 4)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["accuracy"] == pytest.approx(3 / 5)


def test_region_restricts_the_counts():
    pred = np.array([1, 1, 0, 0], bool)
    truth = np.array([1, 0, 0, 0], bool)
    assert confusion(pred, truth, region=np.array([1, 0, 1, 1], bool)) == (1, 0, 0, 2)


def test_empty_truth_and_prediction_is_nan_not_an_error():
    assert np.isnan(scores(np.zeros(4, bool), np.zeros(4, bool))["dice"])


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        scores(np.zeros(3, bool), np.zeros(4, bool))


def test_auc_against_pair_counting():
    rng = np.random.default_rng(0)
    proba = rng.integers(0, 5, 200) / 4  # many ties
    truth = rng.random(200) < 0.3
    pos, neg = proba[truth], proba[~truth]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(proba, truth) == pytest.approx(expected)
    assert roc_auc(truth.astype(float), truth) == pytest.approx(1.0)
