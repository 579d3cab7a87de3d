"""Each Conv2D code path of csrc/conv2d.c against the NumPy float64 reference, chosen on purpose.

conv2d.c picks its backward algorithm from the shapes: pointwise (1x1, stride 1) runs one sgemm;
narrow inputs (4 * C <= OC, e.g. an RGB first layer) project the output gradient first and gather
per input pixel; everything else gathers output gradients per input pixel and runs one sgemm per
tap. (3x3 stride-1 layers with C, OC >= 16 go to Winograd, tested in test_winograd.py.) The grids
below make sure every path sees strides, dilations, both paddings, odd sizes and batches.
"""
import numpy as np
import pytest

from pyvis import _core

import reference as ref

TOL = 1e-5


def run(x, kernel, strides, dilation, padding, rng):
    kh, kw, c, _ = kernel.shape
    pad = _core.PAD_SAME if padding == "same" else _core.PAD_VALID
    graph = _core.Graph([
        (_core.OP_INPUT, (), x.shape[1:], (), ()),
        (_core.OP_CONV2D, (0,), (kh, kw, strides[0], strides[1], dilation[0], dilation[1], pad,
                                 _core.ACT_LINEAR), (), (kernel,)),
    ])
    tape = graph.forward([x])
    gy = rng.standard_normal(tape.shape(1)).astype(np.float32)
    (gx,) = tape.backward([(1, gy)], [0])
    y_ref = ref.conv2d(x, kernel, strides=strides, dilation=dilation, padding=padding)
    gx_ref = ref.conv2d_backward(gy, x.shape, kernel, strides=strides, dilation=dilation, padding=padding)
    return ref.rel_err(tape.value(1), y_ref), ref.rel_err(gx, gx_ref)


GEOMETRY = [
    # (kernel, strides, dilation, padding)
    ((3, 3), (1, 1), (1, 1), "same"),
    ((3, 3), (2, 2), (1, 1), "same"),
    ((5, 3), (2, 1), (1, 1), "valid"),
    ((3, 3), (1, 1), (2, 2), "same"),
    ((7, 7), (2, 2), (1, 1), "same"),
    ((2, 2), (3, 3), (1, 1), "valid"),
]


@pytest.mark.parametrize("c,oc", [(3, 64), (1, 8), (3, 12)])          # 4 * C <= OC: project first
@pytest.mark.parametrize("kernel,strides,dilation,padding", GEOMETRY)
def test_narrow_input_project_first(rng, c, oc, kernel, strides, dilation, padding):
    x = rng.standard_normal((2, 15, 13, c)).astype(np.float32)
    k = (rng.standard_normal(kernel + (c, oc)) / np.sqrt(kernel[0] * kernel[1] * c)).astype(np.float32)
    fwd, bwd = run(x, k, strides, dilation, padding, rng)
    assert fwd <= TOL and bwd <= TOL


@pytest.mark.parametrize("c,oc", [(8, 8), (6, 20), (17, 5)])          # gather output gradients
@pytest.mark.parametrize("kernel,strides,dilation,padding", GEOMETRY)
def test_gather_per_input_pixel(rng, c, oc, kernel, strides, dilation, padding):
    x = rng.standard_normal((3, 11, 14, c)).astype(np.float32)
    k = (rng.standard_normal(kernel + (c, oc)) / np.sqrt(kernel[0] * kernel[1] * c)).astype(np.float32)
    fwd, bwd = run(x, k, strides, dilation, padding, rng)
    assert fwd <= TOL and bwd <= TOL


@pytest.mark.parametrize("c,oc", [(3, 64), (64, 3), (32, 32)])
def test_pointwise(rng, c, oc):
    x = rng.standard_normal((2, 9, 7, c)).astype(np.float32)
    k = (rng.standard_normal((1, 1, c, oc)) / np.sqrt(c)).astype(np.float32)
    fwd, bwd = run(x, k, (1, 1), (1, 1), "valid", rng)
    assert fwd <= TOL and bwd <= TOL
