"""Keras-style models: functional ``Model(inputs, outputs)`` and ``Sequential``.

A model is the graph of layer calls between its inputs and outputs.  Its
``layers`` are in Keras order (keras-formats.md §4.5: depth descending, ties by
first visit of a depth-first walk from the outputs), which is also the order
Keras writes weights in, so topological weight loading and layer indices match
what Keras users see.  Running goes through the native core (``pyvis.engine``):
``model.predict(x)``, or ``model.run(x)`` for a :class:`pyvis.engine.Tape` that
reads any tensor and runs backward with a backprop modifier.
"""

import copy

import numpy as np

from pyvis import engine
from pyvis.layers.base import InputLayer, KerasTensor, Layer

__all__ = ["Model", "Functional", "Sequential", "load_model", "from_keras",
           "get_source_inputs"]


# ---------------------------------------------------------------------------
# Graph discovery (Keras's map_graph, written iteratively so deep nets do not hit
# the recursion limit).

def _build_map(inputs, outputs):
    """Nodes in DFS post-order from the outputs, and each layer's first-visit index."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress = set(), set()
    ordered, first_visit = [], {}
    stack = []

    def enter(tensor):
        if not isinstance(tensor, KerasTensor) or tensor._keras_history is None:
            raise ValueError(f"Expected a symbolic tensor produced by a layer, got {tensor!r}")
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if node in finished:
            return
        if not node.is_input and id(tensor) in input_ids:
            # An intermediate tensor given as a model input: the walk stops here.
            finished.add(node)
            return
        if node in in_progress:
            raise ValueError(f"Tensor {tensor!r} from layer '{layer.name}' is part of a cycle.")
        first_visit.setdefault(layer, len(first_visit))
        in_progress.add(node)
        stack.append([node, 0])

    for out in outputs:
        enter(out)
        while stack:
            frame = stack[-1]
            node = frame[0]
            parents = [] if node.is_input else node.input_tensors
            if frame[1] < len(parents):
                frame[1] += 1
                enter(parents[frame[1] - 1])
            else:
                stack.pop()
                in_progress.discard(node)
                finished.add(node)
                ordered.append(node)
    return ordered, first_visit


def map_graph(inputs, outputs):
    """(execution-ordered nodes, layers in Keras order, set of network nodes).

    Depth of a node = longest path to an output; a layer's depth is the max over its
    nodes.  Layers sort by depth descending, ties by first DFS visit (Keras's rule).
    """
    ordered, first_visit = _build_map(inputs, outputs)
    in_graph = set(ordered)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = node_depth.setdefault(node, 0)
        depth = max(depth, layer_depth.get(node.operation, 0))
        layer_depth[node.operation] = depth
        node_depth[node] = depth
        for parent in node.parent_nodes:
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    # Inputs that no output depends on are still part of the model (depth 0).
    for t in inputs:
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if node.is_input and layer not in layer_depth:
            layer_depth[layer] = 0
            first_visit[layer] = -1
            node_depth[node] = 0

    layers = sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_visit[layer]))
    nodes = sorted(node_depth, key=lambda n: (-node_depth[n], first_visit[n.operation]))

    # Every tensor a node reads must come from the inputs or an earlier node.
    computable = {id(t) for t in inputs}
    seen_layers = []
    for node in nodes:
        if node.is_input and not any(id(t) in computable for t in node.output_tensors):
            raise ValueError(
                f"Graph disconnected: the outputs depend on Input '{node.operation.name}', "
                f"which is not among the model's inputs "
                f"{[t._keras_history.operation.name for t in inputs]}")
        for t in node.input_tensors:
            if id(t) not in computable:
                raise ValueError(
                    f"Graph disconnected: cannot find parent for tensor {t!r} at layer "
                    f"'{node.operation.name}'. The following previous layers were accessed "
                    f"without issue: {seen_layers}")
        seen_layers.append(node.operation.name)
        computable.update(id(t) for t in node.output_tensors)

    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) != 1:
            raise ValueError(
                f'The name "{name}" is used {names.count(name)} times in the model. '
                "All layer names should be unique.")
    return nodes, layers, set(node_depth)


def get_source_inputs(tensor):
    """The Input tensors ``tensor`` ultimately depends on (``keras.utils.get_source_inputs``)."""
    sources, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if node.is_input:
            if id(t) not in seen:
                seen.add(id(t))
                sources.append(t)
        else:
            stack.extend(reversed(node.input_tensors))
    return sources


def _flatten_tensors(structure, what):
    """A tensor or a list/tuple of tensors -> (list, was_a_list)."""
    if isinstance(structure, KerasTensor):
        return [structure], False
    if isinstance(structure, Layer) and not isinstance(structure, Model):
        return [structure.output], False
    if isinstance(structure, dict):
        raise NotImplementedError(f"{what} given as a dict are not supported; pass a list")
    if isinstance(structure, (list, tuple)) and structure:
        flat = []
        for item in structure:
            flat.extend(_flatten_tensors(item, what)[0])
        return flat, True
    raise ValueError(f"{what} must be a symbolic tensor or a list of them, got {structure!r}")


def _readable_size(nbytes):
    """Keras 3's summary size format: '2.57 KB'."""
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


# ---------------------------------------------------------------------------
# Functional model.

class Model(Layer):
    """A functional model: ``Model(inputs, outputs, name=None)``."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._backprop_modifier = None
        self._graph_cache = engine.GraphCache()
        if type(self) is Model or inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise TypeError(
                    "Model(inputs, outputs) needs both inputs and outputs; subclassed models "
                    "are not supported")
            self._init_graph(inputs, outputs)
        object.__setattr__(self, "built", True)

    @classmethod
    def _auto_name_prefix(cls):
        return "functional"

    def _init_graph(self, inputs, outputs):
        self._inputs, self._inputs_are_list = _flatten_tensors(inputs, "inputs")
        self._outputs, self._outputs_are_list = _flatten_tensors(outputs, "outputs")
        for t in self._inputs:
            if sum(t is u for u in self._inputs) > 1:
                raise ValueError(f"The same tensor {t!r} is given twice in inputs")
        nodes, layers, network_nodes = map_graph(self._inputs, self._outputs)
        input_ids = {id(t) for t in self._inputs}
        # Input nodes are fed, not executed; intermediate-tensor inputs have no node here.
        self._execution_nodes = [n for n in nodes if not n.is_input and
                                 not any(id(t) in input_ids for t in n.output_tensors)]
        self._functional_layers = layers
        self._network_nodes = network_nodes
        self._graph_cache = engine.GraphCache()

    # -- structure ------------------------------------------------------------

    @property
    def layers(self):
        return list(self._functional_layers)

    @property
    def _network_layers(self):
        return self._functional_layers

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        """The input tensor (a list when the model has several inputs)."""
        return self._inputs[0] if len(self._inputs) == 1 else list(self._inputs)

    @property
    def output(self):
        """The output tensor (a list when the model has several outputs)."""
        return self._outputs[0] if len(self._outputs) == 1 else list(self._outputs)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_names(self):
        return [t._keras_history.operation.name for t in self._inputs]

    @property
    def output_names(self):
        return [t._keras_history.operation.name for t in self._outputs]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index into ``model.layers``."""
        if index is not None and name is not None:
            raise ValueError(
                "Provide only a layer name or a layer index. Received: "
                f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model "
                    f"'{self.name}' only has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[l.name for l in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def _nodes_of(self, layer):
        return [n for n in layer._inbound_nodes if n in self._network_nodes]

    def _layer_output_in_model(self, layer):
        """The output tensor of ``layer``'s (single) call inside this model."""
        nodes = self._nodes_of(layer)
        if len(nodes) == 1:
            return nodes[0].output_tensors[0]
        if not nodes:
            raise ValueError(f"Layer '{layer.name}' is not part of model '{self.name}'")
        raise ValueError(
            f"Layer '{layer.name}' is called {len(nodes)} times in model '{self.name}'; "
            "pass the output tensor of the call you mean instead of the layer")

    # -- weights --------------------------------------------------------------

    def _unique_weight_layers(self):
        return [layer for layer in self._network_layers if layer._weights]

    @property
    def weights(self):
        return [w for layer in self._unique_weight_layers() for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._unique_weight_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self._unique_weight_layers()
                for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every layer's weights from one flat list (``model.get_weights()`` order)."""
        weights = list(weights)
        layers = self._unique_weight_layers()
        expected = sum(len(layer._weights) for layer in layers)
        if len(weights) != expected:
            raise ValueError(
                f"Model '{self.name}' has {expected} weight arrays, but set_weights "
                f"received {len(weights)}")
        # Validate everything before changing anything.
        pos = 0
        for layer in layers:
            for name, current in layer._weights.items():
                shape = np.shape(weights[pos])
                if shape != current.shape:
                    raise ValueError(
                        f"Layer '{layer.name}' weight '{name}' has shape {current.shape}, "
                        f"but set_weights received an array of shape {shape}")
                pos += 1
        pos = 0
        for layer in layers:
            n = len(layer._weights)
            layer.set_weights(weights[pos:pos + n])
            pos += n

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, **kwargs):
        """Load weights from a Keras ``.h5`` / ``.weights.h5`` / ``.keras`` / ``.npz`` file."""
        from pyvis import io
        return io.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch,
                               **kwargs)

    # -- running --------------------------------------------------------------

    def run(self, x, exact=None):
        """Forward ``x`` natively; returns a Tape (values of any tensor, backward).

        ``exact=True`` uses direct convolution instead of Winograd in this forward pass
        (default: pyvis.set_exact_convolution())."""
        return engine.run(self, x, exact=exact)

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Outputs for ``x`` as float32 arrays, computed ``batch_size`` (default 32) at a time."""
        if batch_size is None:
            batch_size = 32
        if (not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool)
                or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        arrays = engine.prepare_inputs(self, x)
        n = arrays[0].shape[0]
        chunks = [[] for _ in self._outputs]
        for start in range(0, max(n, 1), batch_size):      # an empty batch runs once
            part = [a[start:start + batch_size] for a in arrays]
            tape = engine.run(self, part)
            for k, t in enumerate(self._outputs):
                chunks[k].append(tape.value(t))
        outs = [c[0] if len(c) == 1 else np.concatenate(c, axis=0) for c in chunks]
        return outs[0] if len(outs) == 1 else outs

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, KerasTensor) or (
                isinstance(inputs, (list, tuple)) and inputs
                and any(isinstance(t, KerasTensor) for t in inputs)):
            raise NotImplementedError(
                f"Calling model '{self.name}' on symbolic tensors (nesting a model inside "
                "another) is not supported; build one model from the layers instead")
        kwargs.pop("training", None)
        return self.predict(inputs)

    def compile(self, *args, **kwargs):
        """Accepted for compatibility; pyvis does not train."""

    def _with_backprop_modifier(self, name):
        """A shallow clone sharing layers, weights and the compiled graph, using ``name``."""
        engine.modifier_code(name)        # validate now, not at the first backward
        from pyvis.engine_extra import warn_unmodified_units
        warn_unmodified_units(self, name)  # once per layer: ReLU6 & co. keep their gradient
        clone = copy.copy(self)
        object.__setattr__(clone, "_backprop_modifier", name)
        return clone

    def _rebuilt(self):
        """A fresh model object over the same layers and weight arrays, graph recompiled."""
        clone = copy.copy(self)
        object.__setattr__(clone, "_graph_cache", engine.GraphCache())
        return clone

    # -- description ------------------------------------------------------------

    def _is_chain(self):
        """True when every layer reads exactly the previous one (summary drops 'Connected to')."""
        previous = self._inputs[0] if len(self._inputs) == 1 else None
        for node in self._execution_nodes:
            if len(node.input_tensors) != 1 or node.input_tensors[0] is not previous:
                return False
            previous = node.output_tensors[0]
        return len(self._outputs) == 1

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the layer table (name (type), output shape, params) and parameter totals."""
        if print_fn is None:
            print_fn = print
        chain = isinstance(self, Sequential) or self._is_chain()
        rows = []
        for layer in self.layers:
            nodes = self._nodes_of(layer)
            shapes = [t.shape for n in nodes for t in n.output_tensors] or [layer.output_shape]
            shape = str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            connected = []
            for node in nodes:
                for t in node.input_tensors:
                    op, node_index, tensor_index = t._keras_history
                    connected.append(f"{op.name}[{node_index}][{tensor_index}]")
            rows.append([f"{layer.name} ({type(layer).__name__})", shape, params,
                         ", ".join(connected) or "-"])
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        ncols = 3 if chain else 4
        widths = [max([len(headers[c])] + [len(r[c]) for r in rows]) for c in range(ncols)]
        if line_length:
            widths[0] = max(widths[0], line_length - sum(widths[1:]) - 3 * ncols)

        def line(cells):
            out = []
            for c in range(ncols):
                cell = cells[c]
                out.append(cell.rjust(widths[c]) if c == 2 else cell.ljust(widths[c]))
            return " " + "   ".join(out).rstrip()

        total_width = sum(widths) + 3 * (ncols - 1) + 1
        lines = [f'Model: "{self.name}"', "_" * total_width, line(headers), "=" * total_width]
        for k, row in enumerate(rows):
            lines.append(line(row))
            lines.append("_" * total_width if k < len(rows) - 1 else "=" * total_width)
        if not rows:
            lines.append("=" * total_width)
        trainable = int(sum(w.size for w in self.trainable_weights))
        frozen = int(sum(w.size for w in self.non_trainable_weights))
        for label, count in (("Total", trainable + frozen), ("Trainable", trainable),
                             ("Non-trainable", frozen)):
            lines.append(f" {label} params: {count:,} ({_readable_size(4 * count)})")
        lines.append("_" * total_width)
        for text in lines:
            print_fn(text)

    def get_config(self):
        """Keras 3 functional config (``layers`` with ``inbound_nodes``, input/output layers)."""
        layer_configs = []
        for layer in self.layers:
            inbound = []
            for node in self._nodes_of(layer):
                if node.is_input:
                    continue
                args = [self._tensor_config(t) for t in node.input_tensors]
                arg = args if isinstance(node.call_structure, (list, tuple)) else args[0]
                inbound.append({"args": [arg], "kwargs": {}})
            layer_configs.append({
                "module": "keras.layers", "class_name": type(layer).__name__,
                "config": layer.get_config(), "registered_name": None,
                "name": layer.name, "inbound_nodes": inbound})

        def refs(tensors, as_list):
            triples = [[t._keras_history.operation.name, t._keras_history.node_index,
                        t._keras_history.tensor_index] for t in tensors]
            return triples if as_list else triples[0]

        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": refs(self._inputs, self._inputs_are_list),
                "output_layers": refs(self._outputs, self._outputs_are_list)}

    @staticmethod
    def _tensor_config(t):
        op, node_index, tensor_index = t._keras_history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": [op.name, node_index, tensor_index]}}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Functional = Model


# ---------------------------------------------------------------------------
# Sequential.

class Sequential(Model):
    """A linear stack of layers; ``model.layers`` excludes the InputLayer (as Keras)."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack = []            # InputLayer (when known) then the layers
        self._chain = []            # output tensor of each entry of _stack
        object.__setattr__(self, "built", False)
        for layer in layers or []:
            self.add(layer)

    @classmethod
    def _auto_name_prefix(cls):
        return "sequential"

    def add(self, layer):
        """Append a layer (or an ``Input()`` tensor as the first element)."""
        if isinstance(layer, KerasTensor):
            origin = layer._keras_history.operation if layer._keras_history else None
            if not isinstance(origin, InputLayer):
                raise ValueError(
                    "Only Input() tensors or layer instances can be added to a Sequential "
                    f"model, got {layer!r}")
            layer = origin
        if not isinstance(layer, Layer):
            raise TypeError(
                "Only instances of pyvis layers can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})")
        if isinstance(layer, Model):
            raise NotImplementedError(
                f"Adding model '{layer.name}' as a layer (nested models) is not supported")
        if isinstance(layer, InputLayer) and self._stack:
            raise ValueError(
                f"Sequential model '{self.name}' already has layers; an InputLayer can "
                "only be the first element")
        if not self._stack and not isinstance(layer, InputLayer) \
                and layer._batch_input_shape is not None:
            # Keras 2 style: input_shape / batch_input_shape on the first layer.
            self._append(InputLayer(batch_shape=layer._batch_input_shape))
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{layer.name}' is already the name of a layer in this model.")
        self._append(layer)

    def _append(self, layer):
        if isinstance(layer, InputLayer):
            self._stack.append(layer)
            self._chain.append(layer.output)
        elif self._chain:
            out = layer(self._chain[-1])
            self._stack.append(layer)
            self._chain.append(out)
        else:
            self._stack.append(layer)       # built later, from the first data seen
            return
        self._refresh()

    def pop(self):
        """Remove and return the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        if self._chain and len(self._chain) > len(self._stack):
            self._chain.pop()
        self._refresh()
        return layer

    def _refresh(self):
        if self._chain and isinstance(self._stack[0], InputLayer):
            self._init_graph(self._chain[0], self._chain[-1])
            object.__setattr__(self, "built", True)

    def build(self, input_shape=None):
        """Create the input for ``input_shape`` (batch included) and call every layer."""
        if self._chain:
            shape = self._stack[0].batch_shape
            if tuple(input_shape) != tuple(shape):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use "
                    f"input shape {shape}. You cannot build it with input_shape "
                    f"{tuple(input_shape)}")
            return
        if not self._stack:
            raise ValueError(
                f"Sequential model {self.name} cannot be built because it has no layers. "
                "Call `model.add(layer)`.")
        pending = list(self._stack)
        self._stack, self._chain = [], []
        self._append(InputLayer(batch_shape=tuple(input_shape)))
        for layer in pending:
            self._append(layer)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Sequential model '{self.name}' has not yet been built, so {what} is not "
                "available. Add an Input() first or build it by calling it on data.")

    def _build_from(self, x):
        """Keras builds an input-less Sequential from the first data it sees."""
        if self.built:
            return
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            x = x[0]
        arr = np.asarray(x)
        if arr.ndim < 2:
            raise ValueError(
                f"Sequential model '{self.name}' has no input shape yet; expected a batch "
                f"(N, ...) to build it from, got shape {arr.shape}")
        self.build((None,) + arr.shape[1:])

    @property
    def layers(self):
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    @property
    def _network_layers(self):
        return list(self._stack)

    def _nodes_of(self, layer):
        if not self.built:
            return []
        return super()._nodes_of(layer)

    def run(self, x, exact=None):
        self._build_from(x)
        return super().run(x, exact=exact)

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        self._build_from(x)
        return super().predict(x, batch_size=batch_size, verbose=verbose)

    def summary(self, *args, **kwargs):
        self._require_built("summary()")
        return super().summary(*args, **kwargs)

    def get_config(self):
        layer_configs = []
        for layer in self._stack:
            layer_configs.append({"module": "keras.layers", "class_name": type(layer).__name__,
                                  "config": layer.get_config(), "registered_name": None})
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs}

    def _rebuilt(self):
        clone = super()._rebuilt()
        object.__setattr__(clone, "_stack", list(self._stack))
        object.__setattr__(clone, "_chain", list(self._chain))
        return clone

    def _with_backprop_modifier(self, name):
        clone = super()._with_backprop_modifier(name)
        object.__setattr__(clone, "_stack", list(self._stack))
        object.__setattr__(clone, "_chain", list(self._chain))
        return clone

    def __getattr__(self, name):
        # Symbolic attributes of an unbuilt Sequential: a clear message, not AttributeError
        # about a private field.
        if name in ("_inputs", "_outputs", "_execution_nodes", "_functional_layers",
                    "_network_nodes", "_inputs_are_list", "_outputs_are_list"):
            raise ValueError(
                f"Sequential model '{self.__dict__.get('name', '?')}' has not yet been "
                "built: add an Input() (or give the first layer input_shape=...) or call "
                "it on data first.")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


# ---------------------------------------------------------------------------
# File and Keras-object entry points (implemented in pyvis.io).

def load_model(filepath, custom_objects=None, compile=True, **kwargs):
    """Load a Keras model file (``.h5`` / ``.keras``) as a pyvis model."""
    from pyvis import io
    return io.load_model(filepath, custom_objects=custom_objects, compile=compile, **kwargs)


def from_keras(obj):
    """Convert an in-memory Keras model to a pyvis model (weights copied)."""
    from pyvis import io
    return io.from_keras(obj)
