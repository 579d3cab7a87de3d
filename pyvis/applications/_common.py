"""What ResNet50, MobileNet(V2), InceptionV3, DenseNet121 and Xception share: Keras's argument
checks, the input tensor, the classifier top, and finding ImageNet weight files.

Weight files are searched in the Keras cache folders and downloaded from Keras's own origin with
the md5 Keras checks (``pyvis.io.download.get_file``, the rules VGG16 uses), then loaded through
``imagenet_utils.load_application_weights``, i.e. topologically, as Keras does.
"""

import contextlib

from pyvis import activations, layers
from pyvis.applications.vgg16 import _check_weights_argument, _obtain_input_shape
from pyvis.io import download
from pyvis.models import Model, get_source_inputs

BASE_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"


def check_arguments(weights, include_top, classes, pooling, classifier_activation):
    """Keras's checks of the arguments every application takes."""
    _check_weights_argument(weights)
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be "
            f"1000.  Received classes={classes}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if include_top and weights is not None:
        if activations.get(classifier_activation) not in (activations.softmax, activations.linear):
            raise ValueError(
                "Only `None` and `softmax` activations are allowed for the "
                "`classifier_activation` argument when using pretrained weights, with "
                f"`include_top=True`; Received: classifier_activation={classifier_activation}")


def input_shape_for(input_shape, default_size, min_size, include_top, weights):
    return _obtain_input_shape(input_shape, default_size=default_size, min_size=min_size,
                               require_flatten=include_top, weights=weights)


def make_input(input_tensor, input_shape):
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if isinstance(input_tensor, layers.KerasTensor):
        return input_tensor
    raise ValueError(
        "`input_tensor` must be a symbolic tensor from pyvis.layers.Input() (or a layer "
        f"output). Received: input_tensor={input_tensor!r}")


def weight_init(weights):
    """Weights about to be overwritten from a file need no random initialisation."""
    return layers.deferred_weight_init() if weights is not None else contextlib.nullcontext()


def classifier_top(x, include_top, pooling, classes, classifier_activation,
                   avg_name="avg_pool", dense_name="predictions", pool_names=(None, None)):
    """GlobalAveragePooling2D + Dense on top, or the optional global pooling without it."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name=avg_name)(x)
        return layers.Dense(classes, activation=classifier_activation, name=dense_name)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def finish(img_input, input_tensor, x, name, weights_path, include_top):
    """The Model over the source inputs, with weights loaded from ``weights_path`` if given."""
    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights_path is not None:
        from pyvis.applications.imagenet_utils import load_application_weights
        load_application_weights(model, name, include_top, weights_path)
    return model


def fetch(folder, fname, md5=None):
    """Path of a Keras application weight file: cached copy (md5-checked) or a download."""
    return download.get_file(fname, f"{BASE_ORIGIN}{folder}/{fname}", md5, cache_subdir="models")


def weights_path(weights, folder, fname, md5=None):
    """None for random weights, the file for 'imagenet', else the user's path."""
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        return fetch(folder, fname, md5)
    return weights
