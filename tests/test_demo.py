"""The built-in demo model (ShapesNet) and its image generator.

Oracles: the generator's own ground truth (labels, bounding boxes, masks: independent of any
model), Keras 3 itself reading the shipped .h5, h5py reading its layout, and a PyTorch twin built
straight from the file's arrays for the gradients. The fresh test images use seeds that neither
the training set nor the held-out set of tools/train_demo_model.py used.
"""

import json
import os

import h5py
import numpy as np
import pytest
import torch

from pyvis import activations
from pyvis.applications import demo
from pyvis.applications.shapes import CLASS_NAMES, make_shapes
from pyvis.utils import utils
from pyvis.visualization import visualize_cam, visualize_saliency

FRESH_SEED = 987654          # not a training (20240602) or held-out (20240603) seed
N_FRESH = 200


@pytest.fixture(scope="module")
def model():
    return demo.ShapesNet()


@pytest.fixture(scope="module")
def linear_model():
    m = demo.ShapesNet()
    m.layers[-1].activation = activations.linear
    return utils.apply_modifications(m)


@pytest.fixture(scope="module")
def fresh():
    return make_shapes(N_FRESH, seed=FRESH_SEED)


# --------------------------------------------------------------------------------------------
# the generator

def test_make_shapes_is_deterministic_and_seed_dependent():
    a, b, c = make_shapes(6, seed=3), make_shapes(6, seed=3), make_shapes(6, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)


def test_make_shapes_ground_truth_is_consistent(fresh):
    assert fresh.images.shape == (N_FRESH, 64, 64, 3) and fresh.images.dtype == np.uint8
    assert fresh.labels.shape == (N_FRESH,) and set(fresh.labels) == {0, 1, 2, 3}
    for img, box, mask in zip(fresh.images, fresh.boxes, fresh.masks):
        r0, c0, r1, c1 = box
        assert 0 <= r0 < r1 <= 64 and 0 <= c0 < c1 <= 64
        # the box is the tight bounding box of the mask
        assert mask[r0:r1, c0:c1].sum() == mask.sum()
        assert mask[r0].any() and mask[r1 - 1].any() and mask[:, c0].any() and mask[:, c1 - 1].any()
        # the mask marks pixels that really look different: shape colour vs a ring around it
        ring = np.zeros_like(mask)
        ring[max(r0 - 3, 0):r1 + 3, max(c0 - 3, 0):c1 + 3] = True
        ring &= ~mask
        ring[r0:r1, c0:c1] = False
        inside = img[mask].astype(float).mean(axis=0)
        outside = img[ring].astype(float).mean(axis=0)
        assert np.linalg.norm(inside - outside) > 30


def test_shapes_have_their_geometry():
    """Fill ratio of the mask in its box: circle pi/4, triangle <= 1/2 + slack, cross < square."""
    data = make_shapes(200, seed=11)
    fill = np.array([m[r0:r1, c0:c1].mean() for m, (r0, c0, r1, c1) in zip(data.masks, data.boxes)])
    by_class = {k: fill[data.labels == k] for k in range(4)}
    assert abs(np.median(by_class[0]) - np.pi / 4) < 0.05           # circle
    assert np.median(by_class[2]) < 0.62                            # triangle
    assert np.median(by_class[3]) < np.median(by_class[1]) - 0.2    # cross vs square


def test_make_shapes_labels_and_bad_arguments():
    d = make_shapes(4, seed=0, labels=[3, 2, 1, 0])
    np.testing.assert_array_equal(d.labels, [3, 2, 1, 0])
    with pytest.raises(ValueError, match="n must be"):
        make_shapes(-1)
    with pytest.raises(ValueError, match="labels must be"):
        make_shapes(2, labels=[0, 4])
    with pytest.raises(ValueError, match="labels must be"):
        make_shapes(3, labels=[0, 1])


# --------------------------------------------------------------------------------------------
# the shipped file

def test_shipped_file_is_a_small_keras2_full_model():
    path = demo.WEIGHTS_PATH
    assert os.path.getsize(path) < 2_000_000
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] in ("Functional", "Model")
        layer_names = [n.decode() if isinstance(n, bytes) else n
                       for n in f["model_weights"].attrs["layer_names"]]
        assert layer_names == [l["name"] for l in config["config"]["layers"]]
        kinds = {l["class_name"] for l in config["config"]["layers"]}
        assert kinds <= {"InputLayer", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D",
                         "GlobalMaxPooling2D", "Flatten", "Dense"}
        kernel = f["model_weights/block1_conv/block1_conv/kernel:0"]
        assert kernel.shape[:3] == (3, 3, 3) and kernel.dtype == np.float32


def test_keras3_reads_the_shipped_file_like_pyvis(model):
    import keras
    kmodel = keras.models.load_model(demo.WEIGHTS_PATH, compile=False)
    x = make_shapes(16, seed=FRESH_SEED + 1).images.astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-6)
    assert [l.name for l in model.layers] == [l.name for l in kmodel.layers]


def test_heldout_accuracy_is_at_least_95_percent(model, fresh):
    probs = model.predict(demo.preprocess_input(fresh.images))
    accuracy = np.mean(probs.argmax(axis=1) == fresh.labels)
    assert accuracy >= 0.95, accuracy


def test_shapesnet_helpers(model):
    x = make_shapes(2, seed=5).images
    before = x.copy()
    p = demo.preprocess_input(x)
    assert p.dtype == np.float32 and np.array_equal(x, before)
    probs = model.predict(p)
    decoded = demo.decode_predictions(probs, top=2)
    for row, pr in zip(decoded, probs):
        assert [c for c, _, _ in row] == list(np.argsort(-pr)[:2])
        assert all(name == CLASS_NAMES[c] for c, name, _ in row)
    with pytest.raises(ValueError, match="weights"):
        demo.ShapesNet(weights=3)
    with pytest.raises(ValueError, match="top"):
        demo.decode_predictions(probs, top=9)


# --------------------------------------------------------------------------------------------
# the maps point at the shapes (200 fresh images)

def _per_class(fn, model, data, **kwargs):
    """fn(model, -1, class, batch) for each class's images; maps in the original order."""
    out = np.zeros((len(data.labels), 64, 64), np.float32)
    x = data.images.astype(np.float32)
    for c in range(len(CLASS_NAMES)):
        idx = np.flatnonzero(data.labels == c)
        out[idx] = np.reshape(fn(model, -1, filter_indices=c, seed_input=x[idx], **kwargs),
                              (len(idx), 64, 64))
    return out


def test_gradcam_pointing_game(linear_model, fresh):
    cams = _per_class(visualize_cam, linear_model, fresh)
    hits = 0
    for cam, (r0, c0, r1, c1) in zip(cams, fresh.boxes):
        r, c = np.unravel_index(np.argmax(cam), cam.shape)
        hits += r0 <= r < r1 and c0 <= c < c1
    assert hits / N_FRESH >= 0.90, hits


def test_guided_saliency_mass_lies_on_the_shape(linear_model, fresh):
    sal = _per_class(visualize_saliency, linear_model, fresh, backprop_modifier="guided")
    inside = np.array([s[m].sum() / s.sum() for s, m in zip(sal, fresh.masks)])
    area = fresh.masks.mean(axis=(1, 2))
    # on average at least twice what a map spread uniformly over the image would put there
    assert np.mean(inside) >= 2 * np.mean(area), (np.mean(inside), np.mean(area))
    assert np.median(inside / area) >= 2


# --------------------------------------------------------------------------------------------
# gradients on the demo model vs a PyTorch twin built from the file's own arrays

def _torch_twin(path):
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])["config"]["layers"]
        w = {}
        for layer in config:
            g = f["model_weights"][layer["name"]]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
            w[layer["name"]] = [torch.from_numpy(np.asarray(g[n], dtype=np.float64)) for n in names]

    def forward(x):                                  # x (N, 64, 64, 3) float64 tensor
        h = x.permute(0, 3, 1, 2)
        for layer in config:
            kind, cfg = layer["class_name"], layer["config"]
            if kind == "Conv2D":
                k, b = w[layer["name"]]
                h = torch.relu(torch.nn.functional.conv2d(h, k.permute(3, 2, 0, 1), b, padding=1))
            elif kind == "MaxPooling2D":
                h = torch.nn.functional.max_pool2d(h, 2)
            elif kind == "GlobalAveragePooling2D":
                h = h.mean(dim=(2, 3))
            elif kind == "GlobalMaxPooling2D":
                h = h.amax(dim=(2, 3))
            elif kind == "Flatten":
                h = h.permute(0, 2, 3, 1).flatten(1)
            elif kind == "Dense":
                k, b = w[layer["name"]]
                h = h @ k + b
                if cfg["activation"] == "relu":
                    h = torch.relu(h)
        return h                                     # logits (the softmax is swapped out)
    return forward


def test_saliency_matches_pytorch_autograd(linear_model):
    forward = _torch_twin(demo.WEIGHTS_PATH)
    data = make_shapes(4, seed=FRESH_SEED + 2)
    for img, label in zip(data.images, data.labels):
        x = torch.tensor(img[None].astype(np.float64), requires_grad=True)
        forward(x)[0, int(label)].backward()
        g = np.abs(x.grad[0].numpy()).max(axis=-1)
        expected = (g - g.min()) / (g.max() - g.min())
        got = visualize_saliency(linear_model, -1, filter_indices=int(label), seed_input=img)
        cos = np.sum(got * expected) / np.linalg.norm(got) / np.linalg.norm(expected)
        assert cos > 0.999, cos
