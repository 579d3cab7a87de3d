"""pyvis.applications.VGG16 against a hand-built PyTorch VGG16 with the same weights.

Random He-scaled weights (so activations neither explode nor vanish through 16
layers), 224x224 inputs, batch sizes 1 and 3.  The PyTorch network is written out
here from the architecture: Keras HWIO kernels become OIHW, and before fc1 the
NCHW activation is permuted to NHWC so the flatten order matches Keras (fc1's
rows are indexed (y*W + x)*C + c).  Guided backprop in PyTorch is a custom
autograd ReLU: g*[x>0]*[g>0].

Criteria (DESIGN.md "Numbers we promise"): outputs <= 1e-4 relative (max error over
max |value|); gradients by cosine >= 0.999 per sample, because a ReLU or max-pool
decision can flip on ~1e-6 forward differences between two float32 engines
(perf.md 5.5) and one flip moves a few pixels of the map, not its direction.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference as R
from pyvis.applications import VGG16

OUT_TOL = 1e-4
COS_TOL = 0.999
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0) * (g > 0)


def he_weights(rng):
    """Keras-layout weights for every VGG16 layer, He-normal kernels, small biases."""
    weights = {}
    cin = 3
    for b, (filters, convs) in enumerate(BLOCKS, start=1):
        for c in range(1, convs + 1):
            k = rng.standard_normal((3, 3, cin, filters), dtype=np.float32)
            k *= np.float32(np.sqrt(2.0 / (9 * cin)))
            weights["block%d_conv%d" % (b, c)] = [k, rng.standard_normal(filters, dtype=np.float32) * 0.05]
            cin = filters
    for name, fan_in, units in [("fc1", 7 * 7 * 512, 4096), ("fc2", 4096, 4096),
                                ("predictions", 4096, 1000)]:
        k = rng.standard_normal((fan_in, units), dtype=np.float32)
        k *= np.float32(np.sqrt(2.0 / fan_in))
        weights[name] = [k, rng.standard_normal(units, dtype=np.float32) * 0.05]
    return weights


class TorchVGG16:
    """VGG16 forward in PyTorch from Keras-layout weights (no copies for the dense kernels)."""

    def __init__(self, weights):
        self.conv = {}
        for name, (k, b) in weights.items():
            if name.startswith("block"):
                self.conv[name] = (torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))),
                                   torch.from_numpy(b))
        self.dense = {n: (torch.from_numpy(weights[n][0]), torch.from_numpy(weights[n][1]))
                      for n in ("fc1", "fc2", "predictions")}

    def __call__(self, x_nhwc, guided=False, softmax=False):
        """Returns (output, intermediates); intermediates are NCHW tensors kept for grads."""
        relu = GuidedReLU.apply if guided else torch.relu
        keep = {}
        x = x_nhwc.permute(0, 3, 1, 2)
        for b, (_, convs) in enumerate(BLOCKS, start=1):
            for c in range(1, convs + 1):
                name = "block%d_conv%d" % (b, c)
                k, bias = self.conv[name]
                x = relu(F.conv2d(x, k, bias, padding=1))
                keep[name] = x
            x = F.max_pool2d(x, 2, 2)
            keep["block%d_pool" % b] = x
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten order, as Keras
        for name in ("fc1", "fc2"):
            k, bias = self.dense[name]
            x = relu(x @ k + bias)
        k, bias = self.dense["predictions"]
        x = x @ k + bias
        return (torch.softmax(x, dim=-1) if softmax else x), keep


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def nets():
    rng = np.random.default_rng(16)
    weights = he_weights(rng)
    logits_model = VGG16(weights=None, classifier_activation=None)
    softmax_model = VGG16(weights=None)
    for model in (logits_model, softmax_model):
        for name, w in weights.items():
            model.get_layer(name).set_weights(w)
    return logits_model, softmax_model, TorchVGG16(weights)


def _input(n):
    return np.random.default_rng(100 + n).standard_normal((n, 224, 224, 3), dtype=np.float32)


def assert_cosines(got, ref, what):
    for i in range(got.shape[0]):
        c = R.cosine(got[i], ref[i])
        assert c >= COS_TOL, "%s, sample %d: cosine %.6f < %g" % (what, i, c, COS_TOL)


def test_architecture_matches_keras_names(nets):
    logits_model, _, _ = nets
    names = [layer.name for layer in logits_model.layers]
    expected = ["block%d_%s" % (b, kind) for b, (_, convs) in enumerate(BLOCKS, start=1)
                for kind in ["conv%d" % c for c in range(1, convs + 1)] + ["pool"]]
    assert names[1:] == expected + ["flatten", "fc1", "fc2", "predictions"]
    assert logits_model.input_shape == (None, 224, 224, 3)
    assert logits_model.output_shape == (None, 1000)


@pytest.mark.parametrize("n", [1, 3])
def test_forward_logits_and_softmax(nets, n):
    logits_model, softmax_model, tnet = nets
    x = _input(n)
    with torch.no_grad():
        t_logits, keep = tnet(torch.from_numpy(x))
        t_probs = torch.softmax(t_logits, dim=-1)
    logits = logits_model.predict(x)
    assert R.rel_err(logits, t_logits.numpy()) <= OUT_TOL
    assert R.rel_err(softmax_model.predict(x), t_probs.numpy()) <= OUT_TOL
    # the logits spread enough that the softmax comparison is not trivially flat
    assert np.ptp(t_logits.numpy(), axis=1).min() > 1.0


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("guided", [False, True], ids=["vanilla", "guided"])
def test_input_and_intermediate_gradients_from_logits(nets, n, guided):
    logits_model, _, tnet = nets
    x = _input(n)
    seed = np.random.default_rng(7 + n).standard_normal((n, 1000), dtype=np.float32)

    xt = torch.from_numpy(x).requires_grad_(True)
    out, keep = tnet(xt, guided=guided)
    for name in ("block4_conv3", "block5_pool"):
        keep[name].retain_grad()
    out.backward(torch.from_numpy(seed))

    tape = logits_model.run(x)
    for name in ("block1_conv2", "block4_conv3", "block5_pool"):
        assert R.rel_err(tape.value(name), nhwc(keep[name])) <= OUT_TOL, name
    gx, g_pool5, g_conv43 = tape.backward(
        [(logits_model.output, seed)], wrt=[logits_model.input, "block5_pool", "block4_conv3"],
        modifier="guided" if guided else None)
    assert_cosines(gx, xt.grad.numpy(), "input gradient")
    assert_cosines(g_pool5, nhwc(keep["block5_pool"].grad), "gradient at block5_pool")
    assert_cosines(g_conv43, nhwc(keep["block4_conv3"].grad), "gradient at block4_conv3")


@pytest.mark.parametrize("n", [1])
def test_saliency_style_gradient_from_softmax(nets, n):
    """keras-vis saliency: d(prob of the top class)/d(input), softmax output, one-hot seed."""
    _, softmax_model, tnet = nets
    x = _input(n)
    xt = torch.from_numpy(x).requires_grad_(True)
    probs, _ = tnet(xt, softmax=True)
    top = probs.detach().numpy().argmax(axis=1)
    seed = np.zeros((n, 1000), np.float32)
    seed[np.arange(n), top] = 1.0
    probs.backward(torch.from_numpy(seed))
    (gx,) = softmax_model.run(x).backward([(softmax_model.output, seed)])
    assert_cosines(gx, xt.grad.numpy(), "softmax input gradient")


@pytest.mark.parametrize("guided", [False, True], ids=["vanilla", "guided"])
def test_seed_on_intermediate_node(nets, guided):
    """Backward starting at block5_pool (as Grad-CAM style losses do) to the input."""
    logits_model, _, tnet = nets
    n = 2
    x = _input(n)
    xt = torch.from_numpy(x).requires_grad_(True)
    _, keep = tnet(xt, guided=guided)
    seed = np.random.default_rng(3).standard_normal((n, 7, 7, 512), dtype=np.float32)
    keep["block5_pool"].backward(torch.from_numpy(np.ascontiguousarray(seed.transpose(0, 3, 1, 2))))
    (gx,) = logits_model.run(x).backward([("block5_pool", seed)],
                                         modifier="guided" if guided else None)
    assert_cosines(gx, xt.grad.numpy(), "input gradient from a block5_pool seed")
