"""The glue between Keras-style models and the native core ``pyvis._core``.

Everything that turns NumPy/Keras-level objects into native calls lives here:

* lowering: a model's nodes (in topological order) become the ``_core.Graph``
  node list ``(op, inputs, iparams, fparams, weights)`` of spec §1.  Conv2D and
  Dense fuse ``linear``/``relu``; any other activation becomes a separate
  ``OP_ACTIVATION`` node after them, so backward sees the pre-activation value.
  Layers that are the identity at inference (Dropout, linear Activation) make
  no node: their output maps to their input's node.
* input validation with Keras-level messages (layer names, ``(None, ...)`` shapes)
  before anything reaches C;
* ``Tape``: one forward run, read back by tensor handle, and backward from seeds.

The compiled graph is cached on the model and rebuilt automatically when a
layer changes (``layer._version``: weights replaced, activation assigned, ...).
"""

import math
import numbers

import numpy as np

from pyvis import activations
from pyvis.layers import (Activation, Add, Concatenate, Conv2D, Dense,
                          Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
                          InputLayer, KerasTensor, Layer, MaxPooling2D, AveragePooling2D,
                          ReLU, Reshape, Softmax)


def core():
    """The native module, imported on first use so models can be built without it."""
    try:
        from pyvis import _core
    except ImportError as exc:
        raise ImportError(
            "pyvis's native core (pyvis._core) is not built; install the package with "
            "`pip install .` (or `pip install -e .`) so the C extension is compiled") from exc
    return _core


# ---------------------------------------------------------------------------
# Activations -> (ACT_* name, flag, (A, B, C)); see spec §1 OP_ACTIVATION.

_ACT_SPECS = {
    activations.linear: ("LINEAR", 0, ()),
    activations.relu: ("RELU", 0, ()),
    activations.softmax: ("SOFTMAX", 0, ()),
    activations.sigmoid: ("SIGMOID", 0, ()),
    activations.tanh: ("TANH", 0, ()),
    activations.elu: ("ELU", 0, (1.0,)),
    activations.selu: ("SELU", 0, ()),
    activations.softplus: ("SOFTPLUS", 0, ()),
    activations.softsign: ("SOFTSIGN", 0, ()),
    activations.silu: ("SWISH", 0, ()),
    activations.gelu: ("GELU", 0, ()),                      # Keras default: exact erf
    activations.hard_sigmoid: ("HARD_SIGMOID", 0, (1.0 / 6.0, 0.5)),
    activations.hard_sigmoid_keras2: ("HARD_SIGMOID", 0, (0.2, 0.5)),
    activations.exponential: ("EXPONENTIAL", 0, ()),
    activations.relu6: ("RELU6", 0, ()),
    activations.leaky_relu: ("LEAKY_RELU", 0, (0.2,)),      # Keras 3 default slope
}


def activation_spec(fn, layer):
    """Look up the native code of ``layer``'s activation, or raise a ValueError naming the layer."""
    if fn is None or isinstance(fn, str):
        try:
            fn = activations.get(fn)
        except ValueError as exc:
            raise ValueError(f"Layer '{layer.name}': {exc}") from None
    try:
        spec = _ACT_SPECS.get(fn)
    except TypeError:       # unhashable callable
        spec = None
    if spec is None:
        raise ValueError(
            f"Layer '{layer.name}' has activation {fn!r}, which is not a function from "
            "pyvis.activations; custom activations cannot run in the native graph. "
            f"Use one of {sorted(set(activations._NAME_OF.values()))}, e.g. "
            "layer.activation = pyvis.activations.linear")
    return spec


def modifier_code(modifier):
    """Backprop modifier name (keras-vis spelling) or MOD_* int -> MOD_* int."""
    c = core()
    if modifier is None:
        return c.MOD_NONE
    if isinstance(modifier, str):
        codes = {"none": c.MOD_NONE, "guided": c.MOD_GUIDED, "rectified": c.MOD_RECTIFIED,
                 "relu": c.MOD_RECTIFIED, "deconv": c.MOD_RECTIFIED}
        if modifier in codes:
            return codes[modifier]
    elif isinstance(modifier, numbers.Integral) and not isinstance(modifier, bool):
        if modifier in (c.MOD_NONE, c.MOD_GUIDED, c.MOD_RECTIFIED):
            return int(modifier)
    raise ValueError(
        f"backprop modifier {modifier!r} is not supported; expected None, 'guided', "
        "'rectified', 'relu' or 'deconv'")


# ---------------------------------------------------------------------------
# Lowering.

class _Builder:
    """Accumulates native node tuples; ``add`` returns the new node's index."""

    def __init__(self):
        self.c = core()
        self.nodes = []

    def add(self, op, inputs=(), iparams=(), fparams=(), weights=()):
        self.nodes.append((int(op), tuple(int(i) for i in inputs),
                           tuple(int(p) for p in iparams),
                           tuple(float(f) for f in fparams), tuple(weights)))
        return len(self.nodes) - 1

    def input(self, per_sample_shape):
        dims = tuple(-1 if d is None else d for d in per_sample_shape)
        return self.add(self.c.OP_INPUT, (), dims)

    def activation(self, node, spec):
        """Append an OP_ACTIVATION node after ``node`` unless the activation is linear."""
        name, flag, fparams = spec
        if name == "LINEAR":
            return node
        code = getattr(self.c, "ACT_" + name)
        return self.add(self.c.OP_ACTIVATION, (node,), (code, flag), fparams)


def _pad_code(c, padding):
    return getattr(c, "PAD_SAME", 1) if padding == "same" else getattr(c, "PAD_VALID", 0)


def _fused(b, layer):
    """(ACT code to fuse, spec of the separate activation node or None)."""
    spec = activation_spec(layer.activation, layer)
    if spec[0] in ("LINEAR", "RELU"):
        return getattr(b.c, "ACT_" + spec[0]), None
    return b.c.ACT_LINEAR, spec


def _lower_conv2d(layer, b, ins, shapes):
    act, after = _fused(b, layer)
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    node = b.add(b.c.OP_CONV2D, ins,
                 (kh, kw, sh, sw, dh, dw, _pad_code(b.c, layer.padding), act),
                 (), layer.weights)
    return node if after is None else b.activation(node, after)


def _lower_dense(layer, b, ins, shapes):
    act, after = _fused(b, layer)
    node = b.add(b.c.OP_DENSE, ins, (act,), (), layer.weights)
    return node if after is None else b.activation(node, after)


def _lower_pool(op_name):
    def lower(layer, b, ins, shapes):
        (ph, pw), (sh, sw) = layer.pool_size, layer.strides
        return b.add(getattr(b.c, op_name), ins,
                     (ph, pw, sh, sw, _pad_code(b.c, layer.padding)))
    return lower


def _lower_global_pool(op_name):
    def lower(layer, b, ins, shapes):
        return b.add(getattr(b.c, op_name), ins, (int(layer.keepdims),))
    return lower


def _lower_flatten(layer, b, ins, shapes):
    return b.add(b.c.OP_RESHAPE, ins, (-1,))


def _lower_reshape(layer, b, ins, shapes):
    return b.add(b.c.OP_RESHAPE, ins, layer.target_shape)


def _lower_identity(layer, b, ins, shapes):
    return ins[0]


def _lower_activation(layer, b, ins, shapes):
    return b.activation(ins[0], activation_spec(layer.activation, layer))


def _lower_relu(layer, b, ins, shapes):
    if layer.is_plain_relu:
        # A plain ReLU() is a ReLU unit for the backprop modifiers, like activation='relu'.
        return b.activation(ins[0], ("RELU", 0, ()))
    max_value = math.inf if layer.max_value is None else layer.max_value
    return b.activation(ins[0], ("RELU_GENERAL", 0,
                                 (max_value, layer.negative_slope, layer.threshold)))


def _lower_softmax(layer, b, ins, shapes):
    if layer.axis not in (-1, len(shapes[0])):
        raise NotImplementedError(
            f"Softmax '{layer.name}': only the last axis is supported, got axis={layer.axis}")
    return b.activation(ins[0], ("SOFTMAX", 0, ()))


def _lower_add(layer, b, ins, shapes):
    return ins[0] if len(ins) == 1 else b.add(b.c.OP_ADD, ins)


def _lower_concatenate(layer, b, ins, shapes):
    if len(ins) == 1:
        return ins[0]
    full_rank = len(shapes[0]) + 1
    axis = layer.axis % full_rank
    if axis == 0:
        raise NotImplementedError(
            f"Concatenate '{layer.name}': concatenation along the batch axis is not supported")
    return b.add(b.c.OP_CONCAT, ins, (axis - 1,))


_LOWERINGS = {
    Conv2D: _lower_conv2d,
    Dense: _lower_dense,
    MaxPooling2D: _lower_pool("OP_MAXPOOL2D"),
    AveragePooling2D: _lower_pool("OP_AVGPOOL2D"),
    GlobalAveragePooling2D: _lower_global_pool("OP_GLOBAL_AVGPOOL2D"),
    GlobalMaxPooling2D: _lower_global_pool("OP_GLOBAL_MAXPOOL2D"),
    Flatten: _lower_flatten,
    Reshape: _lower_reshape,
    Dropout: _lower_identity,
    Activation: _lower_activation,
    ReLU: _lower_relu,
    Softmax: _lower_softmax,
    Add: _lower_add,
    Concatenate: _lower_concatenate,
}

# Layers of keras.applications beyond the core set lower in their own module.
from pyvis.engine_extra import LOWERINGS as _APPLICATION_LOWERINGS  # noqa: E402
_LOWERINGS.update(_APPLICATION_LOWERINGS)


def _lowering_for(layer):
    for cls in type(layer).__mro__:
        fn = _LOWERINGS.get(cls)
        if fn is not None:
            return fn
    if hasattr(layer, "layers") and hasattr(layer, "_execution_nodes"):
        raise NotImplementedError(
            f"Model '{layer.name}' is used as a layer inside another model; nested models "
            "are not supported by the native graph yet")
    raise NotImplementedError(
        f"Layer '{layer.name}' of type {type(layer).__name__} has no native implementation")


class CompiledModel:
    """A native Graph plus the map from the model's symbolic tensors to graph nodes."""

    def __init__(self, model):
        b = _Builder()
        self.tensor_node = {}           # id(KerasTensor) -> node index
        self.tensors = []               # keeps the keys' objects alive (ids stay unique)
        self.input_nodes = []
        for t in model._inputs:
            node = b.input(t.shape[1:])
            self.input_nodes.append(node)
            self._map(t, node)
        for node in model._execution_nodes:
            layer = node.operation
            ins = [self.tensor_node[id(t)] for t in node.input_tensors]
            shapes = [t.shape[1:] for t in node.input_tensors]
            out = _lowering_for(layer)(layer, b, ins, shapes)
            for t in node.output_tensors:
                self._map(t, out)
        self.num_nodes = len(b.nodes)
        self.graph = b.c.Graph(b.nodes)

    def _map(self, tensor, node):
        self.tensor_node[id(tensor)] = node
        self.tensors.append(tensor)


class GraphCache:
    """Holder shared by a model and its ``_with_backprop_modifier`` clones."""

    __slots__ = ("signature", "compiled")

    def __init__(self):
        self.signature = None
        self.compiled = None


def compiled_model(model):
    """The model's native graph, (re)built if any of its layers changed since last time."""
    signature = tuple((id(layer), layer._version) for layer in model._network_layers)
    cache = model._graph_cache
    if cache.compiled is None or cache.signature != signature:
        cache.compiled = None
        cache.compiled = CompiledModel(model)
        cache.signature = signature
    return cache.compiled


# ---------------------------------------------------------------------------
# Inputs.

def as_float32_batch(x, what):
    """``x`` as a float32 C-contiguous array (no copy if it already is one); never in place."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _input_layer_name(tensor):
    return tensor._keras_history.operation.name


def check_input(array, tensor, what):
    """Raise ValueError unless ``array`` fits ``tensor``'s shape (None = any)."""
    expected = tensor.shape
    ok = array.ndim == len(expected) and all(
        e is None or e == g for e, g in zip(expected[1:], array.shape[1:]))
    if not ok:
        raise ValueError(
            f"{what}: expected input of shape {expected} for layer "
            f"'{_input_layer_name(tensor)}', got {array.shape}")


def split_inputs(model, x):
    """The model's inputs as a list, one array-like per model input (Keras conventions)."""
    n = len(model._inputs)
    if isinstance(x, dict):
        names = [_input_layer_name(t) for t in model._inputs]
        missing = [name for name in names if name not in x]
        if missing:
            raise ValueError(f"Missing data for input(s) {missing}; got keys {sorted(x)}")
        return [x[name] for name in names]
    if n == 1:
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            return [x[0]]
        return [x]
    if not isinstance(x, (list, tuple)) or len(x) != n:
        got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
        raise ValueError(
            f"Model '{model.name}' has {n} inputs "
            f"{[_input_layer_name(t) for t in model._inputs]}; expected a list of {n} "
            f"arrays, got {got}")
    return list(x)


def prepare_inputs(model, x):
    """Validated float32 arrays, one per model input, with a common batch size."""
    arrays = []
    for k, (item, tensor) in enumerate(zip(split_inputs(model, x), model._inputs)):
        what = "x" if len(model._inputs) == 1 else f"x[{k}]"
        arr = as_float32_batch(item, what)
        check_input(arr, tensor, what)
        arrays.append(arr)
    batches = {a.shape[0] for a in arrays}
    if len(batches) > 1:
        raise ValueError(
            f"All inputs must have the same batch size, got {[a.shape for a in arrays]}")
    return arrays


# Forward convolution algorithm for 3x3 stride-1 layers: Winograd by default; exact (direct)
# keeps every ReLU and max-pool decision identical to a direct convolution. Backward is the same
# in both modes. Set through pyvis.set_exact_convolution().
_exact_forward = False


def set_exact_forward(flag):
    global _exact_forward
    _exact_forward = bool(flag)


def exact_forward():
    return _exact_forward


def run(model, x, exact=None):
    """One native forward of ``model`` on ``x``; returns a :class:`Tape`.

    ``exact``: None follows pyvis.set_exact_convolution(); True convolves directly."""
    arrays = prepare_inputs(model, x)
    compiled = compiled_model(model)
    exact = _exact_forward if exact is None else bool(exact)
    return Tape(model, compiled, compiled.graph.forward(arrays, exact=exact))


# ---------------------------------------------------------------------------
# Tape.

class Tape:
    """One forward run: values of any tensor, and gradients by backward from seeds.

    A tensor handle is a KerasTensor of the model, a Layer (its output in this
    model), an int index into ``model.layers``, or a layer name.
    """

    def __init__(self, model, compiled, core_tape):
        self.model = model
        self._compiled = compiled
        self._tape = core_tape

    @property
    def batch(self):
        return self._tape.batch

    def node_of(self, handle, what="tensor"):
        """The native node index of ``handle`` (see the class docstring)."""
        model = self.model
        tensor = handle
        if isinstance(handle, (numbers.Integral, str)) and not isinstance(handle, bool):
            handle = model.get_layer(name=handle) if isinstance(handle, str) else \
                model.get_layer(index=int(handle))
        if isinstance(handle, Layer) and not isinstance(handle, KerasTensor):
            tensor = model._layer_output_in_model(handle)
        if not isinstance(tensor, KerasTensor):
            raise TypeError(
                f"{what}: expected a tensor handle (KerasTensor, Layer, layer index or "
                f"layer name), got {handle!r}")
        node = self._compiled.tensor_node.get(id(tensor))
        if node is None:
            raise ValueError(f"{what}: {tensor!r} is not part of model '{model.name}'")
        return node

    def value(self, handle):
        """The value of ``handle`` for this run, float32 with the batch axis (a copy)."""
        return self._tape.value(self.node_of(handle))

    def shape(self, handle):
        return tuple(self._tape.shape(self.node_of(handle)))

    def backward(self, seeds, wrt=None, modifier=None):
        """Gradients of ``sum(seed * tensor)`` over all seeds, w.r.t. each ``wrt`` handle.

        ``seeds``: list of ``(handle, grad)``, grad shaped like the tensor's value.
        ``wrt``: list of handles, default the model inputs.  ``modifier``: None uses the
        model's ``_backprop_modifier``; else 'guided', 'rectified' (= 'relu', 'deconv').
        """
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise ValueError(f"seeds must be a non-empty list of (tensor, grad) pairs, got {seeds!r}")
        native_seeds = []
        for k, item in enumerate(seeds):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise TypeError(f"seeds[{k}] must be a (tensor, grad) pair, got {item!r}")
            node = self.node_of(item[0], f"seeds[{k}]")
            grad = as_float32_batch(item[1], f"seeds[{k}] gradient")
            want = tuple(self._tape.shape(node))
            if grad.shape != want:
                raise ValueError(
                    f"seeds[{k}]: gradient must have the shape of the tensor's value {want}, "
                    f"got {grad.shape}")
            native_seeds.append((node, grad))
        if wrt is None:
            wrt = list(self.model._inputs)
        elif not isinstance(wrt, (list, tuple)):
            raise TypeError(f"wrt must be a list of tensor handles, got {wrt!r}")
        wrt_nodes = [self.node_of(h, f"wrt[{k}]") for k, h in enumerate(wrt)]
        if modifier is None:
            modifier = getattr(self.model, "_backprop_modifier", None)
        return self._tape.backward(native_seeds, wrt_nodes, modifier_code(modifier))


# ---------------------------------------------------------------------------
# Eager layer calls on arrays: ``Dense(3)(np.ones((2, 4)))``.

def eager_call(layer, inputs):
    """Run one layer on concrete arrays through a one-layer native graph."""
    if isinstance(layer, InputLayer):
        raise TypeError(f"InputLayer '{layer.name}' cannot be called")
    many = layer._expects_list
    if many:
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise ValueError(f"Layer '{layer.name}' must be called on a list of arrays")
        items = list(inputs)
    else:
        items = [inputs]
    if any(isinstance(i, KerasTensor) for i in items):
        raise TypeError(f"Layer '{layer.name}': do not mix symbolic tensors and arrays")
    arrays = [as_float32_batch(a, f"input {k} of layer '{layer.name}'")
              for k, a in enumerate(items)]
    if any(a.ndim < 1 for a in arrays):
        raise ValueError(f"Layer '{layer.name}': inputs must have a batch axis")
    shapes = [(None,) + a.shape[1:] for a in arrays]
    layer._check_input_shapes(shapes)
    shape_arg = shapes if many else shapes[0]
    if not layer.built:
        layer.build(shape_arg)
        object.__setattr__(layer, "built", True)
    layer.compute_output_shape(shape_arg)       # same validation as a symbolic call
    b = _Builder()
    ins = [b.input(a.shape[1:]) for a in arrays]
    out = _lowering_for(layer)(layer, b, ins, [a.shape[1:] for a in arrays])
    if out in ins:                              # identity layers
        return arrays[ins.index(out)].copy()
    tape = b.c.Graph(b.nodes).forward(arrays)
    return tape.value(out)
