import numpy as np
import pytest

from igtt.starts.field import out_of_field
from igtt.starts.images import RANGE_PERCENTILES, as_image_list, detect_polarity, intensity_range, normalize, orient


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
def test_any_numeric_dtype_is_accepted_without_a_copy(dtype):
    image = (np.arange(64).reshape(8, 8) % 2).astype(dtype)
    (out,) = as_image_list(image)
    assert out.dtype == image.dtype and out.shape == (8, 8)
    assert np.shares_memory(out, image)
    scaled = normalize(out)
    assert scaled.dtype == np.float32 and set(np.unique(scaled)) == {0.0, 1.0}


def test_stack_and_list_of_different_sizes():
    assert len(as_image_list(np.zeros((3, 10, 12)))) == 3
    assert [im.shape for im in as_image_list([np.zeros((5, 7)), np.zeros((9, 4))])] == [(5, 7), (9, 4)]


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([], ValueError, "empty"),
        (np.zeros((4, 4, 3)), ValueError, "RGB"),
        ([np.zeros((4, 4, 3))], ValueError, "RGB"),
        (np.zeros((2, 2, 2, 2)), ValueError, "2D"),
        ([np.zeros(5)], ValueError, "2D"),
        ([np.array([[np.nan, 1.0]])], ValueError, "NaN"),
        ([np.array([[np.inf, 1.0]])], ValueError, "NaN or inf"),
        ([np.array([["a", "b"]])], TypeError, "dtype"),
        ("image.tif", TypeError, "sequence"),
    ],
)
def test_bad_input_raises_with_a_clear_message(bad, error, match):
    with pytest.raises(error, match=match):
        as_image_list(bad)


def test_normalize_is_robust_to_hot_pixels_and_constant_images():
    image = np.random.default_rng(0).normal(100, 10, (64, 64))
    image[0, 0] = 1e6  # a hot pixel must not squash the rest
    out = normalize(image)
    assert out.min() == 0 and out.max() == 1
    assert np.median(out) == pytest.approx(0.5, abs=0.1)
    assert not normalize(np.full((5, 5), 7.0)).any()


@pytest.mark.parametrize("dark", [False, True])
def test_one_object_in_a_large_field_sets_the_range_not_the_noise(dark):
    rng = np.random.default_rng(0)
    field = rng.normal(100, 5, (600, 600))
    yy, xx = np.mgrid[:600, :600]
    disk = (yy - 300) ** 2 + (xx - 300) ** 2 < 12**2  # 0.13 % of the field: no percentile reaches it
    field[disk] += -400 if dark else 400
    lo, hi = intensity_range(field)
    assert (lo < -250) if dark else (hi > 450)  # the object's end is the object
    assert (95 < hi < 120) if dark else (80 < lo < 105)  # the other end stays the noise's percentile
    hot = rng.normal(100, 5, (600, 600))
    hot.flat[rng.choice(hot.size, 50, replace=False)] = 1e4  # fewer hot pixels than the tail: still a percentile
    assert intensity_range(hot)[1] < 120
    many = rng.normal(100, 5, (600, 600)) + 400 * ((yy % 60 - 30) ** 2 + (xx % 60 - 30) ** 2 < 12**2)  # a field of nuclei
    assert intensity_range(many) == tuple(np.percentile(many.astype(np.float32), RANGE_PERCENTILES))


def test_orient_inverts_dark_objects_and_detects_polarity(nuclei_images):
    images, masks = nuclei_images
    bright, polarity = orient(images, "auto")
    assert polarity == "bright"
    dark, polarity = orient([im.max() - im for im in images], "auto")
    assert polarity == "dark"
    for b, m in zip(bright, masks):
        assert b[m].mean() > b[~m].mean()
    with pytest.raises(ValueError, match="foreground"):
        orient(images, "light")
    assert detect_polarity([np.zeros((4, 4))]) == "bright"


def test_out_of_field_finds_a_padded_border_only():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.6, (100, 100)).astype(np.float32)
    image[:, 70:] = 1.0  # a flat bright region, 30 % of the image
    image[10:14, 10:14] = 1.0  # a small saturated object is not out of field
    oof = out_of_field(image)
    assert oof[:, 72:].all() and not oof[:, :60].any()


def test_fill_small_holes_fills_nucleoli_but_not_network_loops():
    from igtt.nn.postprocess import fill_small_holes

    mask = np.zeros((120, 120), bool)
    yy, xx = np.mgrid[:120, :120]
    mask |= (yy - 30) ** 2 + (xx - 30) ** 2 < 15**2  # a nucleus ...
    mask[28:32, 28:32] = False  # ... with a nucleolus
    mask[60:62, 10:110] = mask[100:102, 10:110] = True  # a loop of thin filaments
    mask[60:102, 10:12] = mask[60:102, 108:110] = True
    filled = fill_small_holes(mask)
    assert filled[28:32, 28:32].all()
    assert not filled[70:95, 20:100].any()


def test_typical_radius_in_strips_equals_the_whole_image_transform(monkeypatch):
    from scipy import ndimage as ndi

    from igtt.nn import postprocess

    mask = ndi.gaussian_filter(np.random.default_rng(3).random((260, 90)), 3) > 0.5
    regions, n = ndi.label(mask)
    distance = ndi.distance_transform_cdt(mask, metric="chessboard")
    radii = ndi.maximum(distance, regions, index=np.arange(1, n + 1))
    monkeypatch.setattr(postprocess, "_STRIP", 16)
    monkeypatch.setattr(postprocess, "_REACH", int(radii.max()) + 1)
    assert postprocess.typical_radius(mask) == np.median(radii)
