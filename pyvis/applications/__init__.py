"""Keras applications built as pyvis models (``keras.applications`` names and arguments), plus
the built-in ShapesNet demo model. As in Keras, ``weights='imagenet'`` is the default."""

from pyvis.applications import (demo, densenet, inception_v3, mobilenet, mobilenet_v2, resnet50,
                                vgg16, vgg19, xception)
from pyvis.applications.demo import ShapesNet
from pyvis.applications.densenet import DenseNet121
from pyvis.applications.inception_v3 import InceptionV3
from pyvis.applications.mobilenet import MobileNet
from pyvis.applications.mobilenet_v2 import MobileNetV2
from pyvis.applications.resnet50 import ResNet50
from pyvis.applications.vgg16 import VGG16
from pyvis.applications.vgg19 import VGG19
from pyvis.applications.xception import Xception

__all__ = ["DenseNet121", "InceptionV3", "MobileNet", "MobileNetV2", "ResNet50", "ShapesNet", "VGG16",
           "VGG19", "Xception", "demo", "densenet", "inception_v3", "mobilenet", "mobilenet_v2",
           "resnet50", "vgg16", "vgg19", "xception"]
