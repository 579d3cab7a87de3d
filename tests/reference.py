"""NumPy float64 reference ("oracle") for every op of the native engine.

Each op has a forward function and a backward function that returns the
gradient with respect to the op's input(s) only (the engine never computes
weight gradients).  Everything here is written from the formulas in
keras-formats.md section 4.8 / 5 and keras-vis-api.md section 9, in plain
NumPy, in float64, with loops only over kernel taps (never over pixels).

Layout conventions (as in Keras channels_last):
  images  (N, H, W, C)           conv kernel (KH, KW, C, OC)
  dense   (..., IN) @ (IN, OUT)  pool windows in row-major tap order

Also holds the two comparison metrics shared by the tests (rel_err, cosine).
"""
import math

import numpy as np

# --------------------------------------------------------------------------
# comparison metrics
# --------------------------------------------------------------------------

TINY = 1e-30


def rel_err(actual, expected):
    """max|a - b| / max(max|b|, TINY): the error relative to the largest
    reference value.  Robust to zeros (ReLU, max-pool routing) where an
    elementwise relative error would be meaningless.  NaN anywhere -> inf."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError("shape mismatch: got %s, expected %s" % (a.shape, b.shape))
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.inf
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


def cosine(actual, expected):
    """Cosine similarity of two arrays seen as flat vectors (float64)."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    b = np.asarray(expected, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(a @ b / (na * nb))


# --------------------------------------------------------------------------
# window geometry (TF padding rules, keras-formats.md 4.8)
# --------------------------------------------------------------------------

def window_geometry(size, kernel, stride, dilation, padding):
    """Return (out, pad_before, pad_after) along one spatial axis.

    valid: out = floor((in - eff) / s) + 1, no padding.
    same:  out = ceil(in / s), pad_total = max(0, (out-1)*s + eff - in),
           pad_before = pad_total // 2, the extra one goes after (bottom/right).
    """
    eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        if size < eff:
            raise ValueError("window %d larger than input %d with valid padding" % (eff, size))
        return (size - eff) // stride + 1, 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max(0, (out - 1) * stride + eff - size)
        return out, total // 2, total - total // 2
    raise ValueError("padding must be 'valid' or 'same', got %r" % (padding,))


def _geometry_hw(x_shape, ksize, strides, dilation, padding):
    _, h, w, _ = x_shape
    oh, top, bottom = window_geometry(h, ksize[0], strides[0], dilation[0], padding)
    ow, left, right = window_geometry(w, ksize[1], strides[1], dilation[1], padding)
    return oh, ow, ((0, 0), (top, bottom), (left, right), (0, 0))


def _tap(arr, i, j, out_hw, strides, dilation):
    """The strided view of the padded array read by kernel tap (i, j):
    element [n, y, x, c] of the view is arr[n, y*sh + i*dh, x*sw + j*dw, c]."""
    oh, ow = out_hw
    sh, sw = strides
    y0, x0 = i * dilation[0], j * dilation[1]
    return arr[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# --------------------------------------------------------------------------
# conv2d (cross-correlation, zero padding)
# --------------------------------------------------------------------------

def conv2d(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1), padding="valid"):
    x, kernel = _f64(x), _f64(kernel)
    kh, kw, _, oc = kernel.shape
    oh, ow, pads = _geometry_hw(x.shape, (kh, kw), strides, dilation, padding)
    xp = np.pad(x, pads)
    y = np.zeros((x.shape[0], oh, ow, oc))
    for i in range(kh):
        for j in range(kw):
            y += _tap(xp, i, j, (oh, ow), strides, dilation) @ kernel[i, j]
    if bias is not None:
        y += _f64(bias)
    return y


def conv2d_backward(gy, x_shape, kernel, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """d(loss)/dx given d(loss)/dy = gy: every tap scatters gy @ K[i,j]^T back
    onto the input positions it read (the padding part is dropped)."""
    gy, kernel = _f64(gy), _f64(kernel)
    kh, kw = kernel.shape[:2]
    oh, ow, pads = _geometry_hw(x_shape, (kh, kw), strides, dilation, padding)
    n, h, w, c = x_shape
    gxp = np.zeros((n, h + sum(pads[1]), w + sum(pads[2]), c))
    for i in range(kh):
        for j in range(kw):
            # within one tap the strided positions are distinct, so += on the view is exact
            _tap(gxp, i, j, (oh, ow), strides, dilation)[...] += gy @ kernel[i, j].T
    top, left = pads[1][0], pads[2][0]
    return gxp[:, top:top + h, left:left + w, :]


# --------------------------------------------------------------------------
# dense (last axis, any rank)
# --------------------------------------------------------------------------

def dense(x, kernel, bias=None):
    y = _f64(x) @ _f64(kernel)
    if bias is not None:
        y = y + _f64(bias)
    return y


def dense_backward(gy, kernel):
    return _f64(gy) @ _f64(kernel).T


# --------------------------------------------------------------------------
# 2-D pooling
# --------------------------------------------------------------------------

def _pool_taps(pool_size):
    return [(i, j) for i in range(pool_size[0]) for j in range(pool_size[1])]  # row-major


def max_pool2d(x, pool_size, strides, padding="valid"):
    """Max over each window; padding behaves as -inf (never selected)."""
    x = _f64(x)
    oh, ow, pads = _geometry_hw(x.shape, pool_size, strides, (1, 1), padding)
    xp = np.pad(x, pads, constant_values=-np.inf)
    windows = np.stack([_tap(xp, i, j, (oh, ow), strides, (1, 1))
                        for i, j in _pool_taps(pool_size)], axis=-1)
    return windows.max(axis=-1)


def max_pool2d_backward(gy, x, pool_size, strides, padding="valid"):
    """Each output's gradient goes to the first maximum of its window in
    row-major order (np.argmax returns the first occurrence)."""
    x, gy = _f64(x), _f64(gy)
    oh, ow, pads = _geometry_hw(x.shape, pool_size, strides, (1, 1), padding)
    xp = np.pad(x, pads, constant_values=-np.inf)
    taps = _pool_taps(pool_size)
    windows = np.stack([_tap(xp, i, j, (oh, ow), strides, (1, 1)) for i, j in taps], axis=-1)
    winner = windows.argmax(axis=-1)
    gxp = np.zeros(xp.shape)
    for t, (i, j) in enumerate(taps):
        _tap(gxp, i, j, (oh, ow), strides, (1, 1))[...] += np.where(winner == t, gy, 0.0)
    (top, _), (left, _) = pads[1], pads[2]
    return gxp[:, top:top + x.shape[1], left:left + x.shape[2], :]


def _avg_counts(x_shape, pool_size, strides, padding):
    """Number of real (unpadded) elements in each window, shape (1, OH, OW, 1)."""
    oh, ow, pads = _geometry_hw(x_shape, pool_size, strides, (1, 1), padding)
    ones = np.pad(np.ones((1, x_shape[1], x_shape[2], 1)), pads)
    return sum(_tap(ones, i, j, (oh, ow), strides, (1, 1)) for i, j in _pool_taps(pool_size))


def avg_pool2d(x, pool_size, strides, padding="valid"):
    """Window mean over the real elements only (TF/Keras 'same' semantics)."""
    x = _f64(x)
    oh, ow, pads = _geometry_hw(x.shape, pool_size, strides, (1, 1), padding)
    xp = np.pad(x, pads)
    total = sum(_tap(xp, i, j, (oh, ow), strides, (1, 1)) for i, j in _pool_taps(pool_size))
    return total / _avg_counts(x.shape, pool_size, strides, padding)


def avg_pool2d_backward(gy, x_shape, pool_size, strides, padding="valid"):
    oh, ow, pads = _geometry_hw(x_shape, pool_size, strides, (1, 1), padding)
    share = _f64(gy) / _avg_counts(x_shape, pool_size, strides, padding)
    n, h, w, c = x_shape
    gxp = np.zeros((n, h + sum(pads[1]), w + sum(pads[2]), c))
    for i, j in _pool_taps(pool_size):
        _tap(gxp, i, j, (oh, ow), strides, (1, 1))[...] += share
    top, left = pads[1][0], pads[2][0]
    return gxp[:, top:top + h, left:left + w, :]


# --------------------------------------------------------------------------
# global pooling
# --------------------------------------------------------------------------

def global_avg_pool2d(x, keepdims=False):
    return _f64(x).mean(axis=(1, 2), keepdims=keepdims)


def global_avg_pool2d_backward(gy, x_shape):
    n, h, w, c = x_shape
    g = _f64(gy).reshape(n, 1, 1, c) / (h * w)
    return np.broadcast_to(g, x_shape).copy()


def global_max_pool2d(x, keepdims=False):
    return _f64(x).max(axis=(1, 2), keepdims=keepdims)


def global_max_pool2d_backward(gy, x):
    """Gradient to the first maximum (row-major over H, W) of each channel."""
    x = _f64(x)
    n, h, w, c = x.shape
    flat = x.reshape(n, h * w, c)
    winner = flat.argmax(axis=1)[:, None, :]
    gx = np.zeros_like(flat)
    np.put_along_axis(gx, winner, _f64(gy).reshape(n, 1, c), axis=1)
    return gx.reshape(x.shape)


# --------------------------------------------------------------------------
# reshape / flatten (C order over the per-sample NHWC dims)
# --------------------------------------------------------------------------

def reshape(x, target_shape):
    x = _f64(x)
    return x.reshape((x.shape[0],) + tuple(target_shape))


def flatten(x):
    return reshape(x, (-1,))


def reshape_backward(gy, x_shape):
    return _f64(gy).reshape(x_shape)


# --------------------------------------------------------------------------
# activations: forward f(x) and backward g * f'(x)
# --------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715

# Keras 3 defaults for the parameterised activations
DEFAULT_PARAMS = {
    "elu": {"alpha": 1.0},
    "leaky_relu": {"negative_slope": 0.2},
    "hard_sigmoid": {"slope": 1.0 / 6.0, "offset": 0.5},
    "gelu": {"approximate": False},
    "relu_general": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
}

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    # split by sign so exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _gelu_tanh_parts(x):
    u = GELU_TANH_C * (x + GELU_TANH_K * x ** 3)
    return u, np.tanh(u)


def _relu_general(x, max_value, negative_slope, threshold):
    """Keras ReLU layer: max_value if x >= max_value; x if threshold <= x < max_value;
    negative_slope * (x - threshold) otherwise."""
    top = np.inf if max_value is None else max_value
    return np.where(x >= top, top, np.where(x >= threshold, x, negative_slope * (x - threshold)))


def _relu_general_grad(x, max_value, negative_slope, threshold):
    top = np.inf if max_value is None else max_value
    return np.where(x >= top, 0.0, np.where(x >= threshold, 1.0, negative_slope))


def activation(x, name, **params):
    """Forward of the named activation (Keras semantics, float64)."""
    x = _f64(x)
    p = dict(DEFAULT_PARAMS.get(name, {}), **params)
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        return _softmax(x)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "elu":
        return np.where(x > 0, x, p["alpha"] * np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    if name == "swish":
        return x * _sigmoid(x)
    if name == "gelu":
        if p["approximate"]:
            return 0.5 * x * (1.0 + _gelu_tanh_parts(x)[1])
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == "hard_sigmoid":
        return np.clip(p["slope"] * x + p["offset"], 0.0, 1.0)
    if name == "exponential":
        return np.exp(x)
    if name == "relu6":
        return np.clip(x, 0.0, 6.0)
    if name == "leaky_relu":
        return np.where(x >= 0, x, p["negative_slope"] * x)
    if name == "relu_general":
        return _relu_general(x, p["max_value"], p["negative_slope"], p["threshold"])
    raise ValueError("unknown activation %r" % (name,))


def activation_backward(gy, x, name, **params):
    """g * f'(x) for the named activation; softmax uses its full Jacobian.
    (For 'relu' this is the unmodified rule; see relu_backward for modifiers.)"""
    x, gy = _f64(x), _f64(gy)
    p = dict(DEFAULT_PARAMS.get(name, {}), **params)
    if name == "softmax":
        y = _softmax(x)
        return y * (gy - (gy * y).sum(axis=-1, keepdims=True))
    if name == "linear":
        d = np.ones_like(x)
    elif name == "relu":
        d = (x > 0).astype(np.float64)
    elif name == "sigmoid":
        s = _sigmoid(x)
        d = s * (1.0 - s)
    elif name == "tanh":
        d = 1.0 - np.tanh(x) ** 2
    elif name == "elu":
        d = np.where(x > 0, 1.0, p["alpha"] * np.exp(np.minimum(x, 0.0)))
    elif name == "selu":
        d = SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    elif name == "softplus":
        d = _sigmoid(x)
    elif name == "softsign":
        d = 1.0 / (1.0 + np.abs(x)) ** 2
    elif name == "swish":
        s = _sigmoid(x)
        d = s + x * s * (1.0 - s)
    elif name == "gelu":
        if p["approximate"]:
            _, t = _gelu_tanh_parts(x)
            du = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x ** 2)
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * du
        else:
            cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
            pdf = np.exp(-0.5 * x ** 2) / math.sqrt(2.0 * math.pi)
            d = cdf + x * pdf
    elif name == "hard_sigmoid":
        z = p["slope"] * x + p["offset"]
        d = np.where((z > 0.0) & (z < 1.0), p["slope"], 0.0)
    elif name == "exponential":
        d = np.exp(x)
    elif name == "relu6":
        d = ((x > 0.0) & (x < 6.0)).astype(np.float64)
    elif name == "leaky_relu":
        d = np.where(x >= 0, 1.0, p["negative_slope"])
    elif name == "relu_general":
        d = _relu_general_grad(x, p["max_value"], p["negative_slope"], p["threshold"])
    else:
        raise ValueError("unknown activation %r" % (name,))
    return gy * d


# Breakpoints where an activation's derivative jumps: test inputs are kept away from them.
def kinks(name, **params):
    p = dict(DEFAULT_PARAMS.get(name, {}), **params)
    if name in ("relu", "elu", "selu", "leaky_relu"):
        return [0.0]
    if name == "relu6":
        return [0.0, 6.0]
    if name == "hard_sigmoid":
        return [-p["offset"] / p["slope"], (1.0 - p["offset"]) / p["slope"]]
    if name == "relu_general":
        out = [p["threshold"]]
        if p["max_value"] is not None:
            out.append(p["max_value"])
        return out
    return []


# --------------------------------------------------------------------------
# backprop modifiers at ReLU units (keras-vis-api.md section 9)
# --------------------------------------------------------------------------

MODIFIERS = (None, "guided", "rectified")


def relu_backward(gy, x, modifier=None):
    """Gradient through a ReLU unit with forward input x and upstream gy:
    none g*[x>0]; guided g*[x>0]*[g>0]; rectified (deconv) g*[g>0]."""
    x, gy = _f64(x), _f64(gy)
    if modifier is None:
        return gy * (x > 0)
    if modifier == "guided":
        return gy * (x > 0) * (gy > 0)
    if modifier == "rectified":
        return gy * (gy > 0)
    raise ValueError("unknown modifier %r" % (modifier,))


# --------------------------------------------------------------------------
# merges
# --------------------------------------------------------------------------

def add(*xs):
    return sum(_f64(x) for x in xs)


def add_backward(gy, n_inputs):
    return [_f64(gy).copy() for _ in range(n_inputs)]


def concatenate(xs, axis=-1):
    """axis is a Keras axis on the full (batched) tensor: -1 or 1..rank-1."""
    return np.concatenate([_f64(x) for x in xs], axis=axis)


def concatenate_backward(gy, sizes, axis=-1):
    """Split gy back into the inputs' sizes along axis."""
    return [a.copy() for a in np.split(_f64(gy), np.cumsum(sizes)[:-1], axis=axis)]


# --------------------------------------------------------------------------
# layers of keras.applications (normalisation, padding/cropping/upsampling,
# depthwise/separable convolution, element-wise merges)
# --------------------------------------------------------------------------

def batch_norm(x, gamma, beta, mean, var, epsilon):
    """Inference-mode BatchNormalization on the last axis; gamma/beta None = 1/0."""
    x = _f64(x)
    g = 1.0 if gamma is None else _f64(gamma)
    b = 0.0 if beta is None else _f64(beta)
    return g * (x - _f64(mean)) / np.sqrt(_f64(var) + epsilon) + b


def batch_norm_backward(gy, gamma, var, epsilon):
    g = 1.0 if gamma is None else _f64(gamma)
    return _f64(gy) * g / np.sqrt(_f64(var) + epsilon)


def zero_pad2d(x, padding):
    """padding ((top, bottom), (left, right))."""
    (t, b), (l, r) = padding
    return np.pad(_f64(x), ((0, 0), (t, b), (l, r), (0, 0)))


def zero_pad2d_backward(gy, padding):
    (t, b), (l, r) = padding
    gy = _f64(gy)
    return gy[:, t:gy.shape[1] - b, l:gy.shape[2] - r, :].copy()


def crop2d(x, cropping):
    (t, b), (l, r) = cropping
    x = _f64(x)
    return x[:, t:x.shape[1] - b, l:x.shape[2] - r, :].copy()


def crop2d_backward(gy, x_shape, cropping):
    (t, b), (l, r) = cropping
    gx = np.zeros(x_shape)
    gx[:, t:x_shape[1] - b, l:x_shape[2] - r, :] = _f64(gy)
    return gx


def upsample2d(x, size):
    """Nearest-neighbour repeat of every pixel size[0] x size[1] times."""
    return np.repeat(np.repeat(_f64(x), size[0], axis=1), size[1], axis=2)


def upsample2d_backward(gy, size):
    n, oh, ow, c = gy.shape
    return _f64(gy).reshape(n, oh // size[0], size[0], ow // size[1], size[1], c).sum(axis=(2, 4))


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """kernel (KH, KW, C, DM); output channel c*DM + m = sum over taps x[..., c] * K[i, j, c, m]."""
    x, kernel = _f64(x), _f64(kernel)
    kh, kw, c, dm = kernel.shape
    oh, ow, pads = _geometry_hw(x.shape, (kh, kw), strides, dilation, padding)
    xp = np.pad(x, pads)
    y = np.zeros((x.shape[0], oh, ow, c, dm))
    for i in range(kh):
        for j in range(kw):
            y += _tap(xp, i, j, (oh, ow), strides, dilation)[..., None] * kernel[i, j]
    y = y.reshape(x.shape[0], oh, ow, c * dm)
    if bias is not None:
        y += _f64(bias)
    return y


def depthwise_conv2d_backward(gy, x_shape, kernel, strides=(1, 1), dilation=(1, 1),
                              padding="valid"):
    gy, kernel = _f64(gy), _f64(kernel)
    kh, kw, c, dm = kernel.shape
    oh, ow, pads = _geometry_hw(x_shape, (kh, kw), strides, dilation, padding)
    n, h, w, _ = x_shape
    gxp = np.zeros((n, h + pads[1][0] + pads[1][1], w + pads[2][0] + pads[2][1], c))
    g5 = gy.reshape(n, oh, ow, c, dm)
    for i in range(kh):
        for j in range(kw):
            _tap(gxp, i, j, (oh, ow), strides, dilation)[...] += (g5 * kernel[i, j]).sum(axis=-1)
    return gxp[:, pads[1][0]:pads[1][0] + h, pads[2][0]:pads[2][0] + w, :].copy()


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, strides=(1, 1),
                     dilation=(1, 1), padding="valid"):
    z = depthwise_conv2d(x, depthwise_kernel, None, strides, dilation, padding)
    return conv2d(z, pointwise_kernel, bias)


def separable_conv2d_backward(gy, x_shape, depthwise_kernel, pointwise_kernel, strides=(1, 1),
                              dilation=(1, 1), padding="valid"):
    kh, kw, c, dm = np.shape(depthwise_kernel)
    oh, ow, _ = _geometry_hw(x_shape, (kh, kw), strides, dilation, padding)
    gz = conv2d_backward(gy, (x_shape[0], oh, ow, c * dm), pointwise_kernel)
    return depthwise_conv2d_backward(gz, x_shape, depthwise_kernel, strides, dilation, padding)


def multiply(*xs):
    out = _f64(xs[0]).copy()
    for x in xs[1:]:
        out = out * _f64(x)
    return out


def multiply_backward(gy, xs):
    grads = []
    for k in range(len(xs)):
        g = _f64(gy).copy()
        for j, x in enumerate(xs):
            if j != k:
                g = g * _f64(x)
        grads.append(g)
    return grads


def average(*xs):
    return add(*xs) / len(xs)


def average_backward(gy, n_inputs):
    return [_f64(gy) / n_inputs for _ in range(n_inputs)]


def maximum(*xs):
    return np.maximum.reduce([_f64(x) for x in xs])


def maximum_backward(gy, xs):
    """The gradient goes to the first input holding the maximum."""
    stack = np.stack([_f64(x) for x in xs])
    first = np.argmax(stack, axis=0)          # argmax returns the first maximum
    return [np.where(first == k, _f64(gy), 0.0) for k in range(len(xs))]


def rescaling(x, scale, offset):
    return _f64(x) * _f64(scale) + _f64(offset)


def normalization(x, mean, variance, invert=False, epsilon=1e-7):
    std = np.maximum(np.sqrt(_f64(variance)), epsilon)
    return _f64(mean) + _f64(x) * std if invert else (_f64(x) - _f64(mean)) / std
