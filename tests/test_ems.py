import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from igtt.training.ems import extract_meta_structure, random_keep, random_shift

masks = arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40)))


@settings(max_examples=40, deadline=None)
@given(mask=masks, radius=st.integers(0, 3), p=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_ems_keeps_shape_and_stays_near_skeleton(mask, radius, p, seed):
    meta = extract_meta_structure(mask, radius=radius, p_sample=p, rng=seed)
    assert meta.shape == mask.shape and meta.dtype == bool
    # every kept pixel lies within `radius` (chessboard) of a skeleton pixel
    near = ndi.binary_dilation(skeletonize(mask), np.ones((2 * radius + 1,) * 2), iterations=1) if radius else skeletonize(mask)
    assert not (meta & ~near).any()


@settings(max_examples=30, deadline=None)
@given(mask=masks, radius=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_shift_moves_at_most_radius_and_never_adds_pixels(mask, radius, seed):
    shifted = random_shift(mask, radius=radius, rng=seed)
    assert shifted.sum() <= mask.sum()
    near = ndi.binary_dilation(mask, np.ones((2 * radius + 1,) * 2)) if radius else mask
    assert not (shifted & ~near).any()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_kept_fraction_is_close_to_p_sample(p):
    mask = np.ones((400, 400), bool)
    kept = random_keep(mask, p_sample=p, rng=1)
    assert kept.mean() == pytest.approx(p, abs=0.01)


def test_ems_is_reproducible_with_a_seed():
    mask = np.zeros((50, 50), bool)
    mask[10:40, 10:40] = True
    a = extract_meta_structure(mask, p_sample=0.5, rng=3)
    b = extract_meta_structure(mask, p_sample=0.5, rng=np.random.default_rng(3))
    assert (a == b).all()


def test_bad_parameters():
    with pytest.raises(ValueError, match="radius"):
        random_shift(np.ones((3, 3), bool), radius=-1)
    with pytest.raises(ValueError, match="p_sample"):
        random_keep(np.ones((3, 3), bool), p_sample=1.5)
    with pytest.raises(ValueError, match="2D"):
        extract_meta_structure(np.ones((2, 3, 3), bool))
