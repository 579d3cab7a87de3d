"""DenseNet121 (Huang et al., 2016) with Keras 3's layer names, order and argument checks.

Pre-activation dense blocks (BatchNormalization, ReLU, 1x1 conv, BatchNormalization, ReLU, 3x3
conv, concatenate), transition blocks with 2x2 average pooling; ImageNet preprocessing is the
'torch' mode.
"""

from pyvis import layers
from pyvis.applications import _common

__all__ = ["DenseNet121", "preprocess_input", "decode_predictions"]

FILES = {True: ("densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                "9d60b8095a5708f2dcce2bca79d332c7"),
         False: ("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "30ee3e1110167f948a6b9946edeeb738")}
BLOCKS_121 = (6, 12, 24, 16)


def _bn(name):
    return layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=name)


def conv_block(x, growth_rate, name):
    x1 = _bn(f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _bn(f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def dense_block(x, blocks, name):
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    x = _bn(f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def DenseNet121(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    """Instantiate DenseNet121 (``keras.applications.DenseNet121``)."""
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = _common.input_shape_for(input_shape, 224, 32, include_top, weights)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
        x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = _bn("conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
        for stage, blocks in enumerate(BLOCKS_121, start=2):
            x = dense_block(x, blocks, name=f"conv{stage}")
            if stage < 5:
                x = transition_block(x, 0.5, name=f"pool{stage}")
        x = _bn("bn")(x)
        x = layers.Activation("relu", name="relu")(x)
        x = _common.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                   pool_names=("avg_pool", "max_pool"))
    fname, md5 = FILES[bool(include_top)]
    path = _common.weights_path(weights, "densenet", fname, md5)
    return _common.finish(img_input, input_tensor, x, name, path, include_top)


def preprocess_input(x, data_format=None):
    """'torch' mode: scale to [0, 1], then standardise with the ImageNet RGB mean and std."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
