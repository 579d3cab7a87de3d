"""Fuzz target: the native graph builder, forward and backward (`pyvis._core`).

Each input describes a small graph: ops (mostly valid, sometimes out of range), input indices
(sometimes dangling or forward references), integer and float parameters (sometimes hostile:
0, -1, 2**31, 2**62, NaN), weights whose shapes usually fit the tracked input shape (so that
many graphs run) and sometimes do not. The graph is built, run forward on a tiny batch
(NaN/Inf included), and differentiated from random seeds to random nodes with a random
modifier. Bad graphs must raise ValueError/TypeError/IndexError/MemoryError; a crash or any
other exception is a bug.

Run:  python tests/fuzz/fuzz_graph.py -max_total_time=15 -rss_limit_mb=4096
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import Draw, main  # noqa: E402

c = None

HOSTILE_INTS = (0, -1, -2, 2 ** 31, 2 ** 62, -(2 ** 40), 2 ** 63 - 1)
FLOATS = (0.0, 0.2, 0.5, 1.0, -1.0, 6.0, float("inf"), float("nan"), 1e30, -0.0)
VALUES = (0.0, 1.0, -1.0, 0.5, float("nan"), float("inf"), -float("inf"), 3e38)


def setup():
    global c
    from pyvis import _core
    c = _core


def small_int(d):
    """A usually-sensible parameter, occasionally a hostile one."""
    return d.pick(HOSTILE_INTS) if d.chance(20) else d.int_in(1, 3)


def weight(d, shape):
    """A float32 array of `shape` (or a mangled shape), filled from a few interesting values."""
    if d.chance(16):
        shape = tuple(d.int_in(0, 3) for _ in range(d.int_in(0, 4)))
    size = int(np.prod(shape)) if shape else 1
    if size > 4096:
        shape, size = (1,), 1
    fill = d.pick(VALUES) if d.chance(16) else None
    arr = np.linspace(-1.0, 1.0, size, dtype=np.float32).reshape(shape)
    if fill is not None and size:
        arr.flat[d.int_in(0, size - 1)] = fill
    if d.chance(10):
        arr = arr.astype(d.pick((np.float64, np.int32, np.float16, np.complex64, object)))
    return arr


def make_node(d, i, shapes):
    """(node tuple, tracked per-sample output shape or None) for node i."""
    op = d.pick(tuple(range(c.OP_MAXIMUM + 1)) + (-1, 19, 2 ** 32 + 1)) if i else c.OP_INPUT
    src = d.int_in(0, i - 1) if i else 0
    if d.chance(12):
        src = d.pick((-1, -2, i, i + 5, 2 ** 40))
    ins = (src,) if i else ()
    s = shapes[src] if 0 <= src < i else None
    ip, fp, ws, out = (), (), (), None
    if op == c.OP_INPUT:
        out = tuple(d.int_in(1, 5) for _ in range(d.int_in(1, 3)))
        ip = tuple(-1 if d.chance(40) else v for v in out)
        if d.chance(16):
            ip = tuple(d.pick((0, -1, -2, 1, 2 ** 62)) for _ in range(d.int_in(0, 9)))
        ins = ()
    elif op in (c.OP_CONV2D, c.OP_DEPTHWISE_CONV2D):
        k, st, dl = small_int(d), small_int(d), small_int(d) if d.chance(40) else 1
        pad, act = d.int_in(0, 2) if d.chance(8) else d.int_in(0, 1), d.pick((0, 1, 1, 2))
        ip = (k, k, st, st, dl, dl, pad, act)
        ch = s[-1] if s else d.int_in(1, 3)
        oc = d.int_in(1, 4)
        kshape = (k, k, ch, oc) if 0 < k < 8 else (1, 1, ch, oc)
        ws = (weight(d, kshape),) + ((weight(d, (ch * oc if op == c.OP_DEPTHWISE_CONV2D else oc,)),)
                                     if d.chance(128) else ())
        if s and len(s) == 3 and 0 < k < 8 and 0 < st < 8 and 0 < dl < 8:
            oh = -(-s[0] // st) if pad == 1 else (s[0] - (k - 1) * dl - 1) // st + 1
            ow = -(-s[1] // st) if pad == 1 else (s[1] - (k - 1) * dl - 1) // st + 1
            if oh > 0 and ow > 0:
                out = (oh, ow, ch * oc if op == c.OP_DEPTHWISE_CONV2D else oc)
    elif op == c.OP_DENSE:
        n_in = s[-1] if s else d.int_in(1, 4)
        units = d.int_in(1, 4)
        ip = (d.pick((0, 1, 1, 2, -1)),)
        ws = (weight(d, (n_in, units)),) + ((weight(d, (units,)),) if d.chance(128) else ())
        out = (s[:-1] + (units,)) if s else None
    elif op in (c.OP_MAXPOOL2D, c.OP_AVGPOOL2D):
        p, st = small_int(d), small_int(d)
        ip = (p, p, st, st, d.int_in(0, 2) if d.chance(8) else d.int_in(0, 1))
    elif op in (c.OP_GLOBAL_AVGPOOL2D, c.OP_GLOBAL_MAXPOOL2D):
        ip = (d.int_in(0, 1),)
        out = ((1, 1, s[-1]) if ip[0] else (s[-1],)) if s and len(s) == 3 else None
    elif op == c.OP_RESHAPE:
        ip = (-1,) if not d.chance(30) else tuple(small_int(d) if d.chance(128) else -1
                                                   for _ in range(d.int_in(0, 9)))
        out = (int(np.prod(s)),) if s and ip == (-1,) else None
    elif op == c.OP_ACTIVATION:
        ip = (d.pick(tuple(range(c.ACT_RELU_GENERAL + 1)) + (-1, 16, 2 ** 33)), d.int_in(0, 1))
        fp = tuple(d.pick(FLOATS) for _ in range(d.int_in(0, 3)))
        out = s
    elif op in (c.OP_ADD, c.OP_CONCAT, c.OP_MULTIPLY, c.OP_AVERAGE, c.OP_MAXIMUM):
        n = d.int_in(0, 4) if d.chance(20) else 2
        ins = tuple(d.int_in(-1, i) if d.chance(8) else src for _ in range(n))
        if op == c.OP_CONCAT:
            ip = (d.pick((0, 1, 2, -1, 7, 8, 2 ** 40)),)
        out = s if op != c.OP_CONCAT else None
    elif op == c.OP_AFFINE:
        ch = s[-1] if s else 1
        ws = (weight(d, (ch,)), weight(d, (ch,)))
        out = s
    elif op in (c.OP_PAD2D, c.OP_CROP2D):
        ip = tuple(d.int_in(0, 2) if not d.chance(12) else d.pick(HOSTILE_INTS) for _ in range(4))
    elif op == c.OP_UPSAMPLE2D:
        ip = (small_int(d), small_int(d))
    if d.chance(6):                       # random arity of integer parameters
        ip = tuple(d.pick(HOSTILE_INTS) for _ in range(d.int_in(0, 17)))
    if d.chance(4):
        ws = tuple(weight(d, (2, 2)) for _ in range(d.int_in(0, 5)))
    return (op, ins, ip, fp, ws), out


def one_input(data):
    d = Draw(data)
    if d.chance(20):
        c.set_num_threads(d.int_in(1, 3))
    n = d.int_in(1, 6)
    nodes, shapes = [], []
    for i in range(n):
        node, out = make_node(d, i, shapes)
        nodes.append(node)
        shapes.append(out)
    if d.chance(4):                        # not a tuple / wrong arity
        nodes[d.int_in(0, n - 1)] = d.pick(([], (0,), (0, (), (), ()), None, "node"))
    graph = c.Graph(nodes)
    batch = d.int_in(0, 3)
    feeds = []
    for node, s in zip(nodes, shapes):
        if isinstance(node, tuple) and node and node[0] == c.OP_INPUT:
            shape = (batch,) + tuple(s or (1,))
            if d.chance(12):
                shape = tuple(d.int_in(0, 4) for _ in range(d.int_in(0, 5)))
            x = np.full(shape, d.pick(VALUES) if d.chance(16) else 0.25, np.float32)
            if d.chance(8):
                x = x.astype(np.float64)[..., ::-1] if x.ndim else x
            feeds.append(x)
    if d.chance(8):
        feeds = feeds[:-1] if feeds else [np.zeros((1, 1), np.float32)]
    tape = graph.forward(feeds, exact=d.chance(128))
    for _ in range(d.int_in(1, 3)):
        k = d.int_in(0, n - 1)
        seeds = [(k, np.ones(tape.shape(k), np.float32))]
        if d.chance(20):
            seeds.append((d.int_in(-1, n), np.ones((d.int_in(0, 3),), np.float32)))
        wrt = [d.int_in(0, n - 1) for _ in range(d.int_in(0, 3))]
        if d.chance(10):
            wrt.append(d.pick((-1, n, 2 ** 40, "x")))
        mod = d.int_in(0, 2) if not d.chance(10) else d.pick((-1, 3, 2 ** 40))
        grads = tape.backward(seeds, wrt, mod)
        for g, w in zip(grads, wrt):
            assert g.shape == tape.shape(w), (g.shape, tape.shape(w))
        tape.value(d.int_in(0, n - 1))


if __name__ == "__main__":
    main(one_input, setup)
