"""pyvis.optimizer.Optimizer: keras-vis's optimizer tests ported, plus the descent itself.

Oracles: an independent NumPy re-implementation of keras-vis's update rule (L2-normalised
gradient, RMSProp without learning rate) on linear models whose gradient is known in closed
form; NumPy evaluations of the losses; keras-vis's own assertions (section 13).
"""

import numpy as np
import pytest

from pyvis import backend
from pyvis.callbacks import OptimizerCallback
from pyvis.input_modifiers import InputModifier, Jitter
from pyvis.layers import Conv2D, Dense, GlobalAveragePooling2D, Input
from pyvis.losses import ActivationMaximization, Loss
from pyvis.models import Model, Sequential
from pyvis.optimizer import Optimizer
from pyvis.regularizers import LPNorm, TotalVariation
from pyvis.utils import utils


# ------------------------------------------------------------------ keras-vis tests, ported
# tests/vis/test_optimizer.py: only the Loss changes, because pyvis losses evaluate on a tape
# instead of building a symbolic scalar.  keras-vis's `wrt_tensor != input_tensor` held
# because it wrapped the input in K.identity; pyvis's equivalent handle is the InputLayer.

class _DummyLoss(Loss):
    def __init__(self, model):
        self.name = 'dummy-loss'
        self.output = model.output

    def evaluate(self, tape):
        out = tape.value(self.output).astype(np.float64)
        return np.sum(out * out, axis=1), [(self.output, (2 * out).astype(np.float32))]


@pytest.fixture
def model_and_losses():
    model = Sequential([Dense(4, activation='linear', input_shape=(2, ))])
    losses = [(_DummyLoss(model), 1)]
    return model, losses


def test_wrt_tensor_is_None(model_and_losses):
    model, losses = model_and_losses
    opt = Optimizer(model.input, losses, wrt_tensor=None)
    opt.minimize()

    assert opt.wrt_tensor_is_input_tensor
    assert opt.wrt_tensor is not None
    assert opt.wrt_tensor != opt.input_tensor


def test_wrt_tensor_is_input_tensor(model_and_losses):
    model, losses = model_and_losses
    opt = Optimizer(model.input, losses, wrt_tensor=model.input)
    opt.minimize()

    assert opt.wrt_tensor_is_input_tensor
    assert opt.wrt_tensor is not None
    assert opt.wrt_tensor != opt.input_tensor


def test_wrt_tensor_isnt_input_tensor(model_and_losses):
    model, losses = model_and_losses
    opt = Optimizer(model.input, losses, wrt_tensor=model.output)
    opt.minimize()

    assert not opt.wrt_tensor_is_input_tensor
    assert opt.wrt_tensor is not None
    assert opt.wrt_tensor != opt.input_tensor


# ------------------------------------------------------------------ helpers

class _Recorder(OptimizerCallback):
    """Keeps copies of everything the optimizer reports."""

    def __init__(self):
        self.losses, self.overall, self.grads, self.values, self.ended = [], [], [], [], 0

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        assert i == len(self.overall)
        self.losses.append(list(named_losses))
        self.overall.append(np.array(overall_loss))
        self.grads.append(np.array(grads))
        self.values.append(np.array(wrt_value))

    def on_end(self):
        self.ended += 1


def _linear_model(n_in=8, n_out=3, seed=0):
    np.random.seed(seed)
    inp = Input((n_in,))
    out = Dense(n_out, use_bias=False, name='lin')(inp)
    return Model(inp, out)


def _conv_model(seed=0):
    np.random.seed(seed)
    inp = Input((12, 12, 3))
    x = Conv2D(6, 3, activation='relu', name='conv')(inp)
    x = GlobalAveragePooling2D()(x)
    out = Dense(4, name='scores')(x)
    return Model(inp, out)


def _rmsprop_oracle(x0, grad_fn, steps):
    """keras-vis's loop in float64: g/||g||, cache = .95 c + .05 g^2, x -= g/sqrt(c + 1e-7)."""
    x = x0.astype(np.float64)
    cache = np.zeros_like(x)
    xs = []
    for _ in range(steps):
        xs.append(x.copy())
        g = grad_fn(x)
        g = g / np.sqrt(max(np.sum(g * g), 1e-12))
        cache = 0.95 * cache + 0.05 * g * g
        x = x - g / np.sqrt(cache + 1e-7)
    return xs


# ------------------------------------------------------------------ the descent

def test_trajectory_matches_numpy_oracle_on_linear_model():
    model = _linear_model()
    w = model.get_layer('lin').get_weights()[0].astype(np.float64)     # (8, 3)
    k = 2
    opt = Optimizer(model.input, [(ActivationMaximization(model.layers[-1], k), 1)])
    seed = np.random.default_rng(1).normal(size=(1, 8)).astype(np.float32)
    rec = _Recorder()
    opt.minimize(seed_input=seed, max_iter=25, callbacks=[rec], verbose=False)
    # d(-x.w_k)/dx = -w_k whatever x: the oracle needs no model.
    expect = _rmsprop_oracle(seed, lambda x: -w[:, k][None, :], 25)
    for got, want in zip(rec.values, expect):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    for got, want in zip(rec.overall, expect):
        np.testing.assert_allclose(got, -(want @ w[:, k])[0], rtol=1e-5, atol=1e-4)
    assert rec.ended == 1


def test_input_moves_toward_the_maximising_direction():
    model = _linear_model(n_in=10, n_out=2, seed=3)
    w = model.get_layer('lin').get_weights()[0][:, 0].astype(np.float64)
    opt = Optimizer(model, [(ActivationMaximization(model.layers[-1], 0), 1)],
                    input_range=(-1., 1.))
    rec = _Recorder()
    opt.minimize(max_iter=40, callbacks=[rec], verbose=False, seed=0)
    delta = (rec.values[-1] - rec.values[0]).ravel()
    # RMSProp on a constant gradient moves every coordinate by the same amount along sign(w):
    # the steepest ascent of x.w under a box constraint.
    np.testing.assert_array_equal(np.sign(delta), np.sign(w))
    assert np.dot(delta, w) / (np.linalg.norm(delta) * np.linalg.norm(w)) > 0.5
    scores = [float(v.ravel() @ w) for v in rec.values]
    assert all(b > a for a, b in zip(scores, scores[1:]))


def test_loss_decreases_on_small_conv_model():
    model = _conv_model()
    losses = [(ActivationMaximization(model.layers[-1], 1), 1),
              (LPNorm(model.input), 10), (TotalVariation(model.input), 10)]
    opt = Optimizer(model.input, losses)
    rec = _Recorder()
    opt.minimize(max_iter=60, callbacks=[rec], verbose=False, seed=5)
    overall = np.array(rec.overall, dtype=np.float64)
    assert overall[-5:].mean() < overall[0] - 0.1 * abs(overall[0])
    # The reported weighted terms are the losses evaluated independently in NumPy.
    x = rec.values[10].astype(np.float64)
    names = [n for n, _ in rec.losses[10]]
    assert names == ['ActivationMax Loss', 'L-6.0 Norm Loss', 'TV(2.0) Loss']
    lp = 10 * np.sum(np.abs(x) ** 6) ** (1 / 6.) / x.size
    tv = 10 * np.sum((x[:, 1:, :-1] - x[:, :-1, :-1]) ** 2
                     + (x[:, :-1, 1:] - x[:, :-1, :-1]) ** 2) / x.size
    np.testing.assert_allclose(rec.losses[10][1][1], lp, rtol=1e-5)
    np.testing.assert_allclose(rec.losses[10][2][1], tv, rtol=1e-5)
    np.testing.assert_allclose(rec.overall[10], sum(v for _, v in rec.losses[10]), rtol=1e-9)


def test_best_input_is_the_evaluated_one():
    model = _conv_model(seed=2)
    losses = [(ActivationMaximization(model.layers[-1], 0), 1), (TotalVariation(model.input), 3)]
    opt = Optimizer(model.input, losses)
    rec = _Recorder()
    seed = np.random.default_rng(4).uniform(0, 255, size=(12, 12, 3)).astype(np.float32)
    img, grads, wrt_value = opt.minimize(seed_input=seed, max_iter=30, callbacks=[rec],
                                         input_modifiers=[Jitter(2)], verbose=False, seed=1)
    best = int(np.argmin(np.array(rec.overall)))
    np.testing.assert_array_equal(img, utils.deprocess_input(rec.values[best][0], (0, 255)))
    np.testing.assert_array_equal(grads, rec.grads[-1])
    np.testing.assert_array_equal(wrt_value, rec.values[-1])
    assert img.shape == (12, 12, 3)


def test_weights_zero_and_none_drop_terms():
    model = _conv_model()
    losses = [(ActivationMaximization(model.layers[-1], 0), 1),
              (LPNorm(model.input), 0), (TotalVariation(model.input), None)]
    opt = Optimizer(model.input, losses)
    assert opt.loss_names == ['ActivationMax Loss']
    rec = _Recorder()
    opt.minimize(max_iter=2, callbacks=[rec], verbose=False, seed=0)
    assert [n for n, _ in rec.losses[0]] == ['ActivationMax Loss']
    with pytest.raises(ValueError, match="weight for TV"):
        Optimizer(model.input, [(TotalVariation(model.input), 'ten')])
    with pytest.raises(ValueError, match=r'\(Loss, weight\)'):
        Optimizer(model.input, [ActivationMaximization(model.layers[-1], 0)])


def test_wrt_intermediate_tensor_leaves_input_unchanged():
    model = _conv_model()
    conv = model.get_layer('conv')
    opt = Optimizer(model.input, [(ActivationMaximization(model.layers[-1], 0), 1)],
                    wrt_tensor=conv.output)
    rec = _Recorder()
    seed = np.random.default_rng(0).normal(size=(1, 12, 12, 3)).astype(np.float32)
    img, grads, value = opt.minimize(seed_input=seed, max_iter=3, callbacks=[rec], verbose=False)
    np.testing.assert_array_equal(img, utils.deprocess_input(seed[0]))
    assert grads.shape == value.shape == (1, 10, 10, 6)
    np.testing.assert_allclose(value, model.run(seed).value(conv), rtol=1e-6)
    # d(-score_0)/d(conv) of GAP + Dense: -W[:, 0] / 100 at every position, then L2-normalised.
    w = model.layers[-1].get_weights()[0][:, 0]
    g = np.broadcast_to(-w / 100.0, (1, 10, 10, 6))
    np.testing.assert_allclose(grads, g / np.sqrt(np.sum(g ** 2)), rtol=1e-5, atol=1e-7)


def test_norm_grads_false_gives_raw_gradient():
    model = _linear_model()
    w = model.get_layer('lin').get_weights()[0]
    opt = Optimizer(model, [(ActivationMaximization(model.layers[-1], 1), 2.)], norm_grads=False)
    rec = _Recorder()
    opt.minimize(seed_input=np.zeros(8), max_iter=1, callbacks=[rec], verbose=False)
    np.testing.assert_allclose(rec.grads[0][0], -2 * w[:, 1], rtol=1e-6)


def test_grad_modifier_is_applied_before_the_step():
    model = _linear_model()
    opt = Optimizer(model, [(ActivationMaximization(model.layers[-1], 0), 1)])
    up, down = _Recorder(), _Recorder()
    seed = np.zeros((1, 8), np.float32)
    opt.minimize(seed_input=seed, max_iter=5, callbacks=[up], verbose=False)
    opt.minimize(seed_input=seed, max_iter=5, callbacks=[down], grad_modifier='negate',
                 verbose=False)
    np.testing.assert_allclose(down.grads[0], -up.grads[0])
    assert up.overall[-1] < up.overall[0] and down.overall[-1] > down.overall[0]


def test_modifier_order_pre_forward_post_reverse():
    calls = []

    class _Tag(InputModifier):
        def __init__(self, tag):
            self.tag = tag

        def pre(self, x):
            calls.append('pre' + self.tag)
            return x

        def post(self, x):
            calls.append('post' + self.tag)
            return x

    model = _linear_model()
    opt = Optimizer(model, [(ActivationMaximization(model.layers[-1], 0), 1)])
    opt.minimize(max_iter=2, input_modifiers=[_Tag('A'), _Tag('B')], verbose=False)
    assert calls == ['preA', 'preB', 'postB', 'postA'] * 2


def test_verbose_shows_progress_and_keeps_callers_list(capsys):
    model = _linear_model()
    opt = Optimizer(model, [(ActivationMaximization(model.layers[-1], 0), 1)])
    callbacks = [_Recorder()]
    opt.minimize(max_iter=3, callbacks=callbacks, verbose=True)
    assert len(callbacks) == 1
    err = capsys.readouterr().err
    assert '3/3' in err and 'ActivationMax' in err


def test_seed_argument_and_set_random_seed_are_reproducible():
    model = _conv_model()
    losses = [(ActivationMaximization(model.layers[-1], 2), 1),
              (LPNorm(model.input), 10), (TotalVariation(model.input), 10)]
    opt = Optimizer(model.input, losses)
    run = lambda **kw: opt.minimize(max_iter=8, input_modifiers=[Jitter(2)], verbose=False, **kw)
    a, b, c = run(seed=7)[0], run(seed=7)[0], run(seed=8)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    backend.set_random_seed(11)
    d = run()[0]
    backend.set_random_seed(11)
    e = run()[0]
    np.testing.assert_array_equal(d, e)


def test_random_seed_input_statistics():
    model = _conv_model()
    opt = Optimizer(model.input, [(ActivationMaximization(model.layers[-1], 0), 1)],
                    input_range=(0, 255))
    x = opt._get_seed_input(None, np.random.default_rng(0))
    assert x.shape == (1, 12, 12, 3) and x.dtype == np.float64
    np.testing.assert_allclose(x.mean(), 127.5, atol=1e-9)
    np.testing.assert_allclose(x.std(), 12.75, rtol=1e-6)


def test_batch_samples_are_optimised_independently():
    model = _conv_model()
    losses = [(ActivationMaximization(model.layers[-1], 3), 1),
              (LPNorm(model.input), 10), (TotalVariation(model.input), 10)]
    opt = Optimizer(model.input, losses)
    seeds = np.random.default_rng(2).uniform(0, 255, size=(3, 12, 12, 3)).astype(np.float32)
    batch = opt.minimize(seed_input=seeds, max_iter=10, verbose=False)[0]
    assert batch.shape == (3, 12, 12, 3)
    for i in range(3):
        single = opt.minimize(seed_input=seeds[i], max_iter=10, verbose=False)[0]
        np.testing.assert_allclose(batch[i], single, rtol=1e-3, atol=1e-2)


def test_seed_input_is_not_modified_and_shapes_are_checked():
    model = _conv_model()
    opt = Optimizer(model.input, [(ActivationMaximization(model.layers[-1], 0), 1)])
    seed = np.random.default_rng(0).uniform(0, 255, size=(12, 12, 3))
    before = seed.copy()
    opt.minimize(seed_input=seed, max_iter=3, verbose=False)
    np.testing.assert_array_equal(seed, before)
    with pytest.raises(ValueError, match=r'\(12, 13, 3\)'):
        opt.minimize(seed_input=np.zeros((12, 13, 3)), max_iter=1, verbose=False)
    with pytest.raises(ValueError, match='channels_first'):
        opt.minimize(seed_input=np.zeros((3, 12, 12)), max_iter=1, verbose=False)
    with pytest.raises(ValueError, match='max_iter'):
        opt.minimize(max_iter=-1, verbose=False)
    with pytest.raises(ValueError, match='input_range'):
        Optimizer(model.input, [], input_range=(1, 1))


def test_nan_loss_returns_an_image_with_a_warning():
    class _NanLoss(Loss):
        def __init__(self, layer):
            self.name = 'nan'
            self.layer = layer

        def evaluate(self, tape):
            v = tape.value(self.layer)
            return np.full(v.shape[0], np.nan), [(self.layer, np.zeros_like(v))]

    model = _linear_model()
    opt = Optimizer(model.input, [(_NanLoss(model.layers[-1]), 1)])
    with pytest.warns(RuntimeWarning, match='never finite'):
        img = opt.minimize(max_iter=3, verbose=False)[0]
    assert img.shape == (8,) and np.all(np.isfinite(img))


def test_compute_fn_like_keras_vis():
    model = _linear_model()
    w = model.get_layer('lin').get_weights()[0][:, 1].astype(np.float64)
    opt = Optimizer(model.input, [(ActivationMaximization(model.layers[-1], 1), 3),
                                  (LPNorm(model.input), 0)])
    x = np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32)
    am, overall, grads, value = opt.compute_fn([x, 0])
    np.testing.assert_allclose(am, -3 * (x[0].astype(np.float64) @ w), rtol=1e-5)
    assert overall == am
    np.testing.assert_allclose(grads[0], -w / np.linalg.norm(w), rtol=1e-5)
    np.testing.assert_array_equal(value, x)
