"""Backprop modifiers (guided, rectified) at ReLU units, keras-vis semantics.

Truth tables come from keras-vis itself (keras-vis-api.md section 13,
tests/vis/backend/test_backend.py::test_guided_grad_modifier) and from the rule
definitions of section 9, with x the ReLU unit's input and g its upstream gradient:
  none g*[x>0];  guided g*[x>0]*[g>0];  rectified g*[g>0].
ReLU units are: activation='relu' fused in Dense/Conv2D, Activation('relu'), and a
plain ReLU() layer.  Every other activation keeps its ordinary derivative.
"""
import numpy as np
import pytest

import reference as R
from pyvis import backend, layers, models

MODIFIERS = [None, "guided", "rectified"]


def f32(a):
    return np.asarray(a, dtype=np.float32)


def input_grad(model, x, seed, modifier="default"):
    """Gradient of sum(seed * output) at the input; modifier 'default' = the model's own."""
    tape = model.run(f32(x))
    if modifier == "default":
        (g,) = tape.backward([(model.output, f32(seed))])
    else:
        (g,) = tape.backward([(model.output, f32(seed))], modifier=modifier)
    return g


# --------------------------------------------------------------------------
# keras-vis's own test: out = -relu(-x0-x1) + relu(x0+x1), in every ReLU form
# --------------------------------------------------------------------------

KERAS_VIS_INPUTS = [[0, 0], [1, 0], [0, 1], [1, 1], [-1, 0], [0, -1], [-1, -1]]
KERAS_VIS_ORIGINAL = [[0, 0], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1]]
KERAS_VIS_GUIDED = [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]
# rectified passes the positive upstream gradient (+1 at the relu(x0+x1) unit)
# whatever the unit's input; derived from the rule, not observed
KERAS_VIS_RECTIFIED = [[1, 1]] * 7

HIDDEN_KERNEL = np.array([[-1.0, 1.0], [-1.0, 1.0]], np.float32)
OUT_KERNEL = np.array([[-1.0], [1.0]], np.float32)


def _keras_vis_model(form):
    if form == "conv":
        inp = layers.Input(shape=(1, 1, 2))
        hidden = layers.Conv2D(2, 1, activation="relu", use_bias=False)
        t = layers.Flatten()(hidden(inp))
        kernel = HIDDEN_KERNEL.reshape(1, 1, 2, 2)
    else:
        inp = layers.Input(shape=(2,))
        if form == "fused":
            hidden = layers.Dense(2, activation="relu", use_bias=False)
            t = hidden(inp)
        else:
            hidden = layers.Dense(2, activation="linear", use_bias=False)
            unit = layers.Activation("relu") if form == "activation" else layers.ReLU()
            t = unit(hidden(inp))
        kernel = HIDDEN_KERNEL
    top = layers.Dense(1, activation="linear", use_bias=False)
    model = models.Model(inp, top(t))
    hidden.set_weights([kernel])
    top.set_weights([OUT_KERNEL])
    return model


def _keras_vis_inputs(form):
    x = f32(KERAS_VIS_INPUTS)
    return x.reshape(-1, 1, 1, 2) if form == "conv" else x


@pytest.mark.parametrize("form", ["fused", "activation", "relu_layer", "conv"])
def test_keras_vis_guided_truth_table(form):
    model = _keras_vis_model(form)
    x = _keras_vis_inputs(form)
    ones = np.ones((len(x), 1), np.float32)
    shape = x.shape

    # each sample alone, exactly as keras-vis evaluates it
    for i in range(len(x)):
        assert np.array_equal(input_grad(model, x[i:i + 1], ones[:1]),
                              f32(KERAS_VIS_ORIGINAL[i]).reshape((1,) + shape[1:])), i
    guided = backend.modify_model_backprop(model, "guided")
    for i in range(len(x)):
        assert np.array_equal(input_grad(guided, x[i:i + 1], ones[:1]),
                              f32(KERAS_VIS_GUIDED[i]).reshape((1,) + shape[1:])), i

    # the whole table as one batch: samples stay independent
    assert np.array_equal(input_grad(guided, x, ones), f32(KERAS_VIS_GUIDED).reshape(shape))
    assert np.array_equal(input_grad(model, x, ones, "guided"), f32(KERAS_VIS_GUIDED).reshape(shape))
    assert np.array_equal(input_grad(model._with_backprop_modifier("guided"), x, ones),
                          f32(KERAS_VIS_GUIDED).reshape(shape))
    assert np.array_equal(input_grad(model, x, ones, "rectified"),
                          f32(KERAS_VIS_RECTIFIED).reshape(shape))
    rectified = backend.modify_model_backprop(model, "rectified")
    assert np.array_equal(input_grad(rectified, x, ones), f32(KERAS_VIS_RECTIFIED).reshape(shape))

    # the original model is left alone
    assert np.array_equal(input_grad(model, x, ones), f32(KERAS_VIS_ORIGINAL).reshape(shape))


# --------------------------------------------------------------------------
# a single ReLU unit: every (x, g) sign combination, every modifier
# --------------------------------------------------------------------------

UNIT_X = [-1.5, -1.5, 0.0, 0.0, 2.0, 2.0, -0.25, 0.75]
UNIT_G = [-1.0, 2.0, -1.0, 3.0, -0.5, 1.5, 0.0, 0.0]
UNIT_EXPECTED = {
    None: [0.0, 0.0, 0.0, 0.0, -0.5, 1.5, 0.0, 0.0],        # g*[x>0]
    "guided": [0.0, 0.0, 0.0, 0.0, 0.0, 1.5, 0.0, 0.0],     # g*[x>0]*[g>0]
    "rectified": [0.0, 2.0, 0.0, 3.0, 0.0, 1.5, 0.0, 0.0],  # g*[g>0]
}


def _single_unit_model(form):
    """One ReLU unit whose input equals the model input (identity weights)."""
    if form == "conv":
        inp = layers.Input(shape=(1, 1, 1))
        conv = layers.Conv2D(1, 1, activation="relu", use_bias=False)
        model = models.Model(inp, conv(inp))
        conv.set_weights([np.ones((1, 1, 1, 1), np.float32)])
        return model
    inp = layers.Input(shape=(1,))
    if form == "fused":
        dense = layers.Dense(1, activation="relu", use_bias=False)
        model = models.Model(inp, dense(inp))
        dense.set_weights([np.ones((1, 1), np.float32)])
        return model
    unit = {"activation": lambda: layers.Activation("relu"), "relu_layer": layers.ReLU,
            "bare_activation": lambda: layers.Activation("relu")}[form]()
    if form == "bare_activation":  # the ReLU reads the model input directly
        return models.Model(inp, unit(inp))
    dense = layers.Dense(1, use_bias=False)
    model = models.Model(inp, unit(dense(inp)))
    dense.set_weights([np.ones((1, 1), np.float32)])
    return model


@pytest.mark.parametrize("modifier", MODIFIERS)
@pytest.mark.parametrize("form", ["fused", "conv", "activation", "relu_layer", "bare_activation"])
def test_single_relu_unit_truth_table(form, modifier):
    model = _single_unit_model(form)
    shape = (len(UNIT_X), 1, 1, 1) if form == "conv" else (len(UNIT_X), 1)
    x, g = f32(UNIT_X).reshape(shape), f32(UNIT_G).reshape(shape)
    expected = f32(UNIT_EXPECTED[modifier]).reshape(shape)
    assert np.array_equal(input_grad(model, x, g, modifier), expected)
    # the same through a clone carrying the modifier, and the reference rule
    assert np.array_equal(input_grad(model._with_backprop_modifier(modifier), x, g), expected)
    assert np.array_equal(R.relu_backward(g, x, modifier), expected)


# --------------------------------------------------------------------------
# non-ReLU activations are untouched by modifiers
# --------------------------------------------------------------------------

NON_RELU = [
    ("sigmoid", lambda: layers.Activation("sigmoid"), "sigmoid", {}),
    ("tanh", lambda: layers.Activation("tanh"), "tanh", {}),
    ("elu", lambda: layers.Activation("elu"), "elu", {}),
    ("selu", lambda: layers.Activation("selu"), "selu", {}),
    ("softplus", lambda: layers.Activation("softplus"), "softplus", {}),
    ("swish", lambda: layers.Activation("swish"), "swish", {}),
    ("gelu", lambda: layers.Activation("gelu"), "gelu", {}),
    ("linear", lambda: layers.Activation("linear"), "linear", {}),
    ("softmax", lambda: layers.Activation("softmax"), "softmax", {}),
    ("relu6", lambda: layers.Activation("relu6"), "relu6", {}),
    ("leaky_relu", lambda: layers.Activation("leaky_relu"), "leaky_relu", {}),
    ("ReLU(max_value=6)", lambda: layers.ReLU(max_value=6.0), "relu_general", {"max_value": 6.0}),
    ("ReLU(negative_slope=0.1)", lambda: layers.ReLU(negative_slope=0.1), "relu_general",
     {"negative_slope": 0.1}),
    ("ReLU(threshold=0.5)", lambda: layers.ReLU(threshold=0.5), "relu_general", {"threshold": 0.5}),
]


@pytest.mark.parametrize("label,make,ref_name,params", NON_RELU, ids=[c[0] for c in NON_RELU])
def test_non_relu_activations_are_not_modified(rng, label, make, ref_name, params):
    """Dense(linear) -> activation -> Dense(linear): with no ReLU unit in the model,
    guided and rectified gradients equal the ordinary one, which equals the reference."""
    inp = layers.Input(shape=(5,))
    d1, d2 = layers.Dense(6), layers.Dense(4)
    model = models.Model(inp, d2(make()(d1(inp))))
    w1, b1 = f32(rng.standard_normal((5, 6))), f32(rng.standard_normal(6) * 0.5)
    w2, b2 = f32(rng.standard_normal((6, 4))), f32(rng.standard_normal(4))
    d1.set_weights([w1, b1])
    d2.set_weights([w2, b2])
    x = f32(rng.standard_normal((3, 5)))
    z = R.dense(x, w1, b1)
    kinks = R.kinks(ref_name, **params)
    assert all(np.min(np.abs(z - k)) > 1e-3 for k in kinks), "draw too close to a kink"
    seed = f32(rng.standard_normal((3, 4)))  # mixed signs: a modifier would change something
    ref = R.dense_backward(R.activation_backward(R.dense_backward(seed, w2), z, ref_name, **params), w1)
    grads = {m: input_grad(model, x, seed, m) for m in MODIFIERS}
    assert R.rel_err(grads[None], ref) <= 1e-5
    assert np.array_equal(grads["guided"], grads[None])
    assert np.array_equal(grads["rectified"], grads[None])


# --------------------------------------------------------------------------
# a deeper network: every ReLU form, max pooling, against the composed reference
# --------------------------------------------------------------------------

def _pool_gap_ok(a, scale):
    """2x2/2 max-pool windows whose winner is positive have a clear runner-up gap;
    windows of all-zero ReLU outputs are exact ties, routed identically (first element)."""
    n, h, w, c = a.shape
    win = a.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    top2 = np.sort(win, axis=1)[:, -2:]
    positive = top2[:, 1] > 0
    return np.all(top2[positive, 1] - top2[positive, 0] > 1e-4 * scale)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("modifier", MODIFIERS)
def test_deep_network_modifiers_match_reference(rng, modifier, n):
    inp = layers.Input(shape=(8, 8, 2))
    c1 = layers.Conv2D(4, 3, padding="same", activation="relu")           # fused ReLU
    c2 = layers.Conv2D(5, 3, padding="same")
    d1 = layers.Dense(6)
    d2 = layers.Dense(3, use_bias=False)
    t = layers.MaxPooling2D(2)(c1(inp))
    t = layers.ReLU()(c2(t))                                              # ReLU layer
    t = layers.Activation("relu")(d1(layers.Flatten()(t)))                # Activation('relu')
    model = models.Model(inp, d2(t))

    for _ in range(200):
        k1 = f32(rng.standard_normal((3, 3, 2, 4)) / 4)
        b1 = f32(rng.standard_normal(4) * 0.2)
        k2 = f32(rng.standard_normal((3, 3, 4, 5)) / 6)
        b2 = f32(rng.standard_normal(5) * 0.2)
        w1 = f32(rng.standard_normal((80, 6)) / 9)
        bw1 = f32(rng.standard_normal(6) * 0.2)
        w2 = f32(rng.standard_normal((6, 3)))
        x = f32(rng.standard_normal((n, 8, 8, 2)))
        z1 = R.conv2d(x, k1, b1, padding="same")
        a1 = R.activation(z1, "relu")
        p1 = R.max_pool2d(a1, (2, 2), (2, 2))
        z2 = R.conv2d(p1, k2, b2, padding="same")
        f = R.flatten(R.activation(z2, "relu"))
        z3 = R.dense(f, w1, bw1)
        zs = [z1, z2, z3]
        if (all(np.min(np.abs(z)) > 1e-4 * np.max(np.abs(z)) for z in zs)
                and _pool_gap_ok(a1, np.max(a1))):
            break
    else:
        raise RuntimeError("could not draw a tie-free network")
    for layer, w in [(c1, [k1, b1]), (c2, [k2, b2]), (d1, [w1, bw1]), (d2, [w2])]:
        layer.set_weights(w)

    seed = f32(rng.standard_normal((n, 3)))
    g = R.dense_backward(seed, w2)
    g = R.relu_backward(g, z3, modifier)
    g = R.reshape_backward(R.dense_backward(g, w1), z2.shape)
    g = R.relu_backward(g, z2, modifier)
    g = R.conv2d_backward(g, p1.shape, k2, padding="same")
    g = R.max_pool2d_backward(g, a1, (2, 2), (2, 2))
    g = R.relu_backward(g, z1, modifier)
    ref = R.conv2d_backward(g, x.shape, k1, padding="same")

    got = input_grad(model, x, seed, modifier)
    assert R.rel_err(got, ref) <= 1e-5
    assert np.array_equal(input_grad(model._with_backprop_modifier(modifier), x, seed), got)
    if modifier is not None:
        assert np.array_equal(input_grad(backend.modify_model_backprop(model, modifier), x, seed), got)
        # the modifier really changed something in this network
        assert not np.allclose(got, input_grad(model, x, seed, None))


def test_unknown_modifier_name_is_refused():
    model = _single_unit_model("fused")
    with pytest.raises(ValueError) as info:
        model._with_backprop_modifier("sideways")
    assert "sideways" in str(info.value)
    with pytest.raises(ValueError):
        backend.modify_model_backprop(model, "sideways")
