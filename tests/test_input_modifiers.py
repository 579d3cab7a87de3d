"""pyvis.input_modifiers: Jitter, Rotate, Scale.

Oracles: np.roll enumeration for Jitter's circular shifts; scipy.ndimage.rotate / zoom (the
functions tf-keras-vis's Rotate and Scale call) for the NumPy resampling.
"""

import numpy as np
import pytest
import scipy.ndimage as ndimage

from pyvis import backend
from pyvis.input_modifiers import (InputModifier, Jitter, Rotate, Rotate2D, Scale, rotate_image,
                                   using_generator, zoom_image)


def _find_roll(out, img, max_shift):
    """The spatial (dy, dx) with np.roll(img, (dy, dx)) == out, searched over the allowed box."""
    hits = []
    for dy in range(-max_shift[0], max_shift[0] + 1):
        for dx in range(-max_shift[1], max_shift[1] + 1):
            if np.array_equal(np.roll(img, (dy, dx), axis=(1, 2)), out):
                hits.append((dy, dx))
    return hits


@pytest.fixture
def img():
    return np.random.default_rng(7).normal(size=(1, 20, 30, 3)).astype(np.float32)


def test_base_modifier_is_identity(img):
    m = InputModifier()
    assert m.pre(img) is img and m.post(img) is img


def test_jitter_pixels_is_a_bounded_circular_shift(img):
    before = img.copy()
    j = Jitter(3)
    seen = set()
    for _ in range(60):
        out = j.pre(img)
        hits = _find_roll(out, img, (3, 3))
        assert hits, 'output is not a circular shift within +-3 pixels'
        seen.update(hits)
        assert j.post(out) is out        # keras-vis: no post
    np.testing.assert_array_equal(img, before)
    # The inclusive range [-3, 3] is used on both axes (49 combinations; 60 draws hit many).
    assert max(abs(d[0]) for d in seen) == 3 or max(abs(d[1]) for d in seen) == 3
    assert len(seen) > 15


def test_jitter_fraction_of_each_axis(img):
    # 0.1 of (20, 30) -> at most 2 rows and 3 columns.
    j = Jitter(0.1)
    cols = set()
    for _ in range(80):
        hits = _find_roll(j.pre(img), img, (2, 3))
        assert hits
        cols.update(abs(h[1]) for h in hits)
    assert 3 in cols


def test_jitter_per_axis_list(img):
    j = Jitter([0, 4])
    for _ in range(30):
        hits = _find_roll(j.pre(img), img, (0, 4))
        assert hits and all(h[0] == 0 for h in hits)


def test_jitter_validation(img):
    with pytest.raises(ValueError, match='Jitter value should be positive'):
        Jitter(-1)
    with pytest.raises(ValueError, match='positive'):
        Jitter([2, -0.5])
    with pytest.raises(ValueError, match='finite numbers'):
        Jitter('big')
    with pytest.raises(ValueError, match='3 jitter values'):
        Jitter([1, 2, 3]).pre(img)
    with pytest.raises(ValueError, match=r'\(4, 5\)'):
        Jitter(1).pre(np.zeros((4, 5)))


def test_jitter_reproducible_with_set_random_seed(img):
    j = Jitter(5)
    backend.set_random_seed(42)
    a = [j.pre(img) for _ in range(5)]
    backend.set_random_seed(42)
    b = [j.pre(img) for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_lent_generator_is_used_and_returned(img):
    j = Jitter(5)
    with using_generator([j], np.random.default_rng(3)):
        a = j.pre(img)
    with using_generator([j], np.random.default_rng(3)):
        b = j.pre(img)
    np.testing.assert_array_equal(a, b)
    assert j._rng is None


@pytest.mark.parametrize('angle', [0.0, 2.5, -3.0, 17.0, 90.0, -135.0])
def test_rotate_image_matches_scipy(angle):
    x = np.random.default_rng(1).normal(size=(2, 9, 12, 3))
    expect = ndimage.rotate(x, angle, axes=(1, 2), reshape=False, order=1, mode='reflect',
                            prefilter=False)
    np.testing.assert_allclose(rotate_image(x, angle, (1, 2)), expect, atol=1e-12)


def test_rotate_image_other_plane_and_dtype():
    x = np.random.default_rng(2).normal(size=(1, 5, 6, 7, 2)).astype(np.float32)
    expect = ndimage.rotate(x.astype(np.float64), 10.0, axes=(2, 3), reshape=False, order=1,
                            mode='reflect', prefilter=False)
    out = rotate_image(x, 10.0, (2, 3))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expect, atol=1e-5)


@pytest.mark.parametrize('factor', [0.5, 0.9, 1.0, 1.1, 1.37])
def test_zoom_image_matches_scipy_zoom_then_crop_or_pad(factor):
    x = np.random.default_rng(3).normal(size=(2, 9, 12, 3))
    z = ndimage.zoom(x, (1, factor, factor, 1), order=1, mode='reflect', prefilter=False)
    if factor > 1:
        z = z[tuple(slice((a - e) // 2, (a - e) // 2 + e) for a, e in zip(z.shape, x.shape))]
    elif factor < 1:
        z = np.pad(z, [((e - a) // 2, e - a - (e - a) // 2) for a, e in zip(z.shape, x.shape)],
                   mode='mean')
    out = zoom_image(x, factor)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, z, atol=1e-12)


def test_rotate_modifier_draws_angle_in_range(img):
    r = Rotate(degree=3.0)
    gen = np.random.default_rng(11)
    with using_generator([r], gen):
        out = r.pre(img)
    angle = np.random.default_rng(11).uniform(-3.0, 3.0)
    np.testing.assert_allclose(out, rotate_image(img, angle, (1, 2)), atol=1e-6)
    assert Rotate2D(5).axes == (1, 2) and Rotate2D(5).degree == 5.0


def test_rotate_validation(img):
    with pytest.raises(ValueError, match='two ints'):
        Rotate(axes=(1,))
    with pytest.raises(ValueError, match='degree'):
        Rotate(degree=-2)
    with pytest.raises(ValueError, match='spatial axes'):
        Rotate(axes=(0, 1)).pre(img)
    with pytest.raises(ValueError, match='at least 4'):
        Rotate().pre(np.zeros((1, 5, 2)))


def test_scale_modifier_draws_factor_in_range(img):
    s = Scale(0.8, 1.2)
    with using_generator([s], np.random.default_rng(5)):
        out = s.pre(img)
    factor = np.random.default_rng(5).uniform(0.8, 1.2)
    np.testing.assert_allclose(out, zoom_image(img, factor), atol=1e-6)
    assert out.shape == img.shape and out.dtype == img.dtype


def test_scale_validation():
    with pytest.raises(ValueError, match='low <= high'):
        Scale(1.2, 0.8)
    with pytest.raises(ValueError, match='low'):
        Scale(-1, 1)
