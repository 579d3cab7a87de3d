"""Conv2D (alias Convolution2D): NHWC cross-correlation with Keras's TF padding rules."""

from pyvis import activations
from pyvis.layers.base import (Layer, check_data_format, check_padding, glorot_uniform,
                               pair, positive_int, serialize_activation, zeros)


def conv_output_length(length, kernel, stride, dilation, padding):
    """TF's output size: valid ``(in - eff)//s + 1``, same ``ceil(in / s)``; None stays None."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    eff = (kernel - 1) * dilation + 1
    return (length - eff) // stride + 1 if length >= eff else 0



def check_strides_with_dilation(strides, dilation_rate):
    """Keras refuses strides > 1 together with dilation_rate > 1 (and so does its error text)."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation_rate}")

class BaseConv(Layer):
    """Base of the convolution layers (keras-vis looks for ``_Conv`` subclasses): the channel
    and output-size checks they share."""

    def _channels(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel dimension of the input "
                f"must be known, got input shape {input_shape}")
        return channels

    def _spatial_output(self, input_shape):
        batch, h, w, c = input_shape
        expected = self._weights[self.weight_names[0]].shape[2]
        if c is not None and c != expected:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' was built for {expected} input "
                f"channels, got input shape {input_shape}")
        out_h = conv_output_length(h, self.kernel_size[0], self.strides[0],
                                   self.dilation_rate[0], self.padding)
        out_w = conv_output_length(w, self.kernel_size[1], self.strides[1],
                                   self.dilation_rate[1], self.padding)
        if out_h == 0 or out_w == 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': computed output size would be zero "
                f"or negative for input shape {input_shape}, kernel_size={self.kernel_size}, "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}, "
                f"padding='{self.padding}'")
        return batch, out_h, out_w


class Conv2D(BaseConv):
    """2D convolution; kernel (KH, KW, C, filters) and bias (filters,), Keras layouts."""

    _exact_ndim = 4

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, f"Conv2D '{self.name}' filters")
        self.kernel_size = pair(kernel_size, f"Conv2D '{self.name}' kernel_size")
        self.strides = pair(strides, f"Conv2D '{self.name}' strides")
        self.dilation_rate = pair(dilation_rate, f"Conv2D '{self.name}' dilation_rate")
        self.padding = check_padding(padding, self.name)
        self.data_format = check_data_format(data_format, self.name)
        if groups != 1:
            raise NotImplementedError(
                f"Conv2D '{self.name}': groups={groups!r} is not supported (only groups=1)")
        self.groups = 1
        check_strides_with_dilation(self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        kh, kw = self.kernel_size
        self.add_weight("kernel", glorot_uniform(
            (kh, kw, channels, self.filters), kh * kw * channels, kh * kw * self.filters))
        if self.use_bias:
            self.add_weight("bias", zeros((self.filters,)))

    def compute_output_shape(self, input_shape):
        batch, out_h, out_w = self._spatial_output(input_shape)
        return (batch, out_h, out_w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size,
            "strides": self.strides, "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": self.dilation_rate,
            "groups": self.groups, "activation": serialize_activation(self.activation),
            "use_bias": self.use_bias,
        })
        return config


Convolution2D = Conv2D
