"""Files written by Keras 3 itself (torch backend) load into pyvis and predict what Keras predicts.

Each model is saved by Keras as `.keras`, legacy `.h5` and `.weights.h5`; the oracle is the same
Keras model's `predict` (relative error <= 1e-4). Live Keras objects go through `from_keras`.
"""

import os
import shutil
import warnings

import numpy as np
import pytest

import io_keras_files as kf
import pyvis.io as pio
from pyvis import activations, models

MODELS = {
    "sequential": (kf.sequential_cnn, (12, 12, 3)),
    "functional": (kf.functional_add_concat, (10, 10, 3)),
    "nested": (kf.nested_model, (6, 6, 3)),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{kind: (keras model, {format: path})}: each model saved by Keras 3 in three formats."""
    out = {}
    root = tmp_path_factory.mktemp("keras3_files")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, (make, _) in MODELS.items():
            model = make()
            kf.randomize(model, seed=11)
            paths = {"keras": root / f"{kind}.keras", "h5": root / f"{kind}.h5",
                     "weights": root / f"{kind}.weights.h5"}
            model.save(paths["keras"])
            model.save(paths["h5"])
            model.save_weights(paths["weights"])
            out[kind] = (model, paths)
    return out


def _input(kind, rng, n=3):
    return rng.normal(0, 1, (n,) + MODELS[kind][1]).astype("float32")


def _scramble(model, rng):
    """Overwrite every pyvis weight, so a later load that does nothing is caught."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 1, w.shape) for w in layer.weights])


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_load_model_predicts_like_keras(saved, kind, fmt, rng):
    kmodel, paths = saved[kind]
    model = pio.load_model(paths[fmt])
    x = _input(kind, rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_loaded_layers_match_keras_order_and_weights(saved, kind, fmt):
    kmodel, paths = saved[kind]
    model = models.load_model(paths[fmt])           # the public entry point delegates to pyvis.io
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    assert type(model).__name__ == ("Sequential" if kind == "sequential" else "Model")
    for layer, klayer in zip(model.layers, kmodel.layers):
        for got, want in zip(layer.get_weights(), klayer.get_weights()):
            np.testing.assert_array_equal(got, want)


def test_nested_model_is_inlined_with_inner_layers_reachable(saved, rng):
    kmodel, paths = saved["nested"]
    model = pio.load_model(paths["keras"])
    names = [layer.name for layer in model.layers]
    assert {"c1", "c2", "flat", "d", "out"} <= set(names)
    x = _input("nested", rng)
    inner = kmodel.get_layer("inner")
    want = inner.predict(x, verbose=0)
    kf.assert_close(model.run(x).value("c2"), want)


@pytest.mark.parametrize("by_name", [False, True])
@pytest.mark.parametrize("kind", list(MODELS))
def test_load_weights_keras3_weights_file(saved, kind, by_name, rng):
    kmodel, paths = saved[kind]
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    x = _input(kind, rng)
    assert not np.allclose(model.predict(x), kmodel.predict(x, verbose=0), rtol=1e-3)
    model.load_weights(paths["weights"], by_name=by_name)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("by_name", [False, True])
@pytest.mark.parametrize("kind", list(MODELS))
def test_load_weights_from_legacy_h5_model_file(saved, kind, by_name, rng):
    kmodel, paths = saved[kind]
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    model.load_weights(paths["h5"], by_name=by_name)
    x = _input(kind, rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_load_weights_from_keras_archive(saved, kind, rng):
    kmodel, paths = saved[kind]
    model = pio.load_model(paths["h5"])
    _scramble(model, rng)
    model.load_weights(paths["keras"])
    x = _input(kind, rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_weights_into_model_built_in_code(saved, rng):
    """A .weights.h5 from Keras into the same architecture written with pyvis.layers."""
    from pyvis import layers as L
    kmodel, paths = saved["sequential"]
    model = models.Sequential([
        L.Input((12, 12, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(6, (3, 2), strides=(1, 2), activation="tanh"),
        L.Flatten(),
        L.Dense(8, activation="relu"),
        L.Dropout(0.5),
        L.Dense(5, activation="softmax"),
    ])
    model.load_weights(paths["weights"])
    x = _input("sequential", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))
    model2 = models.Sequential([L.Input((12, 12, 3)), L.Conv2D(4, 3, padding="same", activation="relu"),
                                L.MaxPooling2D(2), L.Conv2D(6, (3, 2), strides=(1, 2), activation="tanh"),
                                L.Flatten(), L.Dense(8, activation="relu"), L.Dense(5, activation="softmax")])
    model2.load_weights(paths["h5"])                  # topological: Dropout has no weights
    kf.assert_close(model2.predict(x), kmodel.predict(x, verbose=0))


def test_format_is_detected_from_content_not_name(saved, tmp_path, rng):
    kmodel, paths = saved["functional"]
    misnamed_zip = tmp_path / "looks_like.h5"
    misnamed_h5 = tmp_path / "looks_like.keras"
    misnamed_weights = tmp_path / "weights.npz"
    shutil.copy(paths["keras"], misnamed_zip)
    shutil.copy(paths["h5"], misnamed_h5)
    shutil.copy(paths["weights"], misnamed_weights)
    x = _input("functional", rng)
    want = kmodel.predict(x, verbose=0)
    kf.assert_close(pio.load_model(misnamed_zip).predict(x), want)
    model = pio.load_model(misnamed_h5)
    kf.assert_close(model.predict(x), want)
    _scramble(model, rng)
    model.load_weights(misnamed_weights)
    kf.assert_close(model.predict(x), want)


def test_unzipped_keras_directory(saved, tmp_path, rng):
    import zipfile
    kmodel, paths = saved["functional"]
    with zipfile.ZipFile(paths["keras"]) as z:
        z.extractall(tmp_path / "unzipped")
    x = _input("functional", rng)
    kf.assert_close(pio.load_model(tmp_path / "unzipped").predict(x), kmodel.predict(x, verbose=0))


def test_recompressed_keras_archive(saved, tmp_path, rng):
    """A .keras re-zipped with deflate (not read in place) still loads."""
    import zipfile
    kmodel, paths = saved["sequential"]
    out = tmp_path / "deflated.keras"
    with zipfile.ZipFile(paths["keras"]) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    x = _input("sequential", rng)
    kf.assert_close(pio.load_model(out).predict(x), kmodel.predict(x, verbose=0))


def test_load_model_refuses_weights_only_file(saved):
    _, paths = saved["sequential"]
    with pytest.raises(ValueError, match="weights but no architecture"):
        pio.load_model(paths["weights"])


@pytest.mark.parametrize("kind", list(MODELS))
def test_from_keras_live_object(saved, kind, rng):
    kmodel, _ = saved[kind]
    model = pio.from_keras(kmodel)
    x = _input(kind, rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))
    assert models.from_keras(kmodel) is not model            # from_keras always converts afresh


def test_from_keras_copies_weights(saved):
    kmodel, _ = saved["sequential"]
    model = pio.from_keras(kmodel)
    layer = [l for l in model.layers if l.weights][0]
    before = kmodel.get_layer(layer.name).get_weights()[0].copy()
    layer.set_weights([np.zeros_like(w) for w in layer.weights])
    np.testing.assert_array_equal(kmodel.get_layer(layer.name).get_weights()[0], before)


def test_as_pyvis_model_converts_once_and_passes_pyvis_models_through(saved):
    kmodel, paths = saved["functional"]
    converted = pio.as_pyvis_model(kmodel)
    assert pio.as_pyvis_model(kmodel) is converted
    assert pio.as_pyvis_model(converted) is converted
    pmodel = pio.load_model(paths["keras"])
    assert pio.as_pyvis_model(pmodel) is pmodel
    with pytest.raises(TypeError, match="Keras model"):
        pio.as_pyvis_model(np.zeros(3))


def test_keras_vis_workflow_on_a_keras_object(rng):
    """keras-vis notebooks assign a (pyvis) activation to a Keras layer, then apply_modifications."""
    kmodel = kf.functional_add_concat(seed=5)
    kmodel.get_layer("logits").activation = activations.linear     # a pyvis function on a Keras layer
    keras = kf.keras()
    reference = keras.Model(kmodel.input, kmodel.get_layer("logits").output)
    model = pio.as_pyvis_model(kmodel)
    assert model.get_layer("logits").activation is activations.linear
    x = _input("functional", rng)
    kf.assert_close(model.run(x).value("logits"), reference.predict(x, verbose=0))


def _hard_sigmoid_model(keras, activation):
    inp = keras.Input((7,))
    out = keras.layers.Dense(6, activation=activation, name="hs")(inp)
    model = keras.Model(inp, out)
    kf.randomize(model, seed=3)
    return model


def test_hard_sigmoid_keras3_formula(tmp_path, rng):
    keras = kf.keras()
    kmodel = _hard_sigmoid_model(keras, "hard_sigmoid")
    kmodel.save(tmp_path / "hs.keras")
    model = pio.load_model(tmp_path / "hs.keras")
    assert model.get_layer("hs").activation is activations.hard_sigmoid
    x = rng.normal(0, 4, (20, 7)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_hard_sigmoid_keras2_formula(tmp_path, rng):
    """A Keras 2 file means clip(0.2 x + 0.5): the oracle is Keras 3's pre-activation + NumPy."""
    keras = kf.keras()
    kmodel = _hard_sigmoid_model(keras, "hard_sigmoid")
    linear = _hard_sigmoid_model(keras, "linear")
    linear.set_weights(kmodel.get_weights())
    kf.write_keras2_full(tmp_path / "hs2.h5", kmodel, keras_version="2.2.4")
    model = pio.load_model(tmp_path / "hs2.h5")
    assert model.get_layer("hs").activation is activations.hard_sigmoid_keras2
    x = rng.normal(0, 4, (20, 7)).astype("float32")
    z = linear.predict(x, verbose=0).astype(np.float64)
    kf.assert_close(model.predict(x), np.clip(0.2 * z + 0.5, 0, 1))


def test_predict_through_public_models_api(saved, rng):
    kmodel, paths = saved["functional"]
    model = models.load_model(paths["h5"])
    _scramble(model, rng)
    model.load_weights(os.fspath(paths["weights"]))
    x = _input("functional", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def save_as(kmodel, tmp_path, fmt):
    """Save a Keras model as .keras, Keras 3 .h5 or Keras 2 .h5 ("keras2"); returns the path."""
    path = tmp_path / ("m.h5" if fmt != "keras" else "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "keras2":
            kf.write_keras2_full(path, kmodel)
        else:
            kmodel.save(path)
    return path


@pytest.mark.parametrize("fmt", ["keras", "h5", "keras2"])
def test_shared_layer_and_multiple_inputs_outputs(tmp_path, fmt, rng):
    kmodel = kf.shared_two_inputs()
    kf.randomize(kmodel, 4)
    model = pio.load_model(save_as(kmodel, tmp_path, fmt))
    xs = [rng.normal(size=(4, 5)).astype("float32") for _ in range(2)]
    got = model.predict(xs)
    want = kmodel.predict(xs, verbose=0)
    assert len(got) == 2
    for g, w in zip(got, want):
        kf.assert_close(g, w)
    assert len(model.get_layer("shared").inbound_nodes) == 2


@pytest.mark.parametrize("fmt", ["keras", "h5", "keras2"])
def test_sequential_holding_a_functional_model(tmp_path, fmt, rng):
    kmodel = kf.sequential_with_functional()
    kf.randomize(kmodel, 5)
    model = pio.load_model(save_as(kmodel, tmp_path, fmt))
    x = rng.normal(size=(3, 8, 8, 2)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))
    assert "conv" in [layer.name for layer in model.layers]


def test_keras_archive_is_read_in_place(saved, monkeypatch, rng):
    """The STORED model.weights.h5 member is read through a window: no temporary copy."""
    import tempfile
    from pyvis.io import keras_v3

    def no_temp(*args, **kwargs):
        raise AssertionError("the weights member was copied")
    monkeypatch.setattr(tempfile, "TemporaryFile", no_temp)
    monkeypatch.setattr(keras_v3.tempfile, "TemporaryFile", no_temp)
    kmodel, paths = saved["functional"]
    x = _input("functional", rng)
    kf.assert_close(pio.load_model(paths["keras"]).predict(x), kmodel.predict(x, verbose=0))


def _copy_h5(src, dst, rename=None, drop_name_attrs=False):
    import h5py
    with h5py.File(src) as fin, h5py.File(dst, "w") as fout:
        for key in fin:
            fin.copy(fin[key], fout, name=(rename or {}).get(key, key))
        if drop_name_attrs:
            fout.visititems(lambda n, o: o.attrs.__delitem__("name") if "name" in o.attrs else None)


def test_keras3_weights_without_name_attributes(saved, tmp_path, rng):
    """Keras 3.0-3.5 wrote no `name` on `vars` groups: paths still work, by_name explains why not."""
    kmodel, paths = saved["functional"]
    _copy_h5(paths["weights"], tmp_path / "old.weights.h5", drop_name_attrs=True)
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    model.load_weights(tmp_path / "old.weights.h5")
    x = _input("functional", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))
    with pytest.raises(ValueError, match="3.6"):
        model.load_weights(tmp_path / "old.weights.h5", by_name=True)


def test_tf_keras_2_13_layer_checkpoint_dependencies(saved, tmp_path, rng):
    kmodel, paths = saved["sequential"]
    _copy_h5(paths["weights"], tmp_path / "tf213.weights.h5", rename={"layers": "_layer_checkpoint_dependencies"})
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    model.load_weights(tmp_path / "tf213.weights.h5")
    x = _input("sequential", rng)
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_as_pyvis_model_reconverts_after_activation_edit(rng):
    kmodel = kf.functional_add_concat(seed=6)
    first = pio.as_pyvis_model(kmodel)
    assert first.get_layer("hidden").activation is activations.elu
    kmodel.get_layer("hidden").activation = activations.linear
    second = pio.as_pyvis_model(kmodel)
    assert second is not first and second.get_layer("hidden").activation is activations.linear
    assert pio.as_pyvis_model(kmodel) is second


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_from_keras_keeps_keras_layer_order(saved, kind):
    kmodel, _ = saved[kind]
    assert [l.name for l in pio.from_keras(kmodel).layers] == [l.name for l in kmodel.layers]


@pytest.fixture(scope="module")
def mobile(tmp_path_factory):
    kmodel = kf.mobile_style()
    kf.randomize_positive_variance(kmodel, 8)
    root = tmp_path_factory.mktemp("mobile")
    paths = {"keras": root / "m.keras", "h5": root / "m.h5", "weights": root / "m.weights.h5",
             "keras2": root / "m2.h5"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.save(paths["keras"])
        kmodel.save(paths["h5"])
        kmodel.save_weights(paths["weights"])
    kf.write_keras2_full(paths["keras2"], kmodel)
    return kmodel, paths


@pytest.mark.parametrize("fmt", ["keras", "h5", "keras2"])
def test_batchnorm_depthwise_separable_padding_models(mobile, fmt, rng):
    kmodel, paths = mobile
    model = pio.load_model(paths[fmt])
    x = rng.normal(size=(3, 12, 12, 3)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("fmt", ["weights", "h5"])
def test_batchnorm_model_weights_files(mobile, fmt, rng):
    kmodel, paths = mobile
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            w = layer.get_weights()
            w[-1] = np.abs(w[-1]) + 1
            layer.set_weights(w)
    model.load_weights(paths[fmt])
    x = rng.normal(size=(3, 12, 12, 3)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_nested_batchnorm_weights_in_keras_legacy_order(mobile, tmp_path, rng):
    """Unnamed nested weights in Keras's `_legacy_weights` order (all trainable, then all
    non-trainable) are put back per layer."""
    kmodel, paths = mobile
    layers = []
    for layer in kmodel.layers:
        if layer.name == "block":
            trainable = [w for inner in layer.layers for w in inner.trainable_weights]
            frozen = [w for inner in layer.layers for w in inner.non_trainable_weights]
            values = [(f"param_{i}:0", np.asarray(v.numpy())) for i, v in enumerate(trainable + frozen)]
            assert [v.path.split("/")[-1] for v in trainable + frozen][-2:] == ["moving_mean", "moving_variance"]
            layers.append((layer.name, values))
        else:
            layers.append((layer.name, kf.layer_weights(layer)))
    kf.write_keras2_weights(tmp_path / "legacy_order.h5", layers)
    model = pio.load_model(paths["keras"])
    _scramble(model, rng)
    model.load_weights(tmp_path / "legacy_order.h5")
    x = rng.normal(size=(3, 12, 12, 3)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))
