"""Core layers: Dense, Activation, Dropout, Flatten, Reshape."""

import math
import numbers

from pyvis import activations
from pyvis.layers.base import (Layer, check_data_format, glorot_uniform, positive_int,
                               serialize_activation, standardize_shape, zeros)


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis; kernel (in, units)."""

    _min_ndim = 2

    def __init__(self, units, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, f"Dense '{self.name}' units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Dense '{self.name}': the last dimension of the input must be known, "
                f"got input shape {input_shape}")
        self.add_weight("kernel", glorot_uniform((in_dim, self.units), in_dim, self.units))
        if self.use_bias:
            self.add_weight("bias", zeros((self.units,)))

    def compute_output_shape(self, input_shape):
        in_dim = self._weights["kernel"].shape[0]
        if input_shape[-1] is not None and input_shape[-1] != in_dim:
            raise ValueError(
                f"Dense '{self.name}' was built for last dimension {in_dim}, "
                f"got input shape {input_shape}")
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units,
                       "activation": serialize_activation(self.activation),
                       "use_bias": self.use_bias})
        return config


class Activation(Layer):
    """Applies ``activation`` element-wise (softmax: over the last axis)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def get_config(self):
        config = super().get_config()
        config["activation"] = serialize_activation(self.activation)
        return config


class Dropout(Layer):
    """Identity at inference; ``rate`` is kept for the config."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, numbers.Real) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError(
                f"Dropout '{self.name}': rate must be a float in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return config


class Flatten(Layer):
    """Row-major (NHWC C-order) flatten of the per-sample dimensions."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.name)

    def compute_output_shape(self, input_shape):
        dims = input_shape[1:]
        size = None if None in dims else math.prod(dims)
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Row-major reshape of the per-sample dimensions to ``target_shape`` (one -1 allowed)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, int):
            target_shape = (target_shape,)
        try:
            dims = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"Reshape '{self.name}': target_shape must be a tuple of ints, "
                f"got {target_shape!r}") from None
        if dims.count(-1) > 1 or any(d == 0 or d < -1 for d in dims):
            raise ValueError(
                f"Reshape '{self.name}': target_shape must contain positive ints and at "
                f"most one -1, got {target_shape!r}")
        self.target_shape = dims

    def compute_output_shape(self, input_shape):
        dims = input_shape[1:]
        known = math.prod(d for d in self.target_shape if d != -1)
        if None in dims:
            out = tuple(None if d == -1 else d for d in self.target_shape)
            return (input_shape[0],) + out
        total = math.prod(dims)
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(
                    f"Reshape '{self.name}': cannot reshape input of shape {input_shape} "
                    f"into target_shape {self.target_shape}")
            out = tuple(total // known if d == -1 else d for d in self.target_shape)
        else:
            if total != known:
                raise ValueError(
                    f"Reshape '{self.name}': total size of the new array must be "
                    f"unchanged; input_shape={input_shape}, "
                    f"target_shape={self.target_shape}")
            out = self.target_shape
        return (input_shape[0],) + standardize_shape(out)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config
