"""Winograd F(4x4, 3x3) convolution (csrc/winograd.c) against the NumPy float64 reference.

The op tests reach Conv2D through small channel counts; Winograd only runs for 3x3, stride 1,
undilated convolutions with at least 16 input and output channels, so it gets its own grid here,
driven through the native graph directly: forward in fast (Winograd) and exact (im2col) mode,
backward-to-input (always Winograd for eligible layers), odd sizes that leave partial tiles,
both paddings, batches, and enough tiles to need several chunks.
"""
import numpy as np
import pytest

from pyvis import _core

import reference as ref

# The direct (exact) path keeps the project's per-op budget of 1e-5 relative to the largest
# reference value. F(4x4, 3x3) amplifies float32 rounding through its transforms (coefficients up
# to 8): measured here at 5e-6 to 1.2e-5 max and ~2.6e-6 rms for C = 64..512, 10-30x the direct
# path, as perf.md section 5.5 predicts. Its budget is therefore 3e-5; the end-to-end criteria
# (logits 1e-4, saliency cosine 0.999 against PyTorch) are checked in the VGG16 tests.
TOL = 1e-5
TOL_WINOGRAD = 3e-5


def conv_graph(kernel, bias, padding, act=_core.ACT_LINEAR, hw=(-1, -1)):
    c = kernel.shape[2]
    pad = _core.PAD_SAME if padding == "same" else _core.PAD_VALID
    weights = (kernel,) if bias is None else (kernel, bias)
    return _core.Graph([
        (_core.OP_INPUT, (), (hw[0], hw[1], c), (), ()),
        (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, pad, act), (), weights),
    ])


CASES = [
    # (N, H, W, C, OC, padding)
    (1, 8, 8, 16, 16, "same"),
    (1, 5, 7, 16, 24, "same"),
    (3, 13, 11, 17, 33, "same"),
    (1, 1, 1, 16, 16, "same"),
    (2, 2, 3, 32, 16, "same"),
    (1, 6, 6, 16, 16, "valid"),
    (2, 9, 14, 20, 18, "valid"),
    (1, 3, 3, 16, 16, "valid"),
    (2, 64, 64, 256, 256, "same"),     # 512 tiles: more than one chunk of the V/M buffers
    (2, 64, 60, 64, 64, "same"),       # small kernel: ~9 private chunks run concurrently
    (3, 45, 50, 32, 48, "valid"),      # small kernel, partial tiles, chunks across images
    # large kernels (C * OC > 128 * 256) take the shared-chunk path, whose backward multiplies
    # U by dM^T: few tiles (a narrow panel), C that is not a multiple of 8, 16 or 32, two panels
    (1, 14, 14, 200, 180, "same"),     # 16 tiles
    (1, 14, 14, 203, 181, "same"),     # 16 tiles, leftover rows in every kernel
    (2, 10, 10, 190, 190, "same"),     # 18 tiles
    (1, 28, 28, 181, 190, "valid"),    # 49 tiles
]


@pytest.mark.parametrize("n,h,w,c,oc,padding", CASES)
def test_forward_fast_and_exact_match_reference(rng, n, h, w, c, oc, padding):
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, c, oc)) / np.sqrt(9 * c)).astype(np.float32)
    bias = rng.standard_normal(oc).astype(np.float32)
    graph = conv_graph(kernel, bias, padding)
    expected = ref.conv2d(x, kernel, bias, padding=padding)
    fast = graph.forward([x]).value(1)
    exact = graph.forward([x], exact=True).value(1)
    assert ref.rel_err(fast, expected) <= TOL_WINOGRAD
    assert ref.rel_err(exact, expected) <= TOL


@pytest.mark.parametrize("n,h,w,c,oc,padding", CASES)
def test_backward_input_matches_reference(rng, n, h, w, c, oc, padding):
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, c, oc)) / np.sqrt(9 * c)).astype(np.float32)
    graph = conv_graph(kernel, None, padding)
    tape = graph.forward([x])
    gy = rng.standard_normal(tape.shape(1)).astype(np.float32)
    (gx,) = tape.backward([(1, gy)], [0])
    expected = ref.conv2d_backward(gy, x.shape, kernel, padding=padding)
    assert ref.rel_err(gx, expected) <= TOL_WINOGRAD
    # chunks overlap-add concurrently; a race would make a second run differ
    assert np.array_equal(gx, tape.backward([(1, gy)], [0])[0])
    # exact mode keeps Winograd out of backward as well, with the direct path's budget
    (gx_exact,) = graph.forward([x], exact=True).backward([(1, gy)], [0])
    assert ref.rel_err(gx_exact, expected) <= TOL


def test_fused_relu_and_guided_modifier(rng):
    x = rng.standard_normal((2, 10, 9, 16)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, 16, 16)) / 12).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32) * 0.1
    graph = conv_graph(kernel, bias, "same", act=_core.ACT_RELU)
    pre = ref.conv2d(x, kernel, bias, padding="same")
    # keep the test away from ReLU ties: the fast and reference paths may round differently at 0
    assert np.min(np.abs(pre)) > 1e-4
    tape = graph.forward([x])
    assert ref.rel_err(tape.value(1), np.maximum(pre, 0)) <= TOL_WINOGRAD
    gy = rng.standard_normal(pre.shape).astype(np.float32)
    (gx,) = tape.backward([(1, gy)], [0], _core.MOD_GUIDED)
    gate = ref.relu_backward(gy, pre, modifier="guided")
    assert ref.rel_err(gx, ref.conv2d_backward(gate, x.shape, kernel, padding="same")) <= TOL_WINOGRAD


def test_graphs_over_one_kernel_share_and_release_the_transform(rng):
    """Rebuilding a graph over the same arrays (apply_modifications) reuses the transformed
    kernel; dropping graphs in any order leaves the survivors correct."""
    x = rng.standard_normal((1, 12, 12, 32)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, 32, 32)) / 17).astype(np.float32)
    expected = ref.conv2d(x, kernel, padding="same")
    graphs = [conv_graph(kernel, None, "same") for _ in range(3)]
    del graphs[0]
    assert ref.rel_err(graphs[-1].forward([x]).value(1), expected) <= TOL_WINOGRAD
    del graphs[-1]
    assert ref.rel_err(graphs[0].forward([x]).value(1), expected) <= TOL_WINOGRAD
    # weights cannot be rewritten in place under a transform: layers store them read-only, and
    # set_weights (a new array) recompiles
    from pyvis.layers import Conv2D, Input
    from pyvis.models import Model

    inp = Input((12, 12, 32))
    model = Model(inp, Conv2D(32, 3, padding="same", use_bias=False)(inp))
    with pytest.raises(ValueError, match="read-only"):
        model.layers[1].weights[0][...] *= 2
    model.layers[1].set_weights([2 * kernel])
    assert ref.rel_err(model.predict(x), 2 * expected) <= TOL_WINOGRAD
