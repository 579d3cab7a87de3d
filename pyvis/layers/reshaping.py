"""Spatial reshaping layers: ZeroPadding2D, Cropping2D, UpSampling2D (NHWC).

Keras accepts the amounts as an int (all sides), a pair (symmetric per axis) or a pair of
pairs ``((top, bottom), (left, right))``; the config always stores the last form.
"""

import numbers

from pyvis.layers.base import Layer, check_data_format, pair


def _amounts(value, what, name):
    """Normalise Keras padding/cropping amounts to ((top, bottom), (left, right)) of ints >= 0."""
    def as_int(v):
        if isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0:
            return int(v)
        raise ValueError(
            f"{name}: {what} must be an int, a pair of ints or a pair of pairs of ints >= 0, "
            f"got {value!r}")

    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = as_int(value)
        return ((v, v), (v, v))
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        as_int(None)
    out = []
    for item in value:
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                as_int(None)
            out.append((as_int(item[0]), as_int(item[1])))
        else:
            v = as_int(item)
            out.append((v, v))
    return tuple(out)


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around the image."""

    _exact_ndim = 4

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _amounts(padding, "padding", f"ZeroPadding2D '{self.name}'")
        self.data_format = check_data_format(data_format, self.name)

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (batch, None if h is None else h + top + bottom,
                None if w is None else w + left + right, c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class Cropping2D(Layer):
    """Removes rows and columns at the image borders."""

    _exact_ndim = 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _amounts(cropping, "cropping", f"Cropping2D '{self.name}'")
        self.data_format = check_data_format(data_format, self.name)

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        (top, bottom), (left, right) = self.cropping
        out = []
        for size, (a, b), axis in ((h, (top, bottom), "height"), (w, (left, right), "width")):
            if size is not None and size - a - b <= 0:
                raise ValueError(
                    f"Cropping2D '{self.name}': cropping {(a, b)} leaves nothing of the input "
                    f"{axis} {size} (input shape {input_shape})")
            out.append(None if size is None else size - a - b)
        return (batch, out[0], out[1], c)

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


class UpSampling2D(Layer):
    """Repeats every pixel ``size`` times along rows and columns (interpolation 'nearest')."""

    _exact_ndim = 4

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = pair(size, f"UpSampling2D '{self.name}' size")
        self.data_format = check_data_format(data_format, self.name)
        if interpolation != "nearest":
            raise NotImplementedError(
                f"UpSampling2D '{self.name}': interpolation={interpolation!r} is not supported; "
                "only 'nearest' runs natively")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        return (batch, None if h is None else h * self.size[0],
                None if w is None else w * self.size[1], c)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config
