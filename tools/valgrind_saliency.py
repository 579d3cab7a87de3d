"""A VGG16-shaped saliency + Grad-CAM run small enough for valgrind memcheck.

The full VGG16 convolutional stack (13 convolutions, 5 max-pools, the Keras layer names) on a
112x112 image, random weights, one native thread; then vanilla and guided saliency on
block5_pool and Grad-CAM with block4_pool as the penultimate layer. Run under valgrind with
`tools/valgrind_saliency.sh`; on its own it just prints the shapes (a smoke check).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

import pyvis  # noqa: E402
from pyvis.applications import VGG16  # noqa: E402
from pyvis.utils import utils  # noqa: E402
from pyvis.visualization import visualize_cam, visualize_saliency  # noqa: E402


def main():
    pyvis.set_num_threads(1)
    model = VGG16(weights=None, include_top=False, input_shape=(112, 112, 3))
    rng = np.random.default_rng(0)
    model.set_weights([(rng.normal(size=w.shape) * 0.05).astype(np.float32) for w in model.get_weights()])
    img = rng.uniform(0, 255, size=(112, 112, 3)).astype(np.float32)
    out = utils.find_layer_idx(model, "block5_pool")
    pen = utils.find_layer_idx(model, "block4_pool")
    maps = [visualize_saliency(model, out, 3, img),
            visualize_saliency(model, out, [1, 2], img, backprop_modifier="guided"),
            visualize_cam(model, out, 5, img, penultimate_layer_idx=pen)]
    for m in maps:
        assert m.shape == (112, 112) and np.isfinite(m).all()
    print("valgrind_saliency: ok", [m.shape for m in maps])


if __name__ == "__main__":
    main()
