"""ImageNet helpers shared by the applications: preprocessing, decoding, pretrained weights.

`preprocess_input` follows `keras.applications.imagenet_utils` (modes caffe / tf / torch) but
returns a new array instead of modifying a float input in place. `load_application_weights`
finds the Keras application weight files in the Keras cache or downloads them from Keras's
origin with an md5 check (keras-formats.md §6).
"""

import os

import numpy as np

from pyvis.io import download, imagenet

BASE_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"

# (architecture, include_top) -> (file name, md5); the files Keras itself downloads.
WEIGHT_FILES = {
    ("vgg16", True): ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
}

# Mean pixel of the ImageNet training set, BGR order (caffe mode).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)


def weights_origin(arch, fname):
    return f"{BASE_ORIGIN}{arch}/{fname}"


def _architecture(model, name):
    """'vgg16'/'vgg19' from the model name, else from its number of convolutions (13 or 16)."""
    if name in ("vgg16", "vgg19"):
        return name
    convs = sum(type(layer).__name__ == "Conv2D" for layer in model.layers)
    arch = {13: "vgg16", 16: "vgg19"}.get(convs)
    if arch is None:
        raise ValueError(f"no ImageNet weights are known for model {name!r} ({convs} convolutions); "
                         f"known: {sorted({a for a, _ in WEIGHT_FILES})}")
    return arch


def imagenet_weights_path(arch, include_top, progress=True):
    """Path of the cached (or freshly downloaded and md5-checked) ImageNet weight file."""
    key = (arch, bool(include_top))
    if key not in WEIGHT_FILES:
        raise ValueError(f"no ImageNet weights for {arch!r} (include_top={include_top}); "
                         f"known: {sorted(WEIGHT_FILES)}")
    fname, md5 = WEIGHT_FILES[key]
    return download.get_file(fname, weights_origin(arch, fname), md5, cache_subdir="models", progress=progress)


def load_application_weights(model, name, include_top, weights):
    """Load `weights` ('imagenet' or a file path) into an application model built by pyvis."""
    if weights is None:
        return model
    if isinstance(weights, str) and weights == "imagenet":
        path = imagenet_weights_path(_architecture(model, name), include_top)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
    else:
        raise ValueError(f"weights must be None, 'imagenet' or a file path, got {weights!r}")
    # Keras loads application weights topologically; the VGG files list exactly these layers.
    model.load_weights(path)
    return model


def _check_data_format(data_format):
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scale a batch (or one image) of RGB values in [0, 255] the way the model was trained.

    caffe: RGB -> BGR, minus the ImageNet BGR mean; tf: to [-1, 1]; torch: to [0, 1], then
    standardised per RGB channel. Integer input becomes float32; float input keeps its dtype.
    The caller's array is never modified.
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"mode must be one of 'caffe', 'tf' or 'torch', got {mode!r}")
    data_format = _check_data_format(data_format)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if x.ndim < 1:
        raise ValueError(f"preprocess_input expects an image or a batch of images, got shape {x.shape}")
    if mode == "tf":
        return x / x.dtype.type(127.5) - x.dtype.type(1.0)
    if data_format == "channels_first":
        axis = 0 if x.ndim == 3 else 1
    else:
        axis = x.ndim - 1
    if x.shape[axis] != 3:
        raise ValueError(f"preprocess_input expects 3 channels on axis {axis} ({data_format}), got shape {x.shape}")
    bshape = [1] * x.ndim
    bshape[axis] = 3
    if mode == "torch":
        mean = np.asarray(TORCH_MEAN_RGB, dtype=x.dtype).reshape(bshape)
        std = np.asarray(TORCH_STD_RGB, dtype=x.dtype).reshape(bshape)
        return (x / x.dtype.type(255.0) - mean) / std
    bgr = np.flip(x, axis=axis)
    return bgr - np.asarray(CAFFE_MEAN_BGR, dtype=x.dtype).reshape(bshape)


def decode_predictions(preds, top=5):
    """Per sample, the `top` (wnid, label, score) tuples, best first (Keras semantics)."""
    return imagenet.decode_predictions(preds, top=top)
