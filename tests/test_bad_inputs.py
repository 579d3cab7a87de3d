"""Bad and unusual inputs across the public API (visualizations, overlay, model, layers, utils).

Every bad input must raise one specific exception type whose message names the argument, the
offending value and what was expected; nothing may crash, and no array the caller passed may
be modified. Unusual but valid arrays (strided, Fortran-ordered, byte-swapped, read-only,
other real dtypes, nested lists) must give exactly the result of the plain float32 array.

The native core's own argument checks are in test_core_inputs.py and file loading in
test_broken_files.py / test_hostile_files.py; this file covers the layer above them.
"""
import numpy as np
import pytest

import pyvis
from pyvis import activations, layers as L, models
from pyvis.losses import ActivationMaximization
from pyvis.utils import utils
from pyvis.visualization import (overlay, visualize_activation, visualize_cam, visualize_saliency,
                                 visualize_saliency_with_losses)

H, W, C, UNITS = 8, 8, 3, 5


def build_model():
    inp = L.Input((H, W, C), name="bi_img")
    x = L.Conv2D(4, 3, activation="relu", padding="same", name="bi_conv")(inp)
    x = L.MaxPooling2D(2, name="bi_pool")(x)
    x = L.Flatten(name="bi_flat")(x)
    x = L.Dense(UNITS, name="bi_preds")(x)
    model = models.Model(inp, x, name="bi_model")
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


MODEL = build_model()
IMG = np.random.default_rng(3).uniform(0, 1, size=(H, W, C)).astype(np.float32)


def sal(seed, **kw):
    return visualize_saliency(MODEL, -1, kw.pop("filter_indices", 0), seed, **kw)


def cam(seed, **kw):
    return visualize_cam(MODEL, -1, kw.pop("filter_indices", 0), seed, **kw)


def am_loss(idx=0):
    return ActivationMaximization(MODEL.layers[-1], idx)


def arr(value, shape=(H, W, C), dtype=np.float32):
    out = np.full(shape, 0.5, dtype=dtype)
    out.flat[0] = value
    return out


# (id, function of its arrays, arrays, exception type, words the message must contain)
CASES = [
    # -- seed_input: dtypes ------------------------------------------------------------------
    ("seed complex", sal, [IMG.astype(np.complex128)], TypeError, ["seed_input", "complex128", "real numeric"]),
    ("seed complex64 cam", cam, [IMG.astype(np.complex64)], TypeError, ["seed_input", "complex64", "real numeric"]),
    ("seed object", sal, [IMG.astype(object)], TypeError, ["seed_input", "object", "real numeric"]),
    ("seed str", sal, ["an image"], TypeError, ["seed_input", "<U8", "real numeric"]),
    ("seed bytes", sal, [np.full((H, W, C), b"x")], TypeError, ["seed_input", "S1", "real numeric"]),
    ("seed datetime64", sal, [np.zeros((H, W, C), "M8[s]")], TypeError, ["seed_input", "datetime64", "real numeric"]),
    ("seed timedelta64", sal, [np.zeros((H, W, C), "m8[s]")], TypeError, ["seed_input", "timedelta64", "real numeric"]),
    ("seed structured", sal, [np.zeros((H, W, C), [("a", "f4")])], TypeError, ["seed_input", "real numeric"]),
    # -- seed_input: ranks and shapes ----------------------------------------------------------
    ("seed None", sal, [None], ValueError, ["seed_input", "required", "image"]),
    ("seed scalar", sal, [np.float32(3)], ValueError, ["seed_input", "shape ()", "(8, 8, 3)"]),
    ("seed 1-D", sal, [np.zeros(H)], ValueError, ["seed_input", "(8,)", "(8, 8, 3)"]),
    ("seed 2-D", sal, [np.zeros((H, W))], ValueError, ["seed_input", "(8, 8)", "(8, 8, 3)"]),
    ("seed 5-D", sal, [np.zeros((1, 1, H, W, C))], ValueError, ["seed_input", "(1, 1, 8, 8, 3)", "(8, 8, 3)"]),
    ("seed wrong height", sal, [np.zeros((9, W, C))], ValueError, ["seed_input", "(9, 8, 3)", "(8, 8, 3)"]),
    ("seed wrong width in batch", sal, [np.zeros((2, H, 7, C))], ValueError, ["seed_input", "(8, 7, 3)", "(8, 8, 3)"]),
    ("seed wrong channels", sal, [np.zeros((H, W, 4))], ValueError, ["seed_input", "(8, 8, 4)", "(8, 8, 3)"]),
    ("seed channels_first", sal, [np.zeros((C, H, W))], ValueError, ["seed_input", "(3, 8, 8)", "channels_first", "(8, 8, 3)"]),
    ("seed ragged list", sal, [[[0.0, 1.0], [2.0]]], ValueError, ["seed_input", "rectangular", "inhomogeneous"]),
    ("seed empty batch", sal, [np.zeros((0, H, W, C), np.float32)], ValueError, ["seed_input", "empty", "(0, 8, 8, 3)", "at least one"]),
    ("seed empty image", sal, [np.zeros((0, W, C), np.float32)], ValueError, ["seed_input", "(0, 8, 3)", "(8, 8, 3)"]),
    ("cam seed wrong shape", cam, [np.zeros((H, W + 1, C))], ValueError, ["seed_input", "(8, 9, 3)", "(8, 8, 3)"]),
    ("cam seed empty batch", cam, [np.zeros((0, H, W, C))], ValueError, ["seed_input", "empty", "(0, 8, 8, 3)"]),
    ("cam seed object", cam, [IMG.astype(object)], TypeError, ["seed_input", "object", "real numeric"]),
    # -- seed_input: NaN / Inf / beyond float32 --------------------------------------------------
    ("seed NaN", sal, [arr(np.nan)], ValueError, ["seed_input", "1 NaN/Inf", "finite"]),
    ("seed +Inf", sal, [arr(np.inf)], ValueError, ["seed_input", "1 NaN/Inf", "finite"]),
    ("seed -Inf float64", sal, [arr(-np.inf, dtype=np.float64)], ValueError, ["seed_input", "1 NaN/Inf", "finite"]),
    ("seed all NaN float16", sal, [np.full((H, W, C), np.nan, np.float16)], ValueError, ["seed_input", "192 NaN/Inf", "finite"]),
    ("seed beyond float32", sal, [arr(1e300, dtype=np.float64)], ValueError, ["seed_input", "float32 range", "finite"]),
    ("seed NaN in 2nd sample", sal, [np.stack([IMG, arr(np.nan)])], ValueError, ["seed_input", "1 NaN/Inf", "finite"]),
    ("cam seed NaN", cam, [arr(np.nan)], ValueError, ["seed_input", "NaN/Inf", "finite"]),
    ("cam seed Inf batch", cam, [np.stack([arr(np.inf)] * 3)], ValueError, ["seed_input", "3 NaN/Inf", "finite"]),
    # -- layer_idx ----------------------------------------------------------------------------
    ("layer_idx too big", lambda: visualize_saliency(MODEL, 99, 0, IMG), [], IndexError, ["layer_idx=99", "out of range", "5 layers"]),
    ("layer_idx too negative", lambda: visualize_saliency(MODEL, -6, 0, IMG), [], IndexError, ["layer_idx=-6", "out of range", "5 layers"]),
    ("layer_idx name", lambda: visualize_saliency(MODEL, "bi_preds", 0, IMG), [], TypeError, ["layer_idx", "'bi_preds'", "int index"]),
    ("layer_idx float", lambda: visualize_saliency(MODEL, 4.0, 0, IMG), [], TypeError, ["layer_idx", "4.0", "int index"]),
    ("layer_idx None", lambda: visualize_saliency(MODEL, None, 0, IMG), [], TypeError, ["layer_idx", "None", "int index"]),
    ("layer_idx bool", lambda: visualize_saliency(MODEL, True, 0, IMG), [], TypeError, ["layer_idx", "True", "int index"]),
    ("cam layer_idx too big", lambda: visualize_cam(MODEL, 5, 0, IMG), [], IndexError, ["layer_idx=5", "out of range", "5 layers"]),
    ("actmax layer_idx too big", lambda: visualize_activation(MODEL, 99, 0, max_iter=1), [], IndexError, ["layer_idx", "99", "5 layers"]),
    # -- filter_indices ---------------------------------------------------------------------------
    ("filter too big", lambda: sal(IMG, filter_indices=UNITS), [], IndexError, ["filter_indices", "index 5", "5 filters"]),
    ("filter too negative", lambda: sal(IMG, filter_indices=-6), [], IndexError, ["filter_indices", "index -6", "5 filters"]),
    ("filter list with bad", lambda: sal(IMG, filter_indices=[0, 9]), [], IndexError, ["filter_indices", "index 9", "5 filters"]),
    ("filter 2**70", lambda: sal(IMG, filter_indices=2 ** 70), [], IndexError, ["filter_indices", str(2 ** 70), "5 filters"]),
    ("filter float", lambda: sal(IMG, filter_indices=1.5), [], TypeError, ["filter_indices", "1.5", "an int, a list of ints or None"]),
    ("filter str", lambda: sal(IMG, filter_indices="cat"), [], TypeError, ["filter_indices", "'cat'", "an int, a list of ints or None"]),
    ("filter ndarray", lambda: sal(IMG, filter_indices=np.array([1, 2])), [], TypeError, ["filter_indices", "array([1, 2])", "a list of ints"]),
    ("filter tuple", lambda: sal(IMG, filter_indices=(1, 2)), [], TypeError, ["filter_indices", "(1, 2)", "a list of ints"]),
    ("filter list with str", lambda: sal(IMG, filter_indices=[None, "x"]), [], TypeError, ["filter_indices", "'x'", "a list of ints"]),
    ("cam filter too big", lambda: cam(IMG, filter_indices=7), [], IndexError, ["filter_indices", "index 7", "5 filters"]),
    ("actmax filter too big", lambda: visualize_activation(MODEL, -1, 9, max_iter=1), [], IndexError, ["filter_indices", "index 9", "5 filters"]),
    ("loss filter float", lambda: ActivationMaximization(MODEL.layers[-1], 0.5), [], TypeError, ["filter_indices", "0.5", "an int"]),
    # -- modifiers ------------------------------------------------------------------------------
    ("backprop_modifier unknown", lambda: sal(IMG, backprop_modifier="gided"), [], ValueError, ["backprop_modifiers", "gided", "'guided'"]),
    ("backprop_modifier int", lambda: sal(IMG, backprop_modifier=3), [], ValueError, ["identifier 3", "backprop_modifiers", "callable"]),
    ("cam backprop_modifier unknown", lambda: cam(IMG, backprop_modifier="deconvolution"), [], ValueError, ["deconvolution", "'deconv'"]),
    ("grad_modifier unknown", lambda: sal(IMG, grad_modifier="abs"), [], ValueError, ["grad_modifiers", "abs", "'absolute'"]),
    ("grad_modifier int", lambda: sal(IMG, grad_modifier=7), [], ValueError, ["identifier 7", "grad_modifiers", "callable"]),
    ("cam grad_modifier list", lambda: cam(IMG, grad_modifier=["relu"]), [], ValueError, ["['relu']", "grad_modifiers", "callable"]),
    # -- wrt_tensor / penultimate layer ---------------------------------------------------------
    ("wrt_tensor unknown name", lambda: sal(IMG, wrt_tensor="nope"), [], ValueError, ["nope", "bi_preds"]),
    ("wrt_tensor index too big", lambda: sal(IMG, wrt_tensor=42), [], ValueError, ["index 42", "5 layers"]),
    ("wrt_tensor object", lambda: sal(IMG, wrt_tensor=object()), [], TypeError, ["wrt", "object", "tensor handle"]),
    ("wrt_tensor float", lambda: sal(IMG, wrt_tensor=1.5), [], TypeError, ["wrt", "1.5", "tensor handle"]),
    ("penultimate too big", lambda: cam(IMG, penultimate_layer_idx=99), [], IndexError, ["penultimate_layer_idx=99", "out of range", "5 layers"]),
    ("penultimate name", lambda: cam(IMG, penultimate_layer_idx="bi_conv"), [], TypeError, ["penultimate_layer_idx", "'bi_conv'", "int index"]),
    ("penultimate after layer", lambda: visualize_cam(MODEL, 1, 0, IMG, penultimate_layer_idx=3), [], ValueError, ["penultimate_layer_idx=3", "layer_idx=1", "before"]),
    ("penultimate not spatial", lambda: cam(IMG, penultimate_layer_idx=4), [], ValueError, ["'bi_preds'", "(1, 5)", "spatial output"]),
    ("losses not a list", lambda: visualize_saliency_with_losses(MODEL.input, "loss", IMG), [], TypeError, ["losses", "'loss'", "(Loss, weight)"]),
    ("loss weight str", lambda: visualize_saliency_with_losses(MODEL.input, [(am_loss(), "w")], IMG), [], TypeError, ["losses[0]", "'w'", "a number or None"]),
    ("all loss weights zero", lambda: visualize_saliency_with_losses(MODEL.input, [(am_loss(), 0)], IMG), [], ValueError, ["losses", "weight 0 or None"]),
    # -- overlay --------------------------------------------------------------------------------
    ("alpha above 1", lambda a: overlay(a, a, 2), [IMG], ValueError, ["alpha", "2", "[0, 1]"]),
    ("alpha below 0", lambda a: overlay(a, a, -0.1), [IMG], ValueError, ["alpha", "-0.1", "[0, 1]"]),
    ("alpha NaN", lambda a: overlay(a, a, float("nan")), [IMG], ValueError, ["alpha", "nan", "[0, 1]"]),
    ("alpha Inf", lambda a: overlay(a, a, float("inf")), [IMG], ValueError, ["alpha", "inf", "[0, 1]"]),
    ("alpha str", lambda a: overlay(a, a, "0.5"), [IMG], ValueError, ["alpha", "'0.5'", "[0, 1]"]),
    ("alpha None", lambda a: overlay(a, a, None), [IMG], ValueError, ["alpha", "None", "[0, 1]"]),
    ("overlay shapes differ", lambda a, b: overlay(a, b, 0.5), [IMG, IMG[:4]], ValueError, ["array1", "array2", "(8, 8, 3)", "(4, 8, 3)"]),
    ("overlay object image", lambda a, b: overlay(a, b, 0.5), [IMG.astype(object), IMG], TypeError, ["array1", "object", "real numeric"]),
    ("overlay complex image", lambda a, b: overlay(a, b, 0.5), [IMG, IMG.astype(complex)], TypeError, ["array2", "complex128", "real numeric"]),
    # -- model and layer API ------------------------------------------------------------------
    ("get_layer unknown", lambda: MODEL.get_layer("nope"), [], ValueError, ["nope", "bi_preds"]),
    ("get_layer index", lambda: MODEL.get_layer(index=99), [], ValueError, ["index 99", "5 layers"]),
    ("find_layer_idx unknown", lambda: utils.find_layer_idx(MODEL, "nope"), [], ValueError, ["'nope'"]),
    ("predict batch_size 0", lambda x: MODEL.predict(x, batch_size=0), [IMG[None]], ValueError, ["batch_size", "0", "positive int"]),
    ("predict batch_size str", lambda x: MODEL.predict(x, batch_size="8"), [IMG[None]], ValueError, ["batch_size", "'8'", "positive int"]),
    ("set_weights count", lambda w: MODEL.set_weights([w]), [np.zeros(3, np.float32)], ValueError, ["4 weight arrays", "received 1"]),
    ("set_weights shape", lambda k, b: MODEL.get_layer("bi_preds").set_weights([k, b]), [np.zeros((3, 3), np.float32), np.zeros(UNITS, np.float32)],
     ValueError, ["bi_preds", "(64, 5)", "(3, 3)"]),
    ("Dense units -1", lambda: L.Dense(-1), [], ValueError, ["units", "-1", "positive int"]),
    ("Dense units 0", lambda: L.Dense(0), [], ValueError, ["units", "0", "positive int"]),
    ("Dense units float", lambda: L.Dense(2.5), [], ValueError, ["units", "2.5", "positive int"]),
    ("Dense activation int", lambda: L.Dense(3, activation=42), [], ValueError, ["activation", "42", "a name such as 'relu'"]),
    ("Conv2D filters 0", lambda: L.Conv2D(0, 3), [], ValueError, ["filters", "0", "positive int"]),
    ("Conv2D kernel 0", lambda: L.Conv2D(3, 0), [], ValueError, ["kernel_size", "(0, 0)", ">= 1"]),
    ("Conv2D strides 0", lambda: L.Conv2D(3, 3, strides=0), [], ValueError, ["strides", "(0, 0)", ">= 1"]),
    ("Conv2D dilation -1", lambda: L.Conv2D(3, 3, dilation_rate=-1), [], ValueError, ["dilation_rate", "(-1, -1)", ">= 1"]),
    ("Conv2D padding", lambda: L.Conv2D(3, 3, padding="full"), [], ValueError, ["padding", "'full'", "'valid' or 'same'"]),
    ("Conv2D channels_first", lambda: L.Conv2D(3, 3, data_format="channels_first"), [], ValueError, ["channels_first", "channels_last"]),
    ("Conv2D activation name", lambda: L.Conv2D(3, 3, activation="relux"), [], ValueError, ["relux", "Supported names"]),
    ("MaxPooling2D size 0", lambda: L.MaxPooling2D(0), [], ValueError, ["pool_size", "(0, 0)", ">= 1"]),
    ("Dropout rate 2", lambda: L.Dropout(2.0), [], ValueError, ["rate", "2.0", "[0, 1]"]),
    ("Input negative dim", lambda: L.Input((-1, 3)), [], ValueError, ["shape", "(-1, 3)", "non-negative"]),
    ("activations.get unknown", lambda: activations.get("swishy"), [], ValueError, ["'swishy'", "Supported names"]),
    ("set_num_threads 0", lambda: pyvis.set_num_threads(0), [], ValueError, ["n", "0", "between 1 and"]),
    ("set_num_threads str", lambda: pyvis.set_num_threads("2"), [], TypeError, ["n", "'2'", "int"]),
    ("apply_modifications str", lambda: utils.apply_modifications("model"), [], TypeError, ["pyvis model", "str"]),
    ("apply_modifications custom_objects", lambda: utils.apply_modifications(MODEL, custom_objects=[1]), [], TypeError,
     ["custom_objects", "[1]", "dict or None"]),
    ("actmax max_iter", lambda: visualize_activation(MODEL, -1, 0, max_iter=-1), [], ValueError, ["max_iter", "-1", "non-negative int"]),
    ("actmax input_range", lambda: visualize_activation(MODEL, -1, 0, max_iter=1, input_range=(5, 1)), [], ValueError,
     ["input_range", "(5, 1)", "min < max"]),
    ("actmax seed complex", lambda s: visualize_activation(MODEL, -1, 0, seed_input=s, max_iter=1), [IMG.astype(complex)], TypeError,
     ["seed_input", "complex128", "real numeric"]),
    ("actmax seed shape", lambda s: visualize_activation(MODEL, -1, 0, seed_input=s, max_iter=1), [np.zeros((9, W, C))], ValueError,
     ["seed_input", "(9, 8, 3)", "(None, 8, 8, 3)"]),
    # -- utils ----------------------------------------------------------------------------------
    ("normalize empty", utils.normalize, [np.zeros((0, 3))], ValueError, ["normalize", "empty", "(0, 3)", "at least one"]),
    ("get_img_shape str", lambda: utils.get_img_shape("img"), [], TypeError, ["get_img_shape", "'str'", "array"]),
    ("get_img_shape 1-D", utils.get_img_shape, [np.zeros(3)], ValueError, ["get_img_shape", "(3,)", "batched image"]),
]


def _call(fn, arrays):
    return fn(*arrays)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    _, fn, arrays, exc_type, words = case
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in arrays]
    with pytest.raises(exc_type) as info:
        _call(fn, arrays)
    assert type(info.value) is exc_type or exc_type is OSError, type(info.value)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    for before, after in zip(copies, arrays):          # the caller's arrays are untouched
        if isinstance(before, np.ndarray):
            assert before.dtype == after.dtype and before.shape == after.shape
            assert np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")


# -- image files -----------------------------------------------------------------------------

def _png(path):
    from PIL import Image
    Image.fromarray((IMG * 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("kind", ["missing", "directory", "garbage", "text as jpg", "zero bytes", "not a path",
                                  "target_size zero", "target_size str", "target_size float"])
def test_bad_image_paths_and_formats(tmp_path, kind):
    path = tmp_path / "img.png"
    kwargs = {}
    if kind == "missing":
        expected, words = FileNotFoundError, ["img.png"]
    elif kind == "directory":
        path = tmp_path
        expected, words = IsADirectoryError, [str(tmp_path)]
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(300))
        expected, words = OSError, ["img.png", "identify"]
    elif kind == "text as jpg":
        path = tmp_path / "photo.jpg"
        path.write_text("<html>not an image</html>")
        expected, words = OSError, ["photo.jpg", "identify"]
    elif kind == "zero bytes":
        path.write_bytes(b"")
        expected, words = OSError, ["img.png"]
    elif kind == "not a path":
        path = 42
        expected, words = TypeError, ["path", "42", "file path"]
    else:
        _png(path)
        kwargs["target_size"] = {"target_size zero": (0, 5), "target_size str": "ab",
                                 "target_size float": (4.5, 4)}[kind]
        expected, words = ValueError, ["target_size", repr(kwargs["target_size"]), "two positive ints"]
    with pytest.raises(expected) as info:
        utils.load_img(path, **kwargs)
    for word in words:
        assert word in str(info.value), str(info.value)


# -- unusual but valid arrays: same answer as the plain array, caller's array untouched ----------

def _layouts():
    base64 = IMG.astype(np.float64)
    big = np.zeros((H, 2 * W, 2 * C), np.float32)
    big[:, ::2, ::2] = IMG
    ro = IMG.copy()
    ro.setflags(write=False)
    return {
        "strided view": big[:, ::2, ::2],
        "fortran order": np.asfortranarray(IMG),
        "reversed twice": IMG[::-1][::-1],
        "byte-swapped >f4": IMG.astype(">f4"),
        "byte-swapped >f8": base64.astype(">f8"),
        "read-only": ro,
        "float64": base64,
        "float16 exact": IMG.astype(np.float16).astype(np.float32),
        "nested lists": IMG.tolist(),
        "batch of one": IMG[None],
    }


LAYOUTS = _layouts()


@pytest.mark.parametrize("fn", [sal, cam], ids=["saliency", "grad-cam"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_unusual_layouts_give_the_plain_result(fn, layout):
    seed = LAYOUTS[layout]
    plain = np.asarray(seed, dtype=np.float32) if layout != "batch of one" else IMG
    before = np.array(seed, copy=True)
    got = fn(seed)
    want = fn(np.ascontiguousarray(plain, dtype=np.float32))
    assert got.shape == (H, W)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(seed), before)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, np.bool_])
def test_integer_and_bool_seeds_equal_their_float_value(dtype):
    seed = (IMG * 200).astype(dtype)
    np.testing.assert_array_equal(sal(seed), sal(seed.astype(np.float32)))


def test_a_batch_is_the_stack_of_single_results():
    batch = np.stack([IMG, IMG[::-1], IMG * 0.5])
    before = batch.copy()
    for fn in (sal, cam):
        got = fn(batch)
        assert got.shape == (3, H, W)
        for n in range(3):
            np.testing.assert_array_equal(got[n], fn(batch[n]))
    np.testing.assert_array_equal(batch, before)

