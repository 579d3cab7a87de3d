"""VGG16 (Simonyan & Zisserman, 2014) with Keras's layer names, order and argument checks.

``weights=None`` gives random weights (glorot_uniform kernels, zero biases);
``'imagenet'`` or a file path loads weights through
``pyvis.applications.imagenet_utils.load_application_weights``.
"""

import os

from pyvis import activations, layers
from pyvis.models import Model, get_source_inputs

# Filters per block; VGG19 has four convolutions in blocks 3-5 instead of three.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def _obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights):
    """Keras's ``imagenet_utils.obtain_input_shape`` for channels_last."""
    if input_shape is not None:
        try:
            input_shape = tuple(input_shape)
        except TypeError:
            raise ValueError(
                f"`input_shape` must be a tuple of three integers, got {input_shape!r}") from None
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: "
                f"input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"`input_shape` must be a tuple of three integers, got {input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(
                f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if ((input_shape[0] is not None and input_shape[0] < min_size)
                or (input_shape[1] is not None and input_shape[1] < min_size)):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}; Received: "
                f"input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            "If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}")
    return input_shape


def _check_weights_argument(weights):
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.exists(weights):
        return
    raise ValueError(
        "The `weights` argument should be either `None` (random initialization), "
        "'imagenet' (pre-training on ImageNet), or the path to the weights file to be "
        f"loaded.  Received: weights={weights}")


def build_vgg(name, blocks, include_top, weights, input_tensor, input_shape, pooling,
              classes, classifier_activation):
    """Shared body of VGG16/VGG19: validates arguments like Keras, builds, loads weights."""
    _check_weights_argument(weights)
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be "
            f"1000.  Received classes={classes}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if include_top and weights is not None:
        # Keras: pretrained weights allow only softmax or None (logits) on top.
        if activations.get(classifier_activation) not in (activations.softmax,
                                                          activations.linear):
            raise ValueError(
                "Only `None` and `softmax` activations are allowed for the "
                "`classifier_activation` argument when using pretrained weights, with "
                f"`include_top=True`; Received: classifier_activation={classifier_activation}")
    input_shape = _obtain_input_shape(input_shape, default_size=224, min_size=32,
                                      require_flatten=include_top, weights=weights)
    if input_tensor is None:
        # Keras 3 auto-names this input; in a fresh session that is "input_layer".  A fixed
        # name keeps it so however many models were built before.
        img_input = layers.Input(shape=input_shape, name="input_layer")
    elif isinstance(input_tensor, layers.KerasTensor):
        img_input = input_tensor
    else:
        raise ValueError(
            "`input_tensor` must be a symbolic tensor from pyvis.layers.Input() (or a layer "
            f"output). Received: input_tensor={input_tensor!r}")

    # Weights about to be overwritten from a file need no random initialisation.
    init = layers.deferred_weight_init() if weights is not None else _no_context()
    with init:
        x = img_input
        for b, (filters, convs) in enumerate(blocks, start=1):
            for c in range(1, convs + 1):
                x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                                  name=f"block{b}_conv{c}")(x)
            x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b}_pool")(x)
        if include_top:
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(4096, activation="relu", name="fc1")(x)
            x = layers.Dense(4096, activation="relu", name="fc2")(x)
            x = layers.Dense(classes, activation=classifier_activation,
                             name="predictions")(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)

    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights is not None:
        from pyvis.applications.imagenet_utils import load_application_weights
        load_application_weights(model, name, include_top, weights)
    return model


class _no_context:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def VGG16(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg16"):
    """Instantiate VGG16 (``keras.applications.VGG16``).

    The default input is 224x224x3 (``include_top=True`` requires exactly that with
    ImageNet weights); without the top any input of at least 32x32 works.
    """
    return build_vgg(name, VGG16_BLOCKS, include_top, weights, input_tensor, input_shape,
                     pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """Caffe-style preprocessing: RGB -> BGR, subtract the ImageNet channel means."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """``[(wnid, label, score), ...]`` per sample, best first."""
    from pyvis.applications import imagenet_utils
    return imagenet_utils.decode_predictions(preds, top=top)
