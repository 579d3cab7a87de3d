"""Grad-CAM: the penultimate-layer search, the heat-map formula against a NumPy float64 +
scipy.ndimage oracle, the native cubic-spline zoom against scipy.ndimage.zoom, and invariants."""

import numpy as np
import pytest
import scipy.ndimage

from pyvis import _core
from pyvis.applications import VGG16
from pyvis.layers import (Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                          MaxPooling2D)
from pyvis.losses import ActivationMaximization
from pyvis.models import Model, Sequential
from pyvis.utils import utils
from pyvis.visualization import visualize_cam, visualize_cam_with_losses
from pyvis.visualization.saliency import _find_penultimate_layer

EPS = 1e-7


def _normalize64(a):
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min() + EPS)


def _random_weights(model, rng, scale=0.3):
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) * scale for w in ws])
    return model


# ---------------------------------------------------------------------- native zoom vs scipy

@pytest.mark.parametrize('shape,out', [((7, 7), (224, 224)), ((14, 14), (224, 224)),
                                       ((3, 5), (11, 13)), ((1, 4), (5, 9)), ((2, 2), (5, 5)),
                                       ((5, 5), (5, 5)), ((10, 8), (3, 4)), ((4, 1), (9, 1)),
                                       ((1, 1), (3, 3)), ((12, 12), (28, 28))])
def test_zoom_cubic_matches_scipy(rng, shape, out):
    a = rng.normal(size=shape).astype(np.float32)
    ref = scipy.ndimage.zoom(a.astype(np.float64), (out[0] / shape[0], out[1] / shape[1]),
                             order=3)
    assert ref.shape == out
    got = _core.zoom_cubic(a, *out)
    assert got.shape == out and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_zoom_cubic_leaves_input_alone_and_refuses_empty(rng):
    a = rng.normal(size=(4, 4)).astype(np.float32)
    before = a.copy()
    _core.zoom_cubic(a, 9, 9)
    np.testing.assert_array_equal(a, before)
    with pytest.raises(ValueError):
        _core.zoom_cubic(a, 0, 9)


# ---------------------------------------------------------------------- penultimate search

def test_penultimate_is_block5_pool_for_vgg16():
    model = VGG16(weights=None, include_top=True, input_shape=(32, 32, 3))
    layer_idx = utils.find_layer_idx(model, 'predictions')
    assert _find_penultimate_layer(model, layer_idx, None).name == 'block5_pool'
    assert _find_penultimate_layer(model, -1, None).name == 'block5_pool'


def test_penultimate_is_the_conv_before_global_pooling():
    inputs = Input((8, 8, 3))
    x = Conv2D(4, 3, activation='relu', name='conv')(inputs)
    x = GlobalAveragePooling2D(name='gap')(x)
    model = Model(inputs, Dense(3, name='out')(x))
    assert _find_penultimate_layer(model, -1, None).name == 'conv'


def test_penultimate_mnist_example_is_the_max_pool():
    model = Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation='relu'),
                        Conv2D(64, 3, activation='relu'), MaxPooling2D(2, name='pool'),
                        Dropout(0.25), Flatten(), Dense(128, activation='relu'), Dropout(0.5),
                        Dense(10, activation='softmax', name='preds')])
    idx = utils.find_layer_idx(model, 'preds')
    assert _find_penultimate_layer(model, idx, None).name == 'pool'


def test_penultimate_search_skips_the_layer_before_layer_idx():
    # keras-vis scans layers[:layer_idx - 1]: the conv right before layer_idx is not a candidate
    inputs = Input((8, 8, 3))
    a = Conv2D(2, 3, name='first')(inputs)
    b = Conv2D(2, 3, name='second')(a)
    c = Conv2D(2, 3, name='third')(b)
    model = Model(inputs, c)
    assert _find_penultimate_layer(model, -1, None).name == 'first'


def test_penultimate_errors():
    inputs = Input((4,))
    model = Model(inputs, Dense(2)(Dense(3)(inputs)))
    with pytest.raises(ValueError, match='Unable to determine penultimate'):
        _find_penultimate_layer(model, -1, None)
    inputs = Input((8, 8, 3))
    x = Conv2D(2, 3, name='conv')(inputs)
    x = Flatten()(x)
    model = Model(inputs, Dense(2)(x))
    with pytest.raises(ValueError, match='needs to be before'):
        _find_penultimate_layer(model, 1, 3)
    assert _find_penultimate_layer(model, -1, 1).name == 'conv'


# ---------------------------------------------------------------------- formula

def _tiny_cam_model(rng, negative=False):
    inputs = Input((5, 6, 2))
    conv = Conv2D(3, (2, 3), activation='relu', name='conv')
    x = conv(inputs)
    x = Flatten()(x)
    dense = Dense(2, name='out')
    model = Model(inputs, dense(x))
    k = rng.normal(size=(2, 3, 2, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32) * 0.1
    w = rng.normal(size=(4 * 4 * 3, 2)).astype(np.float32)
    if negative:
        w = -np.abs(w)          # every gradient negative: keras-vis's max(g)+eps flips the sign
    conv.set_weights([k, b])
    dense.set_weights([w, np.zeros(2, np.float32)])
    return model, k.astype(np.float64), b.astype(np.float64), w.astype(np.float64)


def _cam_oracle(x, k, b, w, idx, grad_modifier=None):
    """Grad-CAM of out[idx] at conv (4x4x3) by the keras-vis formula, in float64 + scipy."""
    x = x.astype(np.float64)
    A = np.zeros((4, 4, 3))
    for i in range(4):
        for j in range(4):
            A[i, j] = np.einsum('hwc,hwco->o', x[i:i + 2, j:j + 3], k) + b
    A = np.maximum(A, 0)
    g = w[:, idx].reshape(4, 4, 3)          # d out[idx] / dA (Flatten is C-order NHWC)
    if grad_modifier == 'negate':
        g = -g
    g = g / (g.max() + EPS)
    weights = g.mean(axis=(0, 1))
    heat = np.maximum(A @ weights, 0)
    heat = scipy.ndimage.zoom(heat, (5 / 4, 6 / 4), order=3)
    return _normalize64(heat)


@pytest.mark.parametrize('negative', [False, True])
@pytest.mark.parametrize('grad_modifier', [None, 'negate'])
def test_cam_equals_formula(rng, negative, grad_modifier):
    model, k, b, w = _tiny_cam_model(rng, negative)
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)
    for idx in (0, 1):
        got = visualize_cam(model, -1, idx, x, grad_modifier=grad_modifier)
        ref = _cam_oracle(x, k, b, w, idx, grad_modifier)
        assert got.shape == (5, 6) and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=1e-4)


def test_cam_with_losses_equals_visualize_cam(rng):
    model, k, b, w = _tiny_cam_model(rng)
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)
    losses = [(ActivationMaximization(model.layers[-1], 1), -1)]
    conv = model.get_layer('conv')
    got = visualize_cam_with_losses(model.input, losses, x, conv)
    np.testing.assert_allclose(got, _cam_oracle(x, k, b, w, 1), atol=1e-4)
    got = visualize_cam_with_losses(model, losses, x, conv)
    np.testing.assert_allclose(got, _cam_oracle(x, k, b, w, 1), atol=1e-4)


# ---------------------------------------------------------------------- invariants

def _convnet(rng, input_shape=(20, 18, 3)):
    inputs = Input(input_shape)
    x = Conv2D(4, 3, padding='same', activation='relu')(inputs)
    x = MaxPooling2D(2)(x)
    x = Conv2D(6, 3, activation='relu')(x)
    x = MaxPooling2D(2)(x)
    x = Flatten()(x)
    x = Dense(8, activation='relu')(x)
    x = Dense(5)(x)
    return _random_weights(Model(inputs, x), rng)


@pytest.mark.parametrize('backprop_modifier', [None, 'guided', 'relu'])
def test_cam_shape_and_range(rng, backprop_modifier):
    model = _convnet(rng)
    x = rng.uniform(0, 255, size=(20, 18, 3))
    got = visualize_cam(model, -1, 2, x, backprop_modifier=backprop_modifier)
    assert got.shape == (20, 18) and got.dtype == np.float32
    assert got.min() >= 0. and got.max() <= 1.
    assert got.min() == 0. or got.max() == 0.


def test_cam_batch_equals_per_sample(rng):
    model = _convnet(rng)
    xs = rng.normal(size=(3, 20, 18, 3)).astype(np.float32)
    for modifier in (None, 'guided'):
        batch = visualize_cam(model, -1, 4, xs, backprop_modifier=modifier)
        assert batch.shape == (3, 20, 18)
        for n in range(3):
            single = visualize_cam(model, -1, 4, xs[n], backprop_modifier=modifier)
            np.testing.assert_allclose(batch[n], single, atol=1e-5)
    assert visualize_cam(model, -1, 4, xs[:1]).shape == (20, 18)


def test_cam_on_unknown_input_size_uses_the_seed_size(rng):
    # keras-vis fails on None spatial dims (its issue #184); pyvis upsamples to the seed's size.
    inputs = Input((None, None, 3))
    x = Conv2D(4, 3, activation='relu', name='conv')(inputs)
    x = Conv2D(4, 3, activation='relu')(x)
    x = GlobalAveragePooling2D()(x)
    model = _random_weights(Model(inputs, Dense(3)(x)), rng)
    got = visualize_cam(model, -1, 0, rng.normal(size=(13, 11, 3)), penultimate_layer_idx=1)
    assert got.shape == (13, 11)


def test_cam_explicit_penultimate_layer(rng):
    model = _convnet(rng)
    got = visualize_cam(model, -1, 1, rng.normal(size=(20, 18, 3)), penultimate_layer_idx=1)
    assert got.shape == (20, 18)
    with pytest.raises(ValueError, match='spatial output'):
        visualize_cam(model, -1, 1, rng.normal(size=(20, 18, 3)), penultimate_layer_idx=6)


def test_cam_on_vgg16_structure(rng):
    model = _random_weights(VGG16(weights=None, include_top=True, input_shape=(32, 32, 3)), rng,
                            scale=0.05)
    got = visualize_cam(model, -1, 20, rng.uniform(0, 255, size=(32, 32, 3)))
    assert got.shape == (32, 32) and 0. <= got.min() and got.max() <= 1.
