"""Keras-style layers (``keras.layers`` subset that the native graph runs).

Every class accepts the config dicts Keras 2 and 3 write (``cls(**config)``);
keys that do not affect inference (initializers, regularizers, constraints,
dtype, ...) are accepted and ignored.
"""

from pyvis.layers.activation_layers import ReLU, Softmax
from pyvis.layers.base import (Input, InputLayer, KerasHistory, KerasTensor, Layer, Node,
                               clear_name_counters, deferred_weight_init)
from pyvis.layers.conv import BaseConv, Conv2D, Convolution2D
from pyvis.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pyvis.layers.merging import Add, Concatenate
from pyvis.layers.pooling import (AveragePooling2D, AvgPool2D, BaseGlobalPooling, BasePooling,
                                  GlobalAveragePooling2D, GlobalAvgPool2D,
                                  GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D,
                                  MaxPooling2D)

# keras-vis imports Keras 2's private base classes to find the Grad-CAM layer.
_Conv = BaseConv
_Pooling2D = BasePooling
_GlobalPooling2D = BaseGlobalPooling

__all__ = [
    "Activation", "Add", "AveragePooling2D", "AvgPool2D", "BaseConv", "BaseGlobalPooling",
    "BasePooling", "Concatenate", "Conv2D", "Convolution2D", "Dense", "Dropout",
    "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "GlobalMaxPooling2D", "Input", "InputLayer", "KerasTensor", "Layer", "MaxPool2D",
    "MaxPooling2D", "ReLU", "Reshape", "Softmax", "deserialize", "get",
]

_CLASSES = {cls.__name__: cls for cls in (
    Activation, Add, AveragePooling2D, Concatenate, Conv2D, Dense, Dropout, Flatten,
    GlobalAveragePooling2D, GlobalMaxPooling2D, InputLayer, MaxPooling2D, ReLU, Reshape,
    Softmax)}
# Names older Keras versions wrote for the same classes.
_CLASSES.update({"Convolution2D": Conv2D, "MaxPool2D": MaxPooling2D,
                 "AvgPool2D": AveragePooling2D, "GlobalAvgPool2D": GlobalAveragePooling2D,
                 "GlobalMaxPool2D": GlobalMaxPooling2D})


def get(class_name):
    """The layer class Keras serializes as ``class_name``."""
    cls = _CLASSES.get(class_name)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {class_name!r}; pyvis supports {sorted(_CLASSES)}")
    return cls


def deserialize(config, custom_objects=None):
    """Build a layer from ``{"class_name": ..., "config": {...}}`` (Keras 2 or 3)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A layer config must be a dict with 'class_name', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or get(name)
    return cls.from_config(dict(config.get("config", {})))


# Layers keras.applications need beyond the core set (lowered in pyvis/engine_extra.py).
from pyvis.layers.depthwise import DepthwiseConv2D, SeparableConv2D, SeparableConvolution2D  # noqa: E402
from pyvis.layers.merging_elementwise import Average, Maximum, Multiply  # noqa: E402
from pyvis.layers.normalization import BatchNormalization, Normalization, Rescaling  # noqa: E402
from pyvis.layers.reshaping import Cropping2D, UpSampling2D, ZeroPadding2D  # noqa: E402

_APPLICATION_LAYERS = (Average, BatchNormalization, Cropping2D, DepthwiseConv2D, Maximum, Multiply,
                       Normalization, Rescaling, SeparableConv2D, UpSampling2D, ZeroPadding2D)
_CLASSES.update({cls.__name__: cls for cls in _APPLICATION_LAYERS})
_CLASSES["SeparableConvolution2D"] = SeparableConv2D
__all__ += [cls.__name__ for cls in _APPLICATION_LAYERS] + ["SeparableConvolution2D"]
