"""VGG16 end to end: Keras 3's own VGG16 files, and the keras.applications weight-file layout.

The Keras 3 `keras.applications.VGG16(weights=None)` model is saved as `.keras`, `.h5` and
`.weights.h5`; pyvis loads each and must predict what Keras predicts. The ImageNet weight files
themselves cannot be downloaded here, so a file in their exact layout (Keras 1 names
`block1_conv1_W_1:0`, only a `layer_names` root attribute, fixed-length strings) is written with
the Keras model's weights and found through the Keras cache like the real one.
"""

import hashlib
import warnings

import h5py
import numpy as np
import pytest

import io_keras_files as kf
import pyvis.io as pio
from pyvis import applications
from pyvis.applications import imagenet_utils


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    keras = kf.keras()
    keras.utils.set_random_seed(7)
    kmodel = keras.applications.VGG16(weights=None)
    root = tmp_path_factory.mktemp("vgg16")
    paths = {"keras": root / "vgg16.keras", "h5": root / "vgg16.h5", "weights": root / "vgg16.weights.h5"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.save(paths["keras"])
        kmodel.save(paths["h5"])
        kmodel.save_weights(paths["weights"])
    rng = np.random.default_rng(0)
    x = rng.uniform(-120, 130, (2, 224, 224, 3)).astype("float32")
    fc2 = keras.Model(kmodel.input, kmodel.get_layer("fc2").output)
    want = {"predictions": kmodel.predict(x, verbose=0), "fc2": fc2.predict(x, verbose=0)}
    assert np.abs(want["fc2"]).max() > 0          # the random network is not dead
    return kmodel, paths, x, want


def _check(model, vgg):
    _, _, x, want = vgg
    tape = model.run(x)
    kf.assert_close(tape.value("fc2"), want["fc2"])
    kf.assert_close(model.predict(x), want["predictions"])


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_vgg16_load_model(vgg, fmt):
    _check(pio.load_model(vgg[1][fmt]), vgg)


@pytest.mark.parametrize("fmt", ["weights", "h5", "keras"])
def test_vgg16_application_weights_from_keras3_files(vgg, fmt):
    model = applications.VGG16(weights=vgg[1][fmt])
    _check(model, vgg)


def test_vgg16_from_keras(vgg):
    _check(pio.from_keras(vgg[0]), vgg)


def _application_layout(path, kmodel, include_top):
    """The keras.applications VGG16 file: Keras 1 names, layer_names only, h5py 2 fixed strings."""
    layers = []
    for layer in kmodel.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if not include_top and layer.name in ("flatten", "fc1", "fc2", "predictions"):
            continue
        layers.append((layer.name, kf.layer_weights(layer)))
    kf.write_keras2_weights(path, layers, string_style="fixed", name_style="k1", keras_version=None)
    with h5py.File(path) as f:
        assert set(f.attrs) == {"layer_names"}
        assert "fc1_W_1:0" in f["fc1"] if include_top else "fc1" not in f
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def keras_cache(tmp_path, monkeypatch):
    """An isolated Keras cache: $KERAS_HOME, ~ and /tmp/.keras all point into tmp_path."""
    from pyvis.io import download
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(download, "FALLBACK_BASE", str(tmp_path / "tmp_keras"))
    # nothing may be fetched from the network in these tests
    monkeypatch.setattr(imagenet_utils, "BASE_ORIGIN", "http://127.0.0.1:9/")
    return tmp_path


def _cache_folder(keras_cache, where):
    return {"keras_home": keras_cache / "keras_home" / "models",
            "home": keras_cache / "home" / ".keras" / "models",
            "tmp_keras": keras_cache / "tmp_keras" / "models"}[where]


def _notop_model(kmodel, size):
    keras = kf.keras()
    knotop = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    for layer in knotop.layers:
        if layer.weights:
            layer.set_weights(kmodel.get_layer(layer.name).get_weights())
    return knotop


def test_vgg16_imagenet_weights_with_top(vgg, keras_cache, monkeypatch):
    folder = _cache_folder(keras_cache, "keras_home")
    folder.mkdir(parents=True)
    fname, _ = imagenet_utils.WEIGHT_FILES[("vgg16", True)]
    md5 = _application_layout(folder / fname, vgg[0], include_top=True)
    # The real file's md5 is in the table; the stand-in file is accepted under its own md5.
    monkeypatch.setitem(imagenet_utils.WEIGHT_FILES, ("vgg16", True), (fname, md5))
    _check(applications.VGG16(weights="imagenet"), vgg)


@pytest.mark.parametrize("where", ["keras_home", "home", "tmp_keras"])
def test_vgg16_notop_imagenet_weights_found_in_each_cache_folder(vgg, keras_cache, monkeypatch, where):
    kmodel, _, x, _ = vgg
    folder = _cache_folder(keras_cache, where)
    folder.mkdir(parents=True)
    fname, _ = imagenet_utils.WEIGHT_FILES[("vgg16", False)]
    md5 = _application_layout(folder / fname, kmodel, include_top=False)
    monkeypatch.setitem(imagenet_utils.WEIGHT_FILES, ("vgg16", False), (fname, md5))
    model = applications.VGG16(weights="imagenet", include_top=False, input_shape=(48, 48, 3))
    small = x[:, :48, :48, :]
    kf.assert_close(model.predict(small), _notop_model(kmodel, 48).predict(small, verbose=0))


def test_vgg16_imagenet_offline_error_names_file_md5_url_and_folder(keras_cache):
    fname, md5 = imagenet_utils.WEIGHT_FILES[("vgg16", False)]
    with pytest.raises(OSError) as err:
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    msg = str(err.value)
    assert fname in msg and md5 in msg and "http://127.0.0.1:9/vgg16/" + fname in msg
    assert str(keras_cache / "keras_home" / "models") in msg


def test_vgg16_cached_file_with_wrong_md5_is_not_used(vgg, keras_cache):
    fname, md5 = imagenet_utils.WEIGHT_FILES[("vgg16", False)]
    folder = keras_cache / "keras_home" / "models"
    folder.mkdir(parents=True)
    (folder / fname).write_bytes(b"not the weights")
    with pytest.raises(OSError) as err:
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    msg = str(err.value)
    assert hashlib.md5(b"not the weights").hexdigest() in msg and md5 in msg


def test_vgg19_notop_weights_layout(keras_cache, monkeypatch, rng):
    """VGG19's file name and layer list; oracle: the arrays written into the file."""
    source = applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
    layers = [(layer.name, [(n, rng.normal(size=w.shape).astype("float32"))
                            for n, w in zip(layer.weight_names, layer.weights)])
              for layer in source.layers if type(layer).__name__ != "InputLayer"]
    folder = keras_cache / "keras_home" / "models"
    folder.mkdir(parents=True)
    fname, _ = imagenet_utils.WEIGHT_FILES[("vgg19", False)]
    path = folder / fname
    kf.write_keras2_weights(path, layers, name_style="k1", keras_version=None)
    monkeypatch.setitem(imagenet_utils.WEIGHT_FILES, ("vgg19", False),
                        (fname, hashlib.md5(path.read_bytes()).hexdigest()))
    model = applications.VGG19(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    weighted = [(n, w) for n, w in layers if w]
    assert len(weighted) == 16
    for name, weights in weighted:
        for got, (_, want) in zip(model.get_layer(name).get_weights(), weights):
            np.testing.assert_array_equal(got, want)
