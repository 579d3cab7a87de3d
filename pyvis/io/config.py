"""Keras model configs (Keras 1/2/3 dialects) -> a pyvis model built from pyvis.layers.

One builder reads every dialect of keras-formats.md §4:
  * Functional ("Model" in Keras 2.0-2.3, "Functional" later) with Keras 2 inbound nodes
    (`[[name, node, tensor, kwargs], ...]`, or Keras 1's 3-element form) or Keras 3 nodes
    (`{"args": [...], "kwargs": {...}}` holding `__keras_tensor__` dicts);
  * Sequential as a dict with "layers" or, from Keras 2.0-2.1, as a bare list;
  * models nested as layers. A nested model is inlined: its layers become layers of the outer
    model (renamed `<outer>/<inner>` only when a name would clash), so every layer is reachable
    for visualization. The nesting is remembered in `LayerRecord`s for the weight loaders.

Nothing from the config is ever executed or imported: class names are looked up in pyvis's own
layer registry (or in `custom_objects` the caller passed), Lambda layers are refused, and every
size is checked against `limits` before a layer allocates weights.
"""

import collections
import json
import math

from . import limits

FUNCTIONAL_CLASSES = ("Functional", "Model")
SEQUENTIAL_CLASSES = ("Sequential",)
CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")
_CLASS_ALIASES = {"BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization"}

# config keys holding positive sizes, and their bound
_SIZE_KEYS = {"filters": limits.MAX_DIM, "units": limits.MAX_DIM, "depth_multiplier": limits.MAX_DIM,
              "groups": limits.MAX_DIM, "kernel_size": limits.MAX_KERNEL_SIDE,
              "strides": limits.MAX_KERNEL_SIDE, "pool_size": limits.MAX_KERNEL_SIDE,
              "dilation_rate": limits.MAX_KERNEL_SIDE}
_SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape", "target_shape")


class LayerRecord:
    """One entry of a model config, with the pyvis layer made from it.

    kind: 'input' (InputLayer), 'layer' (a pyvis layer) or 'model' (a nested model, whose
    `children` are its own records in config order). `name` is the name in the Keras config
    (unique inside its own model); `layer.name` may carry an `<outer>/` prefix.
    """

    def __init__(self, name, class_name, kind, layer=None, trainable=True, sequential=False):
        self.name = name
        self.class_name = class_name
        self.kind = kind
        self.layer = layer
        self.trainable = trainable
        self.sequential = sequential
        self.children = []
        self.config = None           # inner config of a nested model
        self.cache = None            # inner name -> record, shared by repeated calls
        self.layer_config = None     # the Keras config of a plain layer
        self.inbound = []            # its inbound_nodes in the enclosing functional config
        self.input_layers = []       # InputLayers made for a top-level model
        self.batch_shape = None      # of an InputLayer record

    def __repr__(self):
        return f"<LayerRecord {self.kind} {self.class_name} {self.name!r}>"


def parse_json(text, label):
    """Parse a JSON model config (bytes or str), bounded in size and nesting."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > limits.MAX_JSON_BYTES:
            raise ValueError(f"{label}: model config is {len(text)} bytes (limit {limits.MAX_JSON_BYTES})")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{label}: model config is not UTF-8 text") from exc
    if not isinstance(text, str):
        raise ValueError(f"{label}: model config should be JSON text, found {type(text).__name__}")
    if len(text) > limits.MAX_JSON_BYTES:
        raise ValueError(f"{label}: model config is {len(text)} characters (limit {limits.MAX_JSON_BYTES})")
    try:
        return json.loads(text)             # accepts NaN/Infinity as Python's json.dumps writes them
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{label}: model config is not valid JSON ({exc})") from exc


def keras_major(keras_version):
    """Major version from strings such as '2.2.4-tf', '3.6.0'; absent/unknown -> 1 (as Keras 2 does)."""
    if not keras_version:
        return 1
    head = str(keras_version).split(".")[0]
    return int(head) if head.isdigit() else 1


def _contains_lambda(obj, depth=0):
    if depth > 200:
        return False
    if isinstance(obj, dict):
        if obj.get("class_name") in ("__lambda__",) + CODE_LAYERS:
            return True
        return any(_contains_lambda(v, depth + 1) for v in obj.values())
    if isinstance(obj, list):
        return any(_contains_lambda(v, depth + 1) for v in obj)
    return False


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_ref(x):
    """A Keras 2 tensor reference / input_layers leaf: [name, node_index, tensor_index, ...]."""
    return isinstance(x, list) and 3 <= len(x) <= 4 and isinstance(x[0], str) and _is_int(x[1]) and _is_int(x[2])


def _flatten_refs(x, label, what):
    """input_layers/output_layers (a leaf, a list of leaves or a dict) -> list of (name, node, tensor)."""
    if _is_ref(x):
        return [(x[0], x[1], x[2])]
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, list):
        out = []
        for item in x:
            out.extend(_flatten_refs(item, label, what))
        return out
    raise ValueError(f"{label}: cannot read {what} entry {x!r}; expected [layer_name, node_index, tensor_index]")


class _Builder:
    def __init__(self, label, keras_version, custom_objects, keras3_nodes_default):
        from pyvis import activations, layers
        self.layers_mod = layers
        self.activations = activations
        self.label = label
        self.keras2 = keras_major(keras_version) < 3
        self.custom_objects = dict(custom_objects or {})
        self.keras3_nodes_default = keras3_nodes_default
        self.layer_count = 0
        self.weight_count = 0
        self.used_names = set()

    # -- errors ---------------------------------------------------------------

    def fail(self, msg, scope=()):
        where = f" in nested model {'/'.join(scope)!r}" if scope else ""
        return ValueError(f"{self.label}{where}: {msg}")

    # -- layer construction ------------------------------------------------------

    def _check_sizes(self, name, class_name, config, scope):
        for key, bound in _SIZE_KEYS.items():
            if key not in config or config[key] is None:
                continue
            value = config[key]
            values = value if isinstance(value, list) else [value]
            if not values or not all(_is_int(v) and 1 <= v <= bound for v in values):
                raise self.fail(f"layer {name!r} ({class_name}): {key}={value!r} is not a positive integer "
                                f"(or list of them) <= {bound}", scope)
        for key in _SHAPE_KEYS:
            if key in config and config[key] is not None:
                self._check_shape(config[key], f"layer {name!r} ({class_name}): {key}", scope,
                                  allow_minus_one=(key == "target_shape"))

    def _check_shape(self, shape, what, scope, allow_minus_one=False):
        if not isinstance(shape, list) or len(shape) > 16:
            raise self.fail(f"{what}={shape!r} is not a shape (list of at most 16 dims)", scope)
        total = 1
        for d in shape:
            if d is None:
                continue
            if not _is_int(d) or not (0 <= d <= limits.MAX_DIM or (allow_minus_one and d == -1)):
                raise self.fail(f"{what}={shape!r}: dimension {d!r} is not an integer in [0, {limits.MAX_DIM}]", scope)
            total *= max(d, 1)
        if total > limits.MAX_TENSOR_ELEMENTS:
            raise self.fail(f"{what}={shape!r} has {total} elements per sample (limit {limits.MAX_TENSOR_ELEMENTS})", scope)

    def _resolve_activation(self, name, class_name, value, scope):
        """A config 'activation' -> a name pyvis knows or a function the caller supplied."""
        if value is None or callable(value):
            return value
        if isinstance(value, str):
            if value in self.custom_objects:
                return self.custom_objects[value]
            return value
        if isinstance(value, dict):
            fn_name = value.get("config")
            module = value.get("module") or ""
            registered = value.get("registered_name")
            for key in (registered, fn_name, value.get("class_name")):
                if isinstance(key, str) and key in self.custom_objects:
                    return self.custom_objects[key]
            builtin = module == "" or module.split(".")[0] in ("keras", "tf_keras", "tensorflow", "pyvis")
            if isinstance(fn_name, str) and builtin:
                return fn_name
            raise self.fail(f"layer {name!r} ({class_name}) uses the custom activation "
                            f"{registered or fn_name or value.get('class_name')!r} (module {module!r}); "
                            "pyvis never imports code named in a file. Pass it in custom_objects "
                            "(a function from pyvis.activations) if an equivalent exists", scope)
        raise self.fail(f"layer {name!r} ({class_name}): cannot read activation {value!r}", scope)

    def layer_class(self, name, class_name, entry, scope):
        if class_name in CODE_LAYERS:
            raise self.fail(f"layer {name!r} is a {class_name} layer: its Python code is stored in the file and "
                            "pyvis never runs code from a file. Rebuild the model without Lambda layers", scope)
        if class_name in self.custom_objects:
            return self.custom_objects[class_name]
        registered = entry.get("registered_name")
        if isinstance(registered, str) and registered in self.custom_objects:
            return self.custom_objects[registered]
        try:
            return self.layers_mod.get(_CLASS_ALIASES.get(class_name, class_name))
        except ValueError as exc:
            custom = f" (custom class registered as {registered!r})" if isinstance(registered, str) else ""
            raise self.fail(f"layer {name!r} has class {class_name!r}{custom}, which pyvis cannot run: {exc}. "
                            "A custom layer class can be supplied through custom_objects", scope) from None

    def _unique(self, name, scope):
        if name not in self.used_names:
            return name
        base = "/".join(scope + (name,))
        candidate, k = base, 1
        while candidate in self.used_names:
            candidate = f"{base}_{k}"
            k += 1
        return candidate

    def make_layer(self, entry, scope, record=None):
        """Construct the pyvis layer for a config entry (not yet called); fills `record`."""
        class_name, name, config = self.entry_parts(entry, scope)
        if record is not None:
            record.name, record.class_name, record.layer_config = name, class_name, config
            record.trainable = config.get("trainable", True) is not False
        cls = self.layer_class(name, class_name, entry, scope)
        config = dict(config)
        self._check_sizes(name, class_name, config, scope)
        if "activation" in config:
            config["activation"] = self._resolve_activation(name, class_name, config["activation"], scope)
        if isinstance(config.get("axis"), list) and len(config["axis"]) == 1:
            config["axis"] = config["axis"][0]          # tf.keras wrote BatchNormalization axis as [3]
        config["name"] = self._unique(name, scope)
        self.used_names.add(config["name"])
        try:
            layer = cls(**config)
        except (TypeError, ValueError, KeyError) as exc:
            raise self.fail(f"layer {name!r} ({class_name}): {exc}", scope) from exc
        if self.keras2 and getattr(layer, "activation", None) is self.activations.hard_sigmoid:
            # Keras 2 hard_sigmoid is clip(0.2x + 0.5); Keras 3's is clip(x/6 + 0.5)
            layer.activation = self.activations.hard_sigmoid_keras2
        return layer

    def entry_parts(self, entry, scope):
        if not isinstance(entry, dict):
            raise self.fail(f"layer entry {entry!r:.200} is not an object", scope)
        class_name = entry.get("class_name")
        config = entry.get("config")
        if not isinstance(class_name, str):
            raise self.fail(f"layer entry without a class_name: {json.dumps(entry)[:200]}", scope)
        is_model = class_name in FUNCTIONAL_CLASSES + SEQUENTIAL_CLASSES
        if class_name in CODE_LAYERS or (not is_model and _contains_lambda(config)):
            # (a model's own config holds its layers; those are checked one by one)
            name = config.get("name") if isinstance(config, dict) else None
            name = name or entry.get("name")
            what = f"is a {class_name} layer" if class_name in CODE_LAYERS else \
                f"({class_name}) holds a serialized Python lambda"
            raise self.fail(f"layer {name!r} {what}: its Python code is stored in the file and pyvis never runs "
                            "code from a file. Rebuild the model without Lambda layers or lambdas", scope)
        if class_name in FUNCTIONAL_CLASSES + SEQUENTIAL_CLASSES and isinstance(config, list):
            config = {"layers": config}
        if not isinstance(config, dict):
            raise self.fail(f"layer of class {class_name!r} has no config object", scope)
        name = config.get("name", entry.get("name"))
        if class_name in SEQUENTIAL_CLASSES and name is None:
            name = "sequential"
        if not isinstance(name, str) or not name or len(name) > limits.MAX_NAME_CHARS:
            raise self.fail(f"layer of class {class_name!r} has an invalid name {name!r}", scope)
        self.layer_count += 1
        if self.layer_count > limits.MAX_LAYERS:
            raise self.fail(f"more than {limits.MAX_LAYERS} layers", scope)
        return class_name, name, config

    # -- size checks around a call --------------------------------------------------

    def precheck_call(self, layer, tensors, scope):
        """Bound the weights a layer is about to create from its input shape."""
        shape = tensors[0].shape if tensors else ()
        last = shape[-1] if shape else None
        count = 0
        if isinstance(last, int):
            kernel = getattr(layer, "kernel_size", None)
            if getattr(layer, "filters", None) and kernel:
                count = math.prod(kernel) * last * int(layer.filters)
            elif getattr(layer, "units", None):
                count = last * int(layer.units)
            elif getattr(layer, "depth_multiplier", None) and kernel:
                count = math.prod(kernel) * last * int(layer.depth_multiplier)
            elif type(layer).__name__ == "BatchNormalization":
                count = 4 * last
        self.weight_count += count
        if self.weight_count > limits.MAX_WEIGHT_ELEMENTS:
            raise self.fail(f"layer {layer.name!r} would bring the model to {self.weight_count} weights "
                            f"(limit {limits.MAX_WEIGHT_ELEMENTS}); the config is corrupt or hostile", scope)

    def call(self, layer, tensors, scope):
        self.precheck_call(layer, tensors, scope)
        arg = list(tensors) if getattr(layer, "_expects_list", False) or len(tensors) > 1 else tensors[0]
        try:
            out = layer(arg)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"cannot apply layer {layer.name!r} to inputs of shape "
                            f"{[t.shape for t in tensors]}: {exc}", scope) from exc
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        self.check_outputs(layer, outs, scope)
        return outs

    def check_outputs(self, layer, outs, scope):
        for t in outs:
            known = [d for d in t.shape[1:] if d is not None]
            if math.prod(known) > limits.MAX_TENSOR_ELEMENTS:
                raise self.fail(f"layer {layer.name!r} outputs shape {t.shape} "
                                f"(more than {limits.MAX_TENSOR_ELEMENTS} values per sample)", scope)

    # -- inputs ------------------------------------------------------------------

    def input_batch_shape(self, config, name, scope):
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if shape is None and config.get("input_shape") is not None:
            shape = [config.get("batch_size")] + list(config["input_shape"])
        if shape is None:
            raise self.fail(f"input layer {name!r} has no batch_shape/batch_input_shape", scope)
        self._check_shape(shape, f"input layer {name!r}: shape", scope)
        return tuple(shape)

    def make_input(self, name, batch_shape, scope):
        unique = self._unique(name, scope)
        self.used_names.add(unique)
        try:
            layer = self.layers_mod.InputLayer(batch_shape=batch_shape, name=unique)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"input layer {name!r}: {exc}", scope) from exc
        return layer

    # -- models ------------------------------------------------------------------

    def model_record(self, entry, scope, trainable=True):
        class_name, name, config = self.entry_parts(entry, scope)
        rec = LayerRecord(name, class_name, "model", trainable=trainable and config.get("trainable", True) is not False,
                          sequential=class_name in SEQUENTIAL_CLASSES)
        rec.config = config
        rec.cache = None
        rec.inbound = entry.get("inbound_nodes", [])
        if len(scope) >= limits.MAX_NESTING:
            raise self.fail(f"models nested more than {limits.MAX_NESTING} deep", scope)
        return rec

    def call_model(self, rec, tensors, scope):
        """Inline one call of a model record on `tensors`; returns its output tensors."""
        inner_scope = scope + (rec.name,)
        if rec.sequential:
            return self.sequential_graph(rec, tensors, inner_scope)
        return self.functional_graph(rec, tensors, inner_scope)

    def _sequential_entries(self, rec, scope):
        entries = rec.config.get("layers")
        if not isinstance(entries, list) or not entries:
            raise self.fail(f"Sequential model {rec.name!r} has no layers list", scope)
        return entries

    def sequential_records(self, rec, scope):
        """Create the records (and unbuilt layers) of a Sequential config, once."""
        if rec.cache is not None:
            return rec.cache
        rec.cache = []
        for entry in self._sequential_entries(rec, scope):
            if not isinstance(entry, dict):
                raise self.fail(f"Sequential layer entry {entry!r:.200} is not an object", scope)
            cls_name = entry.get("class_name")
            if cls_name == "InputLayer":
                class_name, name, config = self.entry_parts(entry, scope)
                child = LayerRecord(name, "InputLayer", "input")
                child.batch_shape = self.input_batch_shape(config, name, scope)
                if rec.cache:
                    raise self.fail(f"Sequential model {rec.name!r} has an InputLayer after other layers", scope)
            elif cls_name in FUNCTIONAL_CLASSES + SEQUENTIAL_CLASSES:
                child = self.model_record(entry, scope, rec.trainable)
            else:
                child = LayerRecord(None, cls_name, "layer")
                child.layer = self.make_layer(entry, scope, record=child)
                child.trainable = rec.trainable and child.trainable
            rec.cache.append(child)
        rec.children = rec.cache
        return rec.cache

    def sequential_input_shape(self, rec, scope):
        """The batch shape a top-level Sequential was built with (InputLayer, first layer, or build)."""
        head = rec.cache[0]
        if head.kind == "input":
            return head.batch_shape
        cfg = head.config if head.kind == "model" else head.layer_config
        batch_shape = None
        for key in ("batch_input_shape", "batch_shape"):
            if batch_shape is None and cfg.get(key) is not None:
                batch_shape = cfg[key]
        if batch_shape is None and cfg.get("input_shape") is not None:
            batch_shape = [cfg.get("batch_size")] + list(cfg["input_shape"])
        if batch_shape is None and rec.config.get("build_input_shape") is not None:
            batch_shape = rec.config["build_input_shape"]
        if batch_shape is None and head.kind == "model":
            batch_shape = self.nested_input_shape(head, scope)
        if batch_shape is None:
            raise self.fail(f"Sequential model {rec.name!r} has no input shape (no InputLayer, "
                            "batch_input_shape or build_input_shape): it was never built", scope)
        self._check_shape(batch_shape, f"Sequential {rec.name!r} input shape", scope)
        return tuple(batch_shape)

    def nested_input_shape(self, rec, scope):
        """The input shape declared inside a nested model's own config (its first InputLayer)."""
        if rec.sequential:
            self.sequential_records(rec, scope + (rec.name,))
            return self.sequential_input_shape(rec, scope + (rec.name,))
        refs = _flatten_refs(rec.config.get("input_layers"), self.label, "input_layers")
        for entry in rec.config.get("layers") or []:
            if isinstance(entry, dict) and refs and entry.get("name", (entry.get("config") or {}).get("name")) == refs[0][0]:
                cfg = entry.get("config") or {}
                return cfg.get("batch_shape", cfg.get("batch_input_shape"))
        return None

    def sequential_input(self, rec, scope):
        head = rec.cache[0]
        name = head.name if head.kind == "input" else f"{rec.name}_input"
        layer = self.make_input(name, self.sequential_input_shape(rec, scope), scope)
        if head.kind == "input":
            head.layer = layer
        rec.input_layers = [layer]
        return layer

    def sequential_graph(self, rec, tensors, scope):
        """Chain the layers of a Sequential record; `tensors` None means: make its input."""
        self.sequential_records(rec, scope)
        if tensors is None:
            tensors = [self.sequential_input(rec, scope).output]
        x = list(tensors)
        for child in rec.cache:
            if child.kind == "model":
                x = self.call_model(child, x, scope)
            elif child.kind == "layer":
                x = self.call(child.layer, x, scope)
        return x

    def functional_graph(self, rec, tensors, scope):
        """Build (or, for a repeated call, re-apply) a functional record; returns output tensors.

        `tensors` None means this is the top-level model: its InputLayers become real inputs.
        """
        cfg = rec.config
        entries = cfg.get("layers")
        if not isinstance(entries, list):
            raise self.fail(f"functional model {rec.name!r} has no layers list", scope)
        first_call = rec.cache is None
        if first_call:
            rec.cache = collections.OrderedDict()
            for entry in entries:
                if not isinstance(entry, dict):
                    raise self.fail(f"layer entry {entry!r:.200} is not an object", scope)
                cls_name = entry.get("class_name")
                if cls_name == "InputLayer":
                    class_name, name, config = self.entry_parts(entry, scope)
                    child = LayerRecord(name, class_name, "input")
                    child.batch_shape = self.input_batch_shape(config, name, scope)
                elif cls_name in FUNCTIONAL_CLASSES + SEQUENTIAL_CLASSES:
                    child = self.model_record(entry, scope, rec.trainable)
                else:
                    child = LayerRecord(None, cls_name, "layer")
                    child.layer = self.make_layer(entry, scope, record=child)
                    child.trainable = rec.trainable and child.trainable
                if child.name in rec.cache:
                    raise self.fail(f"two layers are named {child.name!r}", scope)
                child.inbound = entry.get("inbound_nodes", [])
                rec.cache[child.name] = child
            rec.children = list(rec.cache.values())

        in_refs = _flatten_refs(cfg.get("input_layers"), self.label, "input_layers")
        out_refs = _flatten_refs(cfg.get("output_layers"), self.label, "output_layers")
        values = {}                          # (layer name, node position) -> list of tensors
        for i, (name, _, _) in enumerate(in_refs):
            child = rec.cache.get(name)
            if child is None or child.kind != "input":
                raise self.fail(f"input_layers names {name!r}, which is not an InputLayer of the model", scope)
            if tensors is None:
                layer = self.make_input(child.name, child.batch_shape, scope)
                child.layer = layer
                values[(name, 0)] = [layer.output]
            else:
                if len(tensors) != len(in_refs):
                    raise self.fail(f"nested model {rec.name!r} takes {len(in_refs)} inputs, called with "
                                    f"{len(tensors)}", scope)
                values[(name, 0)] = [tensors[i]]
        if tensors is None:
            rec.input_layers = [rec.cache[name].layer for name, _, _ in in_refs]

        # Every call node of every layer, with the node keys it needs (Kahn's topological order).
        nodes = []
        for child in rec.children:
            if child.kind == "input":
                continue
            if not isinstance(child.inbound, list):
                raise self.fail(f"layer {child.name!r}: inbound_nodes is not a list", scope)
            for k, node in enumerate(child.inbound):
                refs = self.node_refs(node, child.name, scope)
                nodes.append(((child.name, k), child, refs))
        needed = {}
        for key, child, refs in nodes:
            needed[key] = [self.ref_key(r, rec, child.name, scope) for r in refs]
        waiting = collections.defaultdict(list)
        missing = {}
        ready = collections.deque()
        for key, child, refs in nodes:
            deps = {k for k, _ in needed[key] if k not in values}
            missing[key] = len(deps)
            for d in deps:
                waiting[d].append(key)
            if not deps:
                ready.append(key)
        by_key = {key: (child, refs) for key, child, refs in nodes}
        while ready:
            key = ready.popleft()
            child, refs = by_key[key]
            ins = []
            for dep, tensor_index in needed[key]:
                outs = values[dep]
                if not 0 <= tensor_index < len(outs):
                    raise self.fail(f"layer {child.name!r} asks for output {tensor_index} of {dep[0]!r}, "
                                    f"which has {len(outs)}", scope)
                ins.append(outs[tensor_index])
            if child.kind == "model":
                values[key] = self.call_model(child, ins, scope)
            else:
                values[key] = self.call(child.layer, ins, scope)
            for w in waiting.pop(key, ()):
                missing[w] -= 1
                if missing[w] == 0:
                    ready.append(w)
        if len(values) < len(nodes) + len(in_refs):
            stuck = [k for k in by_key if k not in values][:5]
            raise self.fail(f"layer connections cannot be resolved (cycle or reference to a node that does "
                            f"not exist): {stuck}", scope)
        outputs = []
        for ref in out_refs:
            dep, tensor_index = self.ref_key(ref, rec, "output_layers", scope)
            if dep not in values or not 0 <= tensor_index < len(values[dep]):
                raise self.fail(f"output_layers refers to {ref!r}, which the model does not compute", scope)
            outputs.append(values[dep][tensor_index])
        if not outputs:
            raise self.fail(f"model {rec.name!r} has no outputs", scope)
        return outputs

    def node_refs(self, node, layer_name, scope):
        """The tensor references of one inbound node, in argument order (Keras 1, 2 or 3 form)."""
        if isinstance(node, dict):                       # Keras 3
            args = node.get("args", [])
            kwargs = node.get("kwargs", {}) or {}
            if not isinstance(args, list) or not args:
                raise self.fail(f"layer {layer_name!r}: inbound node without positional arguments", scope)
            refs = self._k3_tensors(args[0], layer_name, scope)
            if self._k3_has_tensor(args[1:]) or self._k3_has_tensor(list(kwargs.values())):
                raise self.fail(f"layer {layer_name!r} is called with tensors in extra arguments "
                                f"{sorted(kwargs)}; pyvis supports single-input and merge layers", scope)
            return refs
        if isinstance(node, list):                       # Keras 1/2: list of [name, node, tensor(, kwargs)]
            refs = []
            for item in node:
                if not _is_ref(item):
                    raise self.fail(f"layer {layer_name!r}: cannot read inbound reference {item!r:.200}", scope)
                if item[0] == "_CONSTANT_VALUE":
                    raise self.fail(f"layer {layer_name!r} is called on a constant (a TF op layer); not supported", scope)
                refs.append((item[0], item[1], item[2]))
            if not refs:
                raise self.fail(f"layer {layer_name!r}: empty inbound node", scope)
            return refs
        raise self.fail(f"layer {layer_name!r}: cannot read inbound node {node!r:.200}", scope)

    def _k3_tensors(self, arg, layer_name, scope):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            hist = (arg.get("config") or {}).get("keras_history")
            if not _is_ref(hist):
                raise self.fail(f"layer {layer_name!r}: tensor without a valid keras_history: {arg!r:.200}", scope)
            return [(hist[0], hist[1], hist[2])]
        if isinstance(arg, list) and arg:
            out = []
            for a in arg:
                out.extend(self._k3_tensors(a, layer_name, scope))
            return out
        if isinstance(arg, dict) and arg:
            out = []
            for a in arg.values():
                out.extend(self._k3_tensors(a, layer_name, scope))
            return out
        raise self.fail(f"layer {layer_name!r}: first argument {arg!r:.200} is not a tensor or list of tensors", scope)

    def _k3_has_tensor(self, obj, depth=0):
        if depth > 50:
            return False
        if isinstance(obj, dict):
            if obj.get("class_name") == "__keras_tensor__":
                return True
            return any(self._k3_has_tensor(v, depth + 1) for v in obj.values())
        if isinstance(obj, list):
            return any(self._k3_has_tensor(v, depth + 1) for v in obj)
        return False

    def ref_key(self, ref, rec, layer_name, scope):
        """(name, node_index, tensor_index) -> ((name, node position), tensor_index)."""
        name, node_index, tensor_index = ref
        target = rec.cache.get(name)
        if target is None:
            raise self.fail(f"layer {layer_name!r} takes its input from {name!r}, which is not in the model", scope)
        if target.kind == "input":
            return (name, 0), tensor_index
        count = len(target.inbound) if isinstance(target.inbound, list) else 0
        k = node_index
        if target.kind == "model" and self.keras2_nodes(target):
            k = node_index - 1          # Keras 2: a nested network's node 0 is its own internal node
        if not 0 <= k < count:
            if count == 1:
                k = 0
            else:
                raise self.fail(f"layer {layer_name!r} refers to call {node_index} of {name!r}, which is called "
                                f"{count} time(s) in this model", scope)
        return (name, k), tensor_index

    def keras2_nodes(self, target):
        nodes = target.inbound if isinstance(target.inbound, list) else []
        if nodes:
            return not isinstance(nodes[0], dict)
        return not self.keras3_nodes_default


def build_model(envelope, label, keras_version=None, custom_objects=None):
    """A pyvis model from a Keras config envelope {"class_name", "config"}; returns (model, root record).

    A file whose model pyvis cannot build is bad input for a loader: layers' NotImplementedError
    (e.g. concatenating along the batch axis) becomes a ValueError naming the file, like every
    other unsupported construct the builder meets."""
    try:
        return _build_model(envelope, label, keras_version, custom_objects)
    except NotImplementedError as exc:
        raise ValueError(f"{label}: pyvis cannot build this model: {exc}") from exc


def _build_model(envelope, label, keras_version, custom_objects):
    from pyvis import layers, models
    if isinstance(envelope, list):
        envelope = {"class_name": "Sequential", "config": envelope}     # a bare layer list
    if not isinstance(envelope, dict) or not isinstance(envelope.get("class_name"), str):
        raise ValueError(f"{label}: model config must be an object with a class_name")
    class_name = envelope["class_name"]
    if class_name not in FUNCTIONAL_CLASSES + SEQUENTIAL_CLASSES:
        raise ValueError(f"{label}: the model is of class {class_name!r}; only Sequential and functional models "
                         "store their architecture in the file (a subclassed model's code is not saved). "
                         "Rebuild it as a functional model")
    builder = _Builder(label, keras_version, custom_objects,
                       keras3_nodes_default=keras_major(keras_version) >= 3)
    root = builder.model_record(envelope, ())
    builder.layer_count -= 1
    name = root.name
    with layers.deferred_weight_init():
        if root.sequential and all(c.kind != "model" for c in builder.sequential_records(root, ())):
            return _as_sequential(builder, models, root, name), root
        if root.sequential:
            outputs = builder.sequential_graph(root, None, ())
        else:
            outputs = builder.functional_graph(root, None, ())
        inputs = [layer.output for layer in root.input_layers]
        try:
            model = models.Model(inputs[0] if len(inputs) == 1 else inputs,
                                 outputs[0] if len(outputs) == 1 else outputs, name=name)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label}: cannot assemble model {name!r}: {exc}") from exc
    return model, root


def _as_sequential(builder, models, root, name):
    """A pyvis Sequential holding the (not yet called) layers of a plain Sequential config."""
    builder.sequential_records(root, ())
    seq = models.Sequential(name=name)
    seq.add(builder.sequential_input(root, ()))
    for child in root.children:
        if child.kind != "layer":
            continue
        before = seq.outputs[0]
        builder.precheck_call(child.layer, [before], ())
        try:
            seq.add(child.layer)
        except (TypeError, ValueError) as exc:
            raise builder.fail(f"cannot apply layer {child.layer.name!r} to input shape {before.shape}: {exc}") from exc
        builder.check_outputs(child.layer, seq.outputs, ())
    return seq
