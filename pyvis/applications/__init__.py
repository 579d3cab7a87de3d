"""Keras applications built as pyvis models (``keras.applications`` names and arguments)."""

from pyvis.applications import vgg16, vgg19
from pyvis.applications.vgg16 import VGG16
from pyvis.applications.vgg19 import VGG19

__all__ = ["VGG16", "VGG19", "vgg16", "vgg19"]

# Architectures beyond VGG (BatchNormalization, depthwise/separable convolutions, ...).
from pyvis.applications import (densenet, inception_v3, mobilenet, mobilenet_v2,  # noqa: E402
                                resnet50, xception)
from pyvis.applications.densenet import DenseNet121  # noqa: E402
from pyvis.applications.inception_v3 import InceptionV3  # noqa: E402
from pyvis.applications.mobilenet import MobileNet  # noqa: E402
from pyvis.applications.mobilenet_v2 import MobileNetV2  # noqa: E402
from pyvis.applications.resnet50 import ResNet50  # noqa: E402
from pyvis.applications.xception import Xception  # noqa: E402

__all__ += ["DenseNet121", "InceptionV3", "MobileNet", "MobileNetV2", "ResNet50", "Xception",
            "densenet", "inception_v3", "mobilenet", "mobilenet_v2", "resnet50", "xception"]
