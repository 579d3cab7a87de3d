"""VGG16 side by side: pyvis against PyTorch on the same CPU, in one run.

Both sides get the same random weights (He-scaled, seeded) and the same images. For every
batch size, repetitions are interleaved (pyvis, PyTorch, pyvis, ...) after warm-up, so machine
noise hits both sides alike; the table shows medians. Modes:

  forward    pyvis model.predict            | torch forward under no_grad
  saliency   visualize_saliency (vanilla)   | x.requires_grad, backward of one logit, |g| max over C
  guided     ... backprop_modifier='guided' | the same with a guided-ReLU autograd function
  gradcam    visualize_cam (block5_pool)    | features under no_grad, backward from the logit to
                                              block5_pool, keras-vis's weighting, bicubic upsample

PyTorch uses the cheapest correct recipe for each mode (eval mode, weights not requiring grad,
no weight gradients; reference/perf.md section 3.1) and torch.set_num_threads equal to pyvis's.
Peak RSS is measured for each side in its own child process.

The last line is machine-readable:
    saliency_ratio=<pyvis/torch, batch 1> cam_ratio=<...> forward_ratio=<...>

Usage: python benchmarks/bench_vgg16.py [--batches 1 8] [--repeats 7] [--threads 2] [--layers]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

CLASS = 20
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


# ------------------------------------------------------------------------------------------
# shared weights


def make_weights(seed=0):
    """He-scaled random VGG16 weights in Keras layouts: [(kernel HWIO, bias)] * 13 + [(W (in,out), b)] * 3."""
    rng = np.random.default_rng(seed)
    weights, c = [], 3
    for v in CFG:
        if v == "M":
            continue
        weights.append(((rng.standard_normal((3, 3, c, v)) * np.sqrt(2.0 / (9 * c))).astype(np.float32),
                        (rng.standard_normal(v) * 0.01).astype(np.float32)))
        c = v
    for i, o in [(25088, 4096), (4096, 4096), (4096, 1000)]:
        weights.append(((rng.standard_normal((i, o)) * np.sqrt(2.0 / i)).astype(np.float32),
                        (rng.standard_normal(o) * 0.01).astype(np.float32)))
    return weights


def make_images(batch, seed=1):
    return (np.random.default_rng(seed).random((batch, 224, 224, 3)) * 255).astype(np.float32)


# ------------------------------------------------------------------------------------------
# pyvis side


class PyvisSide:
    name = "pyvis"

    def __init__(self, weights):
        from pyvis import activations
        from pyvis.applications import VGG16
        from pyvis.utils import utils
        from pyvis.visualization import visualize_cam, visualize_saliency

        model = VGG16(weights=None)
        model.set_weights([a for pair in weights for a in pair])
        model.layers[-1].activation = activations.linear
        t0 = time.perf_counter()
        self.model = utils.apply_modifications(model)
        self.apply_modifications_ms = 1000 * (time.perf_counter() - t0)
        self.visualize_saliency = visualize_saliency
        self.visualize_cam = visualize_cam

    def forward(self, x):
        return self.model.predict(x, batch_size=len(x))

    def saliency(self, x):
        return self.visualize_saliency(self.model, -1, CLASS, x)

    def guided(self, x):
        return self.visualize_saliency(self.model, -1, CLASS, x, backprop_modifier="guided")

    def gradcam(self, x):
        return self.visualize_cam(self.model, -1, CLASS, x)


# ------------------------------------------------------------------------------------------
# PyTorch side


class TorchSide:
    name = "torch"

    def __init__(self, weights, threads):
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        self.torch, self.F = torch, F

        class GuidedReLU(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.clamp_min(0)
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, g):
                (y,) = ctx.saved_tensors
                return g * (y > 0) * (g > 0)

        class Relu(nn.Module):
            def __init__(self, guided):
                super().__init__()
                self.guided = guided

            def forward(self, x):
                return GuidedReLU.apply(x) if self.guided else F.relu(x)

        convs, fcs, c, k = [], [], 3, 0
        for v in CFG:
            if v == "M":
                continue
            conv = nn.Conv2d(c, v, 3, padding=1)
            conv.weight.data = torch.from_numpy(weights[k][0].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(weights[k][1].copy())
            convs.append(conv)
            c, k = v, k + 1
        for w, b in weights[13:]:
            fc = nn.Linear(*w.shape)
            fc.weight.data = torch.from_numpy(w.T.copy())
            fc.bias.data = torch.from_numpy(b.copy())
            fcs.append(fc)
        for p in [p for m in convs + fcs for p in m.parameters()]:
            p.requires_grad_(False)

        def build(guided):
            """Both variants share the same layer objects (one copy of the weights)."""
            feats, convs_left = [], iter(convs)
            for v in CFG:
                feats += [nn.MaxPool2d(2)] if v == "M" else [next(convs_left), Relu(guided)]
            head = [fcs[0], Relu(guided), fcs[1], Relu(guided), fcs[2]]
            return nn.Sequential(*feats).eval(), nn.Sequential(*head).eval()

        self.features, self.head = build(False)
        self.features_guided, self.head_guided = build(True)

    def _logits(self, features, head, x):
        f = features(x)
        return head(f.permute(0, 2, 3, 1).reshape(x.shape[0], -1))   # Keras flattens NHWC

    @staticmethod
    def _normalize(m):
        flat = m.reshape(m.shape[0], -1)
        lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
        return ((flat - lo) / (hi - lo + 1e-7)).reshape(m.shape)

    def to_input(self, x):
        return self.torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    def forward(self, xt):
        with self.torch.no_grad():
            return self._logits(self.features, self.head, xt)

    def _saliency(self, xt, features, head):
        x = xt.clone().requires_grad_(True)
        self._logits(features, head, x)[:, CLASS].sum().backward()
        return self._normalize(x.grad.abs().amax(1))

    def saliency(self, xt):
        return self._saliency(xt, self.features, self.head)

    def guided(self, xt):
        return self._saliency(xt, self.features_guided, self.head_guided)

    def gradcam(self, xt):
        torch, F = self.torch, self.F
        with torch.no_grad():
            a = self.features(xt)                        # block5_pool output (N, 512, 7, 7)
        a.requires_grad_(True)
        self.head(a.permute(0, 2, 3, 1).reshape(a.shape[0], -1))[:, CLASS].sum().backward()
        g = a.grad
        g = g / (g.amax(dim=(1, 2, 3), keepdim=True) + 1e-7)
        w = g.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((w * a.detach()).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=(224, 224), mode="bicubic", align_corners=True)
        return self._normalize(cam[:, 0])


# ------------------------------------------------------------------------------------------
# timing


MODES = ["forward", "saliency", "guided", "gradcam"]


def time_modes(pyvis_side, torch_side, batch, repeats, warmup):
    x = make_images(batch)
    xt = torch_side.to_input(x)
    inputs = {"pyvis": x, "torch": xt}
    sides = [pyvis_side, torch_side]
    for mode in MODES:
        for side in sides:
            for _ in range(warmup):
                getattr(side, mode)(inputs[side.name])
    times = {(s.name, m): [] for s in sides for m in MODES}
    for _ in range(repeats):
        for mode in MODES:
            for side in sides:
                t0 = time.perf_counter()
                getattr(side, mode)(inputs[side.name])
                times[(side.name, mode)].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def child_peak_rss(side, batch, threads):
    """Peak RSS (MB) of a fresh process that builds one side and runs every mode twice."""
    out = subprocess.run([sys.executable, __file__, "--rss-child", side, "--batches", str(batch),
                          "--threads", str(threads)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def rss_child(side, batch, threads):
    import pyvis

    pyvis.set_num_threads(threads)
    weights = make_weights()
    obj = PyvisSide(weights) if side == "pyvis" else TorchSide(weights, threads)
    del weights
    x = make_images(batch)
    inp = x if side == "pyvis" else obj.to_input(x)
    for _ in range(2):
        for mode in MODES:
            getattr(obj, mode)(inp)
    # VmHWM, not ru_maxrss: the latter carries the forked parent's high-water mark across exec
    with open("/proc/self/status") as status:
        hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(hwm_kb / 1024.0)


def conv_layer_times(threads, repeats):
    """Per-layer VGG16 convolution times at batch 1: forward (Winograd and exact) and backward."""
    from pyvis import _core

    rng = np.random.default_rng(0)
    rows, size, c = [], 224, 3
    k = 0
    for v in CFG:
        if v == "M":
            size //= 2
            continue
        k += 1
        kernel = (rng.standard_normal((3, 3, c, v)) * 0.05).astype(np.float32)
        graph = _core.Graph([(_core.OP_INPUT, (), (size, size, c), (), ()),
                             (_core.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, _core.PAD_SAME, _core.ACT_RELU), (),
                              (kernel,))])
        x = rng.standard_normal((1, size, size, c)).astype(np.float32)
        gy = rng.standard_normal((1, size, size, v)).astype(np.float32)

        def med(fn):
            fn()
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            return 1000 * statistics.median(ts)

        tape = graph.forward([x])
        rows.append((f"conv{k} {size}x{size} {c}->{v}", med(lambda: graph.forward([x])),
                     med(lambda: graph.forward([x], exact=True)),
                     med(lambda: tape.backward([(1, gy)], [0]))))
        c = v
    print("\nper-layer convolution, batch 1 (ms, medians of %d)" % repeats)
    print("%-26s %10s %10s %10s" % ("layer", "fwd", "fwd exact", "bwd-data"))
    for name, f, e, b in rows:
        print("%-26s %10.2f %10.2f %10.2f" % (name, f, e, b))
    print("%-26s %10.2f %10.2f %10.2f" % ("total", sum(r[1] for r in rows), sum(r[2] for r in rows),
                                            sum(r[3] for r in rows)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", action="store_true", help="also time each convolution layer")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    ap.add_argument("--rss-child", choices=["pyvis", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.batches[0], args.threads)
        return

    import pyvis
    import torch

    pyvis.set_num_threads(args.threads)
    weights = make_weights()
    pv, pt = PyvisSide(weights), TorchSide(weights, args.threads)
    print("pyvis %s, torch %s, %d threads each, medians of %d after %d warm-up runs"
          % (pyvis.__version__, torch.__version__, args.threads, args.repeats, args.warmup))
    print("apply_modifications on VGG16: %.2f ms" % pv.apply_modifications_ms)
    print("\n%-6s %-9s %12s %12s %8s %14s %14s" % ("batch", "mode", "pyvis ms", "torch ms", "ratio",
                                                  "pyvis ms/img", "torch ms/img"))
    ratios = {}
    for batch in args.batches:
        med = time_modes(pv, pt, batch, args.repeats, args.warmup)
        for mode in MODES:
            a, b = med[("pyvis", mode)], med[("torch", mode)]
            ratios[(batch, mode)] = a / b
            print("%-6d %-9s %12.1f %12.1f %8.3f %14.1f %14.1f" % (batch, mode, a, b, a / b, a / batch, b / batch))
    if not args.no_rss:
        print("\npeak RSS (MB), each side in its own process running every mode")
        for batch in args.batches:
            a, b = child_peak_rss("pyvis", batch, args.threads), child_peak_rss("torch", batch, args.threads)
            print("batch %-3d pyvis %8.0f   torch %8.0f   ratio %.3f" % (batch, a, b, a / b))
    if args.layers:
        conv_layer_times(args.threads, args.repeats)
    b1 = args.batches[0]
    print("\nsaliency_ratio=%.3f cam_ratio=%.3f forward_ratio=%.3f"
          % (ratios[(b1, "saliency")], ratios[(b1, "gradcam")], ratios[(b1, "forward")]))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
