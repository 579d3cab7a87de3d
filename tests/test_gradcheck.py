"""Verify the oracle itself, then spot-check pyvis gradients numerically.

1. Every backward in tests/reference.py is checked against central finite
   differences of its own forward, in float64 (h = 1e-6, so the truncation
   error ~h^2 and the rounding error ~1e-16/h are both far below the 1e-6
   tolerance).
2. The reference forwards are checked against independent definitions:
   Keras 3 itself (torch backend, float64), brute-force per-pixel loops, and
   the TF padding table of keras-formats.md 4.8.
3. A few pyvis gradients are checked against finite differences of pyvis's
   own float32 forward (looser tolerance, justified at each test).
"""
import itertools

import numpy as np
import pytest

import reference as R

H_FD = 1e-6
TOL_FD = 1e-6


def numeric_grad(f, x, gy, h=H_FD):
    """Central-difference gradient of L(x) = sum(gy * f(x)) with respect to x."""
    x = np.array(x, dtype=np.float64)
    gx = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += h
        xm.flat[i] -= h
        gx.flat[i] = (np.sum(gy * f(xp)) - np.sum(gy * f(xm))) / (2 * h)
    return gx


def assert_fd(analytic, f, x, gy):
    numeric = numeric_grad(f, x, gy)
    err = R.rel_err(analytic, numeric)
    assert err <= TOL_FD, "analytic vs finite-difference gradient: rel err %.3g" % err


def distinct_values(rng, shape, spread=4.0):
    """Values all distinct by at least spread/size (no max ties, far above h)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n - 0.5) * spread


def away_from(rng, shape, points, margin=0.05, scale=2.0):
    """Normal values pushed at least `margin` away from each of `points`."""
    x = rng.standard_normal(shape) * scale
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin) * 2
    return x


# --------------------------------------------------------------------------
# 1. finite-difference checks of the reference backward
# --------------------------------------------------------------------------

CONV_CASES = [
    # (N, H, W, C, OC, KH, KW, strides, dilation, padding)
    (2, 5, 6, 2, 3, 3, 3, (1, 1), (1, 1), "valid"),
    (1, 5, 6, 2, 3, 3, 3, (1, 1), (1, 1), "same"),
    (2, 7, 6, 2, 2, 3, 2, (2, 2), (1, 1), "same"),
    (1, 6, 7, 3, 2, 2, 3, (2, 3), (1, 1), "valid"),
    (1, 7, 7, 1, 2, 3, 3, (1, 1), (2, 2), "same"),
    (2, 7, 8, 2, 2, 2, 3, (1, 1), (3, 2), "valid"),
    (1, 8, 7, 2, 2, 3, 3, (2, 2), (2, 1), "same"),  # stride and dilation together (core allows it)
    (1, 2, 3, 2, 2, 3, 3, (1, 1), (1, 1), "same"),  # kernel larger than the input
    (1, 4, 4, 2, 3, 1, 1, (2, 2), (1, 1), "same"),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_fd_conv2d(rng, case):
    n, h, w, c, oc, kh, kw, strides, dilation, padding = case
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, oc))
    b = rng.standard_normal(oc)
    y = R.conv2d(x, k, b, strides, dilation, padding)
    gy = rng.standard_normal(y.shape)
    gx = R.conv2d_backward(gy, x.shape, k, strides, dilation, padding)
    assert_fd(gx, lambda v: R.conv2d(v, k, b, strides, dilation, padding), x, gy)


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4, 5)], ids=str)
def test_fd_dense(rng, shape):
    x = rng.standard_normal(shape)
    k = rng.standard_normal((shape[-1], 4))
    b = rng.standard_normal(4)
    gy = rng.standard_normal(shape[:-1] + (4,))
    assert_fd(R.dense_backward(gy, k), lambda v: R.dense(v, k, b), x, gy)


POOL_CASES = [
    # (N, H, W, C, pool, strides, padding)
    (2, 4, 4, 2, (2, 2), (2, 2), "valid"),
    (1, 5, 7, 2, (2, 2), (2, 2), "same"),
    (2, 7, 6, 1, (3, 3), (2, 2), "same"),
    (1, 6, 7, 2, (3, 2), (1, 2), "valid"),
    (1, 5, 5, 2, (3, 3), (1, 1), "same"),
    (1, 7, 8, 1, (3, 3), (3, 3), "same"),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_fd_max_pool2d(rng, case):
    n, h, w, c, pool, strides, padding = case
    x = distinct_values(rng, (n, h, w, c))
    y = R.max_pool2d(x, pool, strides, padding)
    gy = rng.standard_normal(y.shape)
    gx = R.max_pool2d_backward(gy, x, pool, strides, padding)
    assert_fd(gx, lambda v: R.max_pool2d(v, pool, strides, padding), x, gy)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_fd_avg_pool2d(rng, case):
    n, h, w, c, pool, strides, padding = case
    x = rng.standard_normal((n, h, w, c))
    y = R.avg_pool2d(x, pool, strides, padding)
    gy = rng.standard_normal(y.shape)
    gx = R.avg_pool2d_backward(gy, x.shape, pool, strides, padding)
    assert_fd(gx, lambda v: R.avg_pool2d(v, pool, strides, padding), x, gy)


@pytest.mark.parametrize("keepdims", [False, True])
def test_fd_global_pools(rng, keepdims):
    x = distinct_values(rng, (2, 3, 4, 3))
    gy = rng.standard_normal((2, 1, 1, 3) if keepdims else (2, 3))
    assert_fd(R.global_avg_pool2d_backward(gy, x.shape),
              lambda v: R.global_avg_pool2d(v, keepdims), x, gy)
    assert_fd(R.global_max_pool2d_backward(gy, x),
              lambda v: R.global_max_pool2d(v, keepdims), x, gy)


def test_fd_reshape_flatten(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    gy = rng.standard_normal((2, 60))
    assert_fd(R.reshape_backward(gy, x.shape), R.flatten, x, gy)
    gy = rng.standard_normal((2, 6, 10))
    assert_fd(R.reshape_backward(gy, x.shape), lambda v: R.reshape(v, (6, -1)), x, gy)


ACTIVATIONS = [
    ("linear", {}), ("relu", {}), ("softmax", {}), ("sigmoid", {}), ("tanh", {}),
    ("elu", {}), ("elu", {"alpha": 0.7}), ("selu", {}), ("softplus", {}), ("softsign", {}),
    ("swish", {}), ("gelu", {}), ("gelu", {"approximate": True}),
    ("hard_sigmoid", {}), ("hard_sigmoid", {"slope": 0.2, "offset": 0.5}),
    ("exponential", {}), ("relu6", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.05}),
    ("relu_general", {"max_value": 2.5}),
    ("relu_general", {"negative_slope": 0.3}),
    ("relu_general", {"max_value": 4.0, "negative_slope": 0.1, "threshold": 1.0}),
]


@pytest.mark.parametrize("name,params", ACTIVATIONS, ids=lambda v: str(v))
def test_fd_activation(rng, name, params):
    # scale 3 so relu6 / hard_sigmoid / relu_general saturate somewhere
    x = away_from(rng, (3, 4, 5), R.kinks(name, **params), scale=3.0)
    gy = rng.standard_normal(x.shape)
    gx = R.activation_backward(gy, x, name, **params)
    assert_fd(gx, lambda v: R.activation(v, name, **params), x, gy)


def test_fd_relu_unmodified_rule(rng):
    x = away_from(rng, (4, 6), [0.0])
    gy = rng.standard_normal(x.shape)
    assert_fd(R.relu_backward(gy, x, None), lambda v: R.activation(v, "relu"), x, gy)


def test_fd_add(rng):
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    gy = rng.standard_normal((2, 3, 4))
    grads = R.add_backward(gy, 3)
    for k in range(3):
        def f(v, k=k):
            return R.add(*[v if i == k else xs[i] for i in range(3)])
        assert_fd(grads[k], f, xs[k], gy)


@pytest.mark.parametrize("axis", [-1, 1, 2, 3])
def test_fd_concatenate(rng, axis):
    base = (2, 3, 4, 2)
    sizes = [1, 3, 2]
    shapes = [tuple(s if d == axis % 4 else base[d] for d in range(4)) for s in sizes]
    xs = [rng.standard_normal(s) for s in shapes]
    y = R.concatenate(xs, axis)
    gy = rng.standard_normal(y.shape)
    grads = R.concatenate_backward(gy, sizes, axis)
    for k in range(3):
        def f(v, k=k):
            return R.concatenate([v if i == k else xs[i] for i in range(3)], axis)
        assert_fd(grads[k], f, xs[k], gy)


def test_fd_composed_network(rng):
    """Chain rule through conv -> relu -> maxpool -> flatten -> dense -> softmax,
    composing the reference backwards by hand."""
    x = rng.standard_normal((2, 6, 6, 2))
    k = rng.standard_normal((3, 3, 2, 3))
    b = rng.standard_normal(3) * 0.1
    wd = rng.standard_normal((27, 4))

    def forward(v):
        z = R.conv2d(v, k, b, padding="same")
        a = R.activation(z, "relu")
        p = R.max_pool2d(a, (2, 2), (2, 2), "same")
        return z, a, p, R.activation(R.dense(R.flatten(p), wd), "softmax")

    z, a, p, y = forward(x)
    assert np.min(np.abs(z)) > 1e-4, "draw too close to a ReLU kink for finite differences"
    gy = rng.standard_normal(y.shape)
    g = R.activation_backward(gy, R.dense(R.flatten(p), wd), "softmax")
    g = R.reshape_backward(R.dense_backward(g, wd), p.shape)
    g = R.max_pool2d_backward(g, a, (2, 2), (2, 2), "same")
    g = R.relu_backward(g, z)
    gx = R.conv2d_backward(g, x.shape, k, padding="same")
    assert_fd(gx, lambda v: forward(v)[3], x, gy)


# --------------------------------------------------------------------------
# 2. the reference forward against independent definitions
# --------------------------------------------------------------------------

# (in, k, s) -> same: out (top, bottom), valid out; copied from keras-formats.md 4.8
TF_PADDING_TABLE = [
    ((224, 3, 2), (112, 0, 1), 111),
    ((224, 7, 2), (112, 2, 3), 109),
    ((224, 1, 2), (112, 0, 0), 112),
    ((112, 3, 1), (112, 1, 1), 110),
    ((299, 3, 2), (150, 1, 1), 149),
    ((7, 2, 2), (4, 0, 1), 3),
]


@pytest.mark.parametrize("args,same,valid", TF_PADDING_TABLE, ids=str)
def test_window_geometry_matches_tf_table(args, same, valid):
    size, k, s = args
    assert R.window_geometry(size, k, s, 1, "same") == same
    assert R.window_geometry(size, k, s, 1, "valid")[0] == valid


def brute_conv2d(x, k, b, strides, dilation, padding):
    """Per-output-pixel loops straight from the Conv2D formula of keras-formats.md 5."""
    n, h, w, _ = x.shape
    kh, kw, _, oc = k.shape
    oh, top, _ = R.window_geometry(h, kh, strides[0], dilation[0], padding)
    ow, left, _ = R.window_geometry(w, kw, strides[1], dilation[1], padding)
    y = np.zeros((n, oh, ow, oc))
    for oy, ox, i, j in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        iy = oy * strides[0] + i * dilation[0] - top
        ix = ox * strides[1] + j * dilation[1] - left
        if 0 <= iy < h and 0 <= ix < w:  # outside = zero padding
            y[:, oy, ox, :] += x[:, iy, ix, :] @ k[i, j]
    return y + b


def brute_pool(x, pool, strides, padding, kind):
    n, h, w, c = x.shape
    oh, top, _ = R.window_geometry(h, pool[0], strides[0], 1, padding)
    ow, left, _ = R.window_geometry(w, pool[1], strides[1], 1, padding)
    y = np.zeros((n, oh, ow, c))
    for oy, ox in itertools.product(range(oh), range(ow)):
        y0, x0 = oy * strides[0] - top, ox * strides[1] - left
        win = x[:, max(y0, 0):y0 + pool[0], max(x0, 0):x0 + pool[1], :]  # real elements only
        y[:, oy, ox, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_reference_conv2d_matches_loops(rng, case):
    n, h, w, c, oc, kh, kw, strides, dilation, padding = case
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, oc))
    b = rng.standard_normal(oc)
    assert R.rel_err(R.conv2d(x, k, b, strides, dilation, padding),
                     brute_conv2d(x, k, b, strides, dilation, padding)) < 1e-13


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_reference_pools_match_loops(rng, case):
    n, h, w, c, pool, strides, padding = case
    x = rng.standard_normal((n, h, w, c))
    assert R.rel_err(R.max_pool2d(x, pool, strides, padding),
                     brute_pool(x, pool, strides, padding, "max")) == 0.0
    assert R.rel_err(R.avg_pool2d(x, pool, strides, padding),
                     brute_pool(x, pool, strides, padding, "avg")) < 1e-14


def _keras_np(t):
    """Keras 3 here runs on torch (conftest), so its tensors are torch tensors."""
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_reference_conv2d_matches_keras(rng, case):
    import keras
    n, h, w, c, oc, kh, kw, strides, dilation, padding = case
    if max(strides) > 1 and max(dilation) > 1:
        return  # Keras forbids stride > 1 with dilation > 1; loops above cover it
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, oc))
    b = rng.standard_normal(oc)
    layer = keras.layers.Conv2D(oc, (kh, kw), strides=strides, dilation_rate=dilation,
                                padding=padding, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([k, b])
    assert R.rel_err(R.conv2d(x, k, b, strides, dilation, padding), _keras_np(layer(x))) < 1e-12


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_reference_pools_match_keras(rng, case):
    import keras
    n, h, w, c, pool, strides, padding = case
    x = rng.standard_normal((n, h, w, c))
    got = _keras_np(keras.layers.MaxPooling2D(pool, strides, padding=padding, dtype="float64")(x))
    assert R.rel_err(R.max_pool2d(x, pool, strides, padding), got) == 0.0
    # Keras 3's torch backend counts padded zeros in 'same' average pooling (it pads
    # explicitly before calling torch), unlike TF and the documented semantics; so only
    # 'valid' is compared with Keras here, and 'same' is pinned by brute_pool above.
    if padding == "valid":
        got = _keras_np(keras.layers.AveragePooling2D(pool, strides, padding=padding,
                                                      dtype="float64")(x))
        assert R.rel_err(R.avg_pool2d(x, pool, strides, padding), got) < 1e-14


@pytest.mark.parametrize("name,params", ACTIVATIONS, ids=lambda v: str(v))
def test_reference_activation_matches_keras(rng, name, params):
    import keras
    x = rng.standard_normal((3, 4, 5)) * 3.0
    t = keras.ops.convert_to_tensor(x, dtype="float64")
    if name == "relu_general":
        got = keras.layers.ReLU(dtype="float64", **params)(t)
    elif name == "hard_sigmoid" and params:
        # Keras 2's hard_sigmoid clip(0.2 x + 0.5, 0, 1), built from Keras 3 ops
        got = keras.ops.clip(params["slope"] * t + params["offset"], 0.0, 1.0)
    elif name == "swish":
        got = keras.activations.silu(t)
    else:
        got = getattr(keras.activations, name)(t, **params)
    assert R.rel_err(R.activation(x, name, **params), _keras_np(got)) < 1e-13


def test_reference_global_pools_and_flatten_match_keras(rng):
    import keras
    x = rng.standard_normal((2, 3, 4, 5))
    t = keras.ops.convert_to_tensor(x, dtype="float64")
    for keep in (False, True):
        got = keras.layers.GlobalAveragePooling2D(keepdims=keep, dtype="float64")(t)
        # Keras 3's torch-backend mean computes in float32 even for float64 tensors
        assert R.rel_err(R.global_avg_pool2d(x, keep), _keras_np(got)) < 1e-6
        got = keras.layers.GlobalMaxPooling2D(keepdims=keep, dtype="float64")(t)
        assert R.rel_err(R.global_max_pool2d(x, keep), _keras_np(got)) == 0.0
    got = keras.layers.Flatten(dtype="float64")(t)
    assert R.rel_err(R.flatten(x), _keras_np(got)) == 0.0


# --------------------------------------------------------------------------
# 3. pyvis gradients vs finite differences of pyvis's own float32 forward
# --------------------------------------------------------------------------

def _pyvis_loss_and_grad(model, x, gy):
    tape = model.run(x)
    (gx,) = tape.backward([(model.output, gy)], wrt=[model.input])
    loss = float(np.sum(gy.astype(np.float64) * model.predict(x).astype(np.float64)))
    return loss, gx


def _pyvis_directional_check(model, x, gy, rng, h, tol, n_dirs=4):
    """Compare <grad, v> with (L(x + h v) - L(x - h v)) / 2h along random unit directions.
    float32 forward: the loss carries ~1e-7 relative rounding, so the difference
    quotient has ~1e-7*|L|/h absolute noise; h is chosen per test to keep both this
    and the h^2 truncation term below tol."""
    _, gx = _pyvis_loss_and_grad(model, x, gy)
    g64 = gy.astype(np.float64)
    for _ in range(n_dirs):
        v = rng.standard_normal(x.shape).astype(np.float32)
        v /= np.linalg.norm(v)
        lp = np.sum(g64 * model.predict((x + h * v).astype(np.float32)).astype(np.float64))
        lm = np.sum(g64 * model.predict((x - h * v).astype(np.float32)).astype(np.float64))
        numeric = (lp - lm) / (2 * h)
        analytic = float(np.sum(gx.astype(np.float64) * v))
        scale = np.linalg.norm(gx.astype(np.float64))
        assert abs(numeric - analytic) <= tol * scale, (numeric, analytic, scale)


def test_pyvis_linear_network_matches_finite_differences(rng):
    """conv(same, stride 2) -> avg pool(same) -> flatten -> dense, all linear:
    L is exactly linear in x, so there is no truncation error and a large h
    (0.5) makes the float32 rounding noise ~1e-6 relative; tol 1e-4."""
    from pyvis import layers, models
    inp = layers.Input(shape=(9, 7, 3))
    t = layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same")(inp)
    t = layers.AveragePooling2D((2, 2), padding="same")(t)
    t = layers.Flatten()(t)
    out = layers.Dense(5)(t)
    model = models.Model(inp, out)
    x = rng.standard_normal((2, 9, 7, 3)).astype(np.float32)
    gy = rng.standard_normal((2, 5)).astype(np.float32)
    _pyvis_directional_check(model, x, gy, rng, h=0.5, tol=1e-4)


def test_pyvis_smooth_network_matches_finite_differences(rng):
    """Dense -> tanh -> Dense -> softplus -> Dense -> softmax: smooth, so with
    h = 1e-2 the truncation error is ~h^2 = 1e-4 and rounding ~1e-7/h = 1e-5 of
    the gradient scale; tol 2e-3 leaves a wide margin."""
    from pyvis import layers, models
    inp = layers.Input(shape=(6,))
    t = layers.Dense(8, activation="tanh")(inp)
    t = layers.Dense(7, activation="softplus")(t)
    out = layers.Dense(4, activation="softmax")(t)
    model = models.Model(inp, out)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    gy = rng.standard_normal((3, 4)).astype(np.float32)
    _pyvis_directional_check(model, x, gy, rng, h=1e-2, tol=2e-3)
