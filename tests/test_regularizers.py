"""pyvis.regularizers: TotalVariation and LPNorm values and gradients.

Oracles: explicit float64 loops written from keras-vis's formulas, np.linalg.norm, central
finite differences in float64, and the first-iteration numbers keras-vis's VGG16 notebook printed.
"""

import itertools

import numpy as np
import pytest

from pyvis.losses import Loss
from pyvis.regularizers import LPNorm, TotalVariation, normalize


class _Tape(object):
    """Minimal forward tape: every handle reads the same stored input value."""

    def __init__(self, x):
        self.x = x

    def value(self, handle):
        return self.x


def _tv_loops_2d(x, beta):
    """keras-vis's 2-D TV written as plain loops over (b, h<H-1, w<W-1, c)."""
    n, h, w, c = x.shape
    out = np.zeros(n)
    for b, i, j, k in itertools.product(range(n), range(h - 1), range(w - 1), range(c)):
        s = (x[b, i + 1, j, k] - x[b, i, j, k]) ** 2 + (x[b, i, j + 1, k] - x[b, i, j, k]) ** 2
        out[b] += s ** (beta / 2.0)
    return out / (h * w * c)


def _tv_loops_nd(x, beta):
    """The same for any number of spatial axes, by explicit per-location enumeration."""
    n, c = x.shape[0], x.shape[-1]
    spatial = x.shape[1:-1]
    out = np.zeros(n)
    for b in range(n):
        for loc in itertools.product(*[range(s - 1) for s in spatial]):
            for k in range(c):
                s = 0.0
                for d in range(len(spatial)):
                    nxt = list(loc)
                    nxt[d] += 1
                    s += (x[(b,) + tuple(nxt) + (k,)] - x[(b,) + loc + (k,)]) ** 2
                out[b] += s ** (beta / 2.0)
    return out / (np.prod(spatial) * c)


def _finite_diff(f, x, h=1e-6):
    """Central differences of the scalar f (sum over samples) at every element of x."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp = x.copy()
        xm = x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp).sum() - f(xm).sum()) / (2 * h)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------- TotalVariation

@pytest.mark.parametrize('beta', [1.5, 2.0, 3.0])
def test_tv_value_matches_loops_2d(rng, beta):
    x = rng.normal(size=(2, 5, 4, 3)) * 10
    values, grad = TotalVariation('img', beta=beta).value_and_grad(x)
    np.testing.assert_allclose(values, _tv_loops_2d(x, beta), rtol=1e-12)
    assert values.shape == (2,)


@pytest.mark.parametrize('shape', [(1, 7, 2), (2, 3, 4, 3, 2)])
def test_tv_value_matches_loops_other_ranks(rng, shape):
    x = rng.normal(size=shape)
    values, _ = TotalVariation('img', beta=2.5).value_and_grad(x)
    np.testing.assert_allclose(values, _tv_loops_nd(x, 2.5), rtol=1e-12)


@pytest.mark.parametrize('beta', [1.5, 2.0, 3.0])
@pytest.mark.parametrize('shape', [(2, 4, 5, 2), (1, 6, 3), (1, 3, 3, 2, 2)])
def test_tv_gradient_matches_finite_differences(rng, beta, shape):
    tv = TotalVariation('img', beta=beta)
    x = rng.normal(size=shape)
    _, grad = tv.value_and_grad(x)
    fd = _finite_diff(lambda a: tv.value_and_grad(a)[0], x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_tv_beta2_gradient_closed_form(rng):
    # For beta = 2 TV is a quadratic form: grad = (2/size) * sum_d D_d^T D_d x on the cropped grid.
    x = rng.normal(size=(1, 4, 5, 1))
    _, grad = TotalVariation('img').value_and_grad(x)
    size = 4 * 5 * 1
    expect = np.zeros_like(x)
    for i in range(3):
        for j in range(4):
            dv = x[0, i + 1, j, 0] - x[0, i, j, 0]
            dh = x[0, i, j + 1, 0] - x[0, i, j, 0]
            expect[0, i + 1, j, 0] += 2 * dv / size
            expect[0, i, j + 1, 0] += 2 * dh / size
            expect[0, i, j, 0] -= 2 * (dv + dh) / size
    np.testing.assert_allclose(grad, expect, rtol=1e-12, atol=1e-15)


def test_tv_flat_image_has_zero_value_and_finite_gradient():
    # beta < 2 makes s^(beta/2 - 1) infinite at s = 0: the subgradient 0 must be used.
    x = np.full((1, 4, 4, 3), 7.0)
    values, grad = TotalVariation('img', beta=1.5).value_and_grad(x)
    assert values[0] == 0.0
    assert np.all(grad == 0.0)


def test_tv_samples_are_independent(rng):
    tv = TotalVariation('img')
    x = rng.normal(size=(3, 4, 4, 2))
    values, grad = tv.value_and_grad(x)
    for b in range(3):
        v1, g1 = tv.value_and_grad(x[b:b + 1])
        np.testing.assert_allclose(values[b], v1[0], rtol=1e-12)
        np.testing.assert_allclose(grad[b], g1[0], rtol=1e-12)


def test_tv_evaluate_protocol(rng):
    x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    before = x.copy()
    tv = TotalVariation('img-handle')
    values, seeds = tv.evaluate(_Tape(x))
    assert isinstance(tv, Loss)
    assert values.dtype == np.float64 and values.shape == (2,)
    assert len(seeds) == 1
    handle, grad = seeds[0]
    assert handle == 'img-handle'
    assert grad.dtype == np.float32 and grad.shape == x.shape
    np.testing.assert_allclose(values, _tv_loops_2d(x.astype(np.float64), 2.0), rtol=1e-12)
    np.testing.assert_array_equal(x, before)


def test_tv_names_and_validation():
    assert TotalVariation('img').name == 'TV(2.0) Loss'
    assert str(TotalVariation('img', beta=3.)) == 'TV(3.0) Loss'
    with pytest.raises(ValueError, match='beta'):
        TotalVariation('img', beta=-1)
    with pytest.raises(ValueError, match=r'\(3, 5\)'):
        TotalVariation('img').value_and_grad(np.zeros((3, 5)))


def test_tv_matches_keras_vis_vgg16_first_iteration():
    # keras-vis's VGG16 notebook printed a weighted TV of about 6454 (weight 10) for its random
    # 224x224x3 seed with mean 127.5 and std 12.75 (uniform noise).
    u = np.random.default_rng(0).random((1, 224, 224, 3))
    x = (u - u.mean()) / (u.std() + 1e-7) * 12.75 + 127.5
    values, _ = TotalVariation('img').value_and_grad(x)
    np.testing.assert_allclose(10 * values[0], 6454, rtol=0.01)


# ---------------------------------------------------------------- LPNorm

@pytest.mark.parametrize('p', [1.0, 2.0, 3.5, 6.0])
def test_lpnorm_value_matches_numpy_norm(rng, p):
    x = rng.normal(size=(3, 4, 5, 2)) * 50
    values, _ = LPNorm('img', p=p).value_and_grad(x)
    expect = [np.linalg.norm(x[b].ravel(), ord=p) / x[b].size for b in range(3)]
    np.testing.assert_allclose(values, expect, rtol=1e-12)


@pytest.mark.parametrize('p', [1.0, 1.5, 2.0, 6.0, 11.0])
def test_lpnorm_gradient_matches_finite_differences(rng, p):
    lp = LPNorm('img', p=p)
    x = rng.normal(size=(2, 3, 4, 2))
    _, grad = lp.value_and_grad(x)
    fd = _finite_diff(lambda a: lp.value_and_grad(a)[0], x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_lpnorm_gradient_closed_form(rng):
    # d||x||_p/dx = sign(x) |x|^(p-1) / ||x||_p^(p-1), divided by the element count.
    x = rng.normal(size=(1, 3, 3, 2)) * 100
    p = 6.0
    _, grad = LPNorm('img', p=p).value_and_grad(x)
    norm = np.sum(np.abs(x) ** p) ** (1 / p)
    expect = np.sign(x) * np.abs(x) ** (p - 1) / norm ** (p - 1) / x.size
    np.testing.assert_allclose(grad, expect, rtol=1e-10)


def test_lpnorm_large_values_do_not_overflow():
    x = np.full((1, 8, 8, 3), 1e60)
    values, grad = LPNorm('img', p=12.).value_and_grad(x)
    expect = 1e60 * (x.size ** (1 / 12.)) / x.size
    np.testing.assert_allclose(values[0], expect, rtol=1e-12)
    assert np.all(np.isfinite(grad))


def test_lpnorm_inf_is_signed_max(rng):
    x = -np.abs(rng.normal(size=(2, 3, 3, 1))) - 1.0
    x[0, 1, 1, 0] = -0.5
    values, grad = LPNorm('img', p=np.inf).value_and_grad(x)
    # keras-vis quirk kept: the signed maximum, not max |x|.
    np.testing.assert_allclose(values, x.reshape(2, -1).max(axis=1) / 9, rtol=1e-12)
    expect0 = np.zeros((3, 3, 1))
    expect0[1, 1, 0] = 1.0 / 9
    np.testing.assert_allclose(grad[0], expect0)
    fd = _finite_diff(lambda a: LPNorm('img', p=np.inf).value_and_grad(a)[0], x)
    np.testing.assert_allclose(grad, fd, atol=1e-8)


def test_lpnorm_zero_image():
    values, grad = LPNorm('img').value_and_grad(np.zeros((1, 2, 2, 1)))
    assert values[0] == 0.0 and np.all(grad == 0.0)


def test_lpnorm_works_on_flat_inputs(rng):
    x = rng.normal(size=(2, 35))
    values, _ = LPNorm('img').value_and_grad(x)
    np.testing.assert_allclose(values[1], np.linalg.norm(x[1], 6) / 35, rtol=1e-12)


def test_lpnorm_evaluate_protocol(rng):
    x = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    values, seeds = LPNorm('in').evaluate(_Tape(x))
    assert values.shape == (1,) and values.dtype == np.float64
    (handle, grad), = seeds
    assert handle == 'in' and grad.dtype == np.float32 and grad.shape == x.shape


def test_lpnorm_names_and_validation():
    assert LPNorm('img').name == 'L-6.0 Norm Loss'
    assert str(LPNorm('img', p=2.)) == 'L-2.0 Norm Loss'
    with pytest.raises(ValueError, match=r'p value should range between \[1, inf\)'):
        LPNorm('img', p=0.5)
    with pytest.raises(ValueError, match='LPNorm'):
        LPNorm('img', p='six')


def test_lpnorm_matches_keras_vis_vgg16_first_iteration():
    # keras-vis's VGG16 notebook printed a weighted L-6 loss of about 0.063 (weight 10).
    u = np.random.default_rng(0).random((1, 224, 224, 3))
    x = (u - u.mean()) / (u.std() + 1e-7) * 12.75 + 127.5
    values, _ = LPNorm('img').value_and_grad(x)
    np.testing.assert_allclose(10 * values[0], 0.063, rtol=0.02)


# ---------------------------------------------------------------- normalize

def test_normalize_divides_by_elements_per_sample():
    x = np.zeros((7, 4, 5, 3))
    assert normalize(x, 120.0) == 2.0


def test_normalize_refuses_unknown_dims():
    class _Sym(object):
        shape = (None, None, None, 3)
    with pytest.raises(ValueError, match='unknown dims'):
        normalize(_Sym(), 1.0)
