"""Backend functions mirroring ``vis.backend``: backprop modifiers and random seeding.

keras-vis rebuilt the model inside a TensorFlow ``gradient_override_map`` (a save/reload round
trip per modifier).  In pyvis a modifier is a flag the native backward pass reads at every ReLU
unit, so ``modify_model_backprop`` returns a shallow clone sharing layers, weights and the
compiled graph: it costs nothing and needs no cache.
"""

import numpy as np

__all__ = ['modify_model_backprop', 'set_random_seed']

# keras-vis accepts 'guided' and 'rectified'; 'relu' and 'deconv' are the rectified aliases of
# vis.backprop_modifiers, accepted here too so that both entry points agree.
_MODIFIER_NAMES = {'guided': 'guided', 'rectified': 'rectified', 'relu': 'rectified',
                   'deconv': 'rectified'}


def modify_model_backprop(model, backprop_modifier):
    """Return ``model`` with its backward pass through ReLU units changed.

    Args:
        model: a pyvis model (a Keras model object is converted first).
        backprop_modifier: ``'guided'`` (pass g where the unit was active and g > 0) or
            ``'rectified'`` (pass g where g > 0, active or not; aliases ``'relu'``, ``'deconv'``).

    Only ReLU units (``activation='relu'``, ``Activation('relu')``, ``ReLU()``) are affected;
    the forward pass and the original model are unchanged.
    """
    name = _MODIFIER_NAMES.get(backprop_modifier) if isinstance(backprop_modifier, str) else None
    if name is None:
        raise ValueError("'{}' modifier is not supported; expected one of 'guided', 'rectified', "
                         "'relu', 'deconv'".format(backprop_modifier))
    if not hasattr(model, '_with_backprop_modifier'):
        from pyvis.io import as_pyvis_model
        model = as_pyvis_model(model)
    return model._with_backprop_modifier(name)


def set_random_seed(seed_value=1337):
    """Seed NumPy's global generator (everything random in pyvis draws from it)."""
    np.random.seed(seed_value)
