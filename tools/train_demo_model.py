"""Train ShapesNet, pyvis's built-in demo model, and write it as a Keras 2 full-model .h5 file.

Dev-time only (needs PyTorch; pyvis itself never does). Run from the repository root:

    python tools/train_demo_model.py            # writes pyvis/applications/data/shapesnet.h5

The data come from ``pyvis.applications.shapes`` (64x64 RGB circles, squares, triangles and
crosses on textured, noisy backgrounds): a training set and a held-out set drawn with different
seeds. The network is a small Keras-style CNN (four 3x3 Conv2D with ReLU, three MaxPooling2D,
GlobalMaxPooling2D, Dense(64, relu), Dense(4, softmax)), trained in PyTorch with fixed seeds
and single-threaded deterministic kernels, so that a rerun writes the same weights.

The file is written with h5py exactly in the layout ``model.save('x.h5')`` of tf.keras 2.x
produces (keras-formats.md §1): root attributes ``keras_version``, ``backend``, ``model_config``
(a Functional config in Keras 2 JSON), and ``/model_weights`` with ``layer_names``, one group per
layer, ``weight_names`` and ``<layer>/<var>:0`` datasets. Training uses batch normalisation and a
normalised input; both are affine and are folded exactly into the convolutions on export, so
the shipped model has plain Conv2D layers and takes raw 0..255 pixels, as ``utils.load_img``
returns them.

Finally the file is loaded back through pyvis's own Keras loader, which must reproduce the
PyTorch predictions, and the held-out accuracy is printed.
"""

import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pyvis.applications import shapes  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "pyvis", "applications", "data", "shapesnet.h5")
MODEL_NAME = "shapesnet"
INPUT_NAME = "input_1"
# (filters, followed by a 2x2 max-pool?) per 3x3 'same' convolution: 64 -> 32 -> 16 -> 8 -> 8.
# The last convolution sees about 40 px, a whole shape, and keeps an 8x8 map for Grad-CAM.
CONV_BLOCKS = ((16, True), (32, True), (64, True), (64, False))
# Global max pooling: "is the pattern anywhere?". With average pooling the small shapes (7 % of
# the pixels) drown in background and training sat on a loss plateau for thousands of steps, and
# its Grad-CAM peaks often fell beside the shape; max pooling trains in two epochs and points at it.
GLOBAL_POOL = "max"              # GlobalMaxPooling2D ("avg": GlobalAveragePooling2D)
DENSE_UNITS = 64
# Training-time input normalisation z = (x / 255 - 0.5) / 0.25, applied AFTER the first conv's zero
# padding so that it folds exactly into that conv: kernel / 63.75, bias - 2 * sum(kernel).
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25


class ShapesNetTorch(nn.Module):
    """The training twin of the Keras model, layer for layer.

    Global pooling (rather than Flatten) makes the classifier translation invariant: shapes
    appear anywhere, and it learns from a few thousand images what a Flatten + Dense head
    would have to learn separately at every position. Batch normalisation after each
    convolution gets training off its plateau quickly; in inference it is an affine map per
    channel, folded into the convolution's kernel and bias on export, so the Keras model has
    plain Conv2D layers.
    """

    def __init__(self):
        super().__init__()
        convs, norms, channels = [], [], 3
        for filters, _ in CONV_BLOCKS:
            convs.append(nn.Conv2d(channels, filters, 3, padding=0))   # padded by hand in forward
            norms.append(nn.BatchNorm2d(filters))
            channels = filters
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.fc1 = nn.Linear(channels, DENSE_UNITS)
        self.predictions = nn.Linear(DENSE_UNITS, len(shapes.CLASS_NAMES))

    def forward(self, x):                   # x: (N, 3, 64, 64) raw pixels / 255
        for b, (conv, norm, (_, pool)) in enumerate(zip(self.convs, self.norms, CONV_BLOCKS)):
            x = nn.functional.pad(x, (1, 1, 1, 1))            # Keras 'same' for 3x3 stride 1
            if b == 0:
                x = (x - PIXEL_MEAN) / PIXEL_STD
            x = torch.relu(norm(conv(x)))
            if pool:
                x = nn.functional.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3)) if GLOBAL_POOL == "avg" else x.amax(dim=(2, 3))
        return self.predictions(torch.relu(self.fc1(x)))      # logits; softmax lives in the loss

    @torch.no_grad()
    def folded_convs(self):
        """[(kernel HWIO, bias)] of the inference-time convolutions taking raw 0..255 pixels."""
        out = []
        for b, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            w = conv.weight.double()                           # (OC, C, KH, KW)
            bias = conv.bias.double()
            if b == 0:   # conv((pad(x)/255 - m) / s) = conv(pad(x)) / (255 s) - m/s sum(w)
                bias = bias - PIXEL_MEAN / PIXEL_STD * w.sum(dim=(1, 2, 3))
                w = w / (255.0 * PIXEL_STD)
            scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
            w = w * scale[:, None, None, None]
            bias = (bias - norm.running_mean.double()) * scale + norm.bias.double()
            out.append((w.permute(2, 3, 1, 0).float().numpy(), bias.float().numpy()))
        return out


def to_tensor(images):
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0))
    return x.permute(0, 3, 1, 2).contiguous()


def train(net, data, epochs, batch_size, lr, seed):
    gen = torch.Generator().manual_seed(seed)
    x, y = to_tensor(data.images), torch.from_numpy(data.labels)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * ((len(y) + batch_size - 1) // batch_size)
    # full rate while the network leaves its initial plateau, cosine decay afterwards
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 1.0 if step < steps // 2 else
        0.5 * (1 + np.cos(np.pi * (step - steps // 2) / (steps - steps // 2))))
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        t0 = time.time()
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            logits = net(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            total += len(idx)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, train accuracy "
              f"{correct / total:.4f} ({time.time() - t0:.0f} s)", flush=True)


@torch.no_grad()
def predict(net, images, batch_size=500):
    net.eval()
    out = [torch.softmax(net(to_tensor(images[i:i + batch_size])), 1).numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


# --------------------------------------------------------------------------------------------
# Keras 2 full-model HDF5 writer

def _initializers():
    return {"kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}


def _layer(class_name, config, inbound):
    """A Functional config entry with a Keras 2 inbound node ([[name, 0, 0, {}]])."""
    nodes = [] if inbound is None else [[[inbound, 0, 0, {}]]]
    config = dict({"trainable": True, "dtype": "float32"}, **config)
    return {"class_name": class_name, "config": config, "name": config["name"],
            "inbound_nodes": nodes}


def keras_layers(net):
    """[(config entry, [(weight name, array)])] in model.layers order, with Keras weight layouts."""
    side = shapes.IMAGE_SIZE
    out = [(_layer("InputLayer", {"batch_input_shape": [None, side, side, 3], "sparse": False,
                                  "ragged": False, "name": INPUT_NAME}, None), [])]
    prev = INPUT_NAME
    for b, ((kernel, bias), (_, pool)) in enumerate(zip(net.folded_convs(), CONV_BLOCKS), start=1):
        name = f"block{b}_conv"
        cfg = dict({"name": name, "filters": int(kernel.shape[-1]), "kernel_size": [3, 3],
                    "strides": [1, 1], "padding": "same", "data_format": "channels_last",
                    "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True},
                   **_initializers())
        out.append((_layer("Conv2D", cfg, prev),
                    [(f"{name}/kernel:0", kernel), (f"{name}/bias:0", bias)]))
        prev = name
        if pool:
            out.append((_layer("MaxPooling2D", {"name": f"block{b}_pool", "pool_size": [2, 2],
                                                "padding": "valid", "strides": [2, 2],
                                                "data_format": "channels_last"}, prev), []))
            prev = f"block{b}_pool"
    pool_class = "GlobalAveragePooling2D" if GLOBAL_POOL == "avg" else "GlobalMaxPooling2D"
    out.append((_layer(pool_class, {"name": "global_pool",
                                                  "data_format": "channels_last",
                                                  "keepdims": False}, prev), []))
    prev = "global_pool"
    for name, lin, act in (("fc1", net.fc1, "relu"), ("predictions", net.predictions, "softmax")):
        cfg = dict({"name": name, "units": lin.out_features, "activation": act, "use_bias": True},
                   **_initializers())
        out.append((_layer("Dense", cfg, prev),
                    [(f"{name}/kernel:0", lin.weight.detach().numpy().T),   # (out,in) -> (in,out)
                     (f"{name}/bias:0", lin.bias.detach().numpy())]))
        prev = name
    return out


def write_keras_h5(path, net):
    """Write `net` as a tf.keras-2-style full-model file (what `model.save('x.h5')` writes)."""
    entries = keras_layers(net)
    config = {"class_name": "Functional",
              "config": {"name": MODEL_NAME, "layers": [e for e, _ in entries],
                         "input_layers": [[INPUT_NAME, 0, 0]],
                         "output_layers": [["predictions", 0, 0]]}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        # Keras assigns bytes for these, which h5py 3 stores as variable-length ASCII strings
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [e["name"].encode("utf8") for e, _ in entries]
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.15.0"
        for entry, weights in entries:
            lg = g.create_group(entry["name"])
            # an empty list becomes float64 (0,), exactly as np.asarray([]) in Keras
            lg.attrs["weight_names"] = ([w.encode("utf8") for w, _ in weights] if weights
                                        else np.asarray([]))
            for wname, value in weights:
                lg.create_dataset(wname, data=np.ascontiguousarray(value, dtype=np.float32))
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="output .h5 path (default: the packaged file)")
    ap.add_argument("--train", type=int, default=16000, help="training images")
    ap.add_argument("--heldout", type=int, default=2000, help="held-out images")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20240601, help="seed for weights and batch order")
    args = ap.parse_args(argv)

    # determinism: fixed seeds, deterministic kernels, one thread (reduction order fixed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    t0 = time.time()
    train_set = shapes.make_shapes(args.train, seed=args.seed + 1)
    heldout = shapes.make_shapes(args.heldout, seed=args.seed + 2)
    print(f"generated {args.train} training and {args.heldout} held-out images "
          f"({time.time() - t0:.0f} s)", flush=True)

    net = ShapesNetTorch()
    train(net, train_set, args.epochs, args.batch_size, args.lr, args.seed)
    probs_torch = predict(net, heldout.images)
    acc_torch = float((probs_torch.argmax(1) == heldout.labels).mean())

    write_keras_h5(args.out, net)
    size = os.path.getsize(args.out)

    # the shipped artefact is what counts: load it with pyvis's own Keras loader and re-check
    from pyvis.models import load_model
    model = load_model(args.out)
    probs = model.predict(heldout.images.astype(np.float32), batch_size=250)
    acc = float((probs.argmax(1) == heldout.labels).mean())
    diff = float(np.abs(probs - probs_torch).max())
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, {model.count_params()} parameters)")
    print(f"held-out accuracy on {args.heldout} images (seed {args.seed + 2}): pyvis {acc:.4f}, "
          f"PyTorch {acc_torch:.4f}; max |prob difference| {diff:.2e}")
    if diff > 1e-4:
        raise SystemExit("pyvis and PyTorch disagree on the written model")


if __name__ == "__main__":
    main()
