"""Every engine op, forward and input-gradient, against the float64 NumPy reference.

Models are built through the public Keras-style API (pyvis.layers +
pyvis.models.Model) and run with model.predict, model.run(x).value and
model.run(x).backward.  A few op parameters that Keras layers cannot express
(stride together with dilation, Keras 2 hard_sigmoid, tanh-approximate GELU,
ELU alpha) are driven through pyvis._core.Graph directly.

Error metric (reference.rel_err): max|got - ref| / max(max|ref|, 1e-30), i.e. the
error relative to the largest reference value; the bound is 1e-5 (float32 engine
vs float64 reference).  Inputs are drawn away from ties: ReLU inputs at least
1e-4 of the range from 0, max-pool windows made of distinct values.
Batch sizes 1 and 3 everywhere.
"""
import itertools

import numpy as np
import pytest

import reference as R
from pyvis import _core, layers, models

TOL = 1e-5
BATCHES = [1, 3]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def f32(a):
    return np.asarray(a, dtype=np.float32)


def one_layer_model(layer, input_shape):
    inp = layers.Input(shape=input_shape)
    return models.Model(inp, layer(inp))


def run_model(model, x, gy):
    """Forward through predict and through a tape, backward of sum(gy * out) to the input."""
    y_pred = model.predict(x)
    tape = model.run(x)
    y_tape = tape.value(model.output)
    grads = tape.backward([(model.output, gy)], wrt=[model.input])
    assert isinstance(grads, list) and len(grads) == 1
    return y_pred, y_tape, grads[0]


def assert_close(got, ref, what, tol=TOL):
    got = np.asarray(got)
    assert got.dtype == np.float32, "%s: dtype %s, expected float32" % (what, got.dtype)
    err = R.rel_err(got, ref)
    assert err <= tol, "%s: relative error %.3g > %.1g" % (what, err, tol)


def check_single(model, x, y_ref, gy, gx_ref):
    y_pred, y_tape, gx = run_model(model, x, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    assert_close(gx, gx_ref, "input gradient")


def distinct_values(rng, shape, spread=4.0):
    """Pairwise-distinct float32-exact values: no max-pool ties."""
    n = int(np.prod(shape))
    return f32((rng.permutation(n).reshape(shape) / max(n, 1) - 0.5) * spread)


def away_from(rng, shape, points, margin=0.05, scale=2.0):
    x = rng.standard_normal(shape) * scale
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, 2 * margin, -2 * margin)
    return f32(x)


def draw_until_no_relu_ties(draw, pre_activation, tries=200):
    """Redraw until every pre-activation is clearly away from 0 (> 1e-4 of its range,
    ~100x the float32 rounding of a conv sum), so rounding cannot flip a ReLU
    decision against the reference."""
    for _ in range(tries):
        params = draw()
        z = pre_activation(*params)
        if np.min(np.abs(z)) > 1e-4 * np.max(np.abs(z)):
            return params
    raise RuntimeError("could not draw inputs away from ReLU ties")


# --------------------------------------------------------------------------
# Conv2D
# --------------------------------------------------------------------------

CONV_CASES = [
    # (H, W, C, OC, kernel, strides, dilation, padding, use_bias, activation)
    (8, 8, 3, 4, (3, 3), (1, 1), (1, 1), "valid", True, "linear"),
    (8, 8, 3, 4, (3, 3), (1, 1), (1, 1), "same", True, "relu"),
    (7, 9, 2, 5, (3, 3), (2, 2), (1, 1), "same", True, "linear"),
    (7, 9, 2, 5, (3, 3), (2, 2), (1, 1), "valid", False, "relu"),
    (9, 7, 3, 2, (5, 5), (1, 1), (1, 1), "same", True, "linear"),
    (10, 11, 1, 3, (2, 3), (3, 2), (1, 1), "same", True, "relu"),
    (10, 11, 4, 3, (3, 2), (1, 3), (1, 1), "valid", True, "linear"),
    (8, 9, 3, 4, (1, 1), (1, 1), (1, 1), "valid", True, "relu"),
    (8, 9, 3, 4, (1, 1), (2, 2), (1, 1), "same", False, "linear"),
    (9, 9, 2, 3, (3, 3), (1, 1), (2, 2), "same", True, "linear"),
    (11, 10, 2, 3, (3, 2), (1, 1), (2, 3), "valid", True, "relu"),
    (6, 7, 3, 2, (2, 2), (2, 2), (1, 1), "same", True, "relu"),
    (2, 3, 2, 3, (3, 3), (1, 1), (1, 1), "same", True, "linear"),   # kernel larger than input
    (1, 1, 5, 6, (3, 3), (2, 2), (1, 1), "same", True, "linear"),   # 1x1 image
    (5, 5, 16, 7, (3, 3), (1, 1), (1, 1), "same", True, "relu"),    # more channels
    (12, 13, 8, 16, (3, 3), (2, 2), (1, 1), "valid", True, "linear"),
    (9, 8, 3, 4, (4, 4), (3, 3), (1, 1), "same", True, "linear"),   # even kernel, odd padding
    (7, 7, 2, 2, (7, 7), (1, 1), (1, 1), "valid", True, "linear"),  # output 1x1
    # 3x3 stride-1 with >= 16 channels in and out: the fast (Winograd) path, with partial tiles
    (7, 9, 16, 16, (3, 3), (1, 1), (1, 1), "same", True, "relu"),
    (13, 6, 24, 17, (3, 3), (1, 1), (1, 1), "valid", False, "linear"),
    (3, 4, 32, 16, (3, 3), (1, 1), (1, 1), "same", True, "linear"),  # smaller than one tile
    (1, 1, 16, 20, (3, 3), (1, 1), (1, 1), "same", True, "relu"),
    (14, 14, 64, 64, (3, 3), (1, 1), (1, 1), "same", True, "linear"),
    (9, 10, 16, 16, (3, 3), (1, 1), (2, 2), "same", True, "linear"),  # dilated: not Winograd
]


def _conv_params(rng, case, n):
    h, w, c, oc, kernel, strides, dilation, padding, use_bias, act = case

    def draw():
        x = f32(rng.standard_normal((n, h, w, c)))
        k = f32(rng.standard_normal(kernel + (c, oc)) / np.sqrt(kernel[0] * kernel[1] * c))
        b = f32(rng.standard_normal(oc) * 0.5) if use_bias else None
        return x, k, b

    def pre(x, k, b):
        return R.conv2d(x, k, b, strides, dilation, padding)

    return draw_until_no_relu_ties(draw, pre) if act == "relu" else draw()


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(rng, case, n):
    h, w, c, oc, kernel, strides, dilation, padding, use_bias, act = case
    x, k, b = _conv_params(rng, case, n)
    layer = layers.Conv2D(oc, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                          use_bias=use_bias, activation=act)
    model = one_layer_model(layer, (h, w, c))
    layer.set_weights([k, b] if use_bias else [k])

    z = R.conv2d(x, k, b, strides, dilation, padding)
    y_ref = R.activation(z, act)
    gy = f32(rng.standard_normal(y_ref.shape))
    gx_ref = R.conv2d_backward(R.activation_backward(gy, z, act), x.shape, k,
                               strides, dilation, padding)
    check_single(model, x, y_ref, gy, gx_ref)


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("act", ["tanh", "elu", "softmax", "sigmoid"])
def test_conv2d_with_unfused_activation(rng, act, n):
    """Conv2D(activation=<not relu>) must equal conv then that activation."""
    x = f32(rng.standard_normal((n, 6, 7, 3)))
    k = f32(rng.standard_normal((3, 3, 3, 4)) / 3.0)
    b = f32(rng.standard_normal(4) * 0.1)
    layer = layers.Conv2D(4, 3, padding="same", activation=act)
    model = one_layer_model(layer, (6, 7, 3))
    layer.set_weights([k, b])
    z = R.conv2d(x, k, b, padding="same")
    gy = f32(rng.standard_normal(z.shape))
    check_single(model, x, R.activation(z, act), gy,
                 R.conv2d_backward(R.activation_backward(gy, z, act), x.shape, k, padding="same"))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("strides,dilation,padding", [
    ((2, 2), (2, 2), "same"), ((2, 1), (1, 3), "valid"), ((3, 2), (2, 2), "same")])
def test_core_conv2d_stride_with_dilation(rng, strides, dilation, padding, n):
    """Keras refuses stride > 1 with dilation > 1, but the core op takes both."""
    x = f32(rng.standard_normal((n, 11, 10, 3)))
    k = f32(rng.standard_normal((3, 2, 3, 4)) / 4.0)
    b = f32(rng.standard_normal(4))
    pad = {"valid": 0, "same": 1}[padding]
    graph = _core.Graph([
        (_core.OP_INPUT, (), (11, 10, 3), (), ()),
        (_core.OP_CONV2D, (0,), (3, 2) + strides + dilation + (pad, _core.ACT_LINEAR), (), (k, b)),
    ])
    tape = graph.forward([x])
    y_ref = R.conv2d(x, k, b, strides, dilation, padding)
    gy = f32(rng.standard_normal(y_ref.shape))
    (gx,) = tape.backward([(1, gy)], [0], _core.MOD_NONE)
    assert_close(tape.value(1), y_ref, "forward")
    assert_close(gx, R.conv2d_backward(gy, x.shape, k, strides, dilation, padding), "gradient")


# --------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------

DENSE_CASES = [
    # (per-sample input shape, units, use_bias, activation)
    ((7,), 5, True, "linear"),
    ((7,), 5, True, "relu"),
    ((1,), 1, False, "linear"),
    ((64,), 33, True, "relu"),
    ((300,), 10, True, "linear"),
    ((4, 6), 3, True, "linear"),          # rank 3: applies to the last axis
    ((3, 4, 5), 6, True, "relu"),         # rank 4
    ((2, 3, 9), 1, False, "linear"),
    ((4099,), 4103, True, "linear"),      # big enough to split across threads; odd sizes
]


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", DENSE_CASES, ids=str)
def test_dense(rng, case, n):
    shape, units, use_bias, act = case

    def draw():
        x = f32(rng.standard_normal((n,) + shape))
        k = f32(rng.standard_normal((shape[-1], units)) / np.sqrt(shape[-1]))
        b = f32(rng.standard_normal(units) * 0.5) if use_bias else None
        return x, k, b

    x, k, b = draw_until_no_relu_ties(draw, R.dense) if act == "relu" else draw()
    layer = layers.Dense(units, use_bias=use_bias, activation=act)
    model = one_layer_model(layer, shape)
    layer.set_weights([k, b] if use_bias else [k])
    z = R.dense(x, k, b)
    gy = f32(rng.standard_normal(z.shape))
    check_single(model, x, R.activation(z, act), gy,
                 R.dense_backward(R.activation_backward(gy, z, act), k))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("act", ["softmax", "sigmoid", "selu", "gelu", "swish"])
def test_dense_with_unfused_activation(rng, act, n):
    x = f32(rng.standard_normal((n, 2, 9)))
    k = f32(rng.standard_normal((9, 6)) / 3.0)
    b = f32(rng.standard_normal(6) * 0.1)
    layer = layers.Dense(6, activation=act)
    model = one_layer_model(layer, (2, 9))
    layer.set_weights([k, b])
    z = R.dense(x, k, b)
    gy = f32(rng.standard_normal(z.shape))
    check_single(model, x, R.activation(z, act), gy,
                 R.dense_backward(R.activation_backward(gy, z, act), k))


# --------------------------------------------------------------------------
# 2-D pooling
# --------------------------------------------------------------------------

POOL_CASES = [
    # (H, W, C, pool_size, strides (None = pool_size), padding)
    (8, 8, 3, (2, 2), None, "valid"),
    (8, 8, 3, (2, 2), None, "same"),
    (7, 9, 2, (2, 2), None, "valid"),
    (7, 9, 2, (2, 2), None, "same"),
    (7, 9, 2, (3, 3), (2, 2), "valid"),
    (7, 9, 2, (3, 3), (2, 2), "same"),
    (9, 7, 4, (3, 3), (1, 1), "same"),
    (9, 7, 4, (2, 3), (1, 2), "valid"),
    (10, 5, 1, (3, 1), (2, 1), "same"),
    (6, 6, 3, (3, 3), (3, 3), "same"),
    (5, 7, 2, (4, 4), (3, 3), "same"),
    (1, 1, 3, (2, 2), None, "same"),      # 1x1 input, window mostly padding
    (3, 4, 2, (3, 4), None, "valid"),     # window = whole image
    (8, 10, 64, (2, 2), None, "valid"),   # many channels (channel-innermost loops)
    (9, 9, 32, (2, 2), None, "same"),
    (7, 7, 64, (3, 3), (2, 2), "same"),   # overlapping windows
]


def _pool_geometry(case):
    h, w, c, pool, strides, padding = case
    return (h, w, c), pool, (strides if strides is not None else pool), padding


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pooling2d(rng, case, n):
    shape, pool, strides, padding = _pool_geometry(case)
    x = distinct_values(rng, (n,) + shape)
    model = one_layer_model(layers.MaxPooling2D(pool, case[4], padding=padding), shape)
    y_ref = R.max_pool2d(x, pool, strides, padding)
    gy = f32(rng.standard_normal(y_ref.shape))
    check_single(model, x, y_ref, gy, R.max_pool2d_backward(gy, x, pool, strides, padding))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_average_pooling2d(rng, case, n):
    shape, pool, strides, padding = _pool_geometry(case)
    x = f32(rng.standard_normal((n,) + shape))
    model = one_layer_model(layers.AveragePooling2D(pool, case[4], padding=padding), shape)
    y_ref = R.avg_pool2d(x, pool, strides, padding)
    gy = f32(rng.standard_normal(y_ref.shape))
    check_single(model, x, y_ref, gy, R.avg_pool2d_backward(gy, x.shape, pool, strides, padding))


def test_max_pooling2d_backward_goes_to_first_max_on_ties():
    """Exact ties (a constant window): the whole gradient goes to the first
    element of the window in row-major order, as in the reference."""
    x = f32(np.zeros((1, 4, 4, 1)))
    x[0, 2:, 2:, 0] = 3.0
    model = one_layer_model(layers.MaxPooling2D((2, 2)), (4, 4, 1))
    gy = f32(np.arange(1, 5).reshape(1, 2, 2, 1))
    _, _, gx = run_model(model, x, gy)
    assert_close(gx, R.max_pool2d_backward(gy, x, (2, 2), (2, 2)), "tie routing")


@pytest.mark.parametrize("pool,strides,padding", [((2, 2), (2, 2), "valid"),    # disjoint windows
                                                 ((3, 3), (2, 2), "same")],    # overlapping, padded
                         ids=["disjoint", "overlapping"])
def test_max_pooling2d_nan_wins_and_takes_the_gradient(pool, strides, padding):
    """A NaN in a window is its maximum (it propagates, as in NumPy), and backward sends that
    window's gradient to its first NaN (np.argmax's choice); other windows are unaffected."""
    rng = np.random.default_rng(5)
    x = f32(rng.standard_normal((2, 6, 6, 70)))          # 70 channels: a partial lane block
    x[0, 0, 1, 3] = x[0, 1, 0, 3] = np.nan               # two NaNs in one window
    x[1, 5, 5, 69] = np.nan
    model = one_layer_model(layers.MaxPooling2D(pool, strides, padding=padding), (6, 6, 70))
    gy = f32(rng.standard_normal((2, 3, 3, 70)))
    y, _, gx = run_model(model, x, gy)
    expected = R.max_pool2d(x, pool, strides, padding)
    assert np.array_equal(np.isnan(y), np.isnan(expected))
    assert np.isnan(y[0, 0, 0, 3]) and np.isnan(y[1, 2, 2, 69])
    assert_close(gx, R.max_pool2d_backward(gy, x, pool, strides, padding), "NaN routing")


def test_global_max_pooling2d_routes_nan_to_the_first_nan():
    rng = np.random.default_rng(6)
    x = f32(rng.standard_normal((2, 4, 5, 6)))
    x[0, 1, 2, 4] = x[0, 3, 0, 4] = np.nan
    model = one_layer_model(layers.GlobalMaxPooling2D(), (4, 5, 6))
    gy = f32(rng.standard_normal((2, 6)))
    y, _, gx = run_model(model, x, gy)
    assert np.isnan(y[0, 4]) and np.isfinite(np.delete(y, 4, axis=1)).all()
    assert_close(gx, R.global_max_pool2d_backward(gy, x), "NaN routing")


# --------------------------------------------------------------------------
# global pooling, reshape, flatten
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 1, 4), (8, 8, 16)], ids=str)
def test_global_pooling2d(rng, shape, keepdims, n):
    x = distinct_values(rng, (n,) + shape)
    gy = f32(rng.standard_normal((n, 1, 1, shape[2]) if keepdims else (n, shape[2])))
    model = one_layer_model(layers.GlobalAveragePooling2D(keepdims=keepdims), shape)
    check_single(model, x, R.global_avg_pool2d(x, keepdims), gy,
                 R.global_avg_pool2d_backward(gy, x.shape))
    model = one_layer_model(layers.GlobalMaxPooling2D(keepdims=keepdims), shape)
    check_single(model, x, R.global_max_pool2d(x, keepdims), gy,
                 R.global_max_pool2d_backward(gy, x))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("shape,target", [
    ((3, 4, 5), None), ((7, 1, 2), None), ((6,), None),
    ((3, 4, 5), (12, 5)), ((3, 4, 5), (-1, 10)), ((3, 4, 5), (2, 3, 10)), ((12,), (2, 2, 3)),
], ids=str)
def test_reshape_and_flatten(rng, shape, target, n):
    x = f32(rng.standard_normal((n,) + shape))
    layer = layers.Flatten() if target is None else layers.Reshape(target)
    y_ref = R.flatten(x) if target is None else R.reshape(x, target)
    gy = f32(rng.standard_normal(y_ref.shape))
    check_single(one_layer_model(layer, shape), x, y_ref, gy, R.reshape_backward(gy, x.shape))


def test_flatten_is_nhwc_c_order(rng):
    """Flatten index (y*W + x)*C + c, exactly NumPy's C order over (H, W, C)."""
    x = f32(rng.standard_normal((2, 3, 4, 5)))
    y = one_layer_model(layers.Flatten(), (3, 4, 5)).predict(x)
    assert np.array_equal(y, x.reshape(2, -1))
    assert y[1, (2 * 4 + 1) * 5 + 3] == x[1, 2, 1, 3]


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------

# names Activation() accepts, with the reference name they map to (Keras 3 semantics)
ACTIVATION_LAYER_CASES = [
    ("linear", "linear"), ("relu", "relu"), ("softmax", "softmax"), ("sigmoid", "sigmoid"),
    ("tanh", "tanh"), ("elu", "elu"), ("selu", "selu"), ("softplus", "softplus"),
    ("softsign", "softsign"), ("swish", "swish"), ("silu", "swish"), ("gelu", "gelu"),
    ("hard_sigmoid", "hard_sigmoid"), ("exponential", "exponential"), ("relu6", "relu6"),
    ("leaky_relu", "leaky_relu"),
]


def _activation_input(rng, shape, ref_name, **params):
    return away_from(rng, shape, R.kinks(ref_name, **params), scale=3.0)


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("keras_name,ref_name", ACTIVATION_LAYER_CASES, ids=str)
@pytest.mark.parametrize("shape", [(11,), (4, 5, 6)], ids=str)
def test_activation_layer(rng, keras_name, ref_name, shape, n):
    x = _activation_input(rng, (n,) + shape, ref_name)
    gy = f32(rng.standard_normal(x.shape))
    check_single(one_layer_model(layers.Activation(keras_name), shape), x,
                 R.activation(x, ref_name), gy, R.activation_backward(gy, x, ref_name))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("params", [
    {}, {"max_value": 6.0}, {"max_value": 2.5}, {"negative_slope": 0.3},
    {"threshold": 0.5}, {"max_value": 4.0, "negative_slope": 0.1, "threshold": 1.0},
], ids=str)
def test_relu_layer(rng, params, n):
    x = _activation_input(rng, (n, 4, 5, 3), "relu_general", **params)
    gy = f32(rng.standard_normal(x.shape))
    check_single(one_layer_model(layers.ReLU(**params), (4, 5, 3)), x,
                 R.activation(x, "relu_general", **params), gy,
                 R.activation_backward(gy, x, "relu_general", **params))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("shape", [(10,), (3, 4, 7)], ids=str)
def test_softmax_layer(rng, shape, n):
    x = f32(rng.standard_normal((n,) + shape) * 3.0)
    gy = f32(rng.standard_normal(x.shape))
    check_single(one_layer_model(layers.Softmax(), shape), x, R.activation(x, "softmax"), gy,
                 R.activation_backward(gy, x, "softmax"))


# parameters only reachable through the core (Keras 2 file semantics, non-default args)
CORE_ACTIVATION_CASES = [
    ("elu", "ACT_ELU", 0, (0.7, 0.0, 0.0), {"alpha": 0.7}),
    ("leaky_relu", "ACT_LEAKY_RELU", 0, (0.05, 0.0, 0.0), {"negative_slope": 0.05}),
    ("hard_sigmoid", "ACT_HARD_SIGMOID", 0, (0.2, 0.5, 0.0), {"slope": 0.2, "offset": 0.5}),
    ("gelu", "ACT_GELU", 1, (0.0, 0.0, 0.0), {"approximate": True}),
    ("gelu", "ACT_GELU", 0, (0.0, 0.0, 0.0), {"approximate": False}),
    ("relu_general", "ACT_RELU_GENERAL", 0, (np.inf, 0.2, 0.5),
     {"max_value": None, "negative_slope": 0.2, "threshold": 0.5}),
    ("relu_general", "ACT_RELU_GENERAL", 0, (3.0, 0.0, 0.0), {"max_value": 3.0}),
]


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("name,const,flag,fparams,params", CORE_ACTIVATION_CASES, ids=str)
def test_core_activation_parameters(rng, name, const, flag, fparams, params, n):
    x = _activation_input(rng, (n, 3, 4, 5), name, **params)
    graph = _core.Graph([
        (_core.OP_INPUT, (), (3, 4, 5), (), ()),
        (_core.OP_ACTIVATION, (0,), (getattr(_core, const), flag), fparams, ()),
    ])
    tape = graph.forward([x])
    gy = f32(rng.standard_normal(x.shape))
    (gx,) = tape.backward([(1, gy)], [0], _core.MOD_NONE)
    assert_close(tape.value(1), R.activation(x, name, **params), "forward")
    assert_close(gx, R.activation_backward(gy, x, name, **params), "gradient")


# --------------------------------------------------------------------------
# merges (multi-input models)
# --------------------------------------------------------------------------

def run_multi_input(model, xs, gy):
    y_pred = model.predict(xs)
    tape = model.run(xs)
    grads = tape.backward([(model.output, gy)], wrt=list(model.inputs))
    assert len(grads) == len(xs)
    return y_pred, tape.value(model.output), grads


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("shape", [(5,), (4, 3, 2)], ids=str)
def test_add(rng, shape, count, n):
    inputs = [layers.Input(shape=shape) for _ in range(count)]
    model = models.Model(inputs, layers.Add()(inputs))
    xs = [f32(rng.standard_normal((n,) + shape)) for _ in range(count)]
    gy = f32(rng.standard_normal((n,) + shape))
    y_pred, y_tape, grads = run_multi_input(model, xs, gy)
    y_ref = R.add(*xs)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    for g, g_ref in zip(grads, R.add_backward(gy, count)):
        assert_close(g, g_ref, "input gradient")


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("axis", [-1, 1, 2, 3])
def test_concatenate(rng, axis, n):
    base = (4, 5, 3)
    sizes = [2, 1, 3]
    shapes = [tuple(s if d + 1 == axis % 4 else base[d] for d in range(3)) for s in sizes]
    inputs = [layers.Input(shape=s) for s in shapes]
    model = models.Model(inputs, layers.Concatenate(axis=axis)(inputs))
    xs = [f32(rng.standard_normal((n,) + s)) for s in shapes]
    y_ref = R.concatenate(xs, axis)
    gy = f32(rng.standard_normal(y_ref.shape))
    y_pred, y_tape, grads = run_multi_input(model, xs, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    for g, g_ref in zip(grads, R.concatenate_backward(gy, sizes, axis)):
        assert_close(g, g_ref, "input gradient")


def test_dropout_is_identity(rng):
    x = f32(rng.standard_normal((3, 4, 5)))
    gy = f32(rng.standard_normal(x.shape))
    check_single(one_layer_model(layers.Dropout(0.5), (4, 5)), x, x, gy, gy)


# --------------------------------------------------------------------------
# tape semantics: seeds accumulate, any node can be a seed or a wrt target
# --------------------------------------------------------------------------

def _chain_model():
    inp = layers.Input(shape=(6, 6, 2))
    conv = layers.Conv2D(3, 3, padding="same", name="conv")
    pool = layers.AveragePooling2D(2, name="pool")
    dense = layers.Dense(4, activation="tanh", name="dense")
    out = dense(layers.Flatten(name="flat")(pool(conv(inp))))
    return models.Model(inp, out), conv, pool, dense


@pytest.mark.parametrize("n", BATCHES)
def test_seeds_accumulate_and_intermediate_wrt(rng, n):
    model, conv, pool, dense = _chain_model()
    k = f32(rng.standard_normal((3, 3, 2, 3)) / 4)
    b = f32(rng.standard_normal(3))
    wd = f32(rng.standard_normal((27, 4)) / 5)
    bd = f32(rng.standard_normal(4))
    conv.set_weights([k, b])
    dense.set_weights([wd, bd])
    x = f32(rng.standard_normal((n, 6, 6, 2)))

    z = R.conv2d(x, k, b, padding="same")
    p = R.avg_pool2d(z, (2, 2), (2, 2))
    d = R.dense(R.flatten(p), wd, bd)
    g_out = f32(rng.standard_normal((n, 4)))
    g_pool = f32(rng.standard_normal(p.shape))
    g_in = f32(rng.standard_normal(x.shape))

    gp_ref = R.reshape_backward(R.dense_backward(R.activation_backward(g_out, d, "tanh"), wd),
                                p.shape) + g_pool
    gz_ref = R.avg_pool2d_backward(gp_ref, z.shape, (2, 2), (2, 2))
    gx_ref = R.conv2d_backward(gz_ref, x.shape, k, padding="same") + g_in

    tape = model.run(x)
    assert tape.batch == n
    assert_close(tape.value(conv.output), z, "conv value")
    assert_close(tape.value("pool"), p, "pool value by name")
    gx, gp, gz = tape.backward([(model.output, g_out), (pool.output, g_pool), (model.input, g_in)],
                               wrt=[model.input, pool, conv.output])
    assert_close(gx, gx_ref, "input gradient")
    assert_close(gp, gp_ref, "gradient at pool output")
    assert_close(gz, gz_ref, "gradient at conv output")


def test_tensor_handles_are_equivalent(rng):
    """A KerasTensor, its Layer, its name and its index in model.layers all name one node."""
    model, conv, pool, _ = _chain_model()
    x = f32(rng.standard_normal((2, 6, 6, 2)))
    tape = model.run(x)
    idx = model.layers.index(pool)
    ref = tape.value(pool.output)
    for handle in (pool, "pool", idx):
        assert np.array_equal(tape.value(handle), ref)


def test_backward_twice_on_one_tape_is_repeatable(rng):
    model, *_ = _chain_model()
    x = f32(rng.standard_normal((2, 6, 6, 2)))
    gy = f32(rng.standard_normal((2, 4)))
    tape = model.run(x)
    (g1,) = tape.backward([(model.output, gy)])
    (g2,) = tape.backward([(model.output, gy)])
    assert np.array_equal(g1, g2)


def _wino_conv_model():
    """Conv 3x3/1 with 16 -> 16 channels (eligible for pre-transformed Winograd weights)."""
    layer = layers.Conv2D(16, 3, padding="same", name="conv16")
    return one_layer_model(layer, (6, 7, 16)), layer


def test_tapes_are_independent(rng):
    """A second forward (other data, other batch size) must not disturb an earlier tape."""
    model, layer = _wino_conv_model()
    k = f32(rng.standard_normal((3, 3, 16, 16)) / 12)
    layer.set_weights([k, np.zeros(16, np.float32)])
    x1 = f32(rng.standard_normal((3, 6, 7, 16)))
    x2 = f32(rng.standard_normal((1, 6, 7, 16)))
    gy1 = f32(rng.standard_normal((3, 6, 7, 16)))
    tape1 = model.run(x1)
    tape2 = model.run(x2)
    assert_close(tape1.value(model.output), R.conv2d(x1, k, padding="same"), "first tape value")
    (g1,) = tape1.backward([(model.output, gy1)])
    assert_close(g1, R.conv2d_backward(gy1, x1.shape, k, padding="same"), "first tape gradient")
    assert_close(tape2.value(model.output), R.conv2d(x2, k, padding="same"), "second tape value")


def test_set_weights_after_first_run_is_used(rng):
    """Weights changed after the graph was compiled (in place or replaced) take effect,
    including any pre-transformed (Winograd) copy of the kernel."""
    model, layer = _wino_conv_model()
    x = f32(rng.standard_normal((2, 6, 7, 16)))
    gy = f32(rng.standard_normal((2, 6, 7, 16)))
    for _ in range(3):
        k = f32(rng.standard_normal((3, 3, 16, 16)) / 12)
        b = f32(rng.standard_normal(16))
        layer.set_weights([k, b])
        tape = model.run(x)
        assert_close(model.predict(x), R.conv2d(x, k, b, padding="same"), "predict after set_weights")
        (gx,) = tape.backward([(model.output, gy)])
        assert_close(gx, R.conv2d_backward(gy, x.shape, k, padding="same"), "gradient after set_weights")


def test_predict_in_batches(rng):
    """predict's batch_size only splits the work (the summation order may change with
    the batch, so each split is held to the reference, not to bitwise equality)."""
    model, layer = _wino_conv_model()
    k = f32(rng.standard_normal((3, 3, 16, 16)) / 12)
    layer.set_weights([k, np.zeros(16, np.float32)])
    x = f32(rng.standard_normal((5, 6, 7, 16)))
    y_ref = R.conv2d(x, k, padding="same")
    for batch_size in (None, 1, 2, 5, 64):
        assert_close(model.predict(x, batch_size=batch_size), y_ref, "batch_size=%s" % batch_size)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_does_not_change_results(rng, threads):
    """Every thread count (including more threads than cores) gives reference results."""
    inp = layers.Input(shape=(9, 8, 16))
    conv = layers.Conv2D(16, 3, padding="same")
    dense = layers.Dense(5)
    t = layers.MaxPooling2D(2, padding="same")(conv(inp))
    out = dense(layers.Flatten()(layers.AveragePooling2D(2)(t)))
    model = models.Model(inp, out)
    k = f32(rng.standard_normal((3, 3, 16, 16)) / 12)
    b = f32(rng.standard_normal(16))
    wd = f32(rng.standard_normal((64, 5)) / 8)
    bd = f32(rng.standard_normal(5))
    conv.set_weights([k, b])
    dense.set_weights([wd, bd])
    x = f32(rng.standard_normal((3, 9, 8, 16)))
    gy = f32(rng.standard_normal((3, 5)))
    z = R.conv2d(x, k, b, padding="same")
    m = R.max_pool2d(z, (2, 2), (2, 2), "same")
    a = R.avg_pool2d(m, (2, 2), (2, 2))
    y_ref = R.dense(R.flatten(a), wd, bd)
    g = R.reshape_backward(R.dense_backward(gy, wd), a.shape)
    g = R.max_pool2d_backward(R.avg_pool2d_backward(g, m.shape, (2, 2), (2, 2)), z, (2, 2), (2, 2), "same")
    gx_ref = R.conv2d_backward(g, x.shape, k, padding="same")
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(threads)
        assert _core.get_num_threads() == threads
        check_single(model, x, y_ref, gy, gx_ref)
    finally:
        _core.set_num_threads(before)
