"""Saliency (vanilla, guided, rectified) and Grad-CAM on VGG16 against an independent PyTorch
re-implementation of keras-vis's semantics (float64 autograd, custom ReLU backward rules,
scipy.ndimage.zoom for the upsampling).

The network is VGG16 with random weights at 128x128 (the same layers as at 224, cheaper). ReLU
and max-pool decisions may flip on float32 rounding, so maps are compared by cosine similarity.
The images are blocky noise, so that the maps have spatial structure.
"""

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

from pyvis import activations
from pyvis.applications import VGG16
from pyvis.utils import utils
from pyvis.visualization import visualize_cam, visualize_saliency

SIZE = 128
CLASS = 20
EPS = 1e-7


class _ReLU(torch.autograd.Function):
    """ReLU whose backward follows keras-vis's rules: none, guided or rectified."""

    @staticmethod
    def forward(ctx, x, rule):
        ctx.save_for_backward(x)
        ctx.rule = rule
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        if ctx.rule == 'guided':
            return g * (x > 0) * (g > 0), None
        if ctx.rule == 'rectified':
            return g * (g > 0), None
        return g * (x > 0), None


class TorchVGG16:
    """VGG16 in PyTorch from Keras-layout weights (HWIO kernels, (in, out) dense)."""

    def __init__(self, keras_weights):
        it = iter(keras_weights)
        self.convs = []
        for _, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
            block = []
            for _ in range(n):
                k, b = next(it), next(it)
                block.append((torch.from_numpy(k.astype(np.float64)).permute(3, 2, 0, 1),
                              torch.from_numpy(b.astype(np.float64))))
            self.convs.append(block)
        self.dense = [(torch.from_numpy(next(it).astype(np.float64)),
                       torch.from_numpy(next(it).astype(np.float64))) for _ in range(3)]

    def __call__(self, x_nhwc, rule=None):
        """Logits (linear predictions) and the block5_pool output (NCHW)."""
        x = x_nhwc.permute(0, 3, 1, 2)
        for block in self.convs:
            for k, b in block:
                x = _ReLU.apply(F.conv2d(x, k, b, padding=1), rule)
            x = F.max_pool2d(x, 2)
        pool5 = x
        x = pool5.permute(0, 2, 3, 1).reshape(x.shape[0], -1)      # Keras flattens NHWC
        for i, (w, b) in enumerate(self.dense):
            x = x @ w + b
            if i < 2:
                x = _ReLU.apply(x, rule)
        return x, pool5


def _normalize(a):
    return (a - a.min()) / (a.max() - a.min() + EPS)


def torch_saliency(net, xs, rule, cls=CLASS):
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    logits, _ = net(x, rule)
    logits[:, cls].sum().backward()
    g = x.grad.numpy()
    return np.stack([_normalize(np.abs(gn).max(axis=-1)) for gn in g])


def torch_cam(net, xs, rule, cls=CLASS):
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)   # so autograd records
    logits, pool5 = net(x, rule)
    pool5.retain_grad()
    logits[:, cls].sum().backward()
    maps = []
    for a, g in zip(pool5.detach().numpy(), pool5.grad.numpy()):
        a, g = a.transpose(1, 2, 0), g.transpose(1, 2, 0)           # (h, w, c)
        g = g / (g.max() + EPS)
        heat = np.maximum(a @ g.mean(axis=(0, 1)), 0)
        heat = scipy.ndimage.zoom(heat, (SIZE / heat.shape[0], SIZE / heat.shape[1]), order=3)
        maps.append(_normalize(heat))
    return np.stack(maps)


def _cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope='module')
def setup():
    rng = np.random.default_rng(1234)
    model = VGG16(weights=None, include_top=True, input_shape=(SIZE, SIZE, 3))
    weights = []
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            k, b = ws
            fan_in = int(np.prod(k.shape[:-1]))
            k = (rng.standard_normal(k.shape) * np.sqrt(2. / fan_in)).astype(np.float32)
            b = (rng.standard_normal(b.shape) * 0.05).astype(np.float32)
            layer.set_weights([k, b])
            weights += [k, b]
    layer_idx = utils.find_layer_idx(model, 'predictions')
    model.layers[layer_idx].activation = activations.linear
    model = utils.apply_modifications(model)
    blocks = rng.uniform(-120., 120., size=(2, 8, 8, 3))
    xs = np.kron(blocks, np.ones((1, SIZE // 8, SIZE // 8, 1)))
    xs = (xs + rng.normal(0., 10., size=xs.shape)).astype(np.float32)
    return model, TorchVGG16(weights), xs


def test_forward_matches(setup):
    model, net, xs = setup
    logits, _ = net(torch.tensor(xs, dtype=torch.float64))
    np.testing.assert_allclose(model.predict(xs), logits.numpy(), rtol=1e-4,
                               atol=1e-4 * np.abs(logits.numpy()).max())


@pytest.mark.parametrize('modifier,rule', [(None, None), ('guided', 'guided'),
                                           ('rectified', 'rectified')])
def test_saliency_matches_torch(setup, modifier, rule):
    model, net, xs = setup
    got = visualize_saliency(model, -1, CLASS, xs, backprop_modifier=modifier)
    ref = torch_saliency(net, xs, rule)
    assert got.shape == (2, SIZE, SIZE)
    for n in range(2):
        assert _cosine(got[n], ref[n]) >= 0.999, (modifier, n, _cosine(got[n], ref[n]))


# With these random weights the vanilla heat map of class 20 is negative everywhere, so its
# ReLU leaves zeros; other classes give real maps.  Both situations are checked.
@pytest.mark.parametrize('modifier,rule,cls', [(None, None, 1), (None, None, 3),
                                               ('guided', 'guided', CLASS),
                                               ('relu', 'rectified', 3)])
def test_cam_matches_torch(setup, modifier, rule, cls):
    model, net, xs = setup
    got = visualize_cam(model, -1, cls, xs, backprop_modifier=modifier)
    ref = torch_cam(net, xs, rule, cls)
    assert got.shape == (2, SIZE, SIZE)
    for n in range(2):
        assert ref[n].max() > 0.5          # a real map, not the all-zero case
        assert _cosine(got[n], ref[n]) >= 0.999, (modifier, n, _cosine(got[n], ref[n]))
        np.testing.assert_allclose(got[n], ref[n], atol=1e-3)


def test_cam_all_negative_map_is_zero_in_both(setup):
    model, net, xs = setup
    ref = torch_cam(net, xs, None, CLASS)
    got = visualize_cam(model, -1, CLASS, xs)
    assert (ref == 0).all()
    assert (got == 0).all()
