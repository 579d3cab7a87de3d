"""Element-wise merge layers beyond Add: Multiply, Average, Maximum.

Inputs must all have the same shape (no broadcasting), as for pyvis's Add.
"""

from pyvis.layers.base import Layer
from pyvis.layers.merging import _MISMATCH, _merge_dim


class _ElementwiseMerge(Layer):
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


class Multiply(_ElementwiseMerge):
    """Element-wise product of the inputs."""


class Average(_ElementwiseMerge):
    """Element-wise mean of the inputs."""


class Maximum(_ElementwiseMerge):
    """Element-wise maximum of the inputs (the gradient goes to the first maximal input)."""
