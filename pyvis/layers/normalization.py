"""Inference-time normalisation layers: BatchNormalization, Normalization, Rescaling.

All three are a per-channel affine map ``x * scale + shift`` on the last axis once their
constants are folded; ``affine_constants`` does that folding in float64 and the native graph
runs one ``OP_AFFINE`` node (see pyvis/engine_extra.py). Only channels-last layouts (the
normalised axis is the last one) run natively.
"""

import numbers

import numpy as np

from pyvis.layers.base import Layer, zeros

# Keras 2 / tf.keras BatchNormalization config keys that do not change inference.
_BN_TRAINING_ONLY = ("momentum", "renorm", "renorm_clipping", "renorm_momentum", "fused",
                     "synchronized", "trainable_statistics")


def _last_axis_only(axis, rank, layer):
    """True when ``axis`` (an int or a 1-list) names the last axis of a rank-``rank`` tensor."""
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            return False
        axis = axis[0]
    return axis == -1 or axis == rank - 1


class BatchNormalization(Layer):
    """``gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta`` (inference mode)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 virtual_batch_size=None, adjustment=None, **kwargs):
        for key in _BN_TRAINING_ONLY:
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]           # tf.keras wrote axis as [3]
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(
                f"BatchNormalization '{self.name}': axis must be an int, got {axis!r}")
        if virtual_batch_size is not None or adjustment is not None:
            raise ValueError(
                f"BatchNormalization '{self.name}': virtual_batch_size and adjustment are "
                "training-only options that pyvis does not support")
        if not isinstance(epsilon, numbers.Real) or not epsilon > 0:
            raise ValueError(
                f"BatchNormalization '{self.name}': epsilon must be a positive number, "
                f"got {epsilon!r}")
        self.axis = int(axis)
        self.momentum = momentum
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def _check_input_shapes(self, shapes):
        super()._check_input_shapes(shapes)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"BatchNormalization '{self.name}': axis {self.axis} is out of range for "
                f"input shape {shapes[0]}")

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(
                f"BatchNormalization '{self.name}': axis {self.axis} of the input must have "
                f"a known size, got input shape {input_shape}")
        if self.scale:
            self.add_weight("gamma", np.ones((channels,), np.float32))
        if self.center:
            self.add_weight("beta", zeros((channels,)))
        self.add_weight("moving_mean", zeros((channels,)))
        self.add_weight("moving_variance", np.ones((channels,), np.float32))

    def affine_constants(self, input_rank):
        """(scale, shift) float32 arrays (C,), folded in float64; input_rank includes the batch."""
        if not _last_axis_only(self.axis, input_rank, self):
            raise NotImplementedError(
                f"BatchNormalization '{self.name}': only the last (channels) axis runs "
                f"natively, got axis={self.axis} for a rank-{input_rank} input")
        w = {k: np.asarray(v, np.float64) for k, v in self._weights.items()}
        gamma = w.get("gamma", 1.0)
        beta = w.get("beta", 0.0)
        scale = gamma / np.sqrt(w["moving_variance"] + self.epsilon)
        shift = beta - w["moving_mean"] * scale
        channels = w["moving_mean"].shape[0]
        return (np.ascontiguousarray(np.broadcast_to(scale, (channels,)), np.float32),
                np.ascontiguousarray(np.broadcast_to(shift, (channels,)), np.float32))

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                       "center": self.center, "scale": self.scale})
        return config


def _numeric(value, what, name):
    """A float or a 1-D float64 array from a config value (number, list, or Keras's __numpy__)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = value.get("config", {}).get("value")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a number or a list of numbers, "
                         f"got {value!r}") from None
    if arr.ndim > 1:
        raise ValueError(f"{name}: {what} must be a number or a 1-D list (one per channel), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {what} must be finite, got {value!r}")
    return arr


def _per_channel(arr, channels, what, name):
    if arr.ndim == 0:
        return np.full((channels,), float(arr))
    if arr.shape[0] == 1:
        return np.full((channels,), float(arr[0]))
    if arr.shape[0] != channels:
        raise ValueError(f"{name}: {what} has {arr.shape[0]} values but the input has "
                         f"{channels} channels")
    return arr


class Rescaling(Layer):
    """``x * scale + offset``; scale and offset are numbers or one value per channel."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        _numeric(scale, "scale", f"Rescaling '{self.name}'")       # validate now
        _numeric(offset, "offset", f"Rescaling '{self.name}'")
        self.scale = scale
        self.offset = offset

    def affine_constants(self, channels):
        name = f"Rescaling '{self.name}'"
        scale = _per_channel(_numeric(self.scale, "scale", name), channels, "scale", name)
        shift = _per_channel(_numeric(self.offset, "offset", name), channels, "offset", name)
        return scale.astype(np.float32), shift.astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config


class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), 1e-7)`` (or its inverse with ``invert=True``).

    ``mean``/``variance`` come from the config, or else from the layer's weights (Keras 3
    stores the adapted statistics as variables ``mean``, ``variance``, ``count``).
    """

    _EPSILON = 1e-7          # keras.backend.epsilon()

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        name = f"Normalization '{self.name}'"
        if isinstance(axis, (list, tuple)):
            axis = tuple(axis)
            if len(axis) != 1:
                raise NotImplementedError(
                    f"{name}: only one normalised axis (the channels) is supported, got "
                    f"axis={axis!r}")
            axis = axis[0]
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(f"{name}: axis must be an int, got {axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(
                f"{name}: when setting values directly, both `mean` and `variance` must be "
                f"set. Received: mean={mean} and variance={variance}")
        self.axis = int(axis)
        self.invert = bool(invert)
        if mean is not None:         # validate now
            _numeric(mean, "mean", name)
            _numeric(variance, "variance", name)
        self.mean = mean
        self.variance = variance

    def build(self, input_shape):
        if self.mean is not None:
            return
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"Normalization '{self.name}': axis {self.axis} must have a "
                             f"known size, got input shape {input_shape}")
        self.add_weight("mean", zeros((channels,)))
        self.add_weight("variance", np.ones((channels,), np.float32))
        # a 0-d variable; add_weight's ascontiguousarray would make it 1-d
        self._weights["count"] = np.zeros((), np.float32)

    def affine_constants(self, input_rank, channels):
        name = f"Normalization '{self.name}'"
        if not _last_axis_only(self.axis, input_rank, self):
            raise NotImplementedError(
                f"{name}: only the last (channels) axis runs natively, got axis={self.axis}")
        if self.mean is not None:
            mean, var = _numeric(self.mean, "mean", name), _numeric(self.variance, "variance", name)
        else:
            mean = np.asarray(self._weights["mean"], np.float64)
            var = np.asarray(self._weights["variance"], np.float64)
        mean = _per_channel(mean, channels, "mean", name)
        var = _per_channel(var, channels, "variance", name)
        std = np.maximum(np.sqrt(np.maximum(var, 0.0)), self._EPSILON)
        if self.invert:
            scale, shift = std, mean
        else:
            scale, shift = 1.0 / std, -mean / std
        return scale.astype(np.float32), shift.astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "invert": self.invert,
                       "mean": self.mean, "variance": self.variance})
        return config
