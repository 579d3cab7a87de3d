"""Backward keeps each gradient only while it is alive (csrc/graph.c plans the gradient arena per
call). These graphs make lifetimes overlap in the ways a plan can get wrong -- a skip connection
whose gradient outlives its neighbours, a node read by two consumers, seeds at an intermediate
node and at the output, requested gradients of an intermediate node -- and check every returned
gradient against the chain rule written out in float64 NumPy. Repeated calls at growing and
shrinking batch sizes reuse and grow the arena."""
import numpy as np
import pytest

from pyvis import _core

LIN = _core.ACT_LINEAR


def skip_graph(w1, w2, w3):
    # 0: x  1: d1 = x W1  2: d2 = d1 W2  3: d3 = d2 W3  4: out = d3 + d1  5: side = d1 W2
    # d1 has three readers (2, 4, 5), so its gradient lives from step 5 down to step 1
    return _core.Graph([
        (_core.OP_INPUT, (), (w1.shape[0],), (), ()),
        (_core.OP_DENSE, (0,), (LIN,), (), (w1,)),
        (_core.OP_DENSE, (1,), (LIN,), (), (w2,)),
        (_core.OP_DENSE, (2,), (LIN,), (), (w3,)),
        (_core.OP_ADD, (3, 1), (), (), ()),
        (_core.OP_DENSE, (1,), (LIN,), (), (w2,)),
    ])


def expected_grads(w1, w2, w3, g_out, g_d2, g_side):
    w1, w2, w3 = (np.asarray(w, np.float64) for w in (w1, w2, w3))
    g_d3 = g_out
    g_d2_total = g_d3 @ w3.T + g_d2
    g_d1 = g_out + g_d2_total @ w2.T + g_side @ w2.T
    g_x = g_d1 @ w1.T
    return g_x, g_d1, g_d2_total


@pytest.mark.parametrize("batches", [(1, 3, 2), (4, 4, 1)])
def test_overlapping_gradient_lifetimes_match_the_chain_rule(batches):
    rng = np.random.default_rng(11)
    w1, w2, w3 = (rng.standard_normal(s).astype(np.float32) / 4 for s in [(6, 5), (5, 5), (5, 5)])
    graph = skip_graph(w1, w2, w3)
    for n in batches:
        x = rng.standard_normal((n, 6)).astype(np.float32)
        g_out, g_d2, g_side = (rng.standard_normal((n, 5)).astype(np.float32) for _ in range(3))
        tape = graph.forward([x])
        gx, gd1, gd2 = tape.backward([(4, g_out), (2, g_d2), (5, g_side)], [0, 1, 2], _core.MOD_NONE)
        for got, want in zip((gx, gd1, gd2), expected_grads(w1, w2, w3, g_out, g_d2, g_side)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        # a second backward on the same tape, seeded at the output only, with no side seed
        (gx_only,) = tape.backward([(4, g_out)], [0], _core.MOD_NONE)
        want_x = expected_grads(w1, w2, w3, g_out, 0 * g_d2, 0 * g_side)[0]
        np.testing.assert_allclose(gx_only, want_x, rtol=1e-5, atol=1e-5)


def test_requested_gradient_of_a_node_off_the_seeded_path_is_zero():
    rng = np.random.default_rng(12)
    w1, w2, w3 = (rng.standard_normal(s).astype(np.float32) for s in [(6, 5), (5, 5), (5, 5)])
    tape = skip_graph(w1, w2, w3).forward([rng.standard_normal((2, 6)).astype(np.float32)])
    # node 5 does not lead to the seed at node 3, so its gradient is zero; d1's is d3's chain only
    g3 = rng.standard_normal((2, 5)).astype(np.float32)
    g5, g1 = tape.backward([(3, g3)], [5, 1], _core.MOD_NONE)
    assert not g5.any()
    np.testing.assert_allclose(g1, (g3 @ w3.astype(np.float64).T) @ w2.astype(np.float64).T, rtol=1e-5, atol=1e-5)
