import numpy as np
import pytest
import torch

from igtt.nn.infer import pad_to_multiple, predict_tiled, tile_layout


@pytest.mark.parametrize("length", [10, 32, 100, 1000, 1025, 1100, 4352, 4608, 16384])
@pytest.mark.parametrize("tile, overlap", [(32, 8), (512, 64), (1024, 64)])
def test_tiles_cover_everything_with_overlap_and_few_pixels_to_spare(length, tile, overlap):
    size, starts = tile_layout(length, tile, overlap)
    assert size <= tile and (size % 32 == 0 or starts == [0])
    assert starts[0] == 0 and starts[-1] + size == max(length, size)
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))
    fewest = 1 if length <= tile else -(-(length - overlap) // (tile - overlap))
    assert len(starts) == fewest
    # no tile runs past the end, and the tiles cover at most one 32 px step more per tile than they must
    assert len(starts) * size <= length + (len(starts) - 1) * overlap + 32 * len(starts) or starts == [0]


def test_an_1100_px_side_takes_two_small_tiles_not_two_of_1024():
    assert tile_layout(1100, 1024, 64) == (608, [0, 492])


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
