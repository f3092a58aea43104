import numpy as np
import pytest
import torch

from igtt.infer import pad_to_multiple, predict_tiled, tile_starts


@pytest.mark.parametrize("length, tile, overlap", [(100, 32, 8), (32, 32, 8), (10, 32, 8), (1000, 512, 64)])
def test_tiles_cover_everything_with_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered[:length].all()
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_pad_to_multiple_keeps_the_top_left():
    image = np.arange(35, dtype=np.float32).reshape(5, 7)
    padded = pad_to_multiple(image, 32)
    assert padded.shape == (32, 32)
    assert (padded[:5, :7] == image).all()


@pytest.mark.parametrize("shape", [(50, 70), (300, 260), (32, 32)])
def test_tiled_prediction_equals_whole_image_prediction_for_a_pointwise_net(shape):
    net = torch.nn.Conv2d(1, 1, 1)
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    tiled = predict_tiled(net, image, device=torch.device("cpu"), tile_size=64, tile_overlap=16)
    with torch.no_grad():
        whole = torch.sigmoid(net(torch.from_numpy(image)[None, None]))[0, 0].numpy()
    assert tiled.shape == shape
    assert np.allclose(tiled, whole, atol=1e-6)


def test_a_tile_transform_equals_transforming_the_whole_image_first():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 1, 1))
    raw = np.random.default_rng(1).integers(0, 60000, (200, 170)).astype(np.uint16)
    scale = lambda a, rows=None, cols=None: a.astype(np.float32) / 60000  # noqa: E731
    kw = dict(device=torch.device("cpu"), tile_size=64, tile_overlap=16)
    lazy = predict_tiled(net, raw, transform=scale, **kw)
    eager = predict_tiled(net, scale(raw), **kw)
    assert lazy.dtype == np.float32 and np.array_equal(lazy, eager)
