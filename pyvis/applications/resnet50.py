"""ResNet50 (He et al., 2015) in both of Keras's versions, with Keras's layer names and order.

Two different networks share the weight-file name ``resnet50_weights_tf_dim_ordering_tf_kernels.h5``
(keras-formats.md §6):

* ``'keras2'``: standalone Keras 2.2.x / keras_applications (``conv1``, ``bn_conv1``,
  ``res2a_branch2a`` ... ``fc1000``; BatchNormalization epsilon 1e-3; the shortcut convolution
  comes after the main branch). keras-vis's resnet notebook uses these names.
* ``'keras3'``: tf.keras and Keras 3 ``resnet.py`` (``conv1_conv``, ``conv2_block1_0_conv`` ...
  ``predictions``; epsilon 1.001e-5; the shortcut first).

The architecture follows the weight file: its md5 (the two ImageNet files Keras published) or
the layer names it stores. ``architecture=`` forces one (random weights default to 'keras3').
"""

import os

import h5py

from pyvis import layers
from pyvis.applications import _common
from pyvis.io import download

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]

FILE_NAMES = {True: "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
              False: "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"}
# md5 of the ImageNet files, per (architecture, include_top)
KNOWN_MD5 = {
    ("keras3", True): "2cb95161c43110f7111970584f804107",
    ("keras3", False): "4d473c1dd8becc155b73f8504c6f6626",
    ("keras2", True): "a7b3fe01876f51b976af0dea6bc144eb",
    ("keras2", False): "a268eb855778b3df3c7506639542a6af",
}
ARCHITECTURES = ("keras2", "keras3")
# (filters of the bottleneck, blocks) per stage 2..5
STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))


# ---------------------------------------------------------------------------
# Keras 3 / tf.keras architecture

def _block_keras3(x, filters, stride, conv_shortcut, name):
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _body_keras3(img_input, include_top, pooling, classes, classifier_activation):
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(STAGES, start=2):
        name = f"conv{stage}"
        x = _block_keras3(x, filters, 1 if stage == 2 else 2, True, f"{name}_block1")
        for i in range(2, blocks + 1):
            x = _block_keras3(x, filters, 1, False, f"{name}_block{i}")
    return _common.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                  pool_names=("avg_pool", "max_pool"))


# ---------------------------------------------------------------------------
# Keras 2.2.x (keras_applications) architecture

def _block_keras2(x, filters, stage, block, stride, conv_shortcut):
    conv_base, bn_base = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    inputs = x
    x = layers.Conv2D(filters, 1, strides=stride, name=conv_base + "2a")(x)
    x = layers.BatchNormalization(axis=3, name=bn_base + "2a")(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=conv_base + "2b")(x)
    x = layers.BatchNormalization(axis=3, name=bn_base + "2b")(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=conv_base + "2c")(x)
    x = layers.BatchNormalization(axis=3, name=bn_base + "2c")(x)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=conv_base + "1")(inputs)
        shortcut = layers.BatchNormalization(axis=3, name=bn_base + "1")(shortcut)
    else:
        shortcut = inputs
    x = layers.Add()([x, shortcut])
    return layers.Activation("relu")(x)


def _body_keras2(img_input, include_top, pooling, classes, classifier_activation):
    x = layers.ZeroPadding2D(padding=(3, 3), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, (7, 7), strides=(2, 2), padding="valid", name="conv1")(x)
    x = layers.BatchNormalization(axis=3, name="bn_conv1")(x)
    x = layers.Activation("relu")(x)
    x = layers.ZeroPadding2D(padding=(1, 1), name="pool1_pad")(x)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for stage, (filters, blocks) in enumerate(STAGES, start=2):
        for i in range(blocks):
            block = "abcdef"[i]
            stride = (1 if stage == 2 else 2) if i == 0 else 1
            x = _block_keras2(x, filters, stage, block, stride, conv_shortcut=(i == 0))
    return _common.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                  dense_name="fc1000")


# ---------------------------------------------------------------------------
# which architecture a weight file holds

def _stored_layer_names(path):
    """Layer names of a Keras 2 style HDF5 weight file (empty for other formats)."""
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            names = group.attrs.get("layer_names")
    except (OSError, KeyError):
        return []
    if names is None:
        return []
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def architecture_of_file(path, include_top):
    """'keras2' or 'keras3' from the file's md5 or stored layer names; None if undecidable."""
    md5 = download.file_hash(path, "md5")
    for (arch, _), known in KNOWN_MD5.items():
        if md5 == known:
            return arch
    names = set(_stored_layer_names(path))
    if names & {"bn_conv1", "res2a_branch2a", "fc1000"}:
        return "keras2"
    if names & {"conv1_conv", "conv2_block1_1_conv"}:
        return "keras3"
    return None


def _imagenet_file(include_top):
    """(path, architecture): a cached ImageNet file of either version, else Keras 3's download."""
    fname = FILE_NAMES[bool(include_top)]
    for folder in download.cache_dirs("models"):
        path = os.path.join(folder, fname)
        if os.path.isfile(path):
            md5 = download.file_hash(path, "md5")
            for arch in ARCHITECTURES:
                if md5 == KNOWN_MD5[(arch, bool(include_top))]:
                    return path, arch
    # Keras 3 downloads the tf.keras file (and re-downloads over a cached file with another md5)
    return _common.fetch("resnet", fname, KNOWN_MD5[("keras3", bool(include_top))]), "keras3"


def ResNet50(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="resnet50", architecture=None):
    """Instantiate ResNet50 (``keras.applications.ResNet50``).

    ``architecture``: None (follow the weight file; 'keras3' for random weights), 'keras2'
    (Keras 2.2 names such as ``res5c_branch2c``) or 'keras3' (``conv5_block3_3_conv``).
    """
    if architecture not in (None,) + ARCHITECTURES:
        raise ValueError(f"architecture must be None, 'keras2' or 'keras3', got {architecture!r}")
    _common.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    path, found = None, None
    if isinstance(weights, str) and weights == "imagenet":
        path, found = _imagenet_file(include_top)
    elif weights is not None:
        path = os.fspath(weights)
        found = architecture_of_file(path, include_top)
    if architecture is not None and found is not None and architecture != found:
        raise ValueError(f"architecture={architecture!r} was requested but the weight file {path} "
                         f"holds the {found!r} ResNet50")
    arch = architecture or found or "keras3"
    input_shape = _common.input_shape_for(input_shape, 224, 32, include_top, weights)
    img_input = _common.make_input(input_tensor, input_shape)
    with _common.weight_init(weights):
        body = _body_keras2 if arch == "keras2" else _body_keras3
        x = body(img_input, include_top, pooling, classes, classifier_activation)
    model = _common.finish(img_input, input_tensor, x, name, path, include_top)
    model.resnet50_architecture = arch
    return model


def preprocess_input(x, data_format=None):
    """Caffe-style preprocessing: RGB -> BGR, minus the ImageNet channel means."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
