"""Tests for pyvis.utils.utils, grad_modifiers, backprop_modifiers.get, backend.set_random_seed,
overlay and get_num_filters: keras-vis's own utils tests (ported) plus each helper against an
independent NumPy/Pillow formula."""

import logging

import numpy as np
import pytest
from PIL import Image

from pyvis import backend, backprop_modifiers, grad_modifiers
from pyvis.layers import Conv2D, Dense, Flatten, Input
from pyvis.models import Model
from pyvis.utils import utils
from pyvis.visualization import get_num_filters, overlay


# ---------------------------------------------------------------------- keras-vis tests (ported)

def test_get_img_shape_on_2d_image():
    # keras-vis: channels_last (5, 1, 2, 4) -> (5, 4, 1, 2); pyvis is channels_last only.
    assert utils.get_img_shape(np.ones((5, 1, 2, 4))) == (5, 4, 1, 2)


def test_get_img_shape_on_3d_image():
    assert utils.get_img_shape(np.ones((5, 1, 2, 3, 4))) == (5, 4, 1, 2, 3)


def test_reverse_iterable():
    assert list(utils.reverse_enumerate('abcde')) == [(4, 'e'), (3, 'd'), (2, 'c'), (1, 'b'),
                                                      (0, 'a')]


# ---------------------------------------------------------------------- small helpers

def test_get_img_shape_on_symbolic_input_keeps_unknown_batch():
    inp = Input((6, 7, 3))
    assert utils.get_img_shape(inp) == (None, 3, 6, 7)


def test_listify_wraps_everything_but_lists():
    lst = [1, 2]
    assert utils.listify(lst) is lst
    assert utils.listify(3) == [3]
    assert utils.listify(None) == [None]
    tup = (1, 2)
    assert utils.listify(tup) == [tup]


def test_add_defaults_to_kwargs_explicit_wins_and_defaults_untouched():
    defaults = {'a': 1, 'b': 2}
    merged = utils.add_defaults_to_kwargs(defaults, b=3, c=4)
    assert merged == {'a': 1, 'b': 3, 'c': 4}
    assert defaults == {'a': 1, 'b': 2}


def test_get_identifier():
    table = {'f': len}
    assert utils.get_identifier('f', table, 'mod') is len
    assert utils.get_identifier(abs, table, 'mod') is abs
    with pytest.raises(ValueError, match='Unknown mod: g'):
        utils.get_identifier('g', table, 'mod')
    with pytest.raises(ValueError, match='Could not interpret identifier'):
        utils.get_identifier(3, table, 'mod')


def test_random_array_statistics():
    np.random.seed(0)
    x = utils.random_array((64, 64, 3), mean=10., std=2.)
    assert x.dtype == np.float64 and x.shape == (64, 64, 3)
    assert abs(x.mean() - 10.) < 1e-9
    assert abs(x.std() - 2.) < 1e-5
    np.random.seed(0)
    u = np.random.random((64, 64, 3))       # the same draw, standardised by hand
    np.testing.assert_allclose(x, (u - u.mean()) / (u.std() + 1e-7) * 2. + 10., rtol=1e-12)


def test_set_random_seed_makes_random_array_reproducible():
    backend.set_random_seed(7)
    a = utils.random_array((3, 4))
    backend.set_random_seed(7)
    b = utils.random_array((3, 4))
    np.testing.assert_array_equal(a, b)


def test_deprocess_input_matches_formula_and_does_not_mutate(rng):
    x = rng.normal(3., 5., size=(8, 9, 3)).astype(np.float32)
    x[0, 0, 0] = 1000.   # an outlier, clipped
    before = x.copy()
    out = utils.deprocess_input(x, input_range=(-1., 3.))
    ref = x.astype(np.float64)
    ref = (ref - ref.mean()) / (ref.std() + 1e-7) * 0.1 + 0.5
    ref = np.clip(ref, 0, 1) * 4. - 1.
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    assert out.dtype == np.float32
    assert out.max() == pytest.approx(3.)
    np.testing.assert_array_equal(x, before)


def test_normalize_formula_and_constant_array(rng):
    x = rng.normal(size=(5, 6)).astype(np.float32)
    out = utils.normalize(x, 2., 4.)
    ref = (x.astype(np.float64) - x.min()) / (float(x.max()) - float(x.min()) + 1e-7) * 2. + 2.
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.min() == 2. and out.max() <= 4.
    assert utils.normalize(x.astype(np.float64)).max() < 1.   # eps keeps the max just below
    np.testing.assert_array_equal(utils.normalize(np.full((3, 3), 7.)), np.zeros((3, 3)))


def test_stitch_images_layout(rng):
    images = [np.full((2, 3, 1), k + 1, dtype=np.uint8) for k in range(7)]
    out = utils.stitch_images(images, margin=1, cols=3)
    assert out.shape == (3 * 2 + 2 * 1, 3 * 3 + 2 * 1, 1) and out.dtype == np.uint8
    for k in range(7):
        r, c = k // 3, k % 3
        tile = out[r * 3:r * 3 + 2, c * 4:c * 4 + 3]
        assert (tile == k + 1).all()
    # margins and the two empty tiles of the last row stay black
    assert (out[2, :, :] == 0).all() and (out[:, 3, :] == 0).all()
    assert (out[6:, 4:, :] == 0).all()
    assert utils.stitch_images([]) is None
    assert utils.stitch_images(images[:2]).shape == (2, 3 + 5 + 3, 1)
    with pytest.raises(ValueError, match='images\\[1\\]'):
        utils.stitch_images([images[0], np.zeros((3, 3, 1), np.uint8)])


def test_bgr2rgb_reverses_channels_as_a_view():
    img = np.arange(12).reshape(2, 2, 3)
    out = utils.bgr2rgb(img)
    np.testing.assert_array_equal(out, img[..., [2, 1, 0]])
    assert np.shares_memory(out, img)


def test_slicer_moves_channel_index_last():
    assert utils.slicer[:, 3, ...] == (slice(None), Ellipsis, 3)
    x = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    np.testing.assert_array_equal(x[utils.slicer[:, 1, ...]], x[..., 1])
    with pytest.raises(ValueError):
        utils.slicer[3]


# ---------------------------------------------------------------------- images

def _write_png(path, arr):
    Image.fromarray(arr).save(str(path))
    return str(path)


def test_load_img_rgb_and_rgba(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'a.png', rgb))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)
    rgba = rng.integers(0, 256, size=(6, 5, 4), dtype=np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'b.png', rgba))
    np.testing.assert_array_equal(out, rgba)


def test_load_img_grayscale_is_luma_in_unit_range(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'a.png', rgb), grayscale=True)
    ref = rgb.astype(np.float64) / 255. @ np.array([0.2125, 0.7154, 0.0721])
    assert out.shape == (10, 14)
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_load_img_grayscale_rgba_blends_on_white(tmp_path, rng):
    rgba = rng.integers(0, 256, size=(4, 4, 4), dtype=np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'a.png', rgba), grayscale=True)
    a = rgba[..., 3:].astype(np.float64) / 255.
    rgb = rgba[..., :3] / 255. * a + (1 - a)
    np.testing.assert_allclose(out, rgb @ np.array([0.2125, 0.7154, 0.0721]), atol=1e-12)


def test_load_img_target_size_is_rows_cols(tmp_path):
    # a horizontal ramp: resizing keeps it a ramp, with (rows, cols) = target_size
    ramp = np.tile(np.linspace(0, 250, 40).astype(np.uint8)[None, :, None], (30, 1, 3))
    out = utils.load_img(_write_png(tmp_path / 'a.png', ramp), target_size=(12, 20))
    assert out.shape == (12, 20, 3) and out.dtype == np.uint8
    assert (np.diff(out[5, :, 0].astype(int)) >= 0).all()
    assert (out == out[:1]).all()          # every row identical
    const = np.full((9, 9, 3), 200, np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'c.png', const), target_size=(4, 17))
    assert out.shape == (4, 17, 3) and (out == 200).all()


def test_load_img_grayscale_with_target_size_keeps_floats(tmp_path, rng):
    # keras-vis cast the [0, 1] floats to uint8 here, zeroing the image.
    rgb = np.full((20, 20, 3), (200, 100, 50), np.uint8)
    out = utils.load_img(_write_png(tmp_path / 'a.png', rgb), grayscale=True, target_size=(7, 9))
    expected = (np.array([200., 100., 50.]) / 255.) @ np.array([0.2125, 0.7154, 0.0721])
    assert out.shape == (7, 9) and np.issubdtype(out.dtype, np.floating)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_load_img_bad_target_size(tmp_path):
    path = _write_png(tmp_path / 'a.png', np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='target_size'):
        utils.load_img(path, target_size=(4,))


def test_draw_text_draws_a_copy(rng):
    img = np.full((40, 80, 3), 255, np.uint8)
    out = utils.draw_text(img, 'Hi', position=(5, 5), color=(0, 0, 0))
    assert (img == 255).all()                       # input untouched
    assert out.shape == img.shape and out.dtype == np.uint8
    dark = np.argwhere(out[..., 0] < 128)
    assert len(dark) > 0
    assert dark[:, 0].min() >= 5 and dark[:, 1].min() >= 5   # drawn right of / below position


def test_draw_text_falls_back_to_default_font(caplog):
    img = np.zeros((30, 60), np.uint8)
    with caplog.at_level(logging.WARNING):
        out = utils.draw_text(img, 'x', font='no-such-font-anywhere', color=(255, 255, 255))
    assert 'no-such-font-anywhere' in caplog.text
    assert out.shape == (30, 60) and out.max() > 0


def test_font_lookup_searches_font_folders_case_insensitively(tmp_path, monkeypatch):
    (tmp_path / 'sub').mkdir()
    for name in ('MyFreeSans.TTF', 'Other.ttf', 'freesans-notes.txt'):
        (tmp_path / 'sub' / name).write_bytes(b'not a font')
    monkeypatch.setattr(utils, '_FONT_DIRS', (str(tmp_path),))
    utils._find_font_file.cache_clear()
    try:
        assert utils._find_font_file('freesans') == (str(tmp_path / 'sub' / 'MyFreeSans.TTF'),)
        # the match is not a readable font: draw_text still works with Pillow's default font
        out = utils.draw_text(np.zeros((20, 40), np.uint8), 'x', font='FreeSans',
                              color=(255, 255, 255))
        assert out.max() > 0
    finally:
        utils._find_font_file.cache_clear()


def test_lookup_imagenet_labels_uses_pyvis_io_class_index(monkeypatch):
    import pyvis.io.imagenet as imagenet
    fake = {str(i): ['n%08d' % i, 'label_%d' % i] for i in range(1000)}
    monkeypatch.setattr(imagenet, 'load_class_index', lambda: fake)
    assert utils.lookup_imagenet_labels(20) == ['label_20']
    assert utils.lookup_imagenet_labels([0, 999]) == ['label_0', 'label_999']
    assert utils.lookup_imagenet_labels(np.array([3, 4])) == ['label_3', 'label_4']
    with pytest.raises(ValueError, match='1000'):
        utils.lookup_imagenet_labels(1000)


# ---------------------------------------------------------------------- modifiers

def test_grad_modifier_values():
    g = np.array([-2., -1e-3, 0., 0.5, 3.], dtype=np.float32)
    eps = 1e-7
    np.testing.assert_array_equal(grad_modifiers.negate(g), -g.astype(np.float64))
    np.testing.assert_array_equal(grad_modifiers.absolute(g), np.abs(g.astype(np.float64)))
    np.testing.assert_allclose(grad_modifiers.invert(g), 1. / (g.astype(np.float64) + eps),
                               rtol=1e-6)
    np.testing.assert_allclose(grad_modifiers.small_values(g),
                               np.abs(1. / (g.astype(np.float64) + eps)), rtol=1e-6)
    before = g.copy()
    np.testing.assert_array_equal(grad_modifiers.relu(g), [0., 0., 0., 0.5, 3.])
    np.testing.assert_array_equal(g, before)   # keras-vis mutated its argument here


def test_grad_modifiers_get():
    for name in ['negate', 'absolute', 'invert', 'relu', 'small_values']:
        assert grad_modifiers.get(name) is getattr(grad_modifiers, name)
    f = lambda g: g  # noqa: E731
    assert grad_modifiers.get(f) is f
    with pytest.raises(ValueError, match='Unknown pyvis.grad_modifiers: nope'):
        grad_modifiers.get('nope')
    with pytest.raises(ValueError, match='Unknown'):
        grad_modifiers.get('np')     # module globals other than the modifiers are not exposed


def test_backprop_modifiers_get_and_aliases():
    assert backprop_modifiers.relu is backprop_modifiers.rectified
    assert backprop_modifiers.deconv is backprop_modifiers.rectified
    for name in ['guided', 'rectified', 'relu', 'deconv']:
        assert backprop_modifiers.get(name) is getattr(backprop_modifiers, name)
    with pytest.raises(ValueError, match='Unknown pyvis.backprop_modifiers: bogus'):
        backprop_modifiers.get('bogus')
    with pytest.raises(ValueError, match="'bogus' modifier is not supported"):
        backend.modify_model_backprop(object(), 'bogus')


# ---------------------------------------------------------------------- model helpers

def _small_model():
    inp = Input((8, 8, 3))
    x = Conv2D(5, 3, activation='relu', name='conv')(inp)
    x = Flatten(name='flat')(x)
    out = Dense(4, name='dense')(x)
    return Model(inp, out)


def test_find_layer_idx():
    model = _small_model()
    for idx, layer in enumerate(model.layers):
        assert utils.find_layer_idx(model, layer.name) == idx
    with pytest.raises(ValueError, match="No layer with name 'missing'"):
        utils.find_layer_idx(model, 'missing')


def test_get_num_filters():
    model = _small_model()
    assert get_num_filters(model.get_layer('conv')) == 5
    assert get_num_filters(model.get_layer('dense')) == 4


def test_apply_modifications_rebuilds_with_new_activation(rng):
    from pyvis import activations
    model = _small_model()
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    before = model.predict(x)
    conv = model.get_layer('conv')
    conv.activation = activations.linear
    new = utils.apply_modifications(model, custom_objects={})
    assert new is not model
    assert [l.name for l in new.layers] == [l.name for l in model.layers]
    # oracle: the conv output without relu, through flatten and dense, in float64
    kernel, bias = [w.astype(np.float64) for w in conv.get_weights()]
    dk, db = [w.astype(np.float64) for w in model.get_layer('dense').get_weights()]
    pre = np.zeros((2, 6, 6, 5))
    for i in range(6):
        for j in range(6):
            pre[:, i, j] = np.einsum('nhwc,hwco->no', x[:, i:i + 3, j:j + 3].astype(np.float64),
                                     kernel) + bias
    ref = pre.reshape(2, -1) @ dk + db
    np.testing.assert_allclose(new.predict(x), ref, rtol=1e-4, atol=1e-4)
    assert not np.allclose(before, ref, atol=1e-3)   # the relu really was in the way before
    with pytest.raises(TypeError, match='custom_objects'):
        utils.apply_modifications(model, custom_objects=['x'])


def test_overlay():
    a = np.full((2, 3, 3), 200, np.uint8)
    b = np.full((2, 3, 3), 100, np.uint8)
    out = overlay(a, b, alpha=0.3)
    assert out.dtype == np.uint8
    assert (out == int(200 * 0.3 + 100 * 0.7)).all()
    with pytest.raises(ValueError, match='alpha'):
        overlay(a, b, alpha=1.5)
    with pytest.raises(ValueError, match='same shapes'):
        overlay(a, b[:1])
