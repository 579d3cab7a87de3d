"""VGG19 with Keras's layer names (``block3_conv4`` ...), order and argument checks."""

from pyvis.applications.vgg16 import build_vgg, decode_predictions, preprocess_input

VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]


def VGG19(include_top=True, weights='imagenet', input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg19"):
    """Instantiate VGG19 (``keras.applications.VGG19``)."""
    return build_vgg(name, VGG19_BLOCKS, include_top, weights, input_tensor, input_shape,
                     pooling, classes, classifier_activation)
