"""Keras 1/2 HDF5 layouts (written with h5py per keras-formats.md) load and predict like Keras 3.

The architecture and weights come from a Keras 3 model; the file is written the way Keras 2
(h5py 2 or 3), tf.keras, Keras 1 or a Theano-backend Keras wrote it; the Keras 3 model's own
predictions are the oracle.
"""

import copy
import json
import warnings

import h5py
import numpy as np
import pytest

import io_keras_files as kf
import pyvis.io as pio

SHAPES = {"sequential": (12, 12, 3), "functional": (10, 10, 3), "nested": (6, 6, 3)}
MAKERS = {"sequential": kf.sequential_cnn, "functional": kf.functional_add_concat, "nested": kf.nested_model}


@pytest.fixture(scope="module")
def kmodels():
    out = {}
    for kind, make in MAKERS.items():
        model = make()
        kf.randomize(model, seed=21)
        out[kind] = model
    return out


def _x(kind, rng, n=3):
    return rng.normal(0, 1, (n,) + SHAPES[kind]).astype("float32")


def _scrambled_copy(kmodel, rng):
    model = pio.from_keras(kmodel)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 1, w.shape) for w in layer.weights])
    return model


@pytest.mark.parametrize("style", ["fixed", "vlen", "split"])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_keras2_full_model(kmodels, kind, style, tmp_path, rng):
    path = tmp_path / "k2.h5"
    kf.write_keras2_full(path, kmodels[kind], string_style=style)
    with h5py.File(path) as f:                     # the layout really is the one named
        attr = f["model_weights"].attrs.get("layer_names0" if style == "split" else "layer_names")
        assert (attr.dtype.kind == "S") == (style in ("fixed", "split"))
    model = pio.load_model(path)
    x = _x(kind, rng)
    kf.assert_close(model.predict(x), kmodels[kind].predict(x, verbose=0))


def test_keras2_0_bare_list_sequential(kmodels, tmp_path, rng):
    path = tmp_path / "k20.h5"
    env = kf.write_keras2_full(path, kmodels["sequential"], keras_version="2.0.8", bare_list_sequential=True)
    assert isinstance(env["config"], list) and "batch_input_shape" in env["config"][0]["config"]
    model = pio.load_model(path)
    x = _x("sequential", rng)
    kf.assert_close(model.predict(x), kmodels["sequential"].predict(x, verbose=0))


def test_tf_keras_sequential_with_input_layer_and_functional_name(kmodels, tmp_path, rng):
    """tf.keras (TF >= 2.3): Sequential lists its InputLayer; functional models are 'Functional'."""
    seq_env = kf.k2_envelope(kf.keras3_envelope(kmodels["sequential"]))
    first = seq_env["config"]["layers"][0]["config"]
    shape = first.pop("batch_input_shape")
    seq_env["config"]["layers"].insert(0, {"class_name": "InputLayer", "config": {
        "batch_input_shape": shape, "dtype": "float32", "sparse": False, "ragged": False, "name": "in"}})
    kf.write_keras2_full(tmp_path / "s.h5", kmodels["sequential"], keras_version="2.4.0", envelope=seq_env)
    x = _x("sequential", rng)
    kf.assert_close(pio.load_model(tmp_path / "s.h5").predict(x), kmodels["sequential"].predict(x, verbose=0))

    env = kf.k2_envelope(kf.keras3_envelope(kmodels["nested"]))
    env["class_name"] = "Functional"
    for entry in env["config"]["layers"]:
        if entry["class_name"] == "Model":
            entry["class_name"] = "Functional"
        if isinstance(entry["config"].get("dtype"), str):        # mixed-precision policy dict
            entry["config"]["dtype"] = {"class_name": "Policy", "config": {"name": "float32"}}
    kf.write_keras2_full(tmp_path / "f.h5", kmodels["nested"], keras_version="2.4.0", envelope=env)
    x = _x("nested", rng)
    kf.assert_close(pio.load_model(tmp_path / "f.h5").predict(x), kmodels["nested"].predict(x, verbose=0))


def test_keras1_three_element_inbound_refs(kmodels, tmp_path, rng):
    env = kf.k2_envelope(kf.keras3_envelope(kmodels["functional"]))
    for entry in env["config"]["layers"]:
        entry["inbound_nodes"] = [[ref[:3] for ref in node] for node in entry["inbound_nodes"]]
    kf.write_keras2_full(tmp_path / "k1.h5", kmodels["functional"], envelope=env)
    x = _x("functional", rng)
    kf.assert_close(pio.load_model(tmp_path / "k1.h5").predict(x), kmodels["functional"].predict(x, verbose=0))


def test_config_layer_order_does_not_matter(kmodels, tmp_path, rng):
    """Connections are resolved from inbound nodes, not from the position in the list."""
    env = kf.k2_envelope(kf.keras3_envelope(kmodels["functional"]))
    env["config"]["layers"] = env["config"]["layers"][::-1]
    kf.write_keras2_full(tmp_path / "rev.h5", kmodels["functional"], envelope=env)
    x = _x("functional", rng)
    kf.assert_close(pio.load_model(tmp_path / "rev.h5").predict(x), kmodels["functional"].predict(x, verbose=0))


@pytest.mark.parametrize("name_style,keras_version", [("k2", "2.2.4"), ("k1", None), ("theano", "2.1.6")])
@pytest.mark.parametrize("style", ["fixed", "vlen"])
def test_keras2_weights_only_topological(kmodels, name_style, keras_version, style, tmp_path, rng):
    kmodel = kmodels["functional"]
    path = tmp_path / "w.h5"
    kf.write_keras2_weights(path, kf.keras2_layer_list(kmodel), string_style=style, name_style=name_style,
                            keras_version=keras_version)
    with h5py.File(path) as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["branch_a"].attrs["weight_names"]]
        assert names[0] == {"k2": "branch_a/kernel:0", "k1": "branch_a_W_1:0", "theano": "branch_a/kernel"}[name_style]
        assert ("keras_version" in f.attrs) == (keras_version is not None)
    model = _scrambled_copy(kmodel, rng)
    model.load_weights(path)
    x = _x("functional", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def _theano_kernel(kernel, transpose):
    flipped = kernel[::-1, ::-1, :, :]            # Theano convolves: the stored kernel is flipped
    return np.transpose(flipped, (3, 2, 0, 1)) if transpose else flipped


@pytest.mark.parametrize("transpose", [False, True])
def test_theano_backend_kernels_are_flipped_and_transposed(kmodels, transpose, tmp_path, rng):
    kmodel = kmodels["sequential"]
    layers = []
    for name, weights in kf.keras2_layer_list(kmodel):
        converted = []
        for var, value in weights:
            if var == "kernel" and value.ndim == 4:
                value = _theano_kernel(value, transpose)
            converted.append((var, value))
        layers.append((name, converted))
    path = tmp_path / "theano.h5"
    kf.write_keras2_weights(path, layers, name_style="theano", keras_version="2.1.6" if not transpose else None,
                            backend="theano")
    if transpose:
        with h5py.File(path, "a") as f:
            f.attrs["backend"] = b"theano"
    model = _scrambled_copy(kmodel, rng)
    model.load_weights(path)
    x = _x("sequential", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_full_model_file_as_weights(kmodels, tmp_path, rng):
    path = tmp_path / "full.h5"
    kf.write_keras2_full(path, kmodels["nested"])
    model = _scrambled_copy(kmodels["nested"], rng)
    model.load_weights(path)
    x = _x("nested", rng)
    kf.assert_close(model.predict(x), kmodels["nested"].predict(x, verbose=0))


def test_nested_weights_without_layer_names_use_keras_order(kmodels, tmp_path, rng):
    """Nested-model weights named Keras-1 style cannot be matched by name: Keras's order is used."""
    kmodel = kmodels["nested"]
    layers = []
    for name, weights in kf.keras2_layer_list(kmodel):
        if name in ("inner", "head"):
            weights = [(f"param_{i}:0", value) for i, (_, value) in enumerate(weights)]
        layers.append((name, weights))
    path = tmp_path / "nested_k1.h5"
    kf.write_keras2_weights(path, layers)
    model = pio.from_keras(kmodel)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 1, w.shape) for w in layer.weights])
    model.load_weights(path)
    x = _x("nested", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_by_name_loads_only_matching_layers(kmodels, tmp_path, rng):
    kmodel = kmodels["functional"]
    subset = [(n, w) for n, w in kf.keras2_layer_list(kmodel) if n in ("hidden", "logits", "unrelated")]
    subset.append(("unrelated", [("kernel", np.ones((2, 2), np.float32))]))
    path = tmp_path / "subset.h5"
    kf.write_keras2_weights(path, subset)
    model = _scrambled_copy(kmodel, rng)
    before = model.get_layer("branch_a").get_weights()
    model.load_weights(path, by_name=True)
    np.testing.assert_array_equal(model.get_layer("hidden").get_weights()[0], kmodel.get_layer("hidden").get_weights()[0])
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[1], kmodel.get_layer("logits").get_weights()[1])
    np.testing.assert_array_equal(model.get_layer("branch_a").get_weights()[0], before[0])


def _bad_shape_file(kmodel, path):
    layers = []
    for name, weights in kf.keras2_layer_list(kmodel):
        if name == "hidden":
            weights = [(v, np.zeros((a.shape[0] + 1,) + a.shape[1:], np.float32)) for v, a in weights]
        layers.append((name, weights))
    kf.write_keras2_weights(path, layers)


def test_shape_mismatch_names_layer_and_both_shapes(kmodels, tmp_path, rng):
    kmodel = kmodels["functional"]
    _bad_shape_file(kmodel, tmp_path / "bad.h5")
    model = _scrambled_copy(kmodel, rng)
    want = kmodel.get_layer("hidden").get_weights()[0].shape
    with pytest.raises(ValueError) as err:
        model.load_weights(tmp_path / "bad.h5")
    msg = str(err.value)
    assert "'hidden'" in msg and str(want) in msg and str((want[0] + 1, want[1])) in msg


def test_skip_mismatch_warns_and_loads_the_rest(kmodels, tmp_path, rng):
    kmodel = kmodels["functional"]
    _bad_shape_file(kmodel, tmp_path / "bad.h5")
    model = _scrambled_copy(kmodel, rng)
    kept = model.get_layer("hidden").get_weights()
    with pytest.warns(UserWarning, match="hidden"):
        model.load_weights(tmp_path / "bad.h5", by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(model.get_layer("hidden").get_weights()[0], kept[0])
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0], kmodel.get_layer("logits").get_weights()[0])


def test_layer_count_mismatch(kmodels, tmp_path, rng):
    kmodel = kmodels["functional"]
    layers = [(n, w) for n, w in kf.keras2_layer_list(kmodel) if n != "hidden"]
    kf.write_keras2_weights(tmp_path / "short.h5", layers)
    model = _scrambled_copy(kmodel, rng)
    with pytest.raises(ValueError, match="layer count mismatch"):
        model.load_weights(tmp_path / "short.h5")


def test_weights_never_touch_the_model_on_count_mismatch_error(kmodels, tmp_path, rng):
    kmodel = kmodels["sequential"]
    layers = [(n, w[:1]) if n == kmodel.layers[-1].name else (n, w) for n, w in kf.keras2_layer_list(kmodel)]
    kf.write_keras2_weights(tmp_path / "fewer.h5", layers)
    model = _scrambled_copy(kmodel, rng)
    last = model.layers[-1].get_weights()
    with pytest.raises(ValueError, match="has 2 weight"):
        model.load_weights(tmp_path / "fewer.h5")
    for got, want in zip(model.layers[-1].get_weights(), last):
        np.testing.assert_array_equal(got, want)


def test_unicode_layer_names(tmp_path, rng):
    keras = kf.keras()
    inp = keras.Input((4,), name="entrée")
    out = keras.layers.Dense(3, name="dense_ü")(inp)
    kmodel = keras.Model(inp, out)
    kf.randomize(kmodel, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.save(tmp_path / "u.h5")
    env = kf.k2_envelope(kf.keras3_envelope(kmodel))
    with h5py.File(tmp_path / "k2u.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(env).encode("utf8")
        f.attrs["keras_version"] = b"2.2.4"
        kf.write_keras2_group(f.create_group("model_weights"), kf.keras2_layer_list(kmodel), "vlen")
    x = rng.normal(size=(2, 4)).astype("float32")
    for p in ("u.h5", "k2u.h5"):
        model = pio.load_model(tmp_path / p)
        assert model.layers[-1].name == "dense_ü"
        kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_envelope_helper_is_keras2_dialect(kmodels):
    """Guard on the test helper itself: the rewritten config has no Keras 3 constructs left."""
    env = kf.k2_envelope(kf.keras3_envelope(kmodels["nested"]))
    text = json.dumps(env)
    assert "__keras_tensor__" not in text and "batch_shape\"" not in text and "DTypePolicy" not in text
    assert env["class_name"] == "Model"
    inner = [e for e in env["config"]["layers"] if e["name"] == "inner"][0]
    head = [e for e in env["config"]["layers"] if e["name"] == "head"][0]
    assert head["inbound_nodes"] == [[["inner", 1, 0, {}]]]
    assert copy.deepcopy(inner)["class_name"] == "Model"


@pytest.mark.parametrize("variant", ["fixed_bytes", "utf8_str", "one_element_array"])
def test_root_string_attribute_variants(kmodels, tmp_path, rng, variant):
    """model_config/keras_version as fixed-length bytes, UTF-8 str (tf.keras) or a 1-element array."""
    path = tmp_path / "attrs.h5"
    env = kf.write_keras2_full(path, kmodels["functional"])
    text = json.dumps(env)
    with h5py.File(path, "a") as f:
        for key, value in (("model_config", text), ("keras_version", "2.15.0"), ("backend", "tensorflow")):
            del f.attrs[key]
            if variant == "fixed_bytes":
                f.attrs[key] = np.bytes_(value.encode())
            elif variant == "utf8_str":
                f.attrs[key] = value                      # h5py 3: variable-length UTF-8
            else:
                f.attrs[key] = np.array([value.encode()])
        kind = f.attrs.get_id("model_config").dtype
        assert (kind.kind == "S") == (variant != "utf8_str")
    model = pio.load_model(path)
    x = _x("functional", rng)
    kf.assert_close(model.predict(x), kmodels["functional"].predict(x, verbose=0))
