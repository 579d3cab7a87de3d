"""Saliency, losses and backprop modifiers: keras-vis's saliency and backend tests (ported) plus
invariants and values checked against NumPy float64 oracles written from the formulas."""

import numpy as np
import pytest

from pyvis import backend
from pyvis.layers import (Activation, Conv2D, Dense, Flatten, Input, MaxPooling2D, ReLU)
from pyvis.losses import ActivationMaximization, Loss
from pyvis.models import Model, Sequential
from pyvis.visualization import visualize_saliency, visualize_saliency_with_losses

EPS = 1e-7


def _normalize64(a):
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min() + EPS)


# ---------------------------------------------------------------------- keras-vis fixtures

@pytest.fixture
def model():
    # keras-vis tests/vis/visualization/test_saliency.py: Flatten -> Dense(100, relu) -> Dense(1)
    inputs = Input((28, 28, 3))
    x = Flatten()(inputs)
    x = Dense(100, activation='relu')(x)
    x = Dense(1)(x)
    return Model(inputs, x)


@pytest.fixture
def data():
    return np.random.rand(1, 28, 28, 3)


# ---------------------------------------------------------------------- keras-vis tests (ported)

def test_visualize_saliency(model, data):
    grads = visualize_saliency(model, -1, filter_indices=0, seed_input=data)
    assert grads.shape == (28, 28)


def test_visualize_saliency_with_unkeepdims(model, data):
    grads = visualize_saliency(model, -1, filter_indices=0, seed_input=data, keepdims=True)
    assert grads.shape == (28, 28, 3)


def test_visualize_saliency_with_losses(model, data):
    losses = [(ActivationMaximization(model.layers[-1], 0), -1)]
    grads = visualize_saliency_with_losses(model.input, losses, data)
    assert grads.shape == (28, 28)


def test_visualize_saliency_with_losses_with_unkeepdims(model, data):
    losses = [(ActivationMaximization(model.layers[-1], 0), -1)]
    grads = visualize_saliency_with_losses(model.input, losses, data, keepdims=True)
    assert grads.shape == (28, 28, 3)


def test_for_issues_135():
    inputs = Input((35,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(100, activation='relu')(x)
    x = Dense(50)(x)
    model = Model(inputs, x)
    data = np.random.rand(1, 35)
    grads = visualize_saliency(model, -1, 0, data, keepdims=True)
    assert grads.shape == (35,)


def _input_grad(model, x):
    """d(model.output)/d(input) for sample 0 (keras-vis backend test helper)."""
    tape = model.run(x)
    out = tape.value(model.output)
    return tape.backward([(model.output, np.ones_like(out))])[0][0]


def _guided_test_models():
    kernel1 = np.array([[-1., 1.], [-1., 1.]], np.float32)
    kernel2 = np.array([[-1.], [1.]], np.float32)
    inp = Input((2,))
    a = Dense(2, activation='relu', use_bias=False)(inp)
    model_a = Model(inp, Dense(1, use_bias=False)(a))
    model_b = Sequential([Input((2,)), Dense(2, use_bias=False), Activation('relu'),
                          Dense(1, use_bias=False)])
    inp = Input((2,))
    c = ReLU()(Dense(2, use_bias=False)(inp))
    model_c = Model(inp, Dense(1, use_bias=False)(c))
    for m in (model_a, model_b, model_c):
        dense = [layer for layer in m.layers if isinstance(layer, Dense)]
        dense[0].set_weights([kernel1])
        dense[1].set_weights([kernel2])
    return [model_a, model_b, model_c]


# keras-vis tests/vis/backend/test_backend.py: out = -relu(-x0-x1) + relu(x0+x1)
GUIDED_TABLE = [
    ([0., 0.], [0., 0.], [0., 0.]),
    ([1., 0.], [1., 1.], [1., 1.]),
    ([0., 1.], [1., 1.], [1., 1.]),
    ([1., 1.], [1., 1.], [1., 1.]),
    ([-1., 0.], [1., 1.], [0., 0.]),
    ([0., -1.], [1., 1.], [0., 0.]),
    ([-1., -1.], [1., 1.], [0., 0.]),
]


@pytest.mark.parametrize('which', [0, 1, 2], ids=['fused-relu', 'Activation-relu', 'ReLU-layer'])
def test_guided_grad_modifier(which):
    model = _guided_test_models()[which]
    guided = backend.modify_model_backprop(model, 'guided')
    for x, expected_original, expected_guided in GUIDED_TABLE:
        x = np.array([x], np.float32)
        np.testing.assert_array_equal(_input_grad(model, x), expected_original)
        np.testing.assert_array_equal(_input_grad(guided, x), expected_guided)
    # the forward pass is unchanged
    x = np.random.randn(5, 2).astype(np.float32)
    np.testing.assert_array_equal(guided.predict(x), model.predict(x))


@pytest.mark.parametrize('which', [0, 1, 2], ids=['fused-relu', 'Activation-relu', 'ReLU-layer'])
def test_rectified_grad_modifier(which):
    # Upstream gradients at the two hidden units are W2 = [-1, 1]; rectified passes only the
    # positive one whether or not the unit was active, so every input gets W1[:, 1] = [1, 1].
    model = _guided_test_models()[which]
    rect = backend.modify_model_backprop(model, 'rectified')
    for x, _, _ in GUIDED_TABLE:
        np.testing.assert_array_equal(_input_grad(rect, np.array([x], np.float32)), [1., 1.])


# ---------------------------------------------------------------------- single-ReLU truth table

@pytest.mark.parametrize('modifier', [None, 'guided', 'rectified', 'relu', 'deconv'])
def test_single_relu_truth_table(modifier):
    # y = w * relu(x): the ReLU sees input x and upstream gradient g = w.
    rules = {None: lambda x, g: g * (x > 0),
             'guided': lambda x, g: g * (x > 0) * (g > 0),
             'rectified': lambda x, g: g * (g > 0)}
    rule = rules['rectified' if modifier in ('relu', 'deconv') else modifier]
    for w in (-1., 1.):
        inp = Input((1,))
        h = Dense(1, activation='relu', use_bias=False)(inp)
        out = Dense(1, use_bias=False)(h)
        model = Model(inp, out)
        model.layers[1].set_weights([np.array([[1.]], np.float32)])
        model.layers[2].set_weights([np.array([[w]], np.float32)])
        if modifier is not None:
            model = backend.modify_model_backprop(model, modifier)
        for x in (-1., 2.):
            got = _input_grad(model, np.array([[x]], np.float32))
            assert got[0] == rule(x, w), (modifier, w, x, got)


# ---------------------------------------------------------------------- values vs NumPy oracle

def _mlp(rng, n_out=1, hidden=20):
    inputs = Input((6, 5, 3))
    x = Flatten()(inputs)
    x = Dense(hidden, activation='relu', name='hidden')(x)
    x = Dense(n_out, name='out')(x)
    model = Model(inputs, x)
    w1 = rng.normal(size=(90, hidden)).astype(np.float32) / 5
    b1 = rng.normal(size=hidden).astype(np.float32) / 5
    w2 = rng.normal(size=(hidden, n_out)).astype(np.float32)
    b2 = rng.normal(size=n_out).astype(np.float32)
    model.get_layer('hidden').set_weights([w1, b1])
    model.get_layer('out').set_weights([w2, b2])
    return model, [w.astype(np.float64) for w in (w1, b1, w2, b2)]


def _mlp_input_grad(weights, x, upstream, modifier=None):
    """d(sum_k upstream[k] * y_k)/dx for one sample, with a backprop rule at the ReLU."""
    w1, b1, w2, _ = weights
    h = x.reshape(-1).astype(np.float64) @ w1 + b1
    g = w2 @ upstream
    if modifier is None:
        g = g * (h > 0)
    elif modifier == 'guided':
        g = g * (h > 0) * (g > 0)
    else:
        g = g * (g > 0)
    return (w1 @ g).reshape(x.shape)


@pytest.mark.parametrize('modifier', [None, 'guided', 'relu'])
def test_saliency_values_match_oracle(rng, modifier):
    model, weights = _mlp(rng)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    got = visualize_saliency(model, -1, 0, x, backprop_modifier=modifier)
    grad = _mlp_input_grad(weights, x, np.array([1.]), modifier)
    ref = _normalize64(np.abs(grad).max(axis=-1))
    assert got.shape == (6, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_saliency_signed_keepdims_and_negate(rng):
    model, weights = _mlp(rng)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    grad = _mlp_input_grad(weights, x, np.array([1.]))
    got = visualize_saliency(model, -1, 0, x, grad_modifier=None, keepdims=True)
    np.testing.assert_allclose(got, _normalize64(grad), atol=1e-5)
    got = visualize_saliency(model, -1, 0, x, grad_modifier='negate')
    np.testing.assert_allclose(got, _normalize64((-grad).max(axis=-1)), atol=1e-5)


def test_filter_indices_list_sums_and_none_means_all(rng):
    model, weights = _mlp(rng, n_out=5)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    got = visualize_saliency(model, -1, [0, 2], x, grad_modifier=None)
    grad = _mlp_input_grad(weights, x, np.array([1., 0., 1., 0., 0.]))
    np.testing.assert_allclose(got, _normalize64(grad.max(axis=-1)), atol=1e-5)
    got = visualize_saliency(model, -1, None, x, grad_modifier=None)
    grad = _mlp_input_grad(weights, x, np.full(5, 0.2))
    np.testing.assert_allclose(got, _normalize64(grad.max(axis=-1)), atol=1e-5)


def test_wrt_tensor_is_a_layer_output(rng):
    model, weights = _mlp(rng, n_out=3)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    hidden = model.get_layer('hidden')
    ref = _normalize64(np.abs(weights[2][:, 1]))      # d y_1 / d relu(h) = W2[:, 1]
    for handle in (hidden.output, hidden, 'hidden'):
        got = visualize_saliency(model, -1, 1, x, wrt_tensor=handle, keepdims=True)
        np.testing.assert_allclose(got, ref, atol=1e-5)
    losses = [(ActivationMaximization(model.layers[-1], 1), -1)]
    got = visualize_saliency_with_losses(model.input, losses, x, wrt_tensor=hidden.output,
                                         keepdims=True)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    hidden_idx = model.layers.index(hidden)
    for handle in (hidden, 'hidden', hidden_idx):
        got = visualize_saliency_with_losses(model, losses, x, wrt_tensor=handle, keepdims=True)
        np.testing.assert_allclose(got, ref, atol=1e-5)
    with pytest.raises(TypeError, match='needs the model itself'):
        visualize_saliency_with_losses(model.input, losses, x, wrt_tensor='hidden')


def test_loss_weight_none_means_zero(rng):
    model, _ = _mlp(rng, n_out=3)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    am0 = ActivationMaximization(model.layers[-1], 0)
    am1 = ActivationMaximization(model.layers[-1], 1)
    alone = visualize_saliency_with_losses(model.input, [(am0, -1)], x)
    with_none = visualize_saliency_with_losses(model.input, [(am0, -1), (am1, None)], x)
    np.testing.assert_array_equal(alone, with_none)
    with pytest.raises(ValueError, match='weight 0 or None'):
        visualize_saliency_with_losses(model.input, [(am0, 0), (am1, None)], x)


def test_activation_maximization_loss_protocol(rng):
    inputs = Input((5, 4, 2))
    conv = Conv2D(3, 2, name='conv')
    model = Model(inputs, conv(inputs))
    x = rng.normal(size=(2, 5, 4, 2)).astype(np.float32)
    tape = model.run(x)
    out = tape.value(conv).astype(np.float64)
    loss = ActivationMaximization(conv, [0, 2])
    assert str(loss) == 'ActivationMax Loss' and isinstance(loss, Loss)
    values, seeds = loss.evaluate(tape)
    np.testing.assert_allclose(values, -out[..., 0].mean(axis=(1, 2)) - out[..., 2].mean(axis=(1, 2)),
                               rtol=1e-6)
    (handle, grad), = seeds
    expected = np.zeros(out.shape)
    expected[..., [0, 2]] = -1. / (4 * 3)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    assert grad.dtype == np.float32
    values, _ = ActivationMaximization(conv, None).evaluate(tape)
    np.testing.assert_allclose(values, -out.reshape(2, -1).mean(axis=1), rtol=1e-6)
    with pytest.raises(IndexError, match='filter_indices'):
        ActivationMaximization(conv, 3).evaluate(tape)
    with pytest.raises(TypeError, match='filter_indices'):
        ActivationMaximization(conv, (0, 1))
    with pytest.raises(NotImplementedError):
        Loss().build_loss()


# ---------------------------------------------------------------------- invariants

def _convnet(rng):
    inputs = Input((16, 16, 3))
    x = Conv2D(4, 3, padding='same', activation='relu', name='c1')(inputs)
    x = MaxPooling2D(2, name='p1')(x)
    x = Conv2D(6, 3, activation='relu', name='c2')(x)
    x = Flatten()(x)
    x = Dense(5, name='out')(x)
    model = Model(inputs, x)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in ws])
    return model


@pytest.mark.parametrize('backprop_modifier', [None, 'guided', 'rectified'])
@pytest.mark.parametrize('grad_modifier', ['absolute', None, 'negate', 'relu', 'small_values'])
def test_saliency_range(rng, backprop_modifier, grad_modifier):
    model = _convnet(rng)
    x = rng.uniform(0, 255, size=(16, 16, 3))
    got = visualize_saliency(model, -1, 3, x, backprop_modifier=backprop_modifier,
                             grad_modifier=grad_modifier)
    assert got.shape == (16, 16) and got.dtype == np.float32
    assert got.min() == 0. and got.max() <= 1.


def test_batch_equals_per_sample(rng):
    model = _convnet(rng)
    xs = rng.normal(size=(3, 16, 16, 3)).astype(np.float32)
    for modifier in (None, 'guided'):
        batch = visualize_saliency(model, -1, 2, xs, backprop_modifier=modifier)
        assert batch.shape == (3, 16, 16)
        for n in range(3):
            single = visualize_saliency(model, -1, 2, xs[n], backprop_modifier=modifier)
            np.testing.assert_allclose(batch[n], single, atol=1e-5)
    # a batch of one behaves like keras-vis: the result has no batch axis
    assert visualize_saliency(model, -1, 2, xs[:1]).shape == (16, 16)


def test_seed_input_is_not_modified(rng):
    model = _convnet(rng)
    x = rng.normal(size=(16, 16, 3))
    before = x.copy()
    visualize_saliency(model, -1, 0, x)
    np.testing.assert_array_equal(x, before)


def test_bad_inputs_raise_clear_errors(rng):
    model = _convnet(rng)
    with pytest.raises(ValueError, match='channels_first'):
        visualize_saliency(model, -1, 0, rng.normal(size=(3, 16, 16)))
    with pytest.raises(ValueError, match='seed_input'):
        visualize_saliency(model, -1, 0, rng.normal(size=(16, 3)))
    with pytest.raises(IndexError, match='layer_idx=40'):
        visualize_saliency(model, 40, 0, rng.normal(size=(16, 16, 3)))
    with pytest.raises(IndexError, match='filter_indices'):
        visualize_saliency(model, -1, 7, rng.normal(size=(16, 16, 3)))
    with pytest.raises(ValueError, match='Unknown pyvis.grad_modifiers'):
        visualize_saliency(model, -1, 0, rng.normal(size=(16, 16, 3)), grad_modifier='bogus')


def test_channels_first_models_are_refused():
    with pytest.raises(ValueError, match='channels_first'):
        Conv2D(4, 3, data_format='channels_first')


def test_backprop_modifier_costs_no_copy(rng):
    model = _convnet(rng)
    guided = backend.modify_model_backprop(model, 'guided')
    assert guided is not model
    for a, b in zip(model.layers, guided.layers):
        assert a is b                       # layers (and their weights) are shared
    assert model._backprop_modifier is None


def test_keras_model_object_is_accepted(rng):
    import keras
    inputs = keras.Input((6, 5, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(20, activation='relu')(x)
    out = keras.layers.Dense(3)(x)
    kmodel = keras.Model(inputs, out)
    w1, b1, w2, b2 = [rng.normal(size=w.shape).astype(np.float32) * 0.3
                      for w in kmodel.get_weights()]
    kmodel.set_weights([w1, b1, w2, b2])
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    for modifier in (None, 'guided'):
        got = visualize_saliency(kmodel, -1, 1, x, backprop_modifier=modifier)
        weights = [w.astype(np.float64) for w in (w1, b1, w2, b2)]
        ref = _normalize64(np.abs(_mlp_input_grad(weights, x, np.array([0., 1., 0.]),
                                                  modifier)).max(axis=-1))
        np.testing.assert_allclose(got, ref, atol=1e-5)
