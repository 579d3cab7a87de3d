"""Element-wise merge layers beyond Add: Multiply, Average, Maximum.

Inputs must all have the same shape (no broadcasting), as for pyvis's Add.
"""

from pyvis.layers.merging import SameShapeMerge


class Multiply(SameShapeMerge):
    """Element-wise product of the inputs."""


class Average(SameShapeMerge):
    """Element-wise mean of the inputs."""


class Maximum(SameShapeMerge):
    """Element-wise maximum of the inputs (the gradient goes to the first maximal input)."""
