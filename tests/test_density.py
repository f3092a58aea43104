import numpy as np
import pytest

from igtt.study.density import (
    circle_in_rectangle,
    density_curve,
    density_map,
    density_maps,
    figure10_labels,
    outline_positions,
)
from igtt.study.label_noise import apply_ntm, binary_ntm, random_label


def test_density_map_is_the_window_fraction_counted_by_hand(rng):
    labels = rng.random((40, 50)) < 0.3
    h = 3
    fast = density_map(labels, h)
    padded = np.pad(labels, h, mode="symmetric")  # scipy's "reflect" repeats the edge pixel
    for r, c in [(0, 0), (10, 20), (39, 49), (5, 47)]:
        window = padded[r : r + 2 * h + 1, c : c + 2 * h + 1]
        assert fast[r, c] == pytest.approx(window.mean(), abs=1e-6)


def test_circle_in_rectangle_has_two_density_levels():
    clean = circle_in_rectangle((256, 256))
    d = density_map(clean, 8)
    assert d[128, 128] == 1 and d[10, 10] == 0
    edges = outline_positions(clean, 128)
    assert len(edges) == 2 and edges[0] == pytest.approx(128 - 64, abs=1.5) and edges[1] == pytest.approx(128 + 64, abs=1.5)
    curve = density_curve(d, 128)
    assert curve[int(edges[0])] == pytest.approx(0.5, abs=0.1)


def test_full_rank_rcl_keeps_two_levels_and_rl_flattens_them(rng):
    # Theorem 1 / Fig. 10: a flip of p leaves levels 1 - p and p; a random label leaves one level
    clean = circle_in_rectangle((256, 256))
    inside, outside = np.zeros_like(clean), np.zeros_like(clean)
    inside[118:138, 118:138] = True
    outside[:20, :20] = True
    rcl = density_map(apply_ntm(clean, binary_ntm(0.3, 0.3), rng), 8)
    rl = density_map(random_label(clean.shape, 0.5, rng), 8)
    assert rcl[inside].mean() == pytest.approx(0.7, abs=0.03) and rcl[outside].mean() == pytest.approx(0.3, abs=0.03)
    assert abs(rl[inside].mean() - rl[outside].mean()) < 0.05


def test_density_maps_of_all_classes_sum_to_one(rng):
    labels = rng.integers(0, 3, (30, 30))
    maps = density_maps(labels, 2)
    assert maps.shape == (3, 30, 30) and np.allclose(maps.sum(0), 1)


def test_figure10_labels_and_figure(tmp_path):
    from igtt.study.plots import density_figure

    labels = figure10_labels(rng=0)
    assert list(labels)[0] == "CL" and all(v.shape == (256, 256) for v in labels.values())
    path = density_figure(labels, {k: density_map(v, 8) for k, v in labels.items()}, tmp_path / "f.png", row=128)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
