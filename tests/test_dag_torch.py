"""A small branching network (Add, Concatenate, tensors used several times) vs PyTorch.

The PyTorch twin runs in float64 and is the precise reference; pyvis runs in
float32.  Draws are redrawn until they are tie-free in the float64 run (every
ReLU input at least 1e-4 of its range from 0, every max-pool window with a clear
winner), so no ReLU/pool decision can differ and the gradients can be held to
the same 1e-4 relative bound as the outputs (max error over max |reference|).

Graph (names as in the pyvis model):
  input(12,12,3) -> stem: Conv3x3 same relu = a
  b1: Conv3x3 same linear (a);  b2: Conv1x1 relu (a)
  add: Add(b1, b2, a)  -> relu_add: ReLU() -> pool: MaxPool 2x2 = p
  c1: Conv3x3 same tanh (p);  cat: Concatenate(p, c1, p)   (p used three times)
  gap: GlobalAveragePooling2D -> head: Dense(5, relu) -> out: Dense(4)
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference as R
from pyvis import layers, models

TOL = 1e-4
CONVS = {"stem": (3, 3, 3, 6), "b1": (3, 3, 6, 6), "b2": (1, 1, 6, 6), "c1": (3, 3, 6, 4)}
DENSES = {"head": (16, 5), "out": (5, 4)}


def build_pyvis():
    inp = layers.Input(shape=(12, 12, 3), name="image")
    a = layers.Conv2D(6, 3, padding="same", activation="relu", name="stem")(inp)
    b1 = layers.Conv2D(6, 3, padding="same", name="b1")(a)
    b2 = layers.Conv2D(6, 1, activation="relu", name="b2")(a)
    s = layers.Add(name="add")([b1, b2, a])
    p = layers.MaxPooling2D(2, name="pool")(layers.ReLU(name="relu_add")(s))
    c1 = layers.Conv2D(4, 3, padding="same", activation="tanh", name="c1")(p)
    c = layers.Concatenate(name="cat")([p, c1, p])
    g = layers.GlobalAveragePooling2D(name="gap")(c)
    h = layers.Dense(5, activation="relu", name="head")(g)
    return models.Model(inp, layers.Dense(4, name="out")(h))


class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0) * (g > 0)


def torch_forward(x_nhwc, w, guided=False):
    """float64 twin; returns the output and every named tensor (NCHW) plus ReLU inputs."""
    relu = GuidedReLU.apply if guided else torch.relu
    t = {}

    def conv(name, v, padding):
        k, b = w[name]
        kt = torch.from_numpy(k.astype(np.float64).transpose(3, 2, 0, 1).copy())
        return F.conv2d(v, kt, torch.from_numpy(b.astype(np.float64)), padding=padding)

    x = x_nhwc.permute(0, 3, 1, 2)
    t["stem_pre"] = conv("stem", x, 1)
    t["stem"] = relu(t["stem_pre"])
    t["b1"] = conv("b1", t["stem"], 1)
    t["b2_pre"] = conv("b2", t["stem"], 0)
    t["b2"] = relu(t["b2_pre"])
    t["add"] = t["b1"] + t["b2"] + t["stem"]
    t["relu_add"] = relu(t["add"])
    t["pool"] = F.max_pool2d(t["relu_add"], 2, 2)
    t["c1"] = torch.tanh(conv("c1", t["pool"], 1))
    t["cat"] = torch.cat([t["pool"], t["c1"], t["pool"]], dim=1)
    t["gap"] = t["cat"].mean(dim=(2, 3))
    k, b = (torch.from_numpy(a.astype(np.float64)) for a in w["head"])
    t["head_pre"] = t["gap"] @ k + b
    t["head"] = relu(t["head_pre"])
    k, b = (torch.from_numpy(a.astype(np.float64)) for a in w["out"])
    return t["head"] @ k + b, t


def _tie_free(t):
    for name in ("stem_pre", "b2_pre", "add", "head_pre"):
        z = t[name].detach().numpy()
        if np.min(np.abs(z)) <= 1e-4 * np.max(np.abs(z)):
            return False
    r = t["relu_add"].detach().numpy()  # (N, C, H, W) -> 2x2 windows
    n, c, h, ww = r.shape
    win = np.sort(r.reshape(n, c, h // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5)
                  .reshape(-1, 4), axis=1)
    winners = win[:, 3] > 0  # all-zero windows are exact ties in both engines (gradient 0)
    return bool(np.all(win[winners, 3] - win[winners, 2] > 1e-4 * r.max()))


def draw(rng, n):
    for _ in range(100):
        w = {}
        for name, shape in CONVS.items():
            fan_in = shape[0] * shape[1] * shape[2]
            w[name] = [np.float32(rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)),
                       np.float32(rng.standard_normal(shape[3]) * 0.1)]
        for name, shape in DENSES.items():
            w[name] = [np.float32(rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])),
                       np.float32(rng.standard_normal(shape[1]) * 0.1)]
        x = np.float32(rng.standard_normal((n, 12, 12, 3)))
        _, t = torch_forward(torch.from_numpy(x.astype(np.float64)), w)
        if _tie_free(t):
            return w, x
    raise RuntimeError("could not draw a tie-free network")


@pytest.fixture(params=[1, 3], ids=["n1", "n3"])
def setup(request, rng):
    n = request.param
    w, x = draw(rng, n)
    model = build_pyvis()
    for name, ws in w.items():
        model.get_layer(name).set_weights(ws)
    return model, w, x


def nhwc(a):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def test_layer_order_follows_keras(setup):
    """Depth-descending, ties by first visit from the outputs (keras-formats.md 4.5)."""
    model, _, _ = setup
    names = [layer.name for layer in model.layers]
    assert names[0] == "image" and names[-1] == "out"
    for before, after in [("stem", "b1"), ("stem", "b2"), ("b1", "add"), ("add", "relu_add"),
                          ("pool", "c1"), ("c1", "cat"), ("cat", "gap")]:
        assert names.index(before) < names.index(after), (before, after, names)


def test_forward_and_intermediates(setup):
    model, w, x = setup
    out, t = torch_forward(torch.from_numpy(x.astype(np.float64)), w)
    assert R.rel_err(model.predict(x), out.numpy()) <= TOL
    tape = model.run(x)
    for name in ("stem", "b1", "b2", "add", "relu_add", "pool", "c1", "cat", "gap", "head"):
        assert R.rel_err(tape.value(name), nhwc(t[name])) <= TOL, name


@pytest.mark.parametrize("guided", [False, True], ids=["vanilla", "guided"])
def test_input_and_intermediate_gradients(setup, rng, guided):
    model, w, x = setup
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    out, t = torch_forward(xt, w, guided=guided)
    wrt = ["stem", "add", "pool", "cat"]
    for name in wrt:
        t[name].retain_grad()
    seed = np.float32(rng.standard_normal(out.shape))
    out.backward(torch.from_numpy(seed.astype(np.float64)))

    grads = model.run(x).backward([(model.output, seed)], wrt=[model.input] + wrt,
                                  modifier="guided" if guided else None)
    assert R.rel_err(grads[0], xt.grad.numpy()) <= TOL, "input"
    for name, g in zip(wrt, grads[1:]):
        assert R.rel_err(g, nhwc(t[name].grad)) <= TOL, name


def test_seeds_on_shared_intermediates_accumulate(setup, rng):
    """Seeds on the output, on 'pool' (which feeds three consumers) and on 'stem'
    (which feeds three) add up, as d/dx of sum_i <seed_i, tensor_i>."""
    model, w, x = setup
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    out, t = torch_forward(xt, w)
    s_out = np.float32(rng.standard_normal(out.shape))
    s_pool = np.float32(rng.standard_normal(nhwc(t["pool"]).shape))
    s_stem = np.float32(rng.standard_normal(nhwc(t["stem"]).shape))
    total = ((out * torch.from_numpy(s_out.astype(np.float64))).sum()
             + (t["pool"] * torch.from_numpy(s_pool.transpose(0, 3, 1, 2).astype(np.float64))).sum()
             + (t["stem"] * torch.from_numpy(s_stem.transpose(0, 3, 1, 2).astype(np.float64))).sum())
    t["add"].retain_grad()
    total.backward()
    gx, g_add = model.run(x).backward([(model.output, s_out), ("pool", s_pool), ("stem", s_stem)],
                                      wrt=[model.input, "add"])
    assert R.rel_err(gx, xt.grad.numpy()) <= TOL
    assert R.rel_err(g_add, nhwc(t["add"].grad)) <= TOL
