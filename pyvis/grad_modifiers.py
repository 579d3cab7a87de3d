"""Gradient modifiers mirroring ``vis.grad_modifiers``: NumPy array in, new NumPy array out.

Note the name clash kept from keras-vis: ``relu`` here clips negative *gradients*; in
``pyvis.backprop_modifiers`` ``'relu'`` means rectified backprop.  Unlike keras-vis, ``relu``
returns a new array instead of modifying its argument in place.
"""

import numpy as np

from pyvis.utils import utils

__all__ = ['negate', 'absolute', 'invert', 'relu', 'small_values', 'get']

# Keras's K.epsilon(), the value keras-vis adds before dividing.
_EPS = 1e-7


def negate(grads):
    """``-g``: shows what decreases the output."""
    return -grads


def absolute(grads):
    """``|g|``: the default for saliency."""
    return np.abs(grads)


def invert(grads):
    """``1 / (g + eps)`` (signed, so it blows up near g = -eps, as in keras-vis)."""
    return 1. / (grads + _EPS)


def relu(grads):
    """Negative gradients set to 0 (a copy; the argument is left untouched)."""
    return np.maximum(grads, 0)


def small_values(grads):
    """``|1 / (g + eps)|``: emphasises gradients near zero, i.e. what keeps the output unchanged."""
    return np.abs(1. / (grads + _EPS))


_MODIFIERS = {'negate': negate, 'absolute': absolute, 'invert': invert, 'relu': relu,
              'small_values': small_values}


def get(identifier):
    """A modifier by name (``'negate'``, ``'absolute'``, ``'invert'``, ``'relu'``,
    ``'small_values'``) or a callable passed through."""
    return utils.get_identifier(identifier, _MODIFIERS, 'pyvis.grad_modifiers')
