"""Test helpers: small Keras 3 models, and Keras 1/2 HDF5 layouts written with h5py.

Keras 2 is not installable next to Keras 3 (and TensorFlow is absent), so Keras 2 files are
written here with h5py exactly as keras-formats.md §1-2 describes them: `Model` class name, list
inbound nodes, `batch_input_shape`, bytes attributes, fixed-length (h5py 2) or variable-length
(h5py 3) name lists, `layer_names0...` chunks, empty `weight_names` as float64 (0,), and the
`<layer>/<var>:0`, Keras 1 `<layer>_W_1:0` or Theano `<layer>/<var>` weight names. The
architecture and weights come from a Keras 3 model, which then serves as the oracle.
"""

import copy
import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

NESTED = ("Functional", "Model", "Sequential")


def keras():
    import keras as k
    assert k.backend.backend() == "torch", "tests need KERAS_BACKEND=torch"
    return k


# -- models ----------------------------------------------------------------------

def sequential_cnn(seed=0):
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    return k.Sequential([
        k.Input((12, 12, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(6, (3, 2), strides=(1, 2), activation="tanh"),
        L.Flatten(),
        L.Dense(8, activation="relu"),
        L.Dropout(0.5),
        L.Dense(5, activation="softmax"),
    ], name="seq_cnn")


def functional_add_concat(seed=1):
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    inp = k.Input((10, 10, 3), name="image")
    a = L.Conv2D(5, 3, padding="same", activation="relu", name="branch_a")(inp)
    b = L.Conv2D(5, 1, name="branch_b")(inp)
    s = L.Add(name="sum")([a, b])
    c = L.Concatenate(name="cat")([s, a, b])
    c = L.ReLU(max_value=6.0, name="relu6")(c)
    p = L.AveragePooling2D(3, strides=2, name="avg")(c)
    # (no asymmetric "same" average pooling: Keras 3 on torch deviates from TF there)
    q = L.MaxPooling2D(3, strides=2, padding="same", name="maxp")(c)
    g1 = L.GlobalAveragePooling2D(name="gap")(p)
    g2 = L.GlobalMaxPooling2D(name="gmp")(q)
    h = L.Concatenate(name="cat2")([g1, g2])
    h = L.Dense(12, activation="elu", name="hidden")(h)
    r = L.Reshape((3, 4), name="reshape")(h)
    f = L.Flatten(name="flat")(r)
    out = L.Dense(4, name="logits")(f)
    out = L.Softmax(name="probs")(out)
    return k.Model(inp, out, name="add_concat")


def nested_model(seed=2):
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    inner_in = k.Input((6, 6, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inner_in)
    x = L.Conv2D(4, 3, name="c2")(x)
    inner = k.Model(inner_in, x, name="inner")
    head = k.Sequential([L.Flatten(name="flat"), L.Dense(5, activation="relu", name="d")], name="head")
    inp = k.Input((6, 6, 3), name="img")
    y = head(inner(inp))
    out = L.Dense(3, name="out")(y)
    return k.Model(inp, out, name="outer")


def randomize(model, seed):
    """Give every weight new random values (so a load that does nothing is detected)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])


def layer_weights(klayer):
    """[(variable name, array)] of a Keras 3 layer: ('kernel', ...), ('bias', ...)."""
    return [(v.path.split("/")[-1], np.asarray(v.numpy())) for v in klayer.weights]


# -- Keras 3 config -> Keras 2 config ------------------------------------------------------

def _k2_layer_config(cfg):
    cfg = {k: v for k, v in cfg.items() if k not in ("module", "registered_name", "build_config")}
    if isinstance(cfg.get("dtype"), dict):
        cfg["dtype"] = "float32"
    if "batch_shape" in cfg:
        cfg["batch_input_shape"] = cfg.pop("batch_shape")
    for key in ("optional",):
        cfg.pop(key, None)
    return cfg


def _k2_refs(arg, nested_names):
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, tensor = arg["config"]["keras_history"]
        # Keras 2: node 0 of a nested network is its internal node; the first call is node 1
        return [[name, node + 1 if name in nested_names else node, tensor, {}]]
    out = []
    for a in arg:
        out.extend(_k2_refs(a, nested_names))
    return out


def _leaf_list(x):
    if isinstance(x, list) and len(x) == 3 and isinstance(x[0], str):
        return [x]
    return [item for sub in x for item in _leaf_list(sub)]


def k2_envelope(envelope, bare_list_sequential=False):
    """Rewrite a Keras 3 config envelope in the Keras 2.2 dialect (keras-formats.md §4.2-4.3)."""
    envelope = copy.deepcopy(envelope)
    cls = envelope["class_name"]
    cfg = envelope["config"]
    if cls == "Sequential":
        layers = [{"class_name": l["class_name"], "config": _k2_layer_config(l["config"])}
                  for l in cfg["layers"]]
        for entry in layers:
            if entry["class_name"] in NESTED:
                entry.update(k2_envelope(entry))
        if layers and layers[0]["class_name"] == "InputLayer":
            shape = layers.pop(0)["config"]["batch_input_shape"]
            if layers[0]["class_name"] not in NESTED:
                layers[0]["config"]["batch_input_shape"] = shape
        if bare_list_sequential:
            return {"class_name": "Sequential", "config": layers}
        return {"class_name": "Sequential", "config": {"name": cfg["name"], "layers": layers}}
    nested_names = {l["name"] for l in cfg["layers"] if l["class_name"] in NESTED}
    layers = []
    for l in cfg["layers"]:
        entry = {"class_name": l["class_name"], "name": l["name"]}
        if l["class_name"] in NESTED:
            entry["config"] = k2_envelope({"class_name": l["class_name"], "config": l["config"]})["config"]
            if l["class_name"] == "Functional":
                entry["class_name"] = "Model"
        else:
            entry["config"] = _k2_layer_config(l["config"])
        entry["inbound_nodes"] = [_k2_refs(node["args"][0], nested_names) for node in l["inbound_nodes"]]
        layers.append(entry)
    return {"class_name": "Model", "config": {
        "name": cfg["name"], "layers": layers,
        "input_layers": _leaf_list(cfg["input_layers"]),
        "output_layers": _leaf_list(cfg["output_layers"])}}


def keras3_envelope(model):
    k = keras()
    return json.loads(json.dumps(k.saving.serialize_keras_object(model)))


# -- writing Keras 1/2 HDF5 ---------------------------------------------------------------

def _write_names(obj, attr, names, style):
    raw = [n.encode("utf8") for n in names]
    if not raw:
        obj.attrs[attr] = np.asarray([])                       # float64, shape (0,): Keras's empty list
    elif style == "fixed":
        obj.attrs[attr] = np.asarray(raw)                      # h5py 2: NULLPAD S<n> array
    elif style == "vlen":
        obj.attrs.create(attr, raw, dtype=h5py.string_dtype("ascii"))      # h5py 3
    elif style == "split":
        for i, chunk in enumerate(np.array_split(np.asarray(raw), 3)):
            obj.attrs[f"{attr}{i}"] = chunk                    # HDF5_OBJECT_HEADER_LIMIT chunks
    else:
        raise ValueError(style)


def _write_scalar(obj, attr, text, style):
    if style == "fixed":
        obj.attrs[attr] = np.bytes_(text.encode("utf8"))
    else:
        obj.attrs.create(attr, text.encode("utf8"), dtype=h5py.string_dtype("ascii"))


def weight_name(layer, var, index, style):
    if style == "k2":
        return f"{layer}/{var}:0"
    if style == "k1":
        return f"{layer}_{'W' if var == 'kernel' else 'b'}_1:0"
    if style == "theano":
        return f"{layer}/{var}"
    raise ValueError(style)


def write_keras2_group(group, layers, string_style="fixed", name_style="k2", keras_version="2.2.4",
                       backend="tensorflow"):
    """layers: [(layer name, [(var name, array) or (full weight name, array)])] in model.layers order."""
    _write_names(group, "layer_names", [n for n, _ in layers], string_style)
    if keras_version is not None:
        _write_scalar(group, "keras_version", keras_version, "vlen" if string_style == "split" else string_style)
        _write_scalar(group, "backend", backend, "vlen" if string_style == "split" else string_style)
    for name, weights in layers:
        g = group.create_group(name)
        names = [w if "/" in w or w.endswith(":0") else weight_name(name, w, i, name_style)
                 for i, (w, _) in enumerate(weights)]
        _write_names(g, "weight_names", names, "fixed" if string_style == "split" else string_style)
        for wname, (_, value) in zip(names, weights):
            g.create_dataset(wname, data=value)


def keras2_layer_list(model, nested_full_names=True):
    """[(name, [(var or weight name, array)])] for every entry of a Keras 3 model's `layers`;
    a nested model is one entry whose weights are named '<inner layer>/<var>:0' (§1.6)."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            ws = []
            for inner in layer.layers:
                ws.extend((f"{inner.name}/{v}:0", a) for v, a in layer_weights(inner))
            out.append((layer.name, ws))
        else:
            out.append((layer.name, layer_weights(layer)))
    if isinstance(model, keras().Sequential):
        return out
    inputs = [l.name for l in model.layers if type(l).__name__ == "InputLayer"]
    assert all(name in [n for n, _ in out] for name in inputs)
    return out


def write_keras2_full(path, model, string_style="fixed", keras_version="2.2.4", backend="tensorflow",
                      bare_list_sequential=False, name_style="k2", envelope=None):
    envelope = envelope or k2_envelope(keras3_envelope(model), bare_list_sequential)
    with h5py.File(path, "w") as f:
        _write_scalar(f, "keras_version", keras_version, "vlen")
        _write_scalar(f, "backend", backend, "vlen")
        f.attrs.create("model_config", json.dumps(envelope).encode("utf8"), dtype=h5py.string_dtype("ascii"))
        write_keras2_group(f.create_group("model_weights"), keras2_layer_list(model), string_style,
                           name_style, keras_version, backend)
    return envelope


def write_keras2_weights(path, layers, **kwargs):
    with h5py.File(path, "w") as f:
        write_keras2_group(f, layers, **kwargs)


def assert_close(actual, expected, rtol=1e-4):
    """max |a - e| <= rtol * max |e| (the project's whole-network criterion)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(), 1e-30)
    err = np.abs(actual - expected).max() / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"


def shared_two_inputs(seed=3):
    """Two inputs, one Dense applied to both (two nodes of one layer), two outputs."""
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    a = k.Input((5,), name="a")
    b = k.Input((5,), name="b")
    shared = L.Dense(4, activation="relu", name="shared")
    sa, sb = shared(a), shared(b)
    total = L.Add(name="total")([sa, sb])
    return k.Model([a, b], [L.Dense(2, name="out1")(total), L.Dense(3, activation="sigmoid", name="out2")(sb)],
                   name="shared_model")


def sequential_with_functional(seed=4):
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    inner_in = k.Input((8, 8, 2))
    inner = k.Model(inner_in, L.Conv2D(3, 3, activation="relu", name="conv")(inner_in), name="block")
    return k.Sequential([k.Input((8, 8, 2)), inner, L.GlobalMaxPooling2D(name="gmp"), L.Dense(2, name="top")],
                        name="seq_outer")


def mobile_style(seed=5):
    """BatchNormalization (scaled, unscaled, frozen), ZeroPadding2D, depthwise/separable convs,
    and a nested model holding BN (the nested weight-order trap of keras-formats.md §1.6)."""
    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    block_in = k.Input((5, 5, 8))
    y = L.Conv2D(8, 1, use_bias=False, name="pw")(block_in)
    y = L.BatchNormalization(name="block_bn")(y)
    y = L.ReLU(6.0, name="block_relu")(y)
    # a weighted layer after BN: Keras's nested order (trainable first) differs from layer order
    block = k.Model(block_in, L.Conv2D(8, 1, name="pw2")(y), name="block")
    inp = k.Input((12, 12, 3), name="img")
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(inp)
    x = L.Conv2D(8, 3, strides=2, use_bias=False, name="conv1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(6.0, name="relu1")(x)
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = L.BatchNormalization(scale=False, name="bn_noscale")(x)
    x = L.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    frozen = L.BatchNormalization(name="bn_frozen")
    frozen.trainable = False
    x = frozen(x)
    x = L.Cropping2D(((0, 1), (0, 1)), name="crop")(x)
    x = block(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    model = k.Model(inp, L.Dense(4, name="out")(x), name="mobile_style")
    return model


def randomize_positive_variance(model, seed):
    """Random weights, with every BatchNormalization moving variance made positive."""
    randomize(model, seed)
    for layer in _all_layers(model):
        if type(layer).__name__ == "BatchNormalization":
            w = layer.get_weights()
            w[-1] = np.abs(w[-1]) + 0.5
            layer.set_weights(w)


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
        else:
            yield layer
