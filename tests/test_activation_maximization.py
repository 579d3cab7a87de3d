"""pyvis.visualization.visualize_activation(_with_losses).

Oracles: closed-form input gradients of linear models computed with NumPy loops (the optimised
image must order its pixels by the sign of that gradient), a NumPy guided-backprop gradient,
PyTorch for VGG16's block-1 activations, and keras-vis's documented behaviour (dtypes, shapes,
the VGG16 activation-maximisation notebook run with only its imports changed).
"""

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from pyvis import backend
from pyvis.callbacks import GifGenerator, OptimizerCallback
from pyvis.input_modifiers import Jitter
from pyvis.layers import Conv2D, Dense, Flatten, Input
from pyvis.losses import ActivationMaximization
from pyvis.models import Model
from pyvis.regularizers import LPNorm, TotalVariation
from pyvis.utils import utils
from pyvis.visualization import visualize_activation, visualize_activation_with_losses


class _Grads(OptimizerCallback):
    def __init__(self):
        self.grads = []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.grads.append(np.array(grads))


def _dense_model(seed=0):
    np.random.seed(seed)
    inp = Input((6, 6, 1))
    out = Dense(3, use_bias=False, name='units')(Flatten()(inp))
    return Model(inp, out)


def _conv_model(seed=0):
    np.random.seed(seed)
    inp = Input((7, 7, 1))
    out = Conv2D(3, 3, use_bias=False, name='filters')(inp)
    return Model(inp, out)


def _conv_ascent_direction(kernel, shape, channels):
    """d(sum_c mean_positions out[..., c]) / dx for a valid 'correlation' conv, by loops."""
    kh, kw = kernel.shape[:2]
    h, w = shape
    oh, ow = h - kh + 1, w - kw + 1
    g = np.zeros((h, w))
    for c in channels:
        for i in range(oh):
            for j in range(ow):
                g[i:i + kh, j:j + kw] += kernel[:, :, 0, c] / (oh * ow)
    return g


def _assert_ordered_by(img, direction):
    """Every pixel where the ascent direction is positive is brighter than every negative one."""
    img = np.asarray(img, dtype=np.float64).reshape(direction.shape)
    pos, neg = img[direction > 1e-9], img[direction < -1e-9]
    assert pos.size and neg.size
    assert pos.min() >= neg.max(), (pos.min(), neg.max())


_PLAIN = dict(lp_norm_weight=0, tv_weight=0, max_iter=100, seed=0)


@pytest.mark.parametrize('filter_indices, units', [(0, [0]), (2, [2]), ([0, 2], [0, 2]),
                                                   (None, [0, 1, 2])])
def test_dense_units_image_follows_the_weights(filter_indices, units):
    model = _dense_model()
    w = model.get_layer('units').get_weights()[0].astype(np.float64)     # (36, 3)
    img = visualize_activation(model, -1, filter_indices=filter_indices, **_PLAIN)
    assert img.shape == (6, 6, 1) and img.dtype == np.uint8
    # The ascent direction of sum (or mean, for None) of the chosen units is their weights' sum.
    _assert_ordered_by(img, w[:, units].sum(axis=1).reshape(6, 6))


@pytest.mark.parametrize('filter_indices, channels', [(1, [1]), ([0, 2], [0, 2]),
                                                      (None, [0, 1, 2])])
def test_conv_filters_image_follows_the_kernel(filter_indices, channels):
    model = _conv_model()
    kernel = model.get_layer('filters').get_weights()[0].astype(np.float64)  # (3, 3, 1, 3)
    img = visualize_activation(model, 1, filter_indices=filter_indices, **_PLAIN)
    assert img.shape == (7, 7, 1)
    _assert_ordered_by(img, _conv_ascent_direction(kernel, (7, 7), channels))


def test_input_range_dtypes_and_values():
    model = _dense_model()
    as_int = visualize_activation(model, -1, filter_indices=0, max_iter=5, seed=1)
    assert as_int.dtype == np.uint8
    as_float = visualize_activation(model, -1, filter_indices=0, max_iter=5, seed=1,
                                    input_range=(0., 1.))
    assert np.issubdtype(as_float.dtype, np.floating)
    assert as_float.min() >= 0 and as_float.max() <= 1
    shifted = visualize_activation(model, -1, filter_indices=0, max_iter=5, seed=1,
                                   input_range=(-1., 1.))
    # deprocess_input maps the same optimised image linearly onto each range.
    np.testing.assert_allclose(shifted, 2 * as_float - 1, atol=1e-6)


def test_defaults_match_keras_vis():
    model = _dense_model()
    rec = []

    class _Names(OptimizerCallback):
        def callback(self, i, named_losses, overall_loss, grads, wrt_value):
            rec.append((i, named_losses, overall_loss))

    visualize_activation(model, -1, filter_indices=1, callbacks=[_Names()], seed=2)
    assert len(rec) == 200
    names = [n for n, _ in rec[0][1]]
    assert names == ['ActivationMax Loss', 'L-6.0 Norm Loss', 'TV(2.0) Loss']
    # Weights 1 / 10 / 10: recompute the weighted terms of the first (random) input.
    np.testing.assert_allclose(rec[0][2], sum(v for _, v in rec[0][1]), rtol=1e-9)


def test_weights_none_and_zero_drop_terms():
    model = _dense_model()
    seen = []

    class _Names(OptimizerCallback):
        def callback(self, i, named_losses, overall_loss, grads, wrt_value):
            seen.append([n for n, _ in named_losses])

    visualize_activation(model, -1, filter_indices=0, lp_norm_weight=None, tv_weight=0,
                         max_iter=2, callbacks=[_Names()])
    assert seen[0] == ['ActivationMax Loss']


def test_guided_backprop_modifier_changes_the_gradient_as_numpy_predicts():
    np.random.seed(4)
    inp = Input((5,))
    hidden = Dense(6, activation='relu', name='hidden')(inp)
    out = Dense(2, name='out')(hidden)
    model = Model(inp, out)
    w1, b1 = [a.astype(np.float64) for a in model.get_layer('hidden').get_weights()]
    w2 = model.get_layer('out').get_weights()[0].astype(np.float64)
    seed = np.random.default_rng(0).normal(size=(5,)).astype(np.float32)
    h = seed.astype(np.float64) @ w1 + b1
    upstream = -w2[:, 1]                     # d(-score_1)/dh
    plain = w1 @ (upstream * (h > 0))
    guided = w1 @ (upstream * (h > 0) * (upstream > 0))
    assert not np.allclose(plain, guided)
    for modifier, expect in ((None, plain), ('guided', guided)):
        rec = _Grads()
        visualize_activation(model, -1, filter_indices=1, seed_input=seed, max_iter=1,
                             lp_norm_weight=0, tv_weight=0, backprop_modifier=modifier,
                             callbacks=[rec])
        np.testing.assert_allclose(rec.grads[0][0], expect / np.linalg.norm(expect),
                                   rtol=1e-5, atol=1e-6)


def test_grad_modifier_is_applied():
    model = _dense_model()
    w = model.get_layer('units').get_weights()[0][:, 0].astype(np.float64)
    rec = _Grads()
    visualize_activation(model, -1, filter_indices=0, max_iter=1, lp_norm_weight=0,
                         tv_weight=0, grad_modifier='absolute', callbacks=[rec])
    np.testing.assert_allclose(rec.grads[0].ravel(), np.abs(w) / np.linalg.norm(w), rtol=1e-5)


def test_wrt_tensor_keeps_the_seed():
    model = _conv_model()
    seed = np.random.default_rng(3).uniform(0, 255, size=(7, 7, 1)).astype(np.float32)
    img = visualize_activation(model, 1, filter_indices=0, seed_input=seed, max_iter=3,
                               wrt_tensor=model.get_layer('filters').output)
    expect = np.clip(utils.deprocess_input(seed), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(img, expect)


def test_with_losses_matches_visualize_activation():
    model = _conv_model()
    losses = [(ActivationMaximization(model.layers[1], 2), 1), (LPNorm(model.input), 10),
              (TotalVariation(model.input), 10)]
    a = visualize_activation_with_losses(model.input, losses, max_iter=20, seed=5)
    b = visualize_activation(model, 1, filter_indices=2, max_iter=20, seed=5)
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_image():
    model = _conv_model()
    kw = dict(filter_indices=0, max_iter=15, input_modifiers=[Jitter(2)])
    a = visualize_activation(model, 1, seed=9, **kw)
    b = visualize_activation(model, 1, seed=9, **kw)
    np.testing.assert_array_equal(a, b)
    backend.set_random_seed(9)
    c = visualize_activation(model, 1, **kw)
    backend.set_random_seed(9)
    d = visualize_activation(model, 1, **kw)
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, visualize_activation(model, 1, seed=10, **kw))


def test_batch_of_seeds_keeps_the_batch_axis():
    model = _conv_model()
    seeds = np.random.default_rng(1).uniform(0, 255, size=(2, 7, 7, 1)).astype(np.float32)
    out = visualize_activation(model, 1, filter_indices=1, seed_input=seeds, max_iter=10)
    assert out.shape == (2, 7, 7, 1) and out.dtype == np.uint8
    single = visualize_activation(model, 1, filter_indices=1, seed_input=seeds[1], max_iter=10)
    assert np.abs(out[1].astype(int) - single.astype(int)).max() <= 1


def test_gif_with_one_frame_per_iteration(tmp_path):
    np.random.seed(0)
    inp = Input((40, 48, 3))
    model = Model(inp, Conv2D(2, 3, name='c')(inp))
    path = str(tmp_path / 'progress')
    visualize_activation(model, 1, filter_indices=0, max_iter=6,
                         callbacks=[GifGenerator(path)], seed=0)
    with Image.open(path + '.gif') as im:
        frames = list(ImageSequence.Iterator(im))
        assert len(frames) == 6
        assert im.size == (48, 40)


def test_bad_arguments():
    model = _dense_model()
    with pytest.raises(IndexError, match='filter_indices'):
        visualize_activation(model, -1, filter_indices=3, max_iter=1)
    with pytest.raises(IndexError, match='layer_idx'):
        visualize_activation(model, 7, max_iter=1)
    with pytest.raises(TypeError, match='layer_idx'):
        visualize_activation(model, 'units', max_iter=1)


# ------------------------------------------------------------------ keras-vis VGG16 notebook
# examples/vggnet/activation_maximization.ipynb with only its imports changed, weights=None
# (random) instead of 'imagenet' and max_iter kept small to bound CI time.

def _torch_block1(model, images):
    """block1_conv2 activations of uint8 HWC images, computed by PyTorch from our weights."""
    k1, b1 = model.get_layer('block1_conv1').get_weights()
    k2, b2 = model.get_layer('block1_conv2').get_weights()
    x = torch.tensor(np.stack(images).astype(np.float32)).permute(0, 3, 1, 2)
    x = torch.relu(torch.nn.functional.conv2d(
        x, torch.tensor(k1).permute(3, 2, 0, 1), torch.tensor(b1), padding=1))
    x = torch.relu(torch.nn.functional.conv2d(
        x, torch.tensor(k2).permute(3, 2, 0, 1), torch.tensor(b2), padding=1))
    return x.mean(dim=(2, 3)).numpy()        # (n_images, 64) mean activation per filter


def test_keras_vis_vgg16_activation_maximization_notebook():
    # --- notebook code; only the imports differ ---
    from pyvis.applications import VGG16
    from pyvis.utils import utils
    from pyvis import activations

    # Build the VGG16 network with ImageNet weights
    model = VGG16(weights=None, include_top=True)

    # Utility to search for layer index by name.
    # Alternatively we can specify this as -1 since it corresponds to the last layer.
    layer_idx = utils.find_layer_idx(model, 'predictions')

    # Swap softmax with linear
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)

    from pyvis.visualization import visualize_activation

    # 20 is the imagenet category for 'ouzel'
    img = visualize_activation(model, layer_idx, filter_indices=20, max_iter=2)
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8

    from pyvis.input_modifiers import Jitter

    # 20 is the imagenet category for 'ouzel'
    # Jitter 16 pixels along all dimensions to during the optimization process.
    img = visualize_activation(model, layer_idx, filter_indices=20, max_iter=3,
                               input_modifiers=[Jitter(16)])
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8

    from pyvis.visualization import get_num_filters

    # The name of the layer we want to visualize
    # You can see this in the model definition.
    layer_name = 'block1_conv2'
    layer_idx = utils.find_layer_idx(model, layer_name)

    # Visualize all filters in this layer.
    filters = np.arange(get_num_filters(model.layers[layer_idx]))

    # Generate input image for each filter.
    vis_images = []
    raw_images = []
    for idx in filters:
        img = visualize_activation(model, layer_idx, filter_indices=idx, max_iter=2)
        raw_images.append(img)

        # Utility to overlay text on image.
        img = utils.draw_text(img, 'Filter {}'.format(idx))
        vis_images.append(img)

    # Generate stitched image palette with 8 cols.
    stitched = utils.stitch_images(vis_images, cols=8)
    # --- end of notebook code ---

    assert len(vis_images) == 64
    assert stitched.shape == (8 * 224 + 7 * 5, 8 * 224 + 7 * 5, 3)
    assert stitched.dtype == np.uint8
    np.testing.assert_array_equal(stitched[229:229 + 224, 229:229 + 224], vis_images[9])
    assert not np.array_equal(vis_images[9], raw_images[9])     # the label is drawn
    # Different filters give different images (the filter term drives the descent).
    assert not np.array_equal(raw_images[3], raw_images[17])


def test_vgg16_block1_filter_images_drive_their_own_filters():
    from pyvis.applications import VGG16
    np.random.seed(0)
    model = VGG16(weights=None, include_top=True)
    layer_idx = utils.find_layer_idx(model, 'block1_conv2')
    # Pick two filters that respond to mid-grey noise (random weights leave some dead).
    acts = _torch_block1(model, [np.full((224, 224, 3), 127, np.uint8)])[0]
    a, b = np.argsort(acts)[-2:]
    imgs = [visualize_activation(model, layer_idx, filter_indices=int(k), max_iter=8,
                                 lp_norm_weight=0, tv_weight=0, seed=1) for k in (a, b)]
    acts = _torch_block1(model, imgs)              # activations computed by PyTorch
    assert acts[0, a] > acts[1, a] and acts[1, b] > acts[0, b], acts[:, [a, b]]
