"""pyvis.applications beyond VGG against Keras 3 itself (torch backend) and PyTorch autograd.

For ResNet50, MobileNet, MobileNetV2, InceptionV3, DenseNet121 and Xception, each built with
random weights at a small input size (96x96; every one of them allows it without the ImageNet
weights):
* layer names, classes and order equal keras.applications.X(weights=None)'s;
* with Keras's weights copied across (BatchNormalization statistics randomised so the layers do
  something), the output agrees within 1e-4 relative, and the input gradient of a random
  projection of the output agrees with PyTorch autograd through the Keras model (cosine
  >= 0.999: ReLU decisions may flip on float32 rounding, reference/perf.md §5.5);
* weight files written by Keras 3 (the legacy HDF5 layout of the application files, paired by
  topological order, and Keras 3 .weights.h5) load into pyvis.applications.X(weights=path);
* saliency and Grad-CAM run, Grad-CAM's penultimate search lands on the last convolution.
Plus the two ResNet50 architectures chosen by md5 / layer names, preprocess_input modes, and
keras-vis's resnet attention notebook flow on a generated-weights Keras 2.2 ResNet50.
"""
import os
import warnings

import h5py
import keras
import numpy as np
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format
from PIL import Image

import reference as R
from pyvis import applications as A
from pyvis import layers
from pyvis.applications import resnet50 as resnet50_module
from pyvis.io import download

SIZE = 96
ARCHS = ["ResNet50", "MobileNet", "MobileNetV2", "InceptionV3", "DenseNet121", "Xception"]
# Grad-CAM's default penultimate layer (keras-vis's search over layers[:layer_idx - 1]): the last
# convolution before the classifier; for MobileNet that is the 1x1 classifier conv `conv_preds`
# (its top is pooling, dropout, conv_preds, reshape, softmax), exactly as keras-vis picks it
LAST_CONV = {"ResNet50": "conv5_block3_3_conv", "MobileNet": "conv_preds",
             "MobileNetV2": "Conv_1", "InceptionV3": None, "DenseNet121": "conv5_block16_2_conv",
             "Xception": "block14_sepconv2"}


def randomize_batchnorm(kmodel, rng):
    """Random BatchNormalization statistics (fresh ones are the identity) with moderate gain."""
    for layer in kmodel.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        new = []
        for var, w in zip(layer.weights, layer.get_weights()):
            if "variance" in var.path:
                new.append(rng.uniform(0.5, 1.5, w.shape))
            elif "mean" in var.path or "beta" in var.path:
                new.append(rng.normal(0.0, 0.2, w.shape))
            else:
                new.append(rng.uniform(0.7, 1.3, w.shape))
        layer.set_weights([w.astype(np.float32) for w in new])


@pytest.fixture(scope="module", params=ARCHS)
def pair(request):
    """(arch name, Keras model, pyvis model with the same weights)."""
    name = request.param
    rng = np.random.default_rng(len(name))
    keras.utils.set_random_seed(len(name))
    kw = dict(input_shape=(SIZE, SIZE, 3), classes=7, classifier_activation=None)
    # fresh automatic names on both sides (conv2d, conv2d_1, ... as in a new session)
    keras.backend.clear_session()
    layers.clear_name_counters()
    kmodel = getattr(keras.applications, name)(weights=None, **kw)
    randomize_batchnorm(kmodel, rng)
    pmodel = getattr(A, name)(weights=None, **kw)
    assert [layer.name for layer in pmodel.layers] == [layer.name for layer in kmodel.layers]
    assert ([type(layer).__name__ for layer in pmodel.layers]
            == [type(layer).__name__ for layer in kmodel.layers])
    for pl, kl in zip(pmodel.layers, kmodel.layers):
        pl.set_weights(kl.get_weights())
    return name, kmodel, pmodel


def images(rng, n=2):
    return rng.uniform(-1.0, 1.0, (n, SIZE, SIZE, 3)).astype(np.float32)


def test_forward_matches_keras(pair):
    name, kmodel, pmodel = pair
    x = images(np.random.default_rng(1))
    expected = kmodel(x).detach().numpy()
    got = pmodel.predict(x)
    assert got.shape == expected.shape == (2, 7)
    assert R.rel_err(got, expected) <= 1e-4, name


def test_input_gradient_matches_torch_autograd(pair):
    name, kmodel, pmodel = pair
    rng = np.random.default_rng(2)
    x = images(rng)
    seed = rng.standard_normal((2, 7)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    (kmodel(xt) * torch.tensor(seed)).sum().backward()
    expected = xt.grad.numpy()
    (got,) = pmodel.run(x).backward([(pmodel.output, seed)])
    assert got.shape == expected.shape
    assert R.cosine(got, expected) >= 0.999, name
    assert abs(np.linalg.norm(got) / np.linalg.norm(expected) - 1) < 1e-2


def test_keras_weight_files_load(pair, tmp_path):
    """Application-style HDF5 (topological pairing) and Keras 3 .weights.h5."""
    name, kmodel, _ = pair
    x = images(np.random.default_rng(3))
    expected = kmodel(x).detach().numpy()
    legacy = str(tmp_path / "app_weights.h5")
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)
    v3 = str(tmp_path / "app.weights.h5")
    kmodel.save_weights(v3)
    kw = dict(input_shape=(SIZE, SIZE, 3), classes=7, classifier_activation=None)
    for path in (legacy, v3):
        model = getattr(A, name)(weights=path, **kw)
        assert R.rel_err(model.predict(x), expected) <= 1e-4, (name, path)


def test_saliency_and_grad_cam_run(pair):
    from pyvis.visualization import saliency, visualize_cam, visualize_saliency
    name, _, pmodel = pair
    img = np.random.default_rng(4).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    sal = visualize_saliency(pmodel, -1, filter_indices=3, seed_input=img)
    assert sal.shape == (SIZE, SIZE) and np.all(np.isfinite(sal))
    assert sal.min() >= 0 and sal.max() <= 1 and sal.max() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)       # ReLU6 note of the MobileNets
        guided = visualize_saliency(pmodel, -1, filter_indices=3, seed_input=img,
                                    backprop_modifier="guided")
    assert guided.shape == (SIZE, SIZE) and np.all(np.isfinite(guided))
    layer = saliency._find_penultimate_layer(pmodel, len(pmodel.layers) - 1, None)
    if LAST_CONV[name] is not None:
        assert layer.name == LAST_CONV[name]
    else:       # InceptionV3: the deepest unnamed convolution
        assert type(layer).__name__ == "Conv2D"
        convs = [lay for lay in pmodel.layers if type(lay).__name__ == "Conv2D"]
        assert layer is convs[-1]
    cam = visualize_cam(pmodel, -1, filter_indices=3, seed_input=img)
    assert cam.shape == (SIZE, SIZE) and np.all(np.isfinite(cam))
    assert cam.min() >= 0 and cam.max() <= 1


@pytest.mark.parametrize("name", ["MobileNet", "MobileNetV2"])
def test_mobilenets_warn_that_relu6_is_not_modified(name):
    from pyvis import backend
    model = getattr(A, name)(weights=None, input_shape=(SIZE, SIZE, 3), classes=3)
    with pytest.warns(UserWarning, match="relu6|ReLU\\(max_value"):
        backend.modify_model_backprop(model, "guided")


# --------------------------------------------------------------------------
# ResNet50: two architectures
# --------------------------------------------------------------------------

def write_keras2_weights(path, model):
    """A Keras 2 weights-only HDF5 file (keras-formats.md §2.1) holding `model`'s weights."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w}:0" for w in layer.weight_names]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, w in zip(names, layer.get_weights()):
                group.create_dataset(n, data=w)


def test_resnet50_keras2_architecture_names():
    model = A.ResNet50(weights=None, architecture="keras2")
    names = [layer.name for layer in model.layers]
    for expected in ("conv1", "bn_conv1", "res2a_branch2a", "res2a_branch1", "bn5c_branch2c",
                     "res5c_branch2c", "avg_pool", "fc1000"):
        assert expected in names
    bn = model.get_layer("bn_conv1")
    assert bn.epsilon == 1e-3
    assert A.ResNet50(weights=None).get_layer("conv1_bn").epsilon == 1.001e-5
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert len(convs) == 53 and model.output_shape == (None, 1000)


def test_resnet50_architecture_follows_the_weight_file(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)
    for arch in ("keras2", "keras3"):
        src = A.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3),
                         architecture=arch)
        path = str(tmp_path / f"{arch}.h5")
        write_keras2_weights(path, src)
        assert resnet50_module.architecture_of_file(path, False) == arch
        loaded = A.ResNet50(weights=path, include_top=False, input_shape=(SIZE, SIZE, 3))
        assert loaded.resnet50_architecture == arch
        assert R.rel_err(loaded.predict(x), src.predict(x)) == 0.0
        other = "keras3" if arch == "keras2" else "keras2"
        with pytest.raises(ValueError, match="holds the"):
            A.ResNet50(weights=path, include_top=False, input_shape=(SIZE, SIZE, 3),
                       architecture=other)


def test_resnet50_imagenet_picks_architecture_by_md5(tmp_path, monkeypatch):
    """A cached file whose md5 is the Keras 2.2 ImageNet file's builds the Keras 2.2 network."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(download, "cache_dirs", lambda sub="models": [str(tmp_path / sub)])
    (tmp_path / "models").mkdir()
    src = A.ResNet50(weights=None, include_top=False, architecture="keras2")
    path = tmp_path / "models" / resnet50_module.FILE_NAMES[False]
    write_keras2_weights(str(path), src)
    md5 = download.file_hash(str(path))
    monkeypatch.setitem(resnet50_module.KNOWN_MD5, ("keras2", False), md5)
    model = A.ResNet50(weights="imagenet", include_top=False)
    assert model.resnet50_architecture == "keras2"
    assert "res5c_branch2c" in [layer.name for layer in model.layers]


# --------------------------------------------------------------------------
# preprocess_input / decode_predictions of each module
# --------------------------------------------------------------------------

@pytest.mark.parametrize("module,mode", [("resnet50", "caffe"), ("mobilenet", "tf"),
                                         ("mobilenet_v2", "tf"), ("inception_v3", "tf"),
                                         ("densenet", "torch"), ("xception", "tf")])
def test_preprocess_input_matches_keras(module, mode):
    x = np.random.default_rng(6).uniform(0, 255, (2, 5, 4, 3)).astype(np.float32)
    kmod = {"resnet50": keras.applications.resnet50, "mobilenet": keras.applications.mobilenet,
            "mobilenet_v2": keras.applications.mobilenet_v2,
            "inception_v3": keras.applications.inception_v3,
            "densenet": keras.applications.densenet, "xception": keras.applications.xception}[module]
    got = getattr(A, module).preprocess_input(x.copy())
    expected = kmod.preprocess_input(x.copy())
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert R.rel_err(got, expected) <= 1e-6
    assert callable(getattr(A, module).decode_predictions)


# --------------------------------------------------------------------------
# keras-vis examples/resnet/attention.ipynb, imports changed, generated Keras 2.2 weights
# --------------------------------------------------------------------------

def test_keras_vis_resnet_attention_notebook_flow(tmp_path, monkeypatch):
    # a generated-weights stand-in for the Keras 2.2 ImageNet file, found in the Keras cache
    monkeypatch.setattr(download, "cache_dirs", lambda sub="models": [str(tmp_path / sub)])
    (tmp_path / "models").mkdir()
    np.random.seed(7)
    src = A.ResNet50(weights=None, architecture="keras2")
    path = tmp_path / "models" / resnet50_module.FILE_NAMES[True]
    write_keras2_weights(str(path), src)
    monkeypatch.setitem(resnet50_module.KNOWN_MD5, ("keras2", True), download.file_hash(str(path)))
    rng = np.random.default_rng(8)
    for k in (1, 2):
        Image.fromarray(rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)).save(
            tmp_path / f"ouzel{k}.jpg")
    os.chdir(tmp_path)

    # --- notebook cells (imports changed to pyvis) ---
    import numpy as np_
    from matplotlib import cm
    from pyvis import activations
    from pyvis.applications import ResNet50
    from pyvis.utils import utils
    from pyvis.visualization import overlay, visualize_cam, visualize_saliency

    model = ResNet50(weights='imagenet')
    layer_idx = utils.find_layer_idx(model, 'fc1000')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)

    img1 = utils.load_img('ouzel1.jpg', target_size=(224, 224))
    img2 = utils.load_img('ouzel2.jpg', target_size=(224, 224))
    maps = {}
    for modifier in [None, 'guided', 'relu']:
        for i, img in enumerate([img1, img2]):
            grads = visualize_saliency(model, layer_idx, filter_indices=20, seed_input=img,
                                       backprop_modifier=modifier)
            maps[("saliency", modifier, i)] = grads
    penultimate_layer = utils.find_layer_idx(model, 'res5c_branch2c')
    for modifier in [None, 'guided', 'relu']:
        for i, img in enumerate([img1, img2]):
            grads = visualize_cam(model, layer_idx, filter_indices=20, seed_input=img,
                                  penultimate_layer_idx=penultimate_layer,
                                  backprop_modifier=modifier)
            jet_heatmap = np_.uint8(cm.jet(grads)[..., :3] * 255)
            maps[("cam", modifier, i)] = overlay(jet_heatmap, img)
    # --- end of notebook cells ---

    assert model.resnet50_architecture == "keras2"
    assert model.layers[layer_idx].name == "fc1000"
    for key, value in maps.items():
        assert value.shape[:2] == (224, 224), key
        assert np.all(np.isfinite(value)), key
    assert not np.array_equal(maps[("saliency", None, 0)], maps[("saliency", "guided", 0)])
