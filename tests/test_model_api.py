"""The Keras-style model API (pyvis.layers / pyvis.models / pyvis.applications) against Keras 3.

Keras 3 itself (torch backend, see conftest.py) is the oracle for naming, layer order, output
shapes, parameter counts, configs, argument errors and whole-model outputs; PyTorch autograd
through the same Keras model is the oracle for input gradients.  Numerical op-by-op checks
live in test_ops.py.
"""

import re

import keras
import numpy as np
import pytest
import torch

from pyvis import activations, engine
from pyvis import layers as L
from pyvis.applications import VGG16, VGG19
from pyvis.models import Model, Sequential


def fresh_names():
    """Both libraries restart their automatic-name counters (gc skipped: it costs ~1 s)."""
    keras.backend.clear_session(free_memory=False)
    L.clear_name_counters()


@pytest.fixture(autouse=True)
def fresh_names_fixture():
    fresh_names()


def build_pair(builder):
    """Run ``builder(lib)`` with lib = pyvis.layers and keras.layers; return both models."""
    fresh_names()
    ours = builder(L, Model)
    theirs = builder(keras.layers, keras.Model)
    return ours, theirs


def copy_keras_weights(ours, theirs):
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])


def keras_forward(model, x):
    return np.asarray(model(torch.as_tensor(x, dtype=torch.float32)).detach().cpu())


# ------------------------------------------------------------------ graphs built both ways

def branching_dag(lib, model_cls):
    """Unequal branch lengths, so depth order differs from creation order."""
    a = lib.Input((12, 12, 3))
    long1 = lib.Conv2D(4, 3, padding="same", activation="relu")(a)
    long2 = lib.Conv2D(4, 3, padding="same")(long1)
    short = lib.Conv2D(4, 1, activation="tanh")(a)
    added = lib.Add()([short, long2])
    side = lib.MaxPooling2D()(long1)
    side = lib.Flatten()(side)
    main = lib.GlobalAveragePooling2D()(added)
    cat = lib.Concatenate()([main, side])
    cat = lib.Dropout(0.5)(cat)
    out = lib.Dense(5, activation="softmax")(cat)
    return model_cls(a, out)


def multi_io(lib, model_cls):
    """Two inputs (one reaches the output late), two outputs, explicit names."""
    img = lib.Input((8, 8, 2), name="img")
    vec = lib.Input((6,), name="vec")
    x = lib.Conv2D(3, 3, name="c1")(img)
    x = lib.Flatten(name="flat")(x)
    x = lib.Dense(6, activation="sigmoid", name="d1")(x)
    y = lib.Dense(6, name="d_vec")(vec)
    s = lib.Add(name="sum")([x, y])
    out1 = lib.Dense(2, name="head1")(s)
    out2 = lib.Activation("softsign", name="head2")(y)
    return model_cls([img, vec], [out1, out2])


def unused_input(lib, model_cls):
    a = lib.Input((4,), name="used")
    b = lib.Input((3,), name="unused")
    return model_cls([a, b], lib.Dense(2, name="d")(a))


def shared_layer(lib, model_cls):
    a = lib.Input((5,))
    shared = lib.Dense(5, activation="tanh", name="shared")
    y = shared(shared(a))
    return model_cls(a, lib.Dense(2, name="out")(y))


def vgg_like_top(lib, model_cls):
    # 15x15 keeps the 'same' average pooling padding symmetric: for asymmetric padding
    # Keras's torch backend pads by edge replication, unlike TF (which pyvis follows).
    a = lib.Input((15, 15, 3))
    x = lib.Conv2D(8, (3, 3), activation="relu", padding="same")(a)
    x = lib.AveragePooling2D((3, 3), strides=2, padding="same")(x)
    x = lib.Reshape((-1, 8))(x)
    x = lib.Dense(3, activation="elu")(x)
    x = lib.Flatten()(x)
    x = lib.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5)(x)
    x = lib.Dense(4)(x)
    return model_cls(a, lib.Softmax()(x))


GRAPHS = [branching_dag, multi_io, unused_input, shared_layer, vgg_like_top]


@pytest.mark.parametrize("builder", GRAPHS, ids=lambda f: f.__name__)
def test_layer_names_order_and_shapes_match_keras(builder):
    ours, theirs = build_pair(builder)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
    for a, b in zip(ours.layers, theirs.layers):
        assert [tuple(n.output_tensors[0].shape) for n in a._inbound_nodes] == \
            [tuple(n.output_tensors[0].shape) for n in b._inbound_nodes], a.name
        assert a.count_params() == b.count_params(), a.name
    assert ours.count_params() == theirs.count_params()
    assert [tuple(t.shape) for t in ours.outputs] == [tuple(t.shape) for t in theirs.outputs]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


@pytest.mark.parametrize("builder", GRAPHS, ids=lambda f: f.__name__)
def test_predict_matches_keras_with_the_same_weights(builder, rng):
    ours, theirs = build_pair(builder)
    copy_keras_weights(ours, theirs)
    xs = [rng.standard_normal((3,) + tuple(t.shape[1:])).astype(np.float32)
          for t in theirs.inputs]
    ours_out = ours.predict(xs if len(xs) > 1 else xs[0], batch_size=2)
    with torch.no_grad():
        theirs_out = theirs([torch.as_tensor(x) for x in xs] if len(xs) > 1
                            else torch.as_tensor(xs[0]))
    ours_out = ours_out if isinstance(ours_out, list) else [ours_out]
    theirs_out = theirs_out if isinstance(theirs_out, (list, tuple)) else [theirs_out]
    assert len(ours_out) == len(theirs_out)
    for a, b in zip(ours_out, theirs_out):
        b = np.asarray(b.detach())
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("builder", GRAPHS, ids=lambda f: f.__name__)
def test_model_config_rebuilds_in_keras(builder, rng):
    ours = builder(L, Model)
    theirs = keras.Model.from_config(ours.get_config())
    assert [l.name for l in theirs.layers] == [l.name for l in ours.layers]
    theirs.set_weights(ours.get_weights())
    xs = [rng.standard_normal((2,) + tuple(t.shape[1:])).astype(np.float32)
          for t in ours.inputs]
    with torch.no_grad():
        expected = theirs([torch.as_tensor(x) for x in xs] if len(xs) > 1
                          else torch.as_tensor(xs[0]))
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    got = ours.predict(xs if len(xs) > 1 else xs[0])
    got = got if isinstance(got, list) else [got]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def test_input_gradient_matches_torch_autograd_through_keras(rng):
    ours, theirs = build_pair(branching_dag)
    copy_keras_weights(ours, theirs)
    x = rng.standard_normal((2, 12, 12, 3)).astype(np.float32)
    seed = rng.standard_normal((2, 5)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    (theirs(xt) * torch.as_tensor(seed)).sum().backward()
    expected = xt.grad.numpy()
    got = ours.run(x).backward([(ours.output, seed)])[0]
    assert got.shape == x.shape
    cos = np.sum(got * expected) / (np.linalg.norm(got) * np.linalg.norm(expected))
    assert cos > 0.9999
    np.testing.assert_allclose(np.linalg.norm(got), np.linalg.norm(expected), rtol=1e-3)


def test_sequential_matches_keras():
    def build(lib, _):
        seq = keras.Sequential if lib is keras.layers else Sequential
        return seq([lib.Conv2D(2, 3, input_shape=(9, 9, 1)), lib.MaxPool2D(),
                    lib.Flatten(), lib.Dense(3)])
    ours, theirs = build_pair(build)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert not any(isinstance(l, L.InputLayer) for l in ours.layers)
    assert ours.input_shape == tuple(theirs.input_shape)
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    rebuilt = keras.Sequential.from_config(ours.get_config())
    assert [l.name for l in rebuilt.layers] == [l.name for l in ours.layers]


def test_sequential_add_input_pop_and_lazy_build(rng):
    model = Sequential()
    model.add(L.Dense(4, activation="relu"))
    model.add(L.Dense(2))
    assert not model.built
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    x = rng.standard_normal((3, 7)).astype(np.float32)
    out = model.predict(x)                     # builds from the data, as Keras does
    assert model.built and model.input_shape == (None, 7) and out.shape == (3, 2)
    k0, b0 = model.layers[0].get_weights()
    k1, b1 = model.layers[1].get_weights()
    np.testing.assert_allclose(out, np.maximum(x @ k0 + b0, 0) @ k1 + b1, rtol=1e-5, atol=1e-6)

    seq = Sequential([L.Input((5,)), L.Dense(3, name="a"), L.Dense(2, name="b")])
    assert [l.name for l in seq.layers] == ["a", "b"] and seq.output_shape == (None, 2)
    assert seq.pop().name == "b"
    assert seq.output_shape == (None, 3) and [l.name for l in seq.layers] == ["a"]
    with pytest.raises(ValueError, match="unique names"):
        seq.add(L.Dense(1, name="a"))


# ------------------------------------------------------------------ auto names and shapes

def test_auto_names_follow_keras_counters():
    def build(lib, model_cls):
        a = lib.Input((6, 6, 2))
        x = lib.Conv2D(2, 3)(a)
        x = lib.Conv2D(2, 1)(x)
        x = lib.MaxPooling2D()(x)
        x = lib.GlobalMaxPooling2D()(x)
        x = lib.ReLU()(x)
        x = lib.Dense(2)(x)
        return model_cls(a, lib.Activation("relu")(x))
    ours, theirs = build_pair(build)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert ours.name == theirs.name
    # A second model: every counter continues in both libraries.
    ours2 = build(L, Model)
    theirs2 = build(keras.layers, keras.Model)
    assert [l.name for l in ours2.layers] == [l.name for l in theirs2.layers]
    assert ours2.name == theirs2.name


LAYER_CASES = [
    ("Conv2D", dict(filters=3, kernel_size=3), (None, 9, 7, 2)),
    ("Conv2D", dict(filters=3, kernel_size=(2, 3), strides=2, padding="same"), (None, 9, 7, 2)),
    ("Conv2D", dict(filters=3, kernel_size=3, strides=(2, 3)), (None, 9, 11, 2)),
    ("Conv2D", dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"), (None, 9, 7, 2)),
    ("Conv2D", dict(filters=3, kernel_size=3, dilation_rate=(2, 1)), (None, 9, 7, 2)),
    ("Conv2D", dict(filters=3, kernel_size=3, use_bias=False), (None, None, None, 2)),
    ("MaxPooling2D", dict(), (None, 7, 7, 2)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (None, 7, 8, 2)),
    ("AveragePooling2D", dict(pool_size=(2, 3), strides=1), (None, 7, 8, 2)),
    ("AveragePooling2D", dict(pool_size=3, padding="same"), (None, None, 8, 2)),
    ("GlobalAveragePooling2D", dict(), (None, 5, 5, 4)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (None, 5, 5, 4)),
    ("Flatten", dict(), (None, 3, 4, 5)),
    ("Flatten", dict(), (None, None, 4, 5)),
    ("Reshape", dict(target_shape=(-1, 2)), (None, 3, 4)),
    ("Reshape", dict(target_shape=(6, 2)), (None, 3, 4)),
    ("Dense", dict(units=4), (None, 3)),
    ("Dense", dict(units=4, use_bias=False), (None, 5, 3)),
    ("Dropout", dict(rate=0.3), (None, 3)),
    ("Activation", dict(activation="gelu"), (None, 3)),
    ("ReLU", dict(max_value=6.0), (None, 3)),
    ("Softmax", dict(), (None, 2, 3)),
]


@pytest.mark.parametrize("cls_name,kwargs,shape", LAYER_CASES, ids=str)
def test_single_layer_shapes_params_and_config_match_keras(cls_name, kwargs, shape):
    ours = getattr(L, cls_name)(**kwargs)
    theirs = getattr(keras.layers, cls_name)(**kwargs)
    out = ours(L.Input(batch_shape=shape))
    expected = theirs(keras.Input(batch_shape=shape))
    assert out.shape == tuple(expected.shape)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in ours.weights)
    # Our config is one Keras accepts (same layer), and Keras's config is one we accept.
    rebuilt = getattr(keras.layers, cls_name).from_config(ours.get_config())
    assert tuple(rebuilt(keras.Input(batch_shape=shape)).shape) == out.shape
    ours_again = getattr(L, cls_name)(**theirs.get_config())
    assert ours_again(L.Input(batch_shape=shape)).shape == out.shape
    assert ours_again.name == theirs.name


@pytest.mark.parametrize("cls_name,lists", [("Add", [(None, 4, 3)] * 3),
                                            ("Concatenate", [(None, 4, 3), (None, 4, 5)])])
def test_merge_layer_shapes_match_keras(cls_name, lists):
    ours = getattr(L, cls_name)()([L.Input(batch_shape=s) for s in lists])
    theirs = getattr(keras.layers, cls_name)()([keras.Input(batch_shape=s) for s in lists])
    assert ours.shape == tuple(theirs.shape)


@pytest.mark.parametrize("axis", [1, 2, -2])
def test_concatenate_axes_match_keras(axis, rng):
    def build(lib, model_cls):
        a, b = lib.Input((3, 4)), lib.Input((3, 4))
        return model_cls([a, b], lib.Concatenate(axis=axis)([a, lib.Dense(4)(b)]))
    ours, theirs = build_pair(build)
    copy_keras_weights(ours, theirs)
    xs = [rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(2)]
    assert ours.output_shape == tuple(theirs.output_shape)
    with torch.no_grad():
        expected = np.asarray(theirs([torch.as_tensor(x) for x in xs]))
    np.testing.assert_allclose(ours.predict(xs), expected, rtol=1e-5, atol=1e-6)


def test_keras2_config_keys_are_accepted():
    conv = L.Conv2D(**{
        "name": "block1_conv1", "trainable": True, "dtype": "float32",
        "batch_input_shape": [None, 8, 8, 3], "filters": 4, "kernel_size": [3, 3],
        "strides": [1, 1], "padding": "same", "data_format": "channels_last",
        "dilation_rate": [1, 1], "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling",
                               "config": {"scale": 1.0, "mode": "fan_avg",
                                          "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None})
    assert conv.activation is activations.relu
    model = Sequential([conv, L.Flatten(), L.Dense(input_dim=256, units=2)])
    assert model.input_shape == (None, 8, 8, 3)
    dense = L.Dense(units=3, input_dim=5)
    assert Sequential([dense]).input_shape == (None, 5)
    inp = L.InputLayer(batch_input_shape=[None, 4], name="input_1", dtype="float32",
                       sparse=False)
    assert inp.output.shape == (None, 4) and inp.name == "input_1"
    with pytest.raises(TypeError, match="unrecognized keyword.*'bogus'"):
        L.Dense(3, bogus=1)


# ------------------------------------------------------------------ VGG16 / VGG19 vs Keras

def _summary_total(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    return int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", "")), text


@pytest.mark.parametrize("include_top", [True, False])
def test_vgg16_matches_keras_applications(include_top):
    ours = VGG16(include_top=include_top, weights=None)
    theirs = keras.applications.VGG16(include_top=include_top, weights=None)
    total, text = _summary_total(ours)
    assert total == theirs.count_params() == ours.count_params()
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert ours.layers[0].name == "input_layer" and ours.name == "vgg16"
    L.Input((3,))                                   # counters moved on: the name stays
    assert VGG16(include_top=False, weights=None).layers[0].name == "input_layer"
    for a, b in zip(ours.layers, theirs.layers):
        assert a.output_shape == tuple(b.output.shape), a.name
        assert a.count_params() == b.count_params(), a.name
        assert f"{a.name} ({type(b).__name__})" in text
        assert f"{b.count_params():,}" in text
    del theirs


def test_vgg19_layer_names_and_params_match_keras():
    ours = VGG19(include_top=False, weights=None, input_shape=(64, 48, 3), pooling="max")
    theirs = keras.applications.VGG19(include_top=False, weights=None,
                                      input_shape=(64, 48, 3), pooling="max")
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert [l.output_shape for l in ours.layers] == [tuple(l.output.shape) for l in theirs.layers]
    assert ours.count_params() == theirs.count_params()


VGG_BAD_ARGS = [
    dict(weights="imagenet", include_top=True, classes=10),
    dict(weights="imagenet", include_top=True, input_shape=(200, 200, 3)),
    dict(weights="/no/such/file.h5"),
    dict(include_top=False, input_shape=(16, 16, 3)),
    dict(include_top=False, input_shape=(64, 64)),
    dict(include_top=False, weights="imagenet", input_shape=(64, 64, 1)),
    dict(weights="imagenet", include_top=False, input_shape=(64, 64, 4)),
]


@pytest.mark.parametrize("kwargs", VGG_BAD_ARGS, ids=str)
def test_vgg16_argument_errors_match_keras(kwargs):
    with pytest.raises(ValueError) as theirs:
        keras.applications.VGG16(**kwargs)
    with pytest.raises(ValueError) as ours:
        VGG16(**kwargs)
    # Same complaint in Keras's words (ours may add detail after them).
    assert str(ours.value)[:45] == str(theirs.value)[:45]


def test_vgg16_classifier_activation_with_pretrained_weights():
    # Keras checks this only after building the whole network, so it is not timed here
    # against Keras; the rule is Keras's validate_activation: softmax or None only.
    with pytest.raises(ValueError, match="classifier_activation=sigmoid"):
        VGG16(weights="imagenet", classifier_activation="sigmoid")
    model = VGG16(include_top=True, weights=None, classes=7, classifier_activation="sigmoid",
                  input_shape=(32, 32, 3))
    assert model.output_shape == (None, 7)
    assert model.get_layer("predictions").activation is activations.sigmoid


def test_vgg16_input_tensor_and_pooling():
    inp = L.Input((40, 40, 3), name="img")
    model = VGG16(include_top=False, weights=None, input_tensor=inp, pooling="avg")
    assert model.input is inp and model.output_shape == (None, 512)
    assert type(model.layers[-1]).__name__ == "GlobalAveragePooling2D"
    with pytest.raises(ValueError, match="pooling"):
        VGG16(include_top=False, weights=None, pooling="mean")


# ------------------------------------------------------------------ weights

def small_model():
    a = L.Input((6, 6, 2), name="inp")
    x = L.Conv2D(3, 3, activation="relu", name="conv")(a)
    x = L.Flatten(name="flat")(x)
    return Model(a, L.Dense(4, activation="softmax", name="dense")(x))


def test_initial_weights_are_glorot_uniform_and_zero_bias():
    np.random.seed(0)
    big = L.Dense(300)
    big(L.Input((200,)))
    kernel, bias = big.get_weights()
    limit = np.sqrt(6.0 / (200 + 300))
    assert kernel.dtype == np.float32 and np.all(np.abs(kernel) <= limit)
    # Uniform on [-limit, limit]: mean 0, variance limit^2 / 3 (60000 draws).
    assert abs(kernel.mean()) < 0.02 * limit
    np.testing.assert_allclose(kernel.var(), limit ** 2 / 3, rtol=0.03)
    assert not bias.any()
    np.random.seed(0)
    again = L.Dense(300)
    again(L.Input((200,)))
    np.testing.assert_array_equal(again.get_weights()[0], kernel)   # np.random.seed reproduces


def test_get_set_weights_copy_validate_and_recompile(rng):
    model = small_model()
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    before = model.predict(x)
    conv = model.get_layer("conv")
    got = conv.get_weights()
    got[0][...] = 0                        # get_weights returns copies
    np.testing.assert_array_equal(model.predict(x), before)

    new = [rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    source = [w.copy() for w in new]
    model.set_weights(new)
    new[0][...] = 123                      # set_weights copied the caller's arrays
    after = model.predict(x)               # compiled graph was rebuilt for the new arrays
    k, b = source[0], source[1]
    patches = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (3, 3), axis=(1, 2))
    h = np.maximum(np.einsum("nhwcij,ijco->nhwo", patches, k) + b, 0).reshape(2, -1)
    logits = h @ source[2] + source[3]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)

    with pytest.raises(ValueError, match=r"'conv'.*\(3, 3, 2, 3\).*\(3, 3, 2, 4\)"):
        conv.set_weights([np.zeros((3, 3, 2, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"'conv' expects 2 weight"):
        conv.set_weights([np.zeros((3, 3, 2, 3))])
    with pytest.raises(ValueError, match="has 4 weight arrays.*received 3"):
        model.set_weights(source[:3])
    bad = list(source)
    bad[3] = np.zeros(5)
    with pytest.raises(ValueError, match=r"'dense' weight 'bias' has shape \(4,\)"):
        model.set_weights(bad)
    np.testing.assert_array_equal(model.get_layer("conv").get_weights()[0], source[0])


def test_activation_assignment_and_rebuilt_model(rng):
    model = small_model()
    x = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    probs = model.predict(x)
    tape = model.run(x)
    flat = tape.value("flat")
    kernel, bias = model.get_layer("dense").get_weights()
    logits = flat.astype(np.float64) @ kernel + bias
    model.layers[-1].activation = activations.linear
    rebuilt = model._rebuilt()
    assert rebuilt is not model and rebuilt.layers[-1] is model.layers[-1]
    assert rebuilt.layers[1].weights[0] is model.layers[1].weights[0]     # shared arrays
    np.testing.assert_allclose(rebuilt.predict(x), logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)

    model.layers[-1].activation = lambda t: t
    with pytest.raises(ValueError, match="'dense'.*not a function from pyvis.activations"):
        model._rebuilt().predict(x)


def test_with_backprop_modifier_shares_the_compiled_graph(rng):
    model = small_model()
    x = rng.standard_normal((1, 6, 6, 2)).astype(np.float32)
    model.run(x)
    guided = model._with_backprop_modifier("guided")
    assert guided._backprop_modifier == "guided" and model._backprop_modifier is None
    assert guided._graph_cache is model._graph_cache
    assert engine.compiled_model(guided) is engine.compiled_model(model)
    seed = [(guided.output, np.ones((1, 4), np.float32))]
    g_default = guided.run(x).backward(seed)[0]
    g_explicit = model.run(x).backward(seed, modifier="guided")[0]
    np.testing.assert_array_equal(g_default, g_explicit)
    with pytest.raises(ValueError, match="'sideways'.*not supported"):
        model._with_backprop_modifier("sideways")


# ------------------------------------------------------------------ inputs, handles, errors

def test_input_validation_and_casting(rng):
    model = small_model()
    x64 = rng.standard_normal((2, 6, 6, 2))
    keep = x64.copy()
    out = model.predict(x64)
    np.testing.assert_array_equal(x64, keep)                     # caller's array untouched
    np.testing.assert_allclose(model.predict(x64.astype(np.float32)), out)
    np.testing.assert_allclose(model.predict(x64.tolist()), out)  # nested lists
    np.testing.assert_allclose(model.predict([x64]), out)         # a list with one array
    ints = rng.integers(0, 5, (2, 6, 6, 2))
    np.testing.assert_allclose(model.predict(ints), model.predict(ints.astype(np.float32)))
    with pytest.raises(ValueError, match=re.escape(
            "expected input of shape (None, 6, 6, 2) for layer 'inp', got (2, 6, 2)")):
        model.predict(np.zeros((2, 6, 2)))
    with pytest.raises(ValueError, match="expected input of shape"):
        model.run(np.zeros((2, 6, 6, 3)))
    with pytest.raises(TypeError, match="dtype"):
        model.predict(np.array([["a"]]))
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x64, batch_size=0)

    two = multi_io(L, Model)
    with pytest.raises(ValueError, match="2 inputs"):
        two.predict(np.zeros((1, 8, 8, 2)))
    with pytest.raises(ValueError, match="same batch size"):
        two.predict([np.zeros((1, 8, 8, 2)), np.zeros((2, 6))])
    outs = two.predict({"img": np.zeros((1, 8, 8, 2)), "vec": np.ones((1, 6))})
    assert [o.shape for o in outs] == [(1, 2), (1, 6)]


def test_tape_handles_and_seed_validation(rng):
    model = small_model()
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    tape = model.run(x)
    assert tape.batch == 2
    conv = model.get_layer("conv")
    by_all = [tape.value(h) for h in (conv, conv.output, "conv", 1, -3)]
    for v in by_all[1:]:
        np.testing.assert_array_equal(v, by_all[0])
    np.testing.assert_array_equal(tape.value(model.input), x)
    with pytest.raises(ValueError, match=r"must have the shape of the tensor's value \(2, 4\)"):
        tape.backward([(model.output, np.ones((2, 5)))])
    with pytest.raises(ValueError, match="No such layer: nope"):
        tape.value("nope")
    with pytest.raises(ValueError, match="not part of model"):
        tape.value(L.Input((3,)))
    with pytest.raises(ValueError, match="non-empty list"):
        tape.backward([])
    with pytest.raises(ValueError, match="not supported"):
        tape.backward([(model.output, np.ones((2, 4)))], modifier="bogus")
    grads = tape.backward([(model.output, np.ones((2, 4))), (conv, np.ones((2, 4, 4, 3)))],
                          wrt=[model.input, "flat"])
    assert [g.shape for g in grads] == [(2, 6, 6, 2), (2, 48)]


def test_eager_layer_call_on_arrays(rng):
    layer = L.Dense(3, activation="tanh")
    x = rng.standard_normal((4, 5))
    y = layer(x)
    k, b = layer.get_weights()
    np.testing.assert_allclose(y, np.tanh(x @ k + b), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(L.Dropout(0.5)(x.astype(np.float32)), x.astype(np.float32))


def test_construction_and_graph_errors():
    with pytest.raises(ValueError, match="channels_first is not supported"):
        L.Conv2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_first is not supported"):
        L.MaxPooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        L.Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="dilation_rate"):
        L.Conv2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=2"):
        L.Conv2D(2, 3)(L.Input((5,)))
    with pytest.raises(ValueError, match="same shape"):
        L.Add()([L.Input((3,)), L.Input((4,))])
    with pytest.raises(ValueError, match="Unknown activation function: 'nope'"):
        L.Dense(2, activation="nope")
    a, b = L.Input((3,)), L.Input((3,))
    out = L.Add()([a, L.Dense(3)(b)])
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, out)
    c = L.Input((2,))
    d1 = L.Dense(2, name="twin")(c)
    with pytest.raises(ValueError, match='"twin" is used 2 times'):
        Model(c, L.Dense(2, name="twin")(d1))
    with pytest.raises(NotImplementedError, match="nest"):
        small_model()(L.Input((6, 6, 2)))
    with pytest.raises(AttributeError, match="never been called"):
        L.Dense(2).output
    with pytest.raises(ValueError, match="isn't built"):
        L.Dense(2).count_params()


def test_layer_symbolic_attributes():
    model = multi_io(L, Model)
    s = model.get_layer("sum")
    assert s.input_shape == [(None, 6), (None, 6)] and s.output_shape == (None, 6)
    assert isinstance(s.input, list) and s.output is model.get_layer("head1").input
    assert model.input_shape == [(None, 8, 8, 2), (None, 6)]
    assert model.output_shape == [(None, 2), (None, 6)]
    assert model.input_names == ["img", "vec"]
    assert model.get_layer(index=0).name == "img"
    history = model.outputs[0]._keras_history
    assert history.layer is history.operation is model.get_layer("head1")
    config = model.get_config()
    assert [c["name"] for c in config["layers"]] == [l.name for l in model.layers]
    assert config["input_layers"] == [["img", 0, 0], ["vec", 0, 0]]
