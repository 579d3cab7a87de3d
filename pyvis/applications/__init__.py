"""Keras applications built as pyvis models (``keras.applications`` names and arguments)."""

from pyvis.applications import vgg16, vgg19
from pyvis.applications.vgg16 import VGG16
from pyvis.applications.vgg19 import VGG19

__all__ = ["VGG16", "VGG19", "vgg16", "vgg19"]
