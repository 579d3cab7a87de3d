"""InceptionV3 (Szegedy et al., 2015) with Keras 3's layer names, order and argument checks.

Convolutions and batch normalisations are unnamed (``conv2d_N``, ``batch_normalization_N``),
so ImageNet files load only topologically, in Keras's depth-sorted layer order (keras-formats.md
§4.5 and §6). Convolutions have no bias and BatchNormalization has ``scale=False``.
"""

from pyvis import layers
from pyvis.applications import _common

__all__ = ["InceptionV3", "preprocess_input", "decode_predictions"]

FILES = {True: ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                "9a0d58056eeedaa3f26cb7ebd46da564"),
         False: ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "bcbd6486424b2319ff4ef7d526e38f63")}


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    """Conv2D (no bias) + BatchNormalization(scale=False) + ReLU, Keras's ``conv2d_bn``."""
    bn_name = None if name is None else f"{name}_bn"
    conv_name = None if name is None else f"{name}_conv"
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding,
                      use_bias=False, name=conv_name)(x)
    x = layers.BatchNormalization(axis=3, scale=False, name=bn_name)(x)
    return layers.Activation("relu", name=name)(x)


def _avg_branch(x, filters):
    branch = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(branch, filters, 1, 1)


def _block_35(x, pool_filters, name):
    """mixed0..2: 1x1, 5x5, double 3x3 and pooled branches."""
    branch1x1 = conv2d_bn(x, 64, 1, 1)
    branch5x5 = conv2d_bn(x, 48, 1, 1)
    branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)
    branch3x3dbl = conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch_pool = _avg_branch(x, pool_filters)
    return layers.Concatenate(axis=3, name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def _block_17(x, width, name):
    """mixed4..7: factorised 7x7 branches of ``width`` inner filters."""
    branch1x1 = conv2d_bn(x, 192, 1, 1)
    branch7x7 = conv2d_bn(x, width, 1, 1)
    branch7x7 = conv2d_bn(branch7x7, width, 1, 7)
    branch7x7 = conv2d_bn(branch7x7, 192, 7, 1)
    branch7x7dbl = conv2d_bn(x, width, 1, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, width, 1, 7)
    branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)
    branch_pool = _avg_branch(x, 192)
    return layers.Concatenate(axis=3, name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def _block_8(x, i):
    """mixed9, mixed10."""
    branch1x1 = conv2d_bn(x, 320, 1, 1)
    branch3x3 = conv2d_bn(x, 384, 1, 1)
    branch3x3_1 = conv2d_bn(branch3x3, 384, 1, 3)
    branch3x3_2 = conv2d_bn(branch3x3, 384, 3, 1)
    branch3x3 = layers.Concatenate(axis=3, name=f"mixed9_{i}")([branch3x3_1, branch3x3_2])
    branch3x3dbl = conv2d_bn(x, 448, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 384, 3, 3)
    branch3x3dbl_1 = conv2d_bn(branch3x3dbl, 384, 1, 3)
    branch3x3dbl_2 = conv2d_bn(branch3x3dbl, 384, 3, 1)
    branch3x3dbl = layers.Concatenate(axis=3)([branch3x3dbl_1, branch3x3dbl_2])
    branch_pool = _avg_branch(x, 192)
    return layers.Concatenate(axis=3, name=f"mixed{9 + i}")(
        [branch1x1, branch3x3, branch3x3dbl, branch_pool])


def InceptionV3(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="inception_v3"):
    """Instantiate InceptionV3 (``keras.applications.InceptionV3``).

    The default input is 299x299x3; without the top any input of at least 75x75 works.
    """
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = _common.input_shape_for(input_shape, 299, 75, include_top, weights)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
        x = conv2d_bn(x, 32, 3, 3, padding="valid")
        x = conv2d_bn(x, 64, 3, 3)
        x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = conv2d_bn(x, 80, 1, 1, padding="valid")
        x = conv2d_bn(x, 192, 3, 3, padding="valid")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = _block_35(x, 32, "mixed0")
        x = _block_35(x, 64, "mixed1")
        x = _block_35(x, 64, "mixed2")
        branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
        branch3x3dbl = conv2d_bn(x, 64, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
        branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = layers.Concatenate(axis=3, name="mixed3")([branch3x3, branch3x3dbl, branch_pool])
        x = _block_17(x, 128, "mixed4")
        x = _block_17(x, 160, "mixed5")
        x = _block_17(x, 160, "mixed6")
        x = _block_17(x, 192, "mixed7")
        branch3x3 = conv2d_bn(x, 192, 1, 1)
        branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
        branch7x7x3 = conv2d_bn(x, 192, 1, 1)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 1, 7)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 7, 1)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
        branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = layers.Concatenate(axis=3, name="mixed8")([branch3x3, branch7x7x3, branch_pool])
        x = _block_8(x, 0)
        x = _block_8(x, 1)
        x = _common.classifier_top(x, include_top, pooling, classes, classifier_activation)
    fname, md5 = FILES[bool(include_top)]
    path = _common.weights_path(weights, "inception_v3", fname, md5)
    return _common.finish(img_input, input_tensor, x, name, path, include_top)


def preprocess_input(x, data_format=None):
    """'tf' mode: scale [0, 255] to [-1, 1]."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
