"""Activation layers with parameters: ReLU (max_value, negative_slope, threshold) and Softmax."""

import numbers

from pyvis.layers.base import Layer


class ReLU(Layer):
    """Keras ReLU layer: ``max_value`` cap, ``negative_slope`` below ``threshold``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and (not isinstance(max_value, numbers.Real)
                                      or max_value < 0):
            raise ValueError(
                f"ReLU '{self.name}': max_value must be None or a non-negative number, "
                f"got {max_value!r}")
        if not isinstance(negative_slope, numbers.Real) or negative_slope < 0:
            raise ValueError(
                f"ReLU '{self.name}': negative_slope must be a non-negative number, "
                f"got {negative_slope!r}")
        if not isinstance(threshold, numbers.Real):
            raise ValueError(
                f"ReLU '{self.name}': threshold must be a number, got {threshold!r}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    @property
    def is_plain_relu(self):
        """True when this is exactly max(x, 0), so backprop modifiers apply to it."""
        return self.max_value is None and self.negative_slope == 0 and self.threshold == 0

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class Softmax(Layer):
    """Softmax over ``axis`` (only the last axis runs natively)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(f"Softmax '{self.name}': axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _check_input_shapes(self, shapes):
        super()._check_input_shapes(shapes)
        rank = len(shapes[0])
        if self.axis not in (-1, rank - 1):
            raise NotImplementedError(
                f"Softmax '{self.name}': only the last axis is supported, got axis="
                f"{self.axis} for input shape {shapes[0]}")

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
