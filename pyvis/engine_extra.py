"""Native lowering of the layers keras.applications need beyond the core set, and the
one-time warning about activations the backprop modifiers leave alone.

``LOWERINGS`` maps each layer class to ``lower(layer, builder, input_nodes, input_shapes)``
(the contract of ``pyvis.engine._LOWERINGS``; shapes are per sample, batch axis excluded):

* BatchNormalization, Normalization, Rescaling -> one ``OP_AFFINE`` node (constants folded in
  float64). BatchNormalization is deliberately NOT folded into the preceding convolution: the
  convolution's own output must stay readable (Grad-CAM on ``res5c_branch2c`` weighs the
  pre-BN activations), and the affine pass costs a few percent of the convolution.
* ZeroPadding2D / Cropping2D / UpSampling2D -> ``OP_PAD2D`` / ``OP_CROP2D`` / ``OP_UPSAMPLE2D``.
* DepthwiseConv2D -> ``OP_DEPTHWISE_CONV2D`` (ReLU fused like Conv2D);
  SeparableConv2D -> that op without bias, then a 1x1 ``OP_CONV2D`` with bias and activation.
* Multiply / Average / Maximum -> ``OP_MULTIPLY`` / ``OP_AVERAGE`` / ``OP_MAXIMUM``.
"""

import warnings
import weakref

from pyvis import engine   # partially initialised while engine imports this module; used lazily
from pyvis.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from pyvis.layers.merging_elementwise import Average, Maximum, Multiply
from pyvis.layers.normalization import BatchNormalization, Normalization, Rescaling
from pyvis.layers.reshaping import Cropping2D, UpSampling2D, ZeroPadding2D


def _channels(layer, shapes):
    channels = shapes[0][-1] if len(shapes[0]) else None
    if channels is None:
        raise ValueError(f"Layer '{layer.name}': the last (channels) dimension of the input must "
                         f"be known to run natively, got per-sample shape {shapes[0]}")
    return channels


def _lower_batchnorm(layer, b, ins, shapes):
    scale, shift = layer.affine_constants(len(shapes[0]) + 1)
    return b.add(b.c.OP_AFFINE, ins, (), (), (scale, shift))


def _lower_rescaling(layer, b, ins, shapes):
    scale, shift = layer.affine_constants(_channels(layer, shapes))
    return b.add(b.c.OP_AFFINE, ins, (), (), (scale, shift))


def _lower_normalization(layer, b, ins, shapes):
    scale, shift = layer.affine_constants(len(shapes[0]) + 1, _channels(layer, shapes))
    return b.add(b.c.OP_AFFINE, ins, (), (), (scale, shift))


def _lower_shift(op_name, attr):
    def lower(layer, b, ins, shapes):
        (top, bottom), (left, right) = getattr(layer, attr)
        return b.add(getattr(b.c, op_name), ins, (top, bottom, left, right))
    return lower


def _lower_upsampling(layer, b, ins, shapes):
    return b.add(b.c.OP_UPSAMPLE2D, ins, layer.size)


def _window_params(layer, act):
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    return (kh, kw, sh, sw, dh, dw, engine._pad_code(engine.core(), layer.padding), act)


def _lower_depthwise(layer, b, ins, shapes):
    act, after = engine._fused(b, layer)
    node = b.add(b.c.OP_DEPTHWISE_CONV2D, ins, _window_params(layer, act), (), layer.weights)
    return node if after is None else b.activation(node, after)


def _lower_separable(layer, b, ins, shapes):
    act, after = engine._fused(b, layer)
    w = layer._weights
    depthwise = b.add(b.c.OP_DEPTHWISE_CONV2D, ins, _window_params(layer, b.c.ACT_LINEAR), (),
                      (w["depthwise_kernel"],))
    pointwise_weights = (w["pointwise_kernel"],) + ((w["bias"],) if "bias" in w else ())
    node = b.add(b.c.OP_CONV2D, (depthwise,), (1, 1, 1, 1, 1, 1, b.c.PAD_VALID, act), (),
                 pointwise_weights)
    return node if after is None else b.activation(node, after)


def _lower_merge(op_name):
    def lower(layer, b, ins, shapes):
        return ins[0] if len(ins) == 1 else b.add(getattr(b.c, op_name), ins)
    return lower


LOWERINGS = {
    BatchNormalization: _lower_batchnorm,
    Rescaling: _lower_rescaling,
    Normalization: _lower_normalization,
    ZeroPadding2D: _lower_shift("OP_PAD2D", "padding"),
    Cropping2D: _lower_shift("OP_CROP2D", "cropping"),
    UpSampling2D: _lower_upsampling,
    DepthwiseConv2D: _lower_depthwise,
    SeparableConv2D: _lower_separable,
    Multiply: _lower_merge("OP_MULTIPLY"),
    Average: _lower_merge("OP_AVERAGE"),
    Maximum: _lower_merge("OP_MAXIMUM"),
}


# ---------------------------------------------------------------------------
# Backprop modifiers act at plain ReLU units only (DESIGN.md). Rectifier variants keep their
# ordinary derivative, so guided/rectified maps of e.g. MobileNet (ReLU6) differ from what the
# user may expect: say so once per layer.

_UNMODIFIED_KINDS = {"RELU6": "relu6", "RELU_GENERAL": "ReLU(max_value/negative_slope/threshold)",
                     "LEAKY_RELU": "leaky_relu", "ELU": "elu", "SELU": "selu", "GELU": "gelu",
                     "SWISH": "silu/swish", "SOFTPLUS": "softplus"}
_warned_layers = weakref.WeakSet()


def _activation_kind(layer):
    """The native activation name of ``layer`` (None if it has no activation)."""
    if hasattr(layer, "is_plain_relu"):              # the ReLU layer
        return "RELU" if layer.is_plain_relu else "RELU_GENERAL"
    fn = getattr(layer, "activation", None)
    if fn is None or hasattr(layer, "layers"):
        return None
    try:
        return engine.activation_spec(fn, layer)[0]
    except ValueError:
        return None


def units_left_unmodified(model):
    """[(layer, description)] for the layers whose rectifier the backprop modifiers leave alone."""
    found = []
    for layer in getattr(model, "layers", []):
        kind = _activation_kind(layer)
        if kind in _UNMODIFIED_KINDS:
            found.append((layer, _UNMODIFIED_KINDS[kind]))
    return found


def warn_unmodified_units(model, modifier):
    """Warn (once per layer) when ``modifier`` will not change some of ``model``'s rectifiers."""
    if modifier is None or modifier == "none":
        return
    fresh = [(layer, kind) for layer, kind in units_left_unmodified(model)
             if layer not in _warned_layers]
    if not fresh:
        return
    for layer, _ in fresh:
        _warned_layers.add(layer)
    kinds = sorted({kind for _, kind in fresh})
    names = [layer.name for layer, _ in fresh]
    shown = ", ".join(names[:6]) + (f", ... ({len(names)} layers)" if len(names) > 6 else "")
    warnings.warn(
        f"backprop_modifier {modifier!r} acts only at ReLU units; model "
        f"'{getattr(model, 'name', '?')}' also has {' / '.join(kinds)} units ({shown}) whose "
        "gradient it leaves unchanged", UserWarning, stacklevel=3)
