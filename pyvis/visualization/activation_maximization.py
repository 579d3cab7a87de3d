"""Activation maximisation: optimise an input so that chosen filters fire (``vis.visualization``).

``visualize_activation`` maximises the mean activation of ``filter_indices`` in a layer (a conv
filter, a Dense unit / class score), regularised by an L-6 norm and total variation, with
keras-vis's defaults: weights 1 / 10 / 10, 200 iterations, RMSProp on the L2-normalised gradient.
``visualize_activation_with_losses`` runs the same loop for any list of ``(Loss, weight)``.

Results are channels-last images: uint8 when both ``input_range`` bounds are ints (the default
(0, 255)), float otherwise.  A batch of seeds (N, H, W, C) gives N images, each optimised alone.
"""

import numbers

import numpy as np

from pyvis import backprop_modifiers
from pyvis.losses import ActivationMaximization
from pyvis.optimizer import Optimizer
from pyvis.regularizers import LPNorm, TotalVariation
from pyvis.utils import utils

__all__ = ['visualize_activation_with_losses', 'visualize_activation']


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def visualize_activation_with_losses(input_tensor, losses, wrt_tensor=None, seed_input=None,
                                     input_range=(0, 255), **optimizer_params):
    """Generate the input that minimises the weighted ``losses``.

    Args:
        input_tensor: the model input (``model.input``), or the pyvis model itself.
        losses: list of ``(Loss, weight)``; a weight of 0 or None drops the term.
        wrt_tensor: tensor to take gradients with respect to (None: the input).  If it is not
            the input, the input is never updated (keras-vis behaviour).
        seed_input: starting image (H, W, C) or a batch (N, H, W, C); random noise if None.
        input_range: (min, max) of the image; both ints -> uint8 result.
        **optimizer_params: ``Optimizer.minimize`` arguments: ``max_iter`` (200),
            ``input_modifiers``, ``grad_modifier``, ``callbacks``, ``verbose`` (False), ``seed``.

    Returns:
        The image, channels-last, without batch axis for a single seed.
    """
    optimizer_params = utils.add_defaults_to_kwargs({
        'seed_input': seed_input,
        'max_iter': 200,
        'verbose': False
    }, **optimizer_params)
    opt = Optimizer(input_tensor, losses, input_range, wrt_tensor=wrt_tensor)
    img = opt.minimize(**optimizer_params)[0]
    if _is_int(input_range[0]) and _is_int(input_range[1]):
        img = np.clip(img, input_range[0], input_range[1]).astype('uint8')
    return img


def visualize_activation(model, layer_idx, filter_indices=None, wrt_tensor=None, seed_input=None,
                         input_range=(0, 255), backprop_modifier=None, grad_modifier=None,
                         act_max_weight=1, lp_norm_weight=10, tv_weight=10, **optimizer_params):
    """Generate the model input that maximally activates ``filter_indices`` of ``layer_idx``.

    Args:
        model: a pyvis model (a Keras model is converted).
        layer_idx: index into ``model.layers`` of the layer whose output is maximised.
        filter_indices: None (mean of the whole output), an int, or a list of ints (summed):
            conv filters (channels) or Dense units.
        wrt_tensor: see ``visualize_activation_with_losses``.
        seed_input: starting image or batch; random noise around the range if None.
        input_range: (min, max) of the image; both ints -> uint8 result.
        backprop_modifier: None, 'guided', 'rectified' ('relu', 'deconv') or a callable.
        grad_modifier: None or a ``pyvis.grad_modifiers`` name / callable.
        act_max_weight, lp_norm_weight, tv_weight: loss weights; 0 or None drops a term.
        **optimizer_params: ``max_iter`` (200), ``input_modifiers``, ``callbacks``, ``verbose``,
            ``seed`` (int for a reproducible run).

    Returns:
        The image, channels-last (e.g. (224, 224, 3)), uint8 for integer ranges.
    """
    if not hasattr(model, 'run'):
        from pyvis.io import as_pyvis_model
        model = as_pyvis_model(model)
    if backprop_modifier is not None:
        model = backprop_modifiers.get(backprop_modifier)(model)
    if not _is_int(layer_idx):
        raise TypeError("layer_idx must be an int index into model.layers, got %r "
                        "(use utils.find_layer_idx(model, name) for a name)" % (layer_idx,))
    n_layers = len(model.layers)
    if not -n_layers <= layer_idx < n_layers:
        raise IndexError("layer_idx %d is out of range for a model with %d layers"
                         % (layer_idx, n_layers))

    losses = [
        (ActivationMaximization(model.layers[layer_idx], filter_indices), act_max_weight),
        (LPNorm(model.input), lp_norm_weight),
        (TotalVariation(model.input), tv_weight)
    ]
    optimizer_params = utils.add_defaults_to_kwargs({'grad_modifier': grad_modifier},
                                                    **optimizer_params)
    # The model object itself (not model.input) pins the backprop-modified clone.
    return visualize_activation_with_losses(model, losses, wrt_tensor, seed_input, input_range,
                                            **optimizer_params)
