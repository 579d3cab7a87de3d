"""Merge layers: Add and Concatenate (called on a list of tensors)."""

import numbers

from pyvis.layers.base import Layer


_MISMATCH = object()


def _merge_dim(dims):
    """The common value of ``dims`` ignoring None, or _MISMATCH if two known values differ."""
    known = {d for d in dims if d is not None}
    if len(known) > 1:
        return _MISMATCH
    return known.pop() if known else None


class SameShapeMerge(Layer):
    """Base of the merges whose inputs must all have one shape (Add, Multiply, Average, Maximum)."""

    _expects_list = True

    def compute_output_shape(self, input_shape):
        kind = type(self).__name__
        if len(input_shape) < 1:
            raise ValueError(f"{kind} '{self.name}' must be called on at least one tensor")
        ranks = {len(s) for s in input_shape}
        merged = [_merge_dim(dims) for dims in zip(*input_shape)] if len(ranks) == 1 else None
        if merged is None or any(d is _MISMATCH for d in merged):
            raise ValueError(
                f"{kind} '{self.name}': inputs must all have the same shape (no broadcasting), "
                f"got {input_shape}")
        return tuple(merged)


class Add(SameShapeMerge):
    """Element-wise sum of inputs of equal shape."""


class Concatenate(Layer):
    """Join inputs along ``axis`` (any axis except the batch axis)."""

    _expects_list = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(f"Concatenate '{self.name}': axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape):
            raise ValueError(
                f"Concatenate '{self.name}': inputs must have the same rank, got {input_shape}")
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Concatenate '{self.name}': axis {self.axis} is out of range for inputs "
                f"of rank {rank}")
        axis = self.axis % rank
        if axis == 0:
            raise NotImplementedError(
                f"Concatenate '{self.name}': concatenation along the batch axis is not "
                "supported")
        out = []
        for i, dims in enumerate(zip(*input_shape)):
            if i == axis:
                out.append(None if None in dims else sum(dims))
                continue
            d = _merge_dim(dims)
            if d is _MISMATCH:
                raise ValueError(
                    f"Concatenate '{self.name}' requires inputs with matching shapes except "
                    f"for the concatenation axis {self.axis}. Received: input_shape="
                    f"{input_shape}")
            out.append(d)
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
