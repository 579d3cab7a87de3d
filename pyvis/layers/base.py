"""Symbolic graph building blocks: KerasTensor, Node, Layer, InputLayer, Input.

A model is described exactly as Keras describes it: calling a layer on a
symbolic ``KerasTensor`` records a ``Node`` in ``layer._inbound_nodes`` and returns
new ``KerasTensor`` outputs whose ``_keras_history`` is
``(layer, node_index, tensor_index)``.  Nothing is computed here; the native
graph is built from these nodes by ``pyvis.engine``.

Weights are float32 C-contiguous NumPy arrays owned by the layer (``glorot_uniform``
kernels and zero biases, drawn with NumPy so ``np.random.seed`` makes them
reproducible).  Assigning any public attribute or calling ``set_weights`` bumps
``layer._version``, which tells models that their compiled native graph is stale.
"""

import collections
import contextlib
import re

import numpy as np

# Config keys Keras 2 or 3 may write that do not change inference.  Anything
# ending in one of the suffixes (kernel_initializer, bias_regularizer, ...) too.
_HARMLESS_KEYS = frozenset({
    "activity_regularizer", "lora_rank", "lora_alpha", "quantization_config",
    "autocast", "input_dtype", "sparse", "ragged", "optional", "build_config",
    "seed", "robust_masking", "synchronized", "weights", "module",
    "registered_name", "class_name",
})
_HARMLESS_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


# ---------------------------------------------------------------------------
# Naming: per-process counters keyed by the snake_case class name (Keras 3).

_name_counts = collections.defaultdict(int)


def to_snake_case(name):
    """``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d`` (Keras's rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ... (Keras 3 ``uniquify``)."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_name_counters():
    """Reset automatic names, as ``keras.backend.clear_session()`` does."""
    _name_counts.clear()


# ---------------------------------------------------------------------------
# Weight initialisation.

_defer_init_depth = 0


@contextlib.contextmanager
def deferred_weight_init():
    """Inside this block new weights are zeros instead of random values.

    Used when the weights are about to be replaced from a file: ``np.zeros`` is
    lazily backed by the OS, so VGG16's 138M parameters cost nothing until loaded.
    """
    global _defer_init_depth
    _defer_init_depth += 1
    try:
        yield
    finally:
        _defer_init_depth -= 1


def glorot_uniform(shape, fan_in, fan_out):
    """Uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))``, float32."""
    if _defer_init_depth:
        return np.zeros(shape, dtype=np.float32)
    limit = np.sqrt(6.0 / max(1.0, float(fan_in + fan_out)))
    # Seed a fast float32 generator from NumPy's global state so that
    # np.random.seed(...) reproduces models, without float64 temporaries.
    rng = np.random.default_rng(np.random.randint(0, 2 ** 31 - 1))
    w = rng.random(shape, dtype=np.float32)
    w *= np.float32(2.0 * limit)
    w -= np.float32(limit)
    return w


def zeros(shape):
    return np.zeros(shape, dtype=np.float32)


# ---------------------------------------------------------------------------
# Shapes.

def standardize_shape(shape, what="shape"):
    """Return ``shape`` as a tuple of non-negative ints or None, or raise ValueError."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{what} must be a tuple of ints or None, got {shape!r}") from None
    out = []
    for d in dims:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            out.append(int(d))
        else:
            raise ValueError(
                f"{what} must contain non-negative ints or None, got {shape!r}")
    return tuple(out)


def pair(value, what, allow_zero=False):
    """Normalise an int or a 2-sequence of ints to a tuple of 2 positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        value = tuple(int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                      else v for v in value)
    except TypeError:
        raise ValueError(f"{what} must be an int or a tuple of 2 ints, got {value!r}") from None
    low = 0 if allow_zero else 1
    if len(value) != 2 or not all(isinstance(v, int) and v >= low for v in value):
        raise ValueError(
            f"{what} must be an int or a tuple of 2 ints >= {low}, got {value!r}")
    return value


def positive_int(value, what):
    """Return ``value`` as a Python int > 0, or raise ValueError naming ``what``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
        return int(value)
    raise ValueError(f"{what} must be a positive int, got {value!r}")


def serialize_activation(fn):
    """Activation name for configs; a custom callable is written by its __name__ as Keras does."""
    from pyvis import activations
    try:
        return activations.serialize(fn)
    except ValueError:
        return getattr(fn, "__name__", repr(fn))


def check_data_format(data_format, layer_name):
    if data_format in (None, "channels_last"):
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(
            f"Layer '{layer_name}': channels_first is not supported (data_format="
            "'channels_first'); pyvis runs channels_last (NHWC) models only")
    raise ValueError(
        f"Layer '{layer_name}': data_format must be 'channels_last' or "
        f"'channels_first', got {data_format!r}")


def check_padding(padding, layer_name):
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(
            f"Layer '{layer_name}': padding must be 'valid' or 'same', got {padding!r}")
    return p


# ---------------------------------------------------------------------------
# Symbolic tensors and call records.

class KerasHistory(collections.namedtuple(
        "KerasHistory", ["operation", "node_index", "tensor_index"])):
    """Where a symbolic tensor comes from (Keras 3 field names; ``.layer`` for Keras 2)."""
    __slots__ = ()

    @property
    def layer(self):
        return self.operation


class KerasTensor:
    """A symbolic tensor: a shape with ``None`` for the batch axis, a dtype, and its history."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name if name is not None else unique_name("keras_tensor")
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, "
                f"name={self.name}>")

    def __iter__(self):
        # Without this, Python would try __getitem__ and loop forever on list().
        raise TypeError("A symbolic KerasTensor cannot be iterated over")

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic and has no value; run the model "
            "(model.predict or model.run(x).value(tensor)) to get one")


class Node:
    """One call of a layer: its input tensors (flat, in argument order) and outputs."""

    def __init__(self, operation, input_tensors, call_structure, output_tensors):
        self.operation = operation
        self.input_tensors = list(input_tensors)
        self.call_structure = call_structure      # what was passed: a tensor or a list
        self.output_tensors = list(output_tensors)

    @property
    def layer(self):
        return self.operation

    @property
    def outputs(self):
        return self.output_tensors

    @property
    def is_input(self):
        return isinstance(self.operation, InputLayer) and not self.input_tensors

    @property
    def parent_nodes(self):
        parents = []
        for t in self.input_tensors:
            op, index, _ = t._keras_history
            parents.append(op._inbound_nodes[index])
        return parents

    def __repr__(self):
        return f"<Node of {self.operation.name!r}>"


def _is_tensor_structure(x):
    if isinstance(x, KerasTensor):
        return True
    return (isinstance(x, (list, tuple)) and len(x) > 0
            and all(isinstance(t, KerasTensor) for t in x))


# ---------------------------------------------------------------------------
# Layer base class.


def _read_only(array):
    """Freeze a weight array the layer owns: an in-place edit would bypass set_weights."""
    array.setflags(write=False)
    return array

class Layer:
    """Base class of every pyvis layer (Keras semantics, NumPy weights, no computation)."""

    # Subclasses set these; see __call__.
    _expects_list = False      # merge layers take a list of tensors
    _min_ndim = None           # minimum rank including batch (e.g. Dense: 2)
    _exact_ndim = None         # exact rank including batch (e.g. Conv2D: 4)

    def __init__(self, name=None, trainable=True, dtype=None, **kwargs):
        object.__setattr__(self, "_version", 0)
        object.__setattr__(self, "_inbound_nodes", [])
        object.__setattr__(self, "_weights", collections.OrderedDict())
        object.__setattr__(self, "built", False)
        if name is None:
            name = unique_name(self._auto_name_prefix())
        elif not isinstance(name, str) or not name:
            raise ValueError(f"Layer name must be a non-empty string, got {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "trainable", bool(trainable))
        self._batch_input_shape = self._pop_input_shape(kwargs)
        unknown = [k for k in kwargs
                   if k not in _HARMLESS_KEYS and not k.endswith(_HARMLESS_SUFFIXES)]
        if unknown:
            raise TypeError(
                f"{type(self).__name__}(name={name!r}) got unrecognized keyword "
                f"argument(s): {sorted(unknown)}")

    @classmethod
    def _auto_name_prefix(cls):
        return to_snake_case(cls.__name__)

    @staticmethod
    def _pop_input_shape(kwargs):
        """Keras 2/3 first-layer shape keys -> a batch shape tuple, or None."""
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        input_shape = kwargs.pop("input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        input_dim = kwargs.pop("input_dim", None)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            return standardize_shape(batch_input_shape, "batch_input_shape")
        if input_shape is not None:
            return (batch_size,) + standardize_shape(input_shape, "input_shape")
        return None

    def __setattr__(self, key, value):
        object.__setattr__(self, key, value)
        if not key.startswith("_") and key != "built":
            # Any public edit (activation, ...) makes compiled graphs stale.
            object.__setattr__(self, "_version", self._version + 1)

    # -- weights -----------------------------------------------------------

    def add_weight(self, name, array):
        """Register a weight array (stored as float32, C-contiguous, read-only)."""
        self._weights[name] = _read_only(np.ascontiguousarray(array, dtype=np.float32))

    @property
    def weights(self):
        """The weight arrays themselves (not copies, read-only), in Keras order. Change weights
        with set_weights: compiled graphs derive data from them (Winograd-transformed kernels)
        and notice a replaced array, not one rewritten in place."""
        return list(self._weights.values())

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [] if self.trainable else self.weights

    @property
    def weight_names(self):
        """Keras variable names, e.g. ``['kernel', 'bias']``."""
        return list(self._weights.keys())

    def get_weights(self):
        """Copies of the weight arrays."""
        return [w.copy() for w in self._weights.values()]

    def set_weights(self, weights):
        """Replace the weights; count and shapes must match the existing ones."""
        self._store_weights(weights, copy=True)

    def _adopt_weights(self, weights):
        """set_weights for loaders: arrays just read from a file, which nobody else holds, are
        kept as they are (float32, C order) instead of copied; loading VGG16 thus moves each of
        its 553 MB once."""
        self._store_weights(weights, copy=False)

    def _store_weights(self, weights, copy):
        weights = list(weights)
        names = list(self._weights.keys())
        if len(weights) != len(names):
            raise ValueError(
                f"Layer '{self.name}' expects {len(names)} weight array(s) "
                f"({names}), but set_weights received {len(weights)}")
        new = []
        for name, value in zip(names, weights):
            arr = (np.array(value, dtype=np.float32, order="C", copy=True) if copy
                   else np.ascontiguousarray(value, dtype=np.float32))
            expected = self._weights[name].shape
            if arr.shape != expected:
                raise ValueError(
                    f"Layer '{self.name}' weight '{name}' has shape {expected}, "
                    f"but set_weights received an array of shape {arr.shape}")
            new.append(arr)
        for name, arr in zip(names, new):
            self._weights[name] = _read_only(arr)
        object.__setattr__(self, "_version", self._version + 1)

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the "
                "layer isn't built. Call it on a tensor (or build it) first.")
        return int(sum(w.size for w in self._weights.values()))

    # -- building and calling ---------------------------------------------------

    def build(self, input_shape):
        """Create weights for ``input_shape`` (batch included). Default: none."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def _check_input_shapes(self, shapes):
        """Rank checks with Keras's wording, before build."""
        for i, shape in enumerate(shapes):
            nd = len(shape)
            if self._exact_ndim is not None and nd != self._exact_ndim:
                raise ValueError(
                    f"Input {i} of layer '{self.name}' is incompatible with the layer: "
                    f"expected ndim={self._exact_ndim}, found ndim={nd}. "
                    f"Full shape received: {shape}")
            if self._min_ndim is not None and nd < self._min_ndim:
                raise ValueError(
                    f"Input {i} of layer '{self.name}' is incompatible with the layer: "
                    f"expected min_ndim={self._min_ndim}, found ndim={nd}. "
                    f"Full shape received: {shape}")

    def __call__(self, inputs, *args, **kwargs):
        kwargs.pop("training", None)    # inference only: Dropout is always the identity
        kwargs.pop("mask", None)
        if args or kwargs:
            raise TypeError(
                f"Layer '{self.name}' was called with unsupported extra arguments "
                f"{args or ''}{sorted(kwargs) or ''}")
        if not _is_tensor_structure(inputs):
            from pyvis import engine    # eager call on arrays runs the native op
            return engine.eager_call(self, inputs)
        if self._expects_list:
            if not isinstance(inputs, (list, tuple)):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) must be called on "
                    f"a list of tensors, got {inputs!r}")
            flat = list(inputs)
            shapes = [t.shape for t in flat]
            shape_arg = shapes
        else:
            if isinstance(inputs, (list, tuple)):
                if len(inputs) != 1:
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}) expects a single "
                        f"input tensor, got a list of {len(inputs)}")
                inputs = inputs[0]
            flat = [inputs]
            shapes = [inputs.shape]
            shape_arg = inputs.shape
        for t in flat:
            if t._keras_history is None:
                raise ValueError(f"Tensor {t!r} was not produced by a layer or Input()")
        self._check_input_shapes(shapes)
        if not self.built:
            self.build(shape_arg)
            object.__setattr__(self, "built", True)
        out_shape = self.compute_output_shape(shape_arg)
        out = KerasTensor(out_shape, dtype="float32")
        node = Node(self, flat, inputs, [out])
        self._inbound_nodes.append(node)
        out._keras_history = KerasHistory(self, len(self._inbound_nodes) - 1, 0)
        return out

    # -- symbolic attributes (first call, as Keras) ---------------------------------

    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called and thus has no "
                f"defined {what}.")
        return self._inbound_nodes[0]

    @property
    def inbound_nodes(self):
        return list(self._inbound_nodes)

    @property
    def input(self):
        node = self._first_node("input")
        return node.call_structure

    @property
    def output(self):
        node = self._first_node("output")
        return node.output_tensors[0]

    @property
    def input_shape(self):
        node = self._first_node("input shape")
        if isinstance(node.call_structure, (list, tuple)):
            return [t.shape for t in node.call_structure]
        return node.call_structure.shape

    @property
    def output_shape(self):
        return self._first_node("output shape").output_tensors[0].shape

    @property
    def dtype(self):
        return "float32"

    # -- config -----------------------------------------------------------------

    def get_config(self):
        """Keras 3 style config (base keys; subclasses add theirs)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ---------------------------------------------------------------------------
# Inputs.

class InputLayer(Layer):
    """The source of a model input; owns the input KerasTensor."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None,
                 batch_shape=None, input_tensor=None, name=None, **kwargs):
        # Keras 2 keys: input_shape, batch_input_shape.
        if "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        kwargs.pop("ragged", None)
        kwargs.pop("optional", None)
        kwargs.pop("type_spec", None)
        super().__init__(name=name, **kwargs)
        if sparse:
            raise ValueError(f"InputLayer '{self.name}': sparse inputs are not supported")
        if input_tensor is not None:
            raise ValueError(
                f"InputLayer '{self.name}': input_tensor is not supported; "
                "use the tensor directly in Model(inputs, outputs)")
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_size is not None and batch_shape is not None:
            raise ValueError(
                "You cannot pass both `batch_size` and `batch_shape` at the same time.")
        if shape is None and batch_shape is None:
            raise ValueError(f"InputLayer '{self.name}': you must pass a `shape` argument.")
        if shape is not None:
            batch_shape = (batch_size,) + standardize_shape(shape, "shape")
        batch_shape = standardize_shape(batch_shape, "batch_shape")
        if len(batch_shape) < 1:
            raise ValueError(
                f"InputLayer '{self.name}': batch_shape must include the batch axis, "
                f"got {batch_shape}")
        self._batch_shape = batch_shape
        self._input_dtype = dtype if isinstance(dtype, str) else "float32"
        tensor = KerasTensor(batch_shape, dtype=self._input_dtype, name=self.name)
        node = Node(self, [], None, [tensor])
        self._inbound_nodes.append(node)
        tensor._keras_history = KerasHistory(self, 0, 0)
        object.__setattr__(self, "built", True)

    @classmethod
    def _auto_name_prefix(cls):
        return "input_layer"

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def input(self):
        return self.output

    @property
    def input_shape(self):
        return self._batch_shape

    def __call__(self, *args, **kwargs):
        raise TypeError(f"InputLayer '{self.name}' cannot be called; use its .output")

    def get_config(self):
        return {"batch_shape": self._batch_shape, "dtype": self._input_dtype,
                "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
          name=None, tensor=None, optional=False, **kwargs):
    """Create a symbolic model input (``keras.Input``)."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, input_tensor=tensor, name=name, **kwargs)
    return layer.output
