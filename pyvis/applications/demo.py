"""ShapesNet, the built-in demo model: pyvis works in the first minute, offline.

A small Keras CNN (three Conv2D 3x3 + MaxPooling2D blocks, Flatten, Dense(64, relu),
Dense(4, softmax)) trained on ``pyvis.applications.shapes`` images to tell circles, squares,
triangles and crosses apart. It ships inside the package as a genuine Keras 2 full-model ``.h5``
file (``data/shapesnet.h5``, written by ``tools/train_demo_model.py``) and is loaded through
pyvis's own Keras loader, so the demo exercises exactly the path a user's file takes.

The model takes raw 0..255 RGB pixels of 64x64 images (the training-time 1/255 scaling is folded
into the first convolution), so ``utils.load_img(path, target_size=(64, 64))`` output can be fed
as is; ``preprocess_input`` only converts to float32.
"""

import os

import numpy as np

from pyvis.applications.shapes import CLASS_NAMES, IMAGE_SIZE, make_shapes

__all__ = ["ShapesNet", "CLASS_NAMES", "IMAGE_SIZE", "WEIGHTS_PATH", "make_shapes",
           "preprocess_input", "decode_predictions"]

WEIGHTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "shapesnet.h5")


def ShapesNet(weights="shapesnet"):
    """The trained demo model (a pyvis ``Model`` named ``'shapesnet'``).

    Args:
        weights: ``'shapesnet'`` for the packaged file, or the path of another Keras ``.h5`` /
            ``.keras`` full-model file with the same architecture (e.g. one you retrained with
            ``tools/train_demo_model.py --out``).
    """
    from pyvis.models import load_model
    if isinstance(weights, str) and weights == "shapesnet":
        path = WEIGHTS_PATH
        if not os.path.isfile(path):
            raise FileNotFoundError(
                "the packaged demo model %s is missing; reinstall pyvis or regenerate it with "
                "tools/train_demo_model.py" % path)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
    else:
        raise ValueError("weights must be 'shapesnet' or the path of a Keras model file, got %r"
                         % (weights,))
    model = load_model(path)
    expected = (None, IMAGE_SIZE, IMAGE_SIZE, 3)
    outputs = (None, len(CLASS_NAMES))
    if tuple(model.input_shape) != expected or tuple(model.output_shape) != outputs:
        raise ValueError("%s is not a ShapesNet model: input %s and output %s, expected %s and %s"
                         % (path, model.input_shape, model.output_shape, expected, outputs))
    return model


def preprocess_input(x):
    """float32 copy of raw 0..255 RGB images (ShapesNet needs no other preprocessing)."""
    return np.array(x, dtype=np.float32, copy=True)


def decode_predictions(preds, top=1):
    """Per sample, the ``top`` (class index, class name, score) tuples, best first."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != len(CLASS_NAMES):
        raise ValueError("decode_predictions expects an array of shape (samples, %d); got %s"
                         % (len(CLASS_NAMES), preds.shape))
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) \
            or not 1 <= top <= len(CLASS_NAMES):
        raise ValueError("top must be an int in [1, %d], got %r" % (len(CLASS_NAMES), top))
    out = []
    for p in preds:
        best = np.argsort(-p, kind="stable")[:top]
        out.append([(int(i), CLASS_NAMES[i], float(p[i])) for i in best])
    return out
