"""Backprop modifiers mirroring ``vis.backprop_modifiers``: functions mapping a model to a model.

``relu`` and ``deconv`` are the same function object as ``rectified``.
"""

from pyvis import backend
from pyvis.utils import utils

__all__ = ['guided', 'rectified', 'relu', 'deconv', 'get']


def guided(model):
    """Guided backprop (Springenberg et al.): at ReLU units pass g only where x > 0 and g > 0."""
    return backend.modify_model_backprop(model, 'guided')


def rectified(model):
    """Rectified / deconvnet backprop (Zeiler & Fergus): at ReLU units pass g only where g > 0."""
    return backend.modify_model_backprop(model, 'rectified')


# Aliases kept from keras-vis.
relu = rectified
deconv = rectified

_MODIFIERS = {'guided': guided, 'rectified': rectified, 'relu': relu, 'deconv': deconv}


def get(identifier):
    """A modifier by name (``'guided'``, ``'rectified'``, ``'relu'``, ``'deconv'``) or a callable
    mapping a model to a model, passed through."""
    return utils.get_identifier(identifier, _MODIFIERS, 'pyvis.backprop_modifiers')
