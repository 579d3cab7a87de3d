"""DepthwiseConv2D and SeparableConv2D with Keras's kernel layouts and TF padding rules.

DepthwiseConv2D: kernel (KH, KW, C, depth_multiplier), bias (C * depth_multiplier,); output
channel ``c * depth_multiplier + m`` reads input channel ``c``.
SeparableConv2D: that depthwise step (no bias) with the layer's strides, dilation and padding,
then a 1x1 stride-1 pointwise kernel (1, 1, C * depth_multiplier, filters), bias, activation.
Both subclass ``BaseConv`` so keras-vis's Grad-CAM search treats them as convolutions, as
Keras 2's class hierarchy did.
"""

from pyvis import activations
from pyvis.layers.base import (check_data_format, check_padding, glorot_uniform, pair,
                               positive_int, serialize_activation, zeros)
from pyvis.layers.conv import BaseConv, check_strides_with_dilation


class _DepthwiseBase(BaseConv):
    """Shared argument checks and output shape of the depthwise-first convolutions."""

    _exact_ndim = 4

    def _init_common(self, kernel_size, strides, padding, data_format, dilation_rate,
                     depth_multiplier, activation, use_bias):
        kind = type(self).__name__
        self.kernel_size = pair(kernel_size, f"{kind} '{self.name}' kernel_size")
        self.strides = pair(strides, f"{kind} '{self.name}' strides")
        self.dilation_rate = pair(dilation_rate, f"{kind} '{self.name}' dilation_rate")
        self.padding = check_padding(padding, self.name)
        self.data_format = check_data_format(data_format, self.name)
        self.depth_multiplier = positive_int(depth_multiplier,
                                             f"{kind} '{self.name}' depth_multiplier")
        check_strides_with_dilation(self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)


    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "depth_multiplier": self.depth_multiplier,
            "activation": serialize_activation(self.activation), "use_bias": self.use_bias,
        })
        return config

class DepthwiseConv2D(_DepthwiseBase):
    """One small convolution per input channel (``depth_multiplier`` outputs each)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 filters=None, groups=None, **kwargs):
        # tf.keras serialised DepthwiseConv2D with Conv2D's `filters` and `groups` keys
        # (meaningless for a depthwise convolution); accept and drop them.
        super().__init__(**kwargs)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate,
                          depth_multiplier, activation, use_bias)

    def build(self, input_shape):
        c = self._channels(input_shape)
        kh, kw = self.kernel_size
        dm = self.depth_multiplier
        self.add_weight("kernel", glorot_uniform((kh, kw, c, dm), kh * kw * c, kh * kw * dm))
        if self.use_bias:
            self.add_weight("bias", zeros((c * dm,)))

    def compute_output_shape(self, input_shape):
        batch, out_h, out_w = self._spatial_output(input_shape)
        kernel = self._weights["kernel"]
        return (batch, out_h, out_w, kernel.shape[2] * kernel.shape[3])


class SeparableConv2D(_DepthwiseBase):
    """Depthwise convolution, then a 1x1 pointwise convolution to ``filters`` channels."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, f"SeparableConv2D '{self.name}' filters")
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate,
                          depth_multiplier, activation, use_bias)

    def build(self, input_shape):
        c = self._channels(input_shape)
        kh, kw = self.kernel_size
        dm = self.depth_multiplier
        self.add_weight("depthwise_kernel",
                        glorot_uniform((kh, kw, c, dm), kh * kw * c, kh * kw * dm))
        self.add_weight("pointwise_kernel",
                        glorot_uniform((1, 1, c * dm, self.filters), c * dm, self.filters))
        if self.use_bias:
            self.add_weight("bias", zeros((self.filters,)))

    def compute_output_shape(self, input_shape):
        batch, out_h, out_w = self._spatial_output(input_shape)
        return (batch, out_h, out_w, self.filters)

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        return config


SeparableConvolution2D = SeparableConv2D
