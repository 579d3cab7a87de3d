"""Losses for visualisation, mirroring ``vis.losses``.

keras-vis builds a symbolic scalar in ``build_loss()``.  pyvis has no symbolic graph: a loss
instead *evaluates* itself on a forward tape and hands back the gradient seeds that the native
backward pass starts from.  The contract (spec section 3):

``evaluate(tape) -> (values, seeds)``
    ``values``  float64 array of shape (N,): the loss of each sample on its own;
    ``seeds``   list of ``(tensor handle, grad)`` where ``grad`` is
                d(sum_n values[n]) / d(tensor), float32, with the batch axis kept.

Samples are independent, so a single image gives exactly keras-vis's value.
"""

import numbers

import numpy as np

__all__ = ['Loss', 'ActivationMaximization']


class Loss(object):
    """Abstract loss: subclasses implement ``evaluate(tape)``."""

    def __init__(self):
        self.name = "Unnamed Loss"

    def __str__(self):
        return self.name

    def build_loss(self):
        """keras-vis's symbolic entry point; pyvis losses implement ``evaluate`` instead."""
        raise NotImplementedError()

    def evaluate(self, tape):
        """Return ``(values (N,) float64, seeds [(handle, grad float32)])`` for a forward tape."""
        raise NotImplementedError()


def _check_filter_indices(filter_indices):
    """Normalise ``filter_indices`` to a list of ints (or ``[None]`` for 'all filters').

    keras-vis wraps anything that is not a list (tuple, array) as *one* index and relies on
    tensor fancy indexing for it, which TF1 never supported; we refuse it with a clear message.
    """
    if filter_indices is None:
        return [None]
    items = filter_indices if isinstance(filter_indices, list) else [filter_indices]
    out = []
    for idx in items:
        if idx is None:
            out.append(None)
        elif isinstance(idx, numbers.Integral) and not isinstance(idx, bool):
            out.append(int(idx))
        else:
            raise TypeError(
                "filter_indices must be an int, a list of ints or None; got %r (type %s)"
                % (filter_indices, type(filter_indices).__name__))
    return out


class ActivationMaximization(Loss):
    """Minus the mean activation of the chosen filters (or outputs) of ``layer``.

    Per sample: ``-sum_idx mean(out[n, ..., idx])`` where the mean runs over every spatial
    position; ``filter_indices=None`` means minus the mean of the whole layer output.  A list of
    indices *sums* the terms (keras-vis behaviour, not an average).
    """

    def __init__(self, layer, filter_indices):
        super(ActivationMaximization, self).__init__()
        self.name = "ActivationMax Loss"
        self.layer = layer
        self.filter_indices = _check_filter_indices(filter_indices)

    def evaluate(self, tape):
        out = np.asarray(tape.value(self.layer))
        n = out.shape[0]
        flat = out.reshape(n, -1).astype(np.float64)
        grad = np.zeros(out.shape, dtype=np.float32)
        values = np.zeros(n, dtype=np.float64)
        channels = out.shape[-1] if out.ndim >= 2 else 1
        # Number of positions each channel is averaged over (Dense output: 1).
        per_channel = int(np.prod(out.shape[1:-1])) if out.ndim > 2 else 1
        for idx in self.filter_indices:
            if idx is None:
                values -= flat.mean(axis=1)
                grad -= np.float32(1.0 / flat.shape[1])
                continue
            if out.ndim < 2 or not -channels <= idx < channels:
                raise IndexError(
                    "filter_indices: index %d is out of range for layer %r whose output has %d "
                    "filters/units (shape %s)"
                    % (idx, getattr(self.layer, 'name', self.layer), channels, out.shape[1:]))
            sel = out[..., idx].reshape(n, -1).astype(np.float64)
            values -= sel.mean(axis=1)
            grad[..., idx] -= np.float32(1.0 / per_channel)
        return values, [(self.layer, grad)]
