"""Xception (Chollet, 2016) with Keras 3's layer names, order and argument checks.

Separable convolutions (depthwise + 1x1, no bias) with residual 1x1 stride-2 shortcuts; the
shortcut convolutions and their batch normalisations are unnamed, as in Keras.
"""

from pyvis import layers
from pyvis.applications import _common

__all__ = ["Xception", "preprocess_input", "decode_predictions"]

FILES = {True: ("xception_weights_tf_dim_ordering_tf_kernels.h5",
                "0a58e3b7378bc2990ea3b43d5981f1f6"),
         False: ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "b0042744bf5b25fce3cb969f33bebb97")}


def _bn(name=None):
    return layers.BatchNormalization(axis=-1, name=name)


def _sepconv_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return _bn(f"{name}_bn")(x)


def _residual(x, filters):
    r = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return _bn()(r)


def _entry_block(x, filters, block, first_relu=True):
    """block2..4 (and the exit block13): two separable convs, max pool, strided shortcut."""
    filters1, filters2 = filters if isinstance(filters, tuple) else (filters, filters)
    residual = _residual(x, filters2)
    if first_relu:
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sepconv_bn(x, filters1, f"block{block}_sepconv1")
    x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sepconv_bn(x, filters2, f"block{block}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.Add()([x, residual])


def Xception(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="xception"):
    """Instantiate Xception (``keras.applications.Xception``).

    The default input is 299x299x3; without the top any input of at least 71x71 works.
    """
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = _common.input_shape_for(input_shape, 299, 71, include_top, weights)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
        x = _bn("block1_conv1_bn")(x)
        x = layers.Activation("relu", name="block1_conv1_act")(x)
        x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
        x = _bn("block1_conv2_bn")(x)
        x = layers.Activation("relu", name="block1_conv2_act")(x)

        # block2 has no ReLU before its first separable convolution (the previous one is it)
        residual = _residual(x, 128)
        x = _sepconv_bn(x, 128, "block2_sepconv1")
        x = layers.Activation("relu", name="block2_sepconv2_act")(x)
        x = _sepconv_bn(x, 128, "block2_sepconv2")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block2_pool")(x)
        x = layers.Add()([x, residual])
        x = _entry_block(x, 256, 3)
        x = _entry_block(x, 728, 4)

        for i in range(8):
            residual = x
            prefix = f"block{i + 5}"
            for k in (1, 2, 3):
                x = layers.Activation("relu", name=f"{prefix}_sepconv{k}_act")(x)
                x = _sepconv_bn(x, 728, f"{prefix}_sepconv{k}")
            x = layers.Add()([x, residual])

        x = _entry_block(x, (728, 1024), 13)
        x = _sepconv_bn(x, 1536, "block14_sepconv1")
        x = layers.Activation("relu", name="block14_sepconv1_act")(x)
        x = _sepconv_bn(x, 2048, "block14_sepconv2")
        x = layers.Activation("relu", name="block14_sepconv2_act")(x)
        x = _common.classifier_top(x, include_top, pooling, classes, classifier_activation)
    fname, md5 = FILES[bool(include_top)]
    path = _common.weights_path(weights, "xception", fname, md5)
    return _common.finish(img_input, input_tensor, x, name, path, include_top)


def preprocess_input(x, data_format=None):
    """'tf' mode: scale [0, 255] to [-1, 1]."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
