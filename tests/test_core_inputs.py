"""Bad, unusual and hostile inputs to the engine (pyvis._core and the model API).

House rules checked here: lossless dtype conversions are accepted; anything
else raises TypeError; shape problems raise ValueError naming what was expected
and what was given; memory layout (strides, Fortran order, byte order,
read-only) never changes a result; the caller's arrays are never modified;
NaN/Inf propagate instead of being silently cleaned; an empty batch gives an
empty result; out-of-range nodes and malformed graphs raise clear errors.
Correct values are always judged against tests/reference.py.
"""
import re

import numpy as np
import pytest

import reference as R
from pyvis import _core, layers, models

TOL = 1e-5


def f32(a):
    return np.asarray(a, dtype=np.float32)


def shape_pattern(dims):
    """Regex matching dims written as a tuple or list, e.g. 4, 4, 3 or [4, 4, 3]."""
    return r"\D" + r",\s*".join(str(d) for d in dims) + r"\D"


# --------------------------------------------------------------------------
# a small core graph: input (5, 6, 2) -> conv 3x3 same -> dense over channels
# --------------------------------------------------------------------------

IN_DIMS = (5, 6, 2)


@pytest.fixture
def weights(rng):
    k = f32(rng.standard_normal((3, 3, 2, 4)) / 4)
    b = f32(rng.standard_normal(4))
    wd = f32(rng.standard_normal((4, 3)) / 2)
    bd = f32(rng.standard_normal(3))
    return k, b, wd, bd


def make_graph(weights):
    k, b, wd, bd = weights
    return _core.Graph([
        (_core.OP_INPUT, (), IN_DIMS, (), ()),
        (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 1, _core.ACT_LINEAR), (), (k, b)),
        (_core.OP_DENSE, (1,), (_core.ACT_LINEAR,), (), (wd, bd)),
    ])


def reference_forward(x, weights):
    k, b, wd, bd = weights
    return R.dense(R.conv2d(x, k, b, padding="same"), wd, bd)


def reference_backward(gy, weights, x_shape):
    k, _, wd, _ = weights
    return R.conv2d_backward(R.dense_backward(gy, wd), x_shape, k, padding="same")


def run_graph(graph, x, gy):
    tape = graph.forward([x])
    (gx,) = tape.backward([(2, gy)], [0], _core.MOD_NONE)
    return tape.value(2), gx


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint8, np.int8])
def test_real_dtypes_are_cast(rng, weights, dtype):
    x = (rng.standard_normal((2,) + IN_DIMS) * 4).astype(dtype)
    gy = (rng.standard_normal((2, 5, 6, 3)) * 4).astype(dtype)
    y, gx = run_graph(make_graph(weights), x, gy)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    assert R.rel_err(y, reference_forward(f32(x), weights)) <= TOL
    assert R.rel_err(gx, reference_backward(f32(gy), weights, x.shape)) <= TOL


def test_nested_lists_are_accepted(rng, weights):
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    gy = f32(rng.standard_normal((2, 5, 6, 3)))
    y, gx = run_graph(make_graph(weights), x.tolist(), gy.tolist())
    assert R.rel_err(y, reference_forward(x, weights)) <= TOL
    assert R.rel_err(gx, reference_backward(gy, weights, x.shape)) <= TOL


@pytest.mark.parametrize("bad", [
    lambda s: np.zeros(s, dtype=np.complex64),
    lambda s: np.full(s, "a", dtype="<U1"),
    lambda s: np.full(s, None, dtype=object),
], ids=["complex", "str", "object"])
def test_non_numeric_input_raises_type_error(weights, bad):
    with pytest.raises(TypeError):
        make_graph(weights).forward([bad((1,) + IN_DIMS)])


def test_non_numeric_seed_raises_type_error(rng, weights):
    tape = make_graph(weights).forward([f32(rng.standard_normal((1,) + IN_DIMS))])
    with pytest.raises(TypeError):
        tape.backward([(2, np.zeros((1, 5, 6, 3), dtype=np.complex128))], [0], _core.MOD_NONE)


def test_non_numeric_weights_raise_type_error(weights):
    k, b, wd, bd = weights
    with pytest.raises(TypeError):
        _core.Graph([
            (_core.OP_INPUT, (), IN_DIMS, (), ()),
            (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 1, _core.ACT_LINEAR), (),
             (k.astype(np.complex64), b)),
        ])


# --------------------------------------------------------------------------
# shapes and ranks
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 5, 6), (2, 5, 6, 2, 1), (2, 5, 6, 3), (2, 6, 5, 2), (5, 6, 2)],
                         ids=str)
def test_wrong_input_shape_raises_value_error(weights, shape):
    """The core knows no layer names; its message must still say what was expected
    and what was given: the full expected shape, or the offending rank/dimension
    with its expected value."""
    with pytest.raises(ValueError) as info:
        make_graph(weights).forward([np.zeros(shape, np.float32)])
    msg = " %s " % info.value
    if re.search(shape_pattern(IN_DIMS), msg):
        return
    got = shape[1:]
    if len(got) != len(IN_DIMS):
        expected, given = len(IN_DIMS), len(got)
    else:
        axis = next(i for i in range(len(got)) if got[i] != IN_DIMS[i])
        expected, given = IN_DIMS[axis], got[axis]
    for number in (expected, given):
        assert re.search(r"\D%d\D" % number, msg), "%d not named in: %s" % (number, msg)


def test_wrong_number_of_inputs_raises_value_error(weights):
    x = np.zeros((1,) + IN_DIMS, np.float32)
    graph = make_graph(weights)
    for feed in ([], [x, x]):
        with pytest.raises(ValueError):
            graph.forward(feed)


def test_wrong_seed_shape_raises_value_error(weights):
    tape = make_graph(weights).forward([np.zeros((2,) + IN_DIMS, np.float32)])
    for bad in [(2, 5, 6, 4), (1, 5, 6, 3), (2, 5, 6)]:
        with pytest.raises(ValueError) as info:
            tape.backward([(2, np.zeros(bad, np.float32))], [0], _core.MOD_NONE)
        assert re.search(shape_pattern((5, 6, 3)), " %s " % info.value), str(info.value)


def test_unknown_dim_taken_from_fed_array(rng):
    """OP_INPUT dims of -1 accept any size there (here a fully convolutional graph)."""
    k = f32(rng.standard_normal((3, 3, 2, 3)))
    graph = _core.Graph([
        (_core.OP_INPUT, (), (-1, -1, 2), (), ()),
        (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, _core.ACT_LINEAR), (), (k,)),
    ])
    for h, w in [(5, 7), (9, 4)]:
        x = f32(rng.standard_normal((2, h, w, 2)))
        tape = graph.forward([x])
        assert R.rel_err(tape.value(1), R.conv2d(x, k)) <= TOL


# --------------------------------------------------------------------------
# memory layout and caller's arrays
# --------------------------------------------------------------------------

def _layouts(x):
    big = np.zeros((x.shape[0] * 2,) + x.shape[1:-1] + (x.shape[-1] * 3,), np.float32)
    strided = big[::2, ..., ::3]
    strided[...] = x
    swapped = x.astype(x.dtype.newbyteorder(">") if np.little_endian else x.dtype.newbyteorder("<"))
    readonly = x.copy()
    readonly.setflags(write=False)
    return {
        "strided": strided,
        "reversed": np.flip(np.flip(x, axis=1).copy(), axis=1),  # negative strides
        "fortran": np.asfortranarray(x),
        "byteswapped": swapped,
        "readonly": readonly,
    }


@pytest.mark.parametrize("layout", ["strided", "reversed", "fortran", "byteswapped", "readonly"])
def test_memory_layouts_give_the_same_result(rng, weights, layout):
    x = f32(rng.standard_normal((3,) + IN_DIMS))
    gy = f32(rng.standard_normal((3, 5, 6, 3)))
    y_ref, gx_ref = run_graph(make_graph(weights), x, gy)
    xl, gyl = _layouts(x)[layout], _layouts(gy)[layout]
    assert np.array_equal(np.asarray(xl, np.float32), x)  # the layout holds the same values
    x_before, gy_before = xl.copy(), gyl.copy()
    y, gx = run_graph(make_graph(weights), xl, gyl)
    assert R.rel_err(y, y_ref) <= 1e-6
    assert R.rel_err(gx, gx_ref) <= 1e-6
    assert np.array_equal(xl, x_before) and np.array_equal(gyl, gy_before)


def test_callers_arrays_and_weights_are_never_modified(rng, weights):
    before = [w.copy() for w in weights]
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    gy = f32(rng.standard_normal((2, 5, 6, 3)))
    x0, gy0 = x.copy(), gy.copy()
    graph = make_graph(weights)
    tape = graph.forward([x])
    value = tape.value(2)
    value[...] = 123.0  # tape.value returns a copy: scribbling on it changes nothing
    tape.backward([(2, gy)], [0, 1], _core.MOD_GUIDED)
    tape.backward([(2, gy)], [0], _core.MOD_RECTIFIED)
    assert np.array_equal(x, x0) and np.array_equal(gy, gy0)
    assert all(np.array_equal(w, w0) for w, w0 in zip(weights, before))
    assert R.rel_err(tape.value(2), reference_forward(x, weights)) <= TOL


def test_float64_weights_are_accepted_and_not_modified(rng, weights):
    w64 = [w.astype(np.float64) for w in weights]
    copies = [w.copy() for w in w64]
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    tape = make_graph(w64).forward([x])
    assert R.rel_err(tape.value(2), reference_forward(x, weights)) <= TOL
    assert all(np.array_equal(w, c) for w, c in zip(w64, copies))


# --------------------------------------------------------------------------
# NaN / Inf, empty batch
# --------------------------------------------------------------------------

def test_nan_and_inf_propagate_through_linear_ops(rng, weights):
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    x[0, 2, 3, 1] = np.nan
    x[1, 0, 0, 0] = np.inf
    y = make_graph(weights).forward([x]).value(2)
    # every output whose 3x3 receptive field holds the NaN is NaN (the dense mixes channels)
    assert np.all(np.isnan(y[0, 1:4, 2:5, :]))
    # the Inf sample: outputs reading the Inf are non-finite, never silently finite
    assert not np.any(np.isfinite(y[1, 0:2, 0:2, :]))


def test_nan_propagates_through_pools_and_dense(rng):
    wd = f32(rng.standard_normal((2, 3)))
    graph = _core.Graph([
        (_core.OP_INPUT, (), (4, 4, 2), (), ()),
        (_core.OP_AVGPOOL2D, (0,), (2, 2, 2, 2, 0), (), ()),
        (_core.OP_GLOBAL_AVGPOOL2D, (1,), (0,), (), ()),
        (_core.OP_DENSE, (2,), (_core.ACT_LINEAR,), (), (wd,)),
    ])
    x = f32(rng.standard_normal((1, 4, 4, 2)))
    x[0, 1, 2, 0] = np.nan
    tape = graph.forward([x])
    assert np.isnan(tape.value(1)[0, 0, 1, 0]) and not np.isnan(tape.value(1)[0, 0, 1, 1])
    assert np.all(np.isnan(tape.value(3)))


def test_empty_batch(weights):
    x = np.zeros((0,) + IN_DIMS, np.float32)
    tape = make_graph(weights).forward([x])
    assert tape.batch == 0
    assert tape.value(2).shape == (0, 5, 6, 3)
    (gx,) = tape.backward([(2, np.zeros((0, 5, 6, 3), np.float32))], [0], _core.MOD_NONE)
    assert gx.shape == (0,) + IN_DIMS


# --------------------------------------------------------------------------
# node indices and modifiers
# --------------------------------------------------------------------------

def test_node_out_of_range(weights):
    tape = make_graph(weights).forward([np.zeros((1,) + IN_DIMS, np.float32)])
    for bad in (3, 99, 2 ** 40):
        with pytest.raises((IndexError, ValueError)) as info:
            tape.value(bad)
        assert str(bad) in str(info.value)
        with pytest.raises((IndexError, ValueError)):
            tape.backward([(bad, np.zeros((1, 5, 6, 3), np.float32))], [0], _core.MOD_NONE)
        with pytest.raises((IndexError, ValueError)):
            tape.backward([(2, np.zeros((1, 5, 6, 3), np.float32))], [bad], _core.MOD_NONE)


@pytest.mark.parametrize("modifier", [-1, 3, 99])
def test_unknown_modifier_code(weights, modifier):
    tape = make_graph(weights).forward([np.zeros((1,) + IN_DIMS, np.float32)])
    with pytest.raises(ValueError) as info:
        tape.backward([(2, np.zeros((1, 5, 6, 3), np.float32))], [0], modifier)
    assert str(modifier) in str(info.value)


# --------------------------------------------------------------------------
# malformed graphs
# --------------------------------------------------------------------------

def _input():
    return (_core.OP_INPUT, (), (4,), (), ())


def _act(src):
    return (_core.OP_ACTIVATION, (src,), (_core.ACT_TANH, 0), (0.0, 0.0, 0.0), ())


@pytest.mark.parametrize("nodes", [
    [_input(), _act(2), _act(1)],                       # cycle 1 -> 2 -> 1 (forward reference)
    [_input(), _act(1)],                                # self loop
    [_input(), _act(5)],                                # dangling: node 5 does not exist
    [_input(), _act(-1)],                               # dangling: negative index
    [_input(), (_core.OP_ADD, (0, 3), (), (), ())],     # one input of a merge dangling
], ids=["cycle", "self-loop", "missing-node", "negative-index", "merge-dangling"])
def test_graph_with_bad_references(nodes):
    with pytest.raises(ValueError):
        _core.Graph(nodes)


def _malformed_graphs(rng):
    k = f32(rng.standard_normal((3, 3, 2, 4)))
    return {
        "unknown-op": [_input(), (999, (0,), (), (), ())],
        "conv-channel-mismatch": [(_core.OP_INPUT, (), (5, 5, 3), (), ()),
                                  (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, 0), (), (k,))],
        "conv-kernel-size-mismatch": [(_core.OP_INPUT, (), (5, 5, 2), (), ()),
                                      (_core.OP_CONV2D, (0,), (5, 5, 1, 1, 1, 1, 0, 0), (), (k,))],
        "conv-bias-mismatch": [(_core.OP_INPUT, (), (5, 5, 2), (), ()),
                               (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, 0), (),
                                (k, np.zeros(5, np.float32)))],
        "conv-zero-stride": [(_core.OP_INPUT, (), (5, 5, 2), (), ()),
                             (_core.OP_CONV2D, (0,), (3, 3, 0, 1, 1, 1, 0, 0), (), (k,))],
        "conv-valid-too-small": [(_core.OP_INPUT, (), (2, 2, 2), (), ()),
                                 (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, 0), (), (k,))],
        "conv-no-kernel": [(_core.OP_INPUT, (), (5, 5, 2), (), ()),
                           (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, 0), (), ())],
        "conv-missing-iparams": [(_core.OP_INPUT, (), (5, 5, 2), (), ()),
                                 (_core.OP_CONV2D, (0,), (3, 3, 1, 1), (), (k,))],
        "dense-mismatch": [_input(), (_core.OP_DENSE, (0,), (0,), (), (np.zeros((5, 2), np.float32),))],
        "pool-zero-size": [(_core.OP_INPUT, (), (4, 4, 2), (), ()),
                           (_core.OP_MAXPOOL2D, (0,), (0, 2, 2, 2, 0), (), ())],
        "pool-on-rank-1": [_input(), (_core.OP_MAXPOOL2D, (0,), (2, 2, 2, 2, 0), (), ())],
        "add-shape-mismatch": [_input(), (_core.OP_INPUT, (), (5,), (), ()),
                               (_core.OP_ADD, (0, 1), (), (), ())],
        "add-one-input": [_input(), (_core.OP_ADD, (0,), (), (), ())],
        "concat-axis-out-of-range": [_input(), _input(), (_core.OP_CONCAT, (0, 1), (1,), (), ())],
        "concat-other-dims-differ": [(_core.OP_INPUT, (), (2, 3), (), ()),
                                     (_core.OP_INPUT, (), (3, 3), (), ()),
                                     (_core.OP_CONCAT, (0, 1), (1,), (), ())],
        "reshape-size-mismatch": [_input(), (_core.OP_RESHAPE, (0,), (3,), (), ())],
        "reshape-two-unknowns": [(_core.OP_INPUT, (), (4, 4), (), ()),
                                 (_core.OP_RESHAPE, (0,), (-1, -1), (), ())],
        "unknown-activation": [_input(), (_core.OP_ACTIVATION, (0,), (999, 0), (0.0, 0.0, 0.0), ())],
        "input-with-inputs": [_input(), (_core.OP_INPUT, (0,), (4,), (), ())],
        "no-input-node": [(_core.OP_ACTIVATION, (), (_core.ACT_TANH, 0), (0.0, 0.0, 0.0), ())],
    }


@pytest.mark.parametrize("case", sorted(_malformed_graphs(np.random.default_rng(0))))
def test_malformed_graph_raises_value_error(rng, case):
    """Rejected when the graph is built or, for shape-dependent checks, at the first
    forward; either way a ValueError, never a crash."""
    nodes = _malformed_graphs(rng)[case]
    with pytest.raises(ValueError):
        graph = _core.Graph(nodes)
        feeds = [np.zeros((1,) + tuple(max(d, 1) for d in n[2]), np.float32)
                 for n in nodes if n[0] == _core.OP_INPUT]
        graph.forward(feeds)


def test_not_a_node_tuple_raises_type_error():
    with pytest.raises(TypeError):
        _core.Graph([_input(), "not a node"])
    with pytest.raises((TypeError, ValueError)):
        _core.Graph([])


def test_absurd_sizes_are_refused_not_allocated(rng):
    """A config asking for ~1e19 elements must raise (ValueError/MemoryError), not crash."""
    with pytest.raises((ValueError, MemoryError)):
        graph = _core.Graph([(_core.OP_INPUT, (), (2 ** 31 - 1, 2 ** 31 - 1, 4), (), ())])
        graph.forward([np.zeros((1, 1, 1, 4), np.float32)])
    with pytest.raises((ValueError, MemoryError)):
        graph = _core.Graph([(_core.OP_INPUT, (), (-1, -1, 4), (), ()),
                             (_core.OP_RESHAPE, (0,), (2 ** 62, -1), (), ())])
        graph.forward([np.zeros((1, 2, 2, 4), np.float32)])


# --------------------------------------------------------------------------
# the same rules through the model API
# --------------------------------------------------------------------------

@pytest.fixture
def model():
    inp = layers.Input(shape=(6, 5, 3), name="image")
    t = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.GlobalAveragePooling2D(name="gap")(t)
    return models.Model(inp, out)


@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 6, 5, 4), (2, 5, 6, 3), (6, 5, 3)], ids=str)
def test_model_wrong_shape_names_layer_and_expected_shape(model, shape):
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros(shape, np.float32))
    msg = str(info.value)
    assert "image" in msg, "input layer not named: " + msg
    assert re.search(shape_pattern((6, 5, 3)), " %s " % msg), "expected shape not named: " + msg
    with pytest.raises(ValueError):
        model.run(np.zeros(shape, np.float32))


def test_model_dtypes(model, rng):
    x = rng.standard_normal((2, 6, 5, 3))
    y32 = model.predict(f32(x))
    assert model.predict(x).dtype == np.float32
    assert R.rel_err(model.predict(x), y32) <= 1e-6
    xi = (x * 10).astype(np.int64)
    assert R.rel_err(model.predict(xi), model.predict(f32(xi))) <= 1e-6
    with pytest.raises(TypeError):
        model.predict(x.astype(np.complex128))
    with pytest.raises(TypeError):
        model.predict(np.full((2, 6, 5, 3), "x"))


def test_model_empty_batch(model):
    assert model.predict(np.zeros((0, 6, 5, 3), np.float32)).shape == (0, 4)
    tape = model.run(np.zeros((0, 6, 5, 3), np.float32))
    (gx,) = tape.backward([(model.output, np.zeros((0, 4), np.float32))])
    assert gx.shape == (0, 6, 5, 3)


def test_model_bad_handles(model):
    tape = model.run(np.zeros((1, 6, 5, 3), np.float32))
    with pytest.raises((IndexError, ValueError)) as info:
        tape.value(len(model.layers) + 5)
    assert str(len(model.layers) + 5) in str(info.value)
    with pytest.raises(ValueError) as info:
        tape.value("no_such_layer")
    assert "no_such_layer" in str(info.value)
    with pytest.raises(ValueError):
        model.get_layer("no_such_layer")
    with pytest.raises(ValueError):
        model.get_layer(index=len(model.layers) + 5)
    with pytest.raises((IndexError, ValueError)):
        tape.backward([(model.output, np.zeros((1, 4), np.float32))], wrt=[99])


def test_model_bad_seed_and_modifier(model):
    tape = model.run(np.zeros((2, 6, 5, 3), np.float32))
    with pytest.raises(ValueError) as info:
        tape.backward([(model.output, np.zeros((2, 5), np.float32))])
    assert re.search(shape_pattern((2, 4)), " %s " % info.value) or "4" in str(info.value)
    with pytest.raises(ValueError) as info:
        tape.backward([(model.output, np.zeros((2, 4), np.float32))], modifier="bogus")
    assert "bogus" in str(info.value)


def test_model_nan_propagates(model, rng):
    x = f32(rng.standard_normal((2, 6, 5, 3)))
    x[1, 3, 3, 0] = np.nan
    y = model.predict(x)
    assert np.all(np.isfinite(y[0])) and np.all(np.isnan(y[1]))


def test_model_does_not_modify_callers_arrays(model, rng):
    x = f32(rng.standard_normal((2, 6, 5, 3)))
    x.setflags(write=False)
    gy = f32(rng.standard_normal((2, 4)))
    gy0 = gy.copy()
    x0 = x.copy()
    tape = model.run(x)
    tape.backward([(model.output, gy)], modifier="guided")
    model.predict(x)
    assert np.array_equal(x, x0) and np.array_equal(gy, gy0)


def test_multi_input_model_wrong_count(rng):
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    m = models.Model([a, b], layers.Add()([a, b]))
    x = f32(rng.standard_normal((2, 3)))
    assert R.rel_err(m.predict([x, 2 * x]), 3 * x) <= 1e-6
    with pytest.raises(ValueError):
        m.predict([x])
    with pytest.raises(ValueError):
        m.predict([x, x, x])
    with pytest.raises(ValueError):
        m.predict([x, f32(rng.standard_normal((3, 3)))])  # batch sizes differ


# --------------------------------------------------------------------------
# unusual but legal requests
# --------------------------------------------------------------------------

def test_weight_layouts_do_not_matter(rng, weights):
    """Fortran-ordered, strided and byte-swapped weights give the same results, in the
    core and through layer.set_weights."""
    k, b, wd, bd = weights
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    y_ref = reference_forward(x, weights)
    odd = (np.asfortranarray(k), b.astype(b.dtype.newbyteorder()),
           np.repeat(wd, 2, axis=1)[:, ::2], bd)
    assert all(np.array_equal(o, w) for o, w in zip(odd, weights))
    assert R.rel_err(make_graph(odd).forward([x]).value(2), y_ref) <= TOL

    inp = layers.Input(shape=IN_DIMS)
    conv = layers.Conv2D(4, 3, padding="same")
    model = models.Model(inp, conv(inp))
    conv.set_weights([odd[0], odd[1]])
    assert R.rel_err(model.predict(x), R.conv2d(x, k, b, padding="same")) <= TOL


def test_duplicate_seeds_and_wrt(rng, weights):
    x = f32(rng.standard_normal((2,) + IN_DIMS))
    gy = f32(rng.standard_normal((2, 5, 6, 3)))
    tape = make_graph(weights).forward([x])
    g_ref = reference_backward(gy, weights, x.shape)
    ga, gb = tape.backward([(2, gy), (2, gy)], [0, 0], _core.MOD_NONE)
    assert R.rel_err(ga, 2 * g_ref) <= TOL and np.array_equal(ga, gb)
    # wrt the seeded node itself is the seed
    (g2,) = tape.backward([(2, gy)], [2], _core.MOD_NONE)
    assert np.array_equal(g2, gy)


def test_wrt_unreachable_node_is_zero(rng):
    graph = _core.Graph([
        (_core.OP_INPUT, (), (3,), (), ()),
        (_core.OP_INPUT, (), (4,), (), ()),
        (_core.OP_ACTIVATION, (0,), (_core.ACT_TANH, 0), (0.0, 0.0, 0.0), ()),
        (_core.OP_ACTIVATION, (1,), (_core.ACT_TANH, 0), (0.0, 0.0, 0.0), ()),
    ])
    xa, xb = f32(rng.standard_normal((2, 3))), f32(rng.standard_normal((2, 4)))
    tape = graph.forward([xa, xb])
    ga, gb = tape.backward([(2, np.ones((2, 3), np.float32))], [0, 1], _core.MOD_NONE)
    assert R.rel_err(ga, R.activation_backward(np.ones((2, 3)), xa, "tanh")) <= TOL
    assert gb.shape == (2, 4) and np.all(gb == 0)


def test_concurrent_runs_on_one_graph(rng, weights):
    """The GIL is released during runs: forwards/backwards on one graph from several
    threads at once must not share scratch memory."""
    import threading
    graph = make_graph(weights)
    xs = [f32(rng.standard_normal((n,) + IN_DIMS)) for n in (1, 3, 2, 3)]
    gys = [f32(rng.standard_normal((x.shape[0], 5, 6, 3))) for x in xs]
    results = [None] * len(xs)
    errors = []

    def work(i):
        try:
            for _ in range(5):
                results[i] = run_graph(graph, xs[i], gys[i])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for x, gy, (y, gx) in zip(xs, gys, results):
        assert R.rel_err(y, reference_forward(x, weights)) <= TOL
        assert R.rel_err(gx, reference_backward(gy, weights, x.shape)) <= TOL


def test_concurrent_runs_on_one_model_fast_conv_path(rng):
    """Same as above through the model API, on a conv eligible for the Winograd path
    (3x3/1, >= 16 channels), whose scratch buffers are the largest."""
    import threading
    inp = layers.Input(shape=(20, 18, 16))
    conv = layers.Conv2D(16, 3, padding="same")
    model = models.Model(inp, conv(inp))
    k = f32(rng.standard_normal((3, 3, 16, 16)) / 12)
    b = f32(rng.standard_normal(16))
    conv.set_weights([k, b])
    xs = [f32(rng.standard_normal((n, 20, 18, 16))) for n in (2, 1, 3, 2)]
    gys = [f32(rng.standard_normal(x.shape)) for x in xs]
    results = [None] * len(xs)
    errors = []

    def work(i):
        try:
            for _ in range(4):
                tape = model.run(xs[i])
                (gx,) = tape.backward([(model.output, gys[i])])
                results[i] = (tape.value(model.output), gx)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for x, gy, (y, gx) in zip(xs, gys, results):
        assert R.rel_err(y, R.conv2d(x, k, b, padding="same")) <= TOL
        assert R.rel_err(gx, R.conv2d_backward(gy, x.shape, k, padding="same")) <= TOL
