"""Keras-compatible activation functions (NumPy implementations).

These are the objects a layer's ``activation`` attribute holds, exactly as in
``keras.activations``: keras-vis notebooks do
``model.layers[i].activation = activations.linear``.  The native graph does not
call these Python functions; ``pyvis.engine`` recognises them by identity and
lowers each one to an ``ACT_*`` code.  The NumPy bodies let a layer be checked
or used eagerly and document the exact formula the native code implements.

Formulas follow Keras 3.  The one Keras 2 difference that matters for loading
old files, ``hard_sigmoid`` (0.2*x + 0.5 instead of x/6 + 0.5), is available as
:func:`hard_sigmoid_keras2`; it serializes under the same name.
"""

import math

import numpy as np

__all__ = [
    "linear", "relu", "softmax", "sigmoid", "tanh", "elu", "selu", "softplus",
    "softsign", "swish", "silu", "gelu", "hard_sigmoid", "exponential",
    "relu6", "leaky_relu", "get", "serialize", "deserialize",
]

# SELU constants from Klambauer et al. (2017), the values Keras uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float_array(x):
    """Return x as a floating ndarray without modifying the caller's data."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def linear(x):
    """Identity: ``x``."""
    return _float_array(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit with Keras 3's optional parameters.

    ``max_value`` if ``x >= max_value``, ``x`` if ``threshold <= x < max_value``,
    ``negative_slope * (x - threshold)`` otherwise.
    """
    x = _float_array(x)
    y = np.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y.astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x >= 0`` else ``negative_slope * x`` (Keras 3 default slope 0.2)."""
    x = _float_array(x)
    return np.where(x >= 0, x, negative_slope * x).astype(x.dtype, copy=False)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    x = _float_array(x)
    return np.clip(x, 0, 6).astype(x.dtype, copy=False)


def softmax(x, axis=-1):
    """Softmax over ``axis`` (the last axis by default), shifted by the max for stability."""
    x = _float_array(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(x):
    """Logistic function, written with tanh so it never overflows."""
    x = _float_array(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(_float_array(x))


def elu(x, alpha=1.0):
    """``x`` for ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    x = _float_array(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def selu(x):
    """Scaled ELU with the fixed SELU constants."""
    x = _float_array(x)
    neg = SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return (SELU_SCALE * np.where(x > 0, x, neg)).astype(x.dtype, copy=False)


def softplus(x):
    """``log(1 + exp(x))`` computed without overflow."""
    x = _float_array(x)
    return np.logaddexp(0, x).astype(x.dtype, copy=False)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = _float_array(x)
    return x / (1 + np.abs(x))


def silu(x):
    """Swish / SiLU: ``x * sigmoid(x)``."""
    x = _float_array(x)
    return x * sigmoid(x)


# Keras 3 registers "swish" as an alias of the same function; serialize gives "silu".
swish = silu


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, approximate=False):
    """Gaussian error linear unit; exact (erf) by default, tanh form if ``approximate``."""
    x = _float_array(x)
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        y = 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    return y.astype(x.dtype, copy=False)


def hard_sigmoid(x):
    """Keras 3 hard sigmoid: ``clip(x / 6 + 0.5, 0, 1)``."""
    x = _float_array(x)
    return np.clip(x / 6.0 + 0.5, 0, 1).astype(x.dtype, copy=False)


def hard_sigmoid_keras2(x):
    """Keras 2 / tf.keras hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    Loaders pick this for files written by Keras 2 (keras-formats.md §4.9 trap).
    """
    x = _float_array(x)
    return np.clip(0.2 * x + 0.5, 0, 1).astype(x.dtype, copy=False)


def exponential(x):
    """``exp(x)``."""
    return np.exp(_float_array(x))


# Name -> function.  Keras 2 names are a subset; "swish" is the Keras 2 name of silu.
_BY_NAME = {
    "linear": linear,
    "relu": relu,
    "softmax": softmax,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "softsign": softsign,
    "silu": silu,
    "swish": silu,
    "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "exponential": exponential,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
}

# Function -> canonical serialized name (Keras 3 spelling).
_NAME_OF = {
    linear: "linear", relu: "relu", softmax: "softmax", sigmoid: "sigmoid",
    tanh: "tanh", elu: "elu", selu: "selu", softplus: "softplus",
    softsign: "softsign", silu: "silu", gelu: "gelu",
    hard_sigmoid: "hard_sigmoid", hard_sigmoid_keras2: "hard_sigmoid",
    exponential: "exponential", relu6: "relu6", leaky_relu: "leaky_relu",
}


def get(identifier):
    """Return the activation function for ``identifier``.

    Accepts ``None`` (linear), a name (``"relu"``), a Keras serialization dict
    (``{"class_name": "function", "config": "relu", ...}`` or
    ``{"class_name": "relu", ...}``), or a callable (returned as is).
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation function: {identifier!r}. "
                f"Supported names: {sorted(_BY_NAME)}")
        return fn
    if isinstance(identifier, dict):
        name = identifier.get("config")
        if not isinstance(name, str):
            name = identifier.get("registered_name") or identifier.get("class_name")
        if isinstance(name, str):
            return get(name)
        raise ValueError(
            f"Could not interpret activation function identifier: {identifier!r}")
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret activation function identifier: {identifier!r} "
        "(expected None, a name such as 'relu', or a function from pyvis.activations)")


def deserialize(name, custom_objects=None):
    """Inverse of :func:`serialize`; ``custom_objects`` may map names to functions."""
    if custom_objects and isinstance(name, str) and name in custom_objects:
        return custom_objects[name]
    return get(name)


def serialize(activation):
    """Return the Keras name of ``activation`` (a function from this module)."""
    name = _NAME_OF.get(activation)
    if name is None:
        if isinstance(activation, str) and activation in _BY_NAME:
            return _NAME_OF[_BY_NAME[activation]]
        raise ValueError(
            f"Cannot serialize activation {activation!r}: it is not one of the "
            f"functions in pyvis.activations ({sorted(set(_NAME_OF.values()))})")
    return name
