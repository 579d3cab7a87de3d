"""MobileNetV2 (Sandler et al., 2018) with Keras 3's layer names, order and argument checks.

Inverted residual blocks with ``ReLU(6.)`` activations (left unchanged by the backprop
modifiers, with a one-time warning); stride-2 blocks pad with ``correct_pad`` then run a
'valid' depthwise convolution, as Keras builds them.
"""

import warnings

from pyvis import layers
from pyvis.applications import _common

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]

IMAGENET_ROWS = (96, 128, 160, 192, 224)
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
# (filters, stride, expansion) of blocks 0..16
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
          (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
          (160, 1, 6), (160, 1, 6), (320, 1, 6))


def _make_divisible(v, divisor, min_value=None):
    """Round ``v`` to a multiple of ``divisor`` without going below 90% of it (Keras's rule)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def correct_pad(shape, kernel_size):
    """``imagenet_utils.correct_pad``: TF 'same' padding of a stride-2 window, made explicit."""
    h, w = shape[1], shape[2]
    adjust = (1, 1) if h is None or w is None else (1 - h % 2, 1 - w % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def _bn(name):
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
                          activation=None, name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x.shape, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights='imagenet', input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Instantiate MobileNetV2 (``keras.applications.MobileNetV2``)."""
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    default_size = 224
    if input_shape is None and isinstance(input_tensor, layers.KerasTensor):
        rows, cols = input_tensor.shape[1], input_tensor.shape[2]
        if rows == cols and rows in IMAGENET_ROWS:
            default_size = rows
    elif input_shape is not None and len(tuple(input_shape)) == 3:
        rows, cols = tuple(input_shape)[:2]
        if rows == cols and rows in IMAGENET_ROWS:
            default_size = rows
    if input_shape is None and isinstance(input_tensor, layers.KerasTensor):
        input_shape = tuple(input_tensor.shape[1:])
    input_shape = _common.input_shape_for(input_shape, default_size, 32, include_top, weights)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha must be one of `0.35`, "
                             f"`0.50`, `0.75`, `1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`")
        if rows != cols or rows not in IMAGENET_ROWS:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in "
                          "[96, 128, 160, 192, 224]. Weights for input shape (224, 224) will be "
                          "loaded as the default.", stacklevel=2)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                          padding="same", use_bias=False, name="Conv1")(img_input)
        x = _bn("bn_Conv1")(x)
        x = layers.ReLU(6.0, name="Conv1_relu")(x)
        for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
            x = _inverted_res_block(x, filters=filters, alpha=alpha, stride=stride,
                                    expansion=expansion, block_id=block_id)
        last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
        x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
        x = _bn("Conv_1_bn")(x)
        x = layers.ReLU(6.0, name="out_relu")(x)
        if include_top:
            x = layers.GlobalAveragePooling2D()(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    fname = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
             f"{'' if include_top else '_no_top'}.h5")
    path = _common.weights_path(weights, "mobilenet_v2", fname)   # Keras checks no md5 here
    return _common.finish(img_input, input_tensor, x, name, path, include_top)


def preprocess_input(x, data_format=None):
    """'tf' mode: scale [0, 255] to [-1, 1]."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
