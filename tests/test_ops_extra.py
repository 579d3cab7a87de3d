"""The layers keras.applications need beyond the core set, against independent oracles.

Ops: BatchNormalization, Rescaling, Normalization (native OP_AFFINE), ZeroPadding2D, Cropping2D,
UpSampling2D, DepthwiseConv2D, SeparableConv2D, Multiply, Average, Maximum, and global pooling
with keepdims as Keras 3 applications emit it.

1. Every new backward in tests/reference.py against central finite differences of its own
   forward (float64, h = 1e-6; truncation ~h^2 and rounding ~1e-16/h both << 1e-6).
2. Every new reference forward against Keras 3 itself (torch backend, float64 layers).
3. pyvis forward (predict and tape.value) and input gradient against the reference:
   relative error (reference.rel_err) <= 1e-5, batches 1 and 3, over shape grids.
4. Keras configs build pyvis layers, weights come in Keras's order and shapes; bad
   parameters raise clear errors; the backprop-modifier warning for ReLU6 and friends.
"""
import warnings

import keras
import numpy as np
import pytest

import reference as R
from pyvis import _core, layers, models

TOL = 1e-5
BATCHES = [1, 3]
H_FD = 1e-6


def f32(a):
    return np.asarray(a, dtype=np.float32)


def numeric_grad(f, x, gy, h=H_FD):
    x = np.array(x, dtype=np.float64)
    gx = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += h
        xm.flat[i] -= h
        gx.flat[i] = (np.sum(gy * f(xp)) - np.sum(gy * f(xm))) / (2 * h)
    return gx


def assert_fd(analytic, f, x, gy):
    err = R.rel_err(analytic, numeric_grad(f, x, gy))
    assert err <= 1e-6, "analytic vs finite-difference gradient: rel err %.3g" % err


def keras_np(t):
    return t.detach().cpu().numpy()


def assert_close(got, ref, what, tol=TOL):
    got = np.asarray(got)
    assert got.dtype == np.float32, "%s: dtype %s, expected float32" % (what, got.dtype)
    err = R.rel_err(got, ref)
    assert err <= tol, "%s: relative error %.3g > %.1g" % (what, err, tol)


def run_single(model, x, gy):
    """predict, tape.value and the input gradient of sum(gy * output)."""
    y_pred = model.predict(x)
    tape = model.run(x)
    y_tape = tape.value(model.output)
    (gx,) = tape.backward([(model.output, gy)], wrt=[model.input])
    return y_pred, y_tape, gx


def check_layer(layer, x, y_ref_fn, gx_ref_fn, rng):
    """One-layer model on x: forward and input gradient against the reference."""
    inp = layers.Input(shape=x.shape[1:])
    model = models.Model(inp, layer(inp))
    y_ref = y_ref_fn()
    gy = f32(rng.standard_normal(y_ref.shape))
    y_pred, y_tape, gx = run_single(model, x, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    assert_close(gx, gx_ref_fn(gy), "input gradient")
    return model


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

DEPTHWISE_CASES = [
    # (H, W, C, DM, kernel, strides, dilation, padding)
    (6, 7, 3, 1, (3, 3), (1, 1), (1, 1), "same"),
    (6, 7, 3, 1, (3, 3), (1, 1), (1, 1), "valid"),
    (8, 9, 4, 1, (3, 3), (2, 2), (1, 1), "valid"),
    (8, 9, 4, 1, (3, 3), (2, 2), (1, 1), "same"),
    (7, 6, 2, 2, (3, 2), (1, 2), (1, 1), "same"),
    (9, 9, 2, 3, (3, 3), (1, 1), (2, 2), "same"),
    (9, 8, 3, 2, (2, 3), (1, 1), (2, 1), "valid"),
    (5, 5, 5, 1, (5, 5), (2, 2), (1, 1), "same"),
    (2, 3, 2, 1, (3, 3), (1, 1), (1, 1), "same"),     # kernel larger than the input
    (4, 4, 16, 1, (1, 1), (1, 1), (1, 1), "valid"),
]

SHIFT_CASES = [
    # (H, W, C, ((top, bottom), (left, right)))
    (4, 5, 2, ((1, 1), (1, 1))),
    (4, 5, 3, ((0, 1), (0, 1))),     # MobileNet's correct_pad for even inputs
    (5, 4, 2, ((3, 3), (3, 3))),     # ResNet50's conv1_pad
    (3, 6, 1, ((2, 0), (0, 3))),
]

UPSAMPLE_CASES = [(3, 4, 2, (2, 2)), (2, 3, 3, (3, 1)), (4, 2, 1, (1, 3))]


def draw_affine(rng, c):
    gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c)
    beta = rng.standard_normal(c)
    mean = rng.standard_normal(c)
    var = rng.uniform(0.1, 3.0, c)
    return gamma, beta, mean, var


# --------------------------------------------------------------------------
# 1. finite differences of the reference
# --------------------------------------------------------------------------

def test_fd_batch_norm(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    gamma, beta, mean, var = draw_affine(rng, 5)
    gy = rng.standard_normal(x.shape)
    assert_fd(R.batch_norm_backward(gy, gamma, var, 1e-3),
              lambda v: R.batch_norm(v, gamma, beta, mean, var, 1e-3), x, gy)
    assert_fd(R.batch_norm_backward(gy, None, var, 1e-3),
              lambda v: R.batch_norm(v, None, beta, mean, var, 1e-3), x, gy)


@pytest.mark.parametrize("case", SHIFT_CASES, ids=str)
def test_fd_pad_and_crop(rng, case):
    h, w, c, amounts = case
    x = rng.standard_normal((2, h, w, c))
    gy = rng.standard_normal(R.zero_pad2d(x, amounts).shape)
    assert_fd(R.zero_pad2d_backward(gy, amounts), lambda v: R.zero_pad2d(v, amounts), x, gy)
    big = rng.standard_normal((2, h + 3, w + 4, c))
    crop = ((1, 2), (3, 1))
    gy = rng.standard_normal(R.crop2d(big, crop).shape)
    assert_fd(R.crop2d_backward(gy, big.shape, crop), lambda v: R.crop2d(v, crop), big, gy)


@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=str)
def test_fd_upsample2d(rng, case):
    h, w, c, size = case
    x = rng.standard_normal((2, h, w, c))
    gy = rng.standard_normal(R.upsample2d(x, size).shape)
    assert_fd(R.upsample2d_backward(gy, size), lambda v: R.upsample2d(v, size), x, gy)


@pytest.mark.parametrize("case", DEPTHWISE_CASES[:8], ids=str)
def test_fd_depthwise_and_separable(rng, case):
    h, w, c, dm, kernel, strides, dilation, padding = case
    x = rng.standard_normal((1, h, w, c))
    k = rng.standard_normal(kernel + (c, dm))
    b = rng.standard_normal(c * dm)
    y = R.depthwise_conv2d(x, k, b, strides, dilation, padding)
    gy = rng.standard_normal(y.shape)
    assert_fd(R.depthwise_conv2d_backward(gy, x.shape, k, strides, dilation, padding),
              lambda v: R.depthwise_conv2d(v, k, b, strides, dilation, padding), x, gy)
    pk = rng.standard_normal((1, 1, c * dm, 3))
    y = R.separable_conv2d(x, k, pk, None, strides, dilation, padding)
    gy = rng.standard_normal(y.shape)
    assert_fd(R.separable_conv2d_backward(gy, x.shape, k, pk, strides, dilation, padding),
              lambda v: R.separable_conv2d(v, k, pk, None, strides, dilation, padding), x, gy)


def test_fd_elementwise_merges(rng):
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    gy = rng.standard_normal(xs[0].shape)
    for k in range(3):
        def with_k(fn, v, k=k):
            args = list(xs)
            args[k] = v
            return fn(*args)
        assert_fd(R.multiply_backward(gy, xs)[k], lambda v: with_k(R.multiply, v), xs[k], gy)
        assert_fd(R.average_backward(gy, 3)[k], lambda v: with_k(R.average, v), xs[k], gy)
        assert_fd(R.maximum_backward(gy, xs)[k], lambda v: with_k(R.maximum, v), xs[k], gy)


# --------------------------------------------------------------------------
# 2. the reference against Keras 3
# --------------------------------------------------------------------------

def keras_call(layer, *xs):
    ts = [keras.ops.convert_to_tensor(x, dtype="float64") for x in xs]
    return keras_np(layer(ts if len(ts) > 1 else ts[0]))


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True)])
def test_reference_batch_norm_matches_keras(rng, center, scale):
    x = rng.standard_normal((2, 3, 4, 5))
    gamma, beta, mean, var = draw_affine(rng, 5)
    layer = keras.layers.BatchNormalization(epsilon=1.001e-5, center=center, scale=scale,
                                            dtype="float64")
    layer.build(x.shape)
    layer.set_weights(([gamma] if scale else []) + ([beta] if center else []) + [mean, var])
    got = keras_np(layer(keras.ops.convert_to_tensor(x, dtype="float64"), training=False))
    ref = R.batch_norm(x, gamma if scale else None, beta if center else None, mean, var, 1.001e-5)
    # Keras computes BatchNormalization in at least float32 (result_type(float64, "float32") is
    # float32 in Keras 3), so this comparison is at float32 precision
    assert R.rel_err(ref, got) < 1e-6


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
def test_reference_depthwise_matches_keras(rng, case):
    h, w, c, dm, kernel, strides, dilation, padding = case
    if max(strides) > 1 and max(dilation) > 1:
        pytest.fail("case table error: Keras refuses stride with dilation")
    x = rng.standard_normal((2, h, w, c))
    k = rng.standard_normal(kernel + (c, dm))
    b = rng.standard_normal(c * dm)
    layer = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding,
                                         depth_multiplier=dm, dilation_rate=dilation,
                                         dtype="float64")
    layer.build(x.shape)
    layer.set_weights([k, b])
    assert R.rel_err(R.depthwise_conv2d(x, k, b, strides, dilation, padding),
                     keras_call(layer, x)) < 1e-12
    pk = rng.standard_normal((1, 1, c * dm, 4))
    pb = rng.standard_normal(4)
    sep = keras.layers.SeparableConv2D(4, kernel, strides=strides, padding=padding,
                                       depth_multiplier=dm, dilation_rate=dilation,
                                       dtype="float64")
    sep.build(x.shape)
    sep.set_weights([k, pk, pb])
    assert R.rel_err(R.separable_conv2d(x, k, pk, pb, strides, dilation, padding),
                     keras_call(sep, x)) < 1e-12


@pytest.mark.parametrize("case", SHIFT_CASES, ids=str)
def test_reference_pad_crop_upsample_match_keras(rng, case):
    h, w, c, amounts = case
    x = rng.standard_normal((2, h + 4, w + 4, c))
    assert R.rel_err(R.zero_pad2d(x, amounts),
                     keras_call(keras.layers.ZeroPadding2D(amounts, dtype="float64"), x)) == 0
    assert R.rel_err(R.crop2d(x, amounts),
                     keras_call(keras.layers.Cropping2D(amounts, dtype="float64"), x)) == 0
    size = (amounts[0][0] + 1, amounts[1][1] + 1)
    assert R.rel_err(R.upsample2d(x, size),
                     keras_call(keras.layers.UpSampling2D(size, dtype="float64"), x)) == 0


# Keras 3 computes Maximum, Rescaling and Normalization (and BatchNormalization) in float32 even
# inside float64 layers, so these comparisons are at float32 precision.
KERAS_F32 = 1e-6


def test_reference_merges_rescaling_normalization_match_keras(rng):
    xs = [rng.standard_normal((2, 3, 4, 5)) for _ in range(3)]
    xs[1][0, 0, 0, :2] = xs[0][0, 0, 0, :2]       # ties are values, not gradients: fine here
    for cls, ref in ((keras.layers.Multiply, R.multiply), (keras.layers.Average, R.average),
                     (keras.layers.Maximum, R.maximum)):
        assert R.rel_err(ref(*xs), keras_call(cls(dtype="float64"), *xs)) < KERAS_F32
    scale, offset = rng.standard_normal(5), rng.standard_normal(5)
    assert R.rel_err(R.rescaling(xs[0], scale, offset),
                     keras_call(keras.layers.Rescaling(scale, offset, dtype="float64"), xs[0])) < KERAS_F32
    mean, var = rng.standard_normal(5), rng.uniform(0.1, 2.0, 5)
    for invert in (False, True):
        layer = keras.layers.Normalization(mean=mean, variance=var, invert=invert, dtype="float64")
        assert R.rel_err(R.normalization(xs[0], mean, var, invert), keras_call(layer, xs[0])) < KERAS_F32


# --------------------------------------------------------------------------
# 3. pyvis against the reference
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
def test_batch_normalization(rng, center, scale, n):
    x = f32(rng.standard_normal((n, 4, 5, 6)))
    gamma, beta, mean, var = draw_affine(rng, 6)
    layer = layers.BatchNormalization(epsilon=1.001e-5, center=center, scale=scale)
    inp = layers.Input(shape=x.shape[1:])
    model = models.Model(inp, layer(inp))
    layer.set_weights(([gamma] if scale else []) + ([beta] if center else []) + [mean, var])
    g, b = (gamma if scale else None), (beta if center else None)
    y_ref = R.batch_norm(x, g, b, mean, var, 1.001e-5)
    gy = f32(rng.standard_normal(y_ref.shape))
    y_pred, y_tape, gx = run_single(model, x, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    assert_close(gx, R.batch_norm_backward(gy, g, var, 1.001e-5), "input gradient")


@pytest.mark.parametrize("n", BATCHES)
def test_batch_normalization_on_dense_features(rng, n):
    """BatchNormalization after a Dense (rank-2 input, channels last)."""
    x = f32(rng.standard_normal((n, 7)))
    gamma, beta, mean, var = draw_affine(rng, 7)
    layer = layers.BatchNormalization()
    inp = layers.Input(shape=(7,))
    model = models.Model(inp, layer(inp))
    layer.set_weights([gamma, beta, mean, var])
    gy = f32(rng.standard_normal(x.shape))
    y_pred, _, gx = run_single(model, x, gy)
    assert_close(y_pred, R.batch_norm(x, gamma, beta, mean, var, 1e-3), "predict")
    assert_close(gx, R.batch_norm_backward(gy, gamma, var, 1e-3), "input gradient")


@pytest.mark.parametrize("n", BATCHES)
def test_rescaling_and_normalization(rng, n):
    x = f32(rng.standard_normal((n, 3, 4, 3)) * 100)
    scale, offset = rng.standard_normal(3), rng.standard_normal(3)
    check_layer(layers.Rescaling(scale.tolist(), offset.tolist()), x,
                lambda: R.rescaling(x, scale, offset), lambda gy: R.rescaling(gy, scale, 0.0), rng)
    check_layer(layers.Rescaling(1.0 / 127.5, offset=-1.0), x,
                lambda: R.rescaling(x, 1 / 127.5, -1.0), lambda gy: R.rescaling(gy, 1 / 127.5, 0.0), rng)
    mean, var = rng.standard_normal(3), rng.uniform(0.1, 2.0, 3)
    for invert in (False, True):
        std = np.sqrt(var)
        check_layer(layers.Normalization(mean=mean.tolist(), variance=var.tolist(), invert=invert), x,
                    lambda: R.normalization(x, mean, var, invert),
                    lambda gy: R.rescaling(gy, std if invert else 1 / std, 0.0), rng)


@pytest.mark.parametrize("n", BATCHES)
def test_normalization_from_adapted_weights(rng, n):
    """Keras 3 stores adapted statistics as the variables mean, variance, count."""
    x = f32(rng.standard_normal((n, 3, 4, 2)))
    layer = layers.Normalization()
    inp = layers.Input(shape=x.shape[1:])
    model = models.Model(inp, layer(inp))
    assert layer.weight_names == ["mean", "variance", "count"]
    mean, var = rng.standard_normal(2), rng.uniform(0.1, 2.0, 2)
    layer.set_weights([mean, var, np.array(10.0)])
    assert_close(model.predict(x), R.normalization(x, mean, var), "predict")


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", SHIFT_CASES, ids=str)
def test_zero_padding_and_cropping(rng, case, n):
    h, w, c, amounts = case
    x = f32(rng.standard_normal((n, h, w, c)))
    check_layer(layers.ZeroPadding2D(amounts), x, lambda: R.zero_pad2d(x, amounts),
                lambda gy: R.zero_pad2d_backward(gy, amounts), rng)
    big = f32(rng.standard_normal((n, h + 4, w + 4, c)))
    check_layer(layers.Cropping2D(amounts), big, lambda: R.crop2d(big, amounts),
                lambda gy: R.crop2d_backward(gy, big.shape, amounts), rng)


def test_padding_and_cropping_argument_forms(rng):
    """int, symmetric pair and pair of pairs mean what Keras says."""
    x = f32(rng.standard_normal((1, 4, 5, 2)))
    for arg, full in ((2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))),
                      (((0, 1), (2, 0)), ((0, 1), (2, 0)))):
        assert layers.ZeroPadding2D(arg).padding == full
        assert layers.Cropping2D(arg).cropping == full
        keras_out = keras_np(keras.layers.ZeroPadding2D(arg)(x))
        check_layer(layers.ZeroPadding2D(arg), x, lambda: keras_out.astype(np.float64),
                    lambda gy: R.zero_pad2d_backward(gy, full), rng)


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=str)
def test_upsampling2d(rng, case, n):
    h, w, c, size = case
    x = f32(rng.standard_normal((n, h, w, c)))
    check_layer(layers.UpSampling2D(size), x, lambda: R.upsample2d(x, size),
                lambda gy: R.upsample2d_backward(gy, size), rng)


def _no_relu_ties(z):
    return np.min(np.abs(z)) > 1e-4 * np.max(np.abs(z))


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_depthwise_conv2d(rng, case, activation, n):
    h, w, c, dm, kernel, strides, dilation, padding = case
    for _ in range(200):
        x = f32(rng.standard_normal((n, h, w, c)))
        k = f32(rng.standard_normal(kernel + (c, dm)) / np.sqrt(kernel[0] * kernel[1]))
        b = f32(rng.standard_normal(c * dm) * 0.5)
        z = R.depthwise_conv2d(x, k, b, strides, dilation, padding)
        if activation == "linear" or _no_relu_ties(z):
            break
    layer = layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=dm,
                                   dilation_rate=dilation, activation=activation)
    inp = layers.Input(shape=x.shape[1:])
    model = models.Model(inp, layer(inp))
    layer.set_weights([k, b])
    y_ref = np.maximum(z, 0) if activation == "relu" else z
    gy = f32(rng.standard_normal(z.shape))
    y_pred, y_tape, gx = run_single(model, x, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(y_tape, y_ref, "tape.value")
    gz = gy * (z > 0) if activation == "relu" else gy
    assert_close(gx, R.depthwise_conv2d_backward(gz, x.shape, k, strides, dilation, padding),
                 "input gradient")


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
@pytest.mark.parametrize("use_bias", [True, False])
def test_separable_conv2d(rng, case, use_bias, n):
    h, w, c, dm, kernel, strides, dilation, padding = case
    x = f32(rng.standard_normal((n, h, w, c)))
    dk = f32(rng.standard_normal(kernel + (c, dm)) / np.sqrt(kernel[0] * kernel[1]))
    pk = f32(rng.standard_normal((1, 1, c * dm, 5)) / np.sqrt(c * dm))
    b = f32(rng.standard_normal(5))
    layer = layers.SeparableConv2D(5, kernel, strides=strides, padding=padding,
                                   depth_multiplier=dm, dilation_rate=dilation, use_bias=use_bias)
    inp = layers.Input(shape=x.shape[1:])
    model = models.Model(inp, layer(inp))
    assert layer.weight_names == ["depthwise_kernel", "pointwise_kernel"] + (["bias"] if use_bias else [])
    layer.set_weights([dk, pk, b] if use_bias else [dk, pk])
    y_ref = R.separable_conv2d(x, dk, pk, b if use_bias else None, strides, dilation, padding)
    gy = f32(rng.standard_normal(y_ref.shape))
    y_pred, _, gx = run_single(model, x, gy)
    assert_close(y_pred, y_ref, "predict")
    assert_close(gx, R.separable_conv2d_backward(gy, x.shape, dk, pk, strides, dilation, padding),
                 "input gradient")


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("kind", ["Multiply", "Average", "Maximum"])
def test_elementwise_merges(rng, kind, count, n):
    shape = (n, 3, 4, 5)
    # distinct values across inputs: no ties for Maximum
    pool = R._f64(rng.permutation(count * int(np.prod(shape)))).reshape((count,) + shape)
    xs = [f32((p / pool.size - 0.5) * 6) for p in pool]
    inputs = [layers.Input(shape=shape[1:]) for _ in range(count)]
    model = models.Model(inputs, getattr(layers, kind)()(inputs))
    ref = {"Multiply": R.multiply, "Average": R.average, "Maximum": R.maximum}[kind](*xs)
    gy = f32(rng.standard_normal(shape))
    grads_ref = {"Multiply": lambda: R.multiply_backward(gy, xs),
                 "Average": lambda: R.average_backward(gy, count),
                 "Maximum": lambda: R.maximum_backward(gy, xs)}[kind]()
    assert_close(model.predict(xs), ref, "predict")
    grads = model.run(xs).backward([(model.output, gy)], wrt=model.inputs)
    for k in range(count):
        assert_close(grads[k], grads_ref[k], "gradient of input %d" % k)


def test_merges_with_a_repeated_input(rng):
    """x * x and max(x, x): gradients from both slots accumulate onto the one tensor."""
    x = f32(rng.standard_normal((2, 6)))
    inp = layers.Input(shape=(6,))
    gy = f32(rng.standard_normal(x.shape))
    sq = models.Model(inp, layers.Multiply()([inp, inp]))
    assert_close(sq.run(x).backward([(sq.output, gy)])[0], 2 * R._f64(x) * gy, "d(x*x)/dx")
    mx = models.Model(inp, layers.Maximum()([inp, inp]))
    assert_close(mx.run(x).backward([(mx.output, gy)])[0], R._f64(gy), "d max(x, x)/dx")


def test_maximum_tie_goes_to_first_input():
    a = np.array([[1.0, 2.0, 3.0]], np.float32)
    b = np.array([[1.0, 5.0, 0.0]], np.float32)
    ia, ib = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    model = models.Model([ia, ib], layers.Maximum()([ia, ib]))
    ga, gb = model.run([a, b]).backward([(model.output, np.ones((1, 3), np.float32))],
                                        wrt=[ia, ib])
    np.testing.assert_array_equal(ga, [[1, 0, 1]])
    np.testing.assert_array_equal(gb, [[0, 1, 0]])


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["GlobalAveragePooling2D", "GlobalMaxPooling2D"])
def test_global_pooling_keepdims_against_keras(rng, kind, keepdims, n):
    """As MobileNet's top uses it: GlobalAveragePooling2D(keepdims=True) then a 1x1 conv."""
    shape = (n, 3, 4, 5)
    x = f32((rng.permutation(int(np.prod(shape))).reshape(shape) / np.prod(shape) - 0.5) * 4)
    inp = layers.Input(shape=shape[1:])
    model = models.Model(inp, getattr(layers, kind)(keepdims=keepdims)(inp))
    k_layer = getattr(keras.layers, kind)(keepdims=keepdims, dtype="float64")
    xt = keras.ops.convert_to_tensor(R._f64(x))
    xt.requires_grad_(True)
    y = k_layer(xt)
    gy = rng.standard_normal(tuple(y.shape))
    (y * keras.ops.convert_to_tensor(gy)).sum().backward()
    assert model.output_shape == (None,) + tuple(y.shape[1:])
    y_pred, _, gx = run_single(model, x, f32(gy))
    assert_close(y_pred, keras_np(y), "predict")
    assert_close(gx, keras_np(xt.grad), "input gradient")


# --------------------------------------------------------------------------
# 4. configs, weights, errors, modifier warning
# --------------------------------------------------------------------------

KERAS_LAYERS = [
    ("BatchNormalization", dict(epsilon=1.001e-5, momentum=0.999), (4, 4, 3)),
    ("BatchNormalization", dict(scale=False, axis=3), (4, 4, 3)),
    ("ZeroPadding2D", dict(padding=((0, 1), (0, 1))), (4, 4, 3)),
    ("Cropping2D", dict(cropping=((1, 0), (0, 2))), (4, 4, 3)),
    ("UpSampling2D", dict(size=(2, 3)), (4, 4, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, depth_multiplier=2, use_bias=False), (6, 6, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, padding="same", activation="relu"), (6, 6, 3)),
    ("Rescaling", dict(scale=1 / 255.0, offset=0.5), (4, 4, 3)),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), (4, 4, 3)),
    ("Normalization", dict(), (4, 4, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape", KERAS_LAYERS, ids=lambda v: str(v))
def test_keras_config_builds_pyvis_layer_with_keras_weights(rng, name, kwargs, shape):
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer.build((None,) + shape)
    config = k_layer.get_config()
    layer = getattr(layers, name)(**config)
    inp = layers.Input(shape=shape)
    out = layer(inp)
    assert layer.name == k_layer.name
    assert tuple(out.shape[1:]) == tuple(k_layer.compute_output_shape((None,) + shape)[1:])
    k_weights = [np.asarray(keras_np(w.value)) for w in k_layer.weights]
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in k_weights]
    # same weights -> same outputs as Keras
    new = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in k_weights]
    if new:
        k_layer.set_weights(new)
        layer.set_weights(new)
    x = f32(rng.standard_normal((2,) + shape))
    kw = {"training": False} if name == "BatchNormalization" else {}
    expected = keras_np(k_layer(keras.ops.convert_to_tensor(x), **kw))
    got = models.Model(inp, out).predict(x)
    assert R.rel_err(got, expected) <= 1e-5


def test_layers_deserialize_by_keras_class_name():
    for name in ("BatchNormalization", "DepthwiseConv2D", "SeparableConv2D", "ZeroPadding2D",
                 "Cropping2D", "UpSampling2D", "Multiply", "Average", "Maximum", "Rescaling",
                 "Normalization"):
        assert layers.get(name).__name__ == name
    assert layers.get("SeparableConvolution2D") is layers.SeparableConv2D


def test_tf_keras_depthwise_config_keys_are_accepted():
    """tf.keras wrote DepthwiseConv2D with Conv2D's filters/groups keys and BN axis as [3]."""
    layer = layers.DepthwiseConv2D(kernel_size=[3, 3], filters=None, groups=1,
                                   depthwise_initializer={"class_name": "GlorotUniform", "config": {}},
                                   name="conv_dw_1")
    assert layer.kernel_size == (3, 3)
    bn = layers.BatchNormalization(axis=[3], fused=True, renorm=False, name="bn")
    assert bn.axis == 3


@pytest.mark.parametrize("make,match", [
    (lambda: layers.ZeroPadding2D(-1), "padding"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), "padding"),
    (lambda: layers.Cropping2D(((1, 1), (1,))), "cropping"),
    (lambda: layers.UpSampling2D(0), "size"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: layers.DepthwiseConv2D(3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: layers.SeparableConv2D(0, 3), "filters"),
    (lambda: layers.BatchNormalization(epsilon=0), "epsilon"),
    (lambda: layers.Rescaling("big"), "scale"),
    (lambda: layers.Normalization(mean=[1.0]), "variance"),
    (lambda: layers.DepthwiseConv2D(3, data_format="channels_first"), "channels_first"),
])
def test_bad_layer_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_shapes_raise_clear_errors():
    inp = layers.Input(shape=(4, 4, 3))
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping2D(2)(inp)
    with pytest.raises(ValueError, match="same shape"):
        layers.Multiply()([inp, layers.Input(shape=(4, 4, 2))])
    with pytest.raises(ValueError, match="output size"):
        layers.DepthwiseConv2D(5)(inp)
    with pytest.raises(NotImplementedError, match="interpolation"):
        layers.UpSampling2D(interpolation="bilinear")
    bn = layers.BatchNormalization(axis=1)
    model = models.Model(inp, bn(inp))
    with pytest.raises(NotImplementedError, match="last"):
        model.predict(np.zeros((1, 4, 4, 3), np.float32))
    resc = layers.Rescaling([1.0, 2.0])
    model = models.Model(inp, resc(inp))
    with pytest.raises(ValueError, match="2 values but the input has 3 channels"):
        model.predict(np.zeros((1, 4, 4, 3), np.float32))


def node(op, inputs=(), ip=(), fp=(), w=()):
    return (op, tuple(inputs), tuple(ip), tuple(fp), tuple(w))


@pytest.mark.parametrize("nodes,match", [
    ([node(_core.OP_INPUT, ip=(4, 4, 2)), node(_core.OP_PAD2D, [0], (1, -1, 0, 0))], "must be >= 0"),
    ([node(_core.OP_INPUT, ip=(4, 4, 2)), node(_core.OP_CROP2D, [0], (0, 0, 2))], "integer parameters"),
    ([node(_core.OP_INPUT, ip=(4, 4, 2)), node(_core.OP_UPSAMPLE2D, [0], (0, 2))], "size must be >= 1"),
    ([node(_core.OP_INPUT, ip=(4, 4, 2)),
      node(_core.OP_AFFINE, [0], (), (), (np.ones(2, np.float32), np.ones(3, np.float32)))], "shape \\(C,\\)"),
    ([node(_core.OP_INPUT, ip=(4, 4, 2)),
      node(_core.OP_DEPTHWISE_CONV2D, [0], (3, 3, 1, 1, 1, 1, 0, 0), (),
           (np.ones((3, 3, 2, 1), np.float32), np.ones(3, np.float32)))], "bias"),
    ([node(_core.OP_INPUT, ip=(4, 4, 2)),
      node(_core.OP_DEPTHWISE_CONV2D, [0], (3, 3, 1, 1, 1, 1, 0, _core.ACT_SIGMOID), (),
           (np.ones((3, 3, 2, 1), np.float32),))], "fused"),
    ([node(_core.OP_INPUT, ip=(4,)), node(_core.OP_MULTIPLY, [0])], "at least 2 inputs"),
])
def test_core_rejects_bad_nodes(nodes, match):
    with pytest.raises(ValueError, match=match):
        _core.Graph(nodes)


@pytest.mark.parametrize("nodes,x,match", [
    ([node(_core.OP_INPUT, ip=(-1, -1, 2)), node(_core.OP_CROP2D, [0], (2, 2, 0, 0))],
     np.zeros((1, 4, 4, 2)), "leaves nothing"),
    ([node(_core.OP_INPUT, ip=(-1, -1, 2)),
      node(_core.OP_AFFINE, [0], (), (), (np.ones(3, np.float32), np.ones(3, np.float32)))],
     np.zeros((1, 4, 4, 2)), "3 channels"),
    ([node(_core.OP_INPUT, ip=(-1, -1, 3)),
      node(_core.OP_DEPTHWISE_CONV2D, [0], (3, 3, 1, 1, 1, 1, 0, 0), (), (np.ones((3, 3, 2, 1), np.float32),))],
     np.zeros((1, 4, 4, 3)), "input channels"),
    ([node(_core.OP_INPUT, ip=(-1, -1, 2)),
      node(_core.OP_DEPTHWISE_CONV2D, [0], (3, 3, 1, 1, 1, 1, 0, 0), (), (np.ones((3, 3, 2, 1), np.float32),))],
     np.zeros((1, 2, 4, 2)), "smaller than the effective kernel"),
    ([node(_core.OP_INPUT, ip=(-1,)), node(_core.OP_INPUT, ip=(-1,)), node(_core.OP_MAXIMUM, [0, 1])],
     [np.zeros((1, 4)), np.zeros((1, 5))], "different shape"),
])
def test_core_rejects_bad_shapes_at_run_time(nodes, x, match):
    graph = _core.Graph(nodes)
    with pytest.raises(ValueError, match=match):
        graph.forward(x if isinstance(x, list) else [x])


def _relu6_model():
    inp = layers.Input(shape=(6, 6, 3))
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.ReLU(6.0, name="conv_relu")(x)
    x = layers.Conv2D(4, 1, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return models.Model(inp, layers.Dense(2, name="out")(x))


def test_modifier_warns_once_about_relu6_units():
    from pyvis import backend
    model = _relu6_model()
    with pytest.warns(UserWarning, match="conv_relu") as record:
        backend.modify_model_backprop(model, "guided")
    assert any("ReLU" in str(w.message) or "relu6" in str(w.message) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.modify_model_backprop(model, "rectified")     # already reported: silent
    plain = models.Model(model.input, model.get_layer("conv2").output)
    plain_relu = _relu6_model()
    plain_relu.get_layer("conv_relu").max_value = None       # now a plain ReLU unit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.modify_model_backprop(plain_relu, "guided")
    del plain


def test_modifiers_leave_relu6_gradient_unchanged(rng):
    """Where every rectifier is ReLU6, guided/rectified equal the plain gradient."""
    inp = layers.Input(shape=(6, 6, 3))
    x = layers.Conv2D(4, 3, name="c1")(inp)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Activation("relu6")(x)
    out = layers.Dense(2)(layers.GlobalAveragePooling2D()(x))
    model = models.Model(inp, out)
    xin = f32(rng.standard_normal((2, 6, 6, 3)) * 3)
    seed = f32(rng.standard_normal((2, 2)))
    tape = model.run(xin)
    plain = tape.backward([(model.output, seed)])[0]
    for mod in ("guided", "rectified"):
        np.testing.assert_array_equal(tape.backward([(model.output, seed)], modifier=mod)[0], plain)
