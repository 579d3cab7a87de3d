"""MobileNet (Howard et al., 2017) with Keras 3's layer names, order and argument checks.

Every activation is ``ReLU(6.)``, which the backprop modifiers leave unchanged (they act at
plain ReLU units only; a one-time warning says so). Stride-2 depthwise convolutions follow a
``ZeroPadding2D(((0, 1), (0, 1)))`` and use 'valid' padding, as Keras builds them.
"""

import warnings

from pyvis import layers
from pyvis.applications import _common

__all__ = ["MobileNet", "preprocess_input", "decode_predictions"]

IMAGENET_ROWS = (128, 160, 192, 224)
IMAGENET_ALPHAS = (0.25, 0.5, 0.75, 1.0)
# (pointwise filters, stride) of blocks 1..13
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _conv_block(x, filters, alpha, strides):
    x = layers.Conv2D(int(filters * alpha), (3, 3), padding="same", use_bias=False,
                      strides=strides, name="conv1")(x)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_block(x, filters, alpha, depth_multiplier, stride, block_id):
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                               depth_multiplier=depth_multiplier, strides=stride,
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False,
                      strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _alpha_text(alpha):
    return {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(alpha, "2_5")


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,
              weights='imagenet', input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None):
    """Instantiate MobileNet (``keras.applications.MobileNet``)."""
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    default_size = 224
    if input_shape is not None and len(tuple(input_shape)) == 3:
        rows, cols = tuple(input_shape)[:2]
        if rows == cols and rows in IMAGENET_ROWS:
            default_size = rows
    input_shape = _common.input_shape_for(input_shape, default_size, 32, include_top, weights)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.25`, "
                             f"`0.50`, `0.75` or `1.0` only.  Received alpha={alpha}")
        if rows != cols or rows not in IMAGENET_ROWS:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in "
                          "[128, 160, 192, 224]. Weights for input shape (224, 224) will be "
                          "loaded as the default.", stacklevel=2)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        x = _conv_block(img_input, 32, alpha, strides=(2, 2))
        for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
            x = _depthwise_block(x, filters, alpha, depth_multiplier, stride, block_id)
        if include_top:
            x = layers.GlobalAveragePooling2D(keepdims=True)(x)
            x = layers.Dropout(dropout, name="dropout")(x)
            x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
            x = layers.Reshape((classes,), name="reshape_2")(x)
            x = layers.Activation(classifier_activation, name="predictions")(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    fname = f"mobilenet_{_alpha_text(alpha)}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    path = _common.weights_path(weights, "mobilenet", fname)      # Keras checks no md5 here
    return _common.finish(img_input, input_tensor, x, name, path, include_top)


def preprocess_input(x, data_format=None):
    """'tf' mode: scale [0, 255] to [-1, 1]."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
