"""Activation maximisation: optimise an input so that a layer's filters fire (keras-vis API).

Placeholder created early so that ``pyvis.visualization`` can import the two public names;
the implementation follows in the next commits.
"""


def visualize_activation_with_losses(input_tensor, losses, wrt_tensor=None, seed_input=None,
                                     input_range=(0, 255), **optimizer_params):
    raise NotImplementedError('visualize_activation_with_losses is not implemented yet')


def visualize_activation(model, layer_idx, filter_indices=None, wrt_tensor=None, seed_input=None,
                         input_range=(0, 255), backprop_modifier=None, grad_modifier=None,
                         act_max_weight=1, lp_norm_weight=10, tv_weight=10, **optimizer_params):
    raise NotImplementedError('visualize_activation is not implemented yet')
