"""Pooling layers: MaxPooling2D, AveragePooling2D and their global versions (NHWC)."""

from pyvis.layers.base import Layer, check_data_format, check_padding, pair
from pyvis.layers.conv import conv_output_length


class BasePooling(Layer):
    """Windowed pooling; keras-vis's Grad-CAM looks for subclasses of this (``_Pooling2D``)."""

    _exact_ndim = 4

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = pair(pool_size, f"{kind} '{self.name}' pool_size")
        # Keras: strides=None means strides = pool_size.
        self.strides = (self.pool_size if strides is None
                        else pair(strides, f"{kind} '{self.name}' strides"))
        self.padding = check_padding(padding, self.name)
        self.data_format = check_data_format(data_format, self.name)

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        out_h = conv_output_length(h, self.pool_size[0], self.strides[0], 1, self.padding)
        out_w = conv_output_length(w, self.pool_size[1], self.strides[1], 1, self.padding)
        if out_h == 0 or out_w == 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': computed output size would be zero "
                f"or negative for input shape {input_shape}, pool_size={self.pool_size}, "
                f"strides={self.strides}, padding='{self.padding}'")
        return (batch, out_h, out_w, c)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding,
                       "strides": self.strides, "data_format": self.data_format})
        return config


class MaxPooling2D(BasePooling):
    """Max over each window; 'same' padding never wins the max."""


class AveragePooling2D(BasePooling):
    """Mean over each window, dividing by the number of real (unpadded) elements."""


class BaseGlobalPooling(Layer):
    """Reduce H and W; output (N, C) or (N, 1, 1, C) with keepdims."""

    _exact_ndim = 4

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.name)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(BaseGlobalPooling):
    """Mean over H and W."""


class GlobalMaxPooling2D(BaseGlobalPooling):
    """Max over H and W."""


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
