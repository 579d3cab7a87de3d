"""Put stored weight arrays into a pyvis layer: count and shape checks, Keras 1/2 conversions.

Shapes are compared before any array is read, so a file that declares absurd shapes fails
without allocating them. The conversions Keras 2 applied on load (keras-formats.md §2.4):
  * a 4-D convolution kernel stored in Theano order (out, in, kh, kw) is transposed to
    (kh, kw, in, out) when that is the only way its shape fits the layer;
  * files written with the Theano backend, which convolves (flips) where TensorFlow
    correlates, get their convolution kernels flipped spatially.
"""

import warnings

import numpy as np

CONV_CLASSES = ("Conv2D", "Convolution2D")
THEANO_TO_TF = (2, 3, 1, 0)          # (out, in, kh, kw) -> (kh, kw, in, out)


class Source:
    """A stored weight: its shape (known without reading) and how to read it."""

    def __init__(self, shape, read, desc):
        self.shape = tuple(int(d) for d in shape)
        self.read = read
        self.desc = desc

    @classmethod
    def of_array(cls, arr, desc):
        arr = np.asarray(arr)
        return cls(arr.shape, lambda: np.asarray(arr, dtype=np.float32), desc)


class Conversions:
    """Which Keras 2 load-time conversions apply to a file."""

    def __init__(self, theano_flip=False, transpose_kernels=True):
        self.theano_flip = theano_flip
        self.transpose_kernels = transpose_kernels


NO_CONVERSION = Conversions(theano_flip=False, transpose_kernels=False)


def _mismatch(msg, skip_mismatch):
    if skip_mismatch:
        warnings.warn(f"{msg}; skipped (skip_mismatch=True)", stacklevel=4)
        return False
    raise ValueError(msg)


def plan_layer(layer, class_name, sources, label, conversions):
    """Check `sources` against `layer`; returns (ok, list of (source, op) or error message)."""
    expected = [tuple(w.shape) for w in layer.weights]
    names = getattr(layer, "weight_names", None) or [f"weight_{i}" for i in range(len(expected))]
    if len(sources) != len(expected):
        return False, (f"{label}: layer {layer.name!r} ({class_name}) has {len(expected)} weight(s) "
                       f"{names} with shapes {expected}, but the file provides {len(sources)} "
                       f"with shapes {[s.shape for s in sources]}")
    plan = []
    for i, (src, shape, wname) in enumerate(zip(sources, expected, names)):
        is_kernel = class_name in CONV_CLASSES and i == 0 and len(src.shape) == 4
        op = None
        if src.shape != shape and is_kernel and conversions.transpose_kernels and \
                tuple(src.shape[a] for a in THEANO_TO_TF) == shape:
            op = "transpose"
        elif src.shape != shape:
            return False, (f"{label}: layer {layer.name!r} ({class_name}) weight {wname!r} has shape {shape} "
                           f"in the model but shape {src.shape} in the file ({src.desc})")
        plan.append((src, op, is_kernel and conversions.theano_flip))
    return True, plan


def assign_layer(layer, class_name, sources, label, conversions=NO_CONVERSION, skip_mismatch=False):
    """Load `sources` into `layer`; returns True if assigned, False if skipped on mismatch."""
    ok, plan = plan_layer(layer, class_name, sources, label, conversions)
    if not ok:
        return _mismatch(plan, skip_mismatch)
    values = []
    for src, op, flip in plan:
        value = np.asarray(src.read(), dtype=np.float32)
        if value.shape != src.shape:
            raise ValueError(f"{label}: {src.desc} read back with shape {value.shape}, declared {src.shape}")
        if op == "transpose":
            value = np.transpose(value, THEANO_TO_TF)
        if flip:
            value = value[::-1, ::-1, :, :]        # Theano convolution -> TF correlation
        values.append(np.ascontiguousarray(value))
    layer._adopt_weights(values)     # fresh arrays from the file: no second copy
    return True
