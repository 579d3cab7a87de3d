"""Saliency maps and Grad-CAM, mirroring ``vis.visualization.saliency`` (keras-vis master).

Both are one forward and one backward pass of the native graph:

* saliency: the gradient of the (weighted) losses with respect to the input, or to any layer
  output given as ``wrt_tensor``; then the grad modifier (default ``'absolute'``), the max over
  channels unless ``keepdims``, and global min-max normalisation to [0, 1];
* Grad-CAM: the gradient with respect to a "penultimate" conv/pool output ``A``, scaled by
  ``max(g) + eps``, averaged per channel into weights ``w_c``; the map ``relu(sum_c w_c A_c)`` is
  upsampled to the model's input size with cubic splines (exactly ``scipy.ndimage.zoom(order=3)``,
  done natively) and normalised.

A backprop modifier (``'guided'``, ``'relu'`` ...) is a flag on the native backward pass; the
model is never copied.  ``seed_input`` may be one image (H, W, C), a batch of one, or (extension)
a batch of N > 1 images: each sample is then visualised on its own and the result keeps the batch
axis.  pyvis models are channels_last; channels_first data is refused with a clear error.
"""

import numbers

import numpy as np

from pyvis import backprop_modifiers, grad_modifiers
from pyvis.losses import ActivationMaximization
from pyvis.utils import utils

__all__ = ['visualize_saliency_with_losses', 'visualize_saliency', 'visualize_cam_with_losses',
           'visualize_cam']

# Keras's K.epsilon(), used by keras-vis in the Grad-CAM scaling.
_EPS = 1e-7

# Layers the penultimate search accepts: Keras's private _Conv and _Pooling1D/2D/3D families.
# Matched by class name along the MRO so that user subclasses qualify; global pooling never does.
_CONV_OR_POOL_NAMES = frozenset([
    'Conv1D', 'Conv2D', 'Conv3D', 'Convolution1D', 'Convolution2D', 'Convolution3D',
    'Conv1DTranspose', 'Conv2DTranspose', 'Conv3DTranspose', 'SeparableConv1D', 'SeparableConv2D',
    'DepthwiseConv1D', 'DepthwiseConv2D',
    'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'MaxPool1D', 'MaxPool2D', 'MaxPool3D',
    'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D', 'AvgPool1D', 'AvgPool2D',
    'AvgPool3D',
])


# --------------------------------------------------------------------------------------------
# models, seeds and losses

def _as_model(model):
    """A pyvis model; Keras model objects are converted (weights shared where possible)."""
    if hasattr(model, 'run') and hasattr(model, 'layers'):
        return model
    from pyvis.io import as_pyvis_model
    return as_pyvis_model(model)


def _model_for_input(input_tensor, losses, wrt_tensor=None):
    """The model that ``*_with_losses`` runs, and ``wrt_tensor`` as a tensor (or None).

    ``input_tensor`` is the model input (``model.input``) or the model itself; the resolution
    is the optimizer's (``pyvis.optimizer.resolve_model``), so both entry points agree.  That
    may cut the model down to the layers the losses read, so a layer, a layer index or a layer
    name given as ``wrt_tensor`` is first turned into its output tensor (an index or a name
    needs the model itself as ``input_tensor``).
    """
    from pyvis.layers import Layer
    from pyvis.optimizer import resolve_model
    if isinstance(wrt_tensor, (numbers.Integral, str)) and not isinstance(wrt_tensor, bool):
        if not (hasattr(input_tensor, 'run') and hasattr(input_tensor, 'layers')):
            raise TypeError('wrt_tensor=%r: a layer index or name needs the model itself as '
                            'input_tensor; pass a tensor or a layer instead' % (wrt_tensor,))
        wrt_tensor = (input_tensor.get_layer(name=wrt_tensor) if isinstance(wrt_tensor, str)
                      else _layer_at(input_tensor, wrt_tensor, 'wrt_tensor'))
    if isinstance(wrt_tensor, Layer):
        wrt_tensor = wrt_tensor.output
    model = resolve_model(input_tensor, [loss for loss, _ in losses], wrt_tensor)[0]
    return model, wrt_tensor


def _input_shape(model):
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError('pyvis visualisations support single-input models only; this model '
                             'has %d inputs' % len(shape))
        shape = shape[0]
    return tuple(shape)


def _prepare_seed(model, seed_input):
    """float32 copy of ``seed_input`` with a batch axis, and whether the result keeps that axis.

    keras-vis adds a batch axis to an unbatched seed and returns sample 0; a batch of one
    therefore also gives an unbatched result.  A batch of N > 1 keeps its axis.
    """
    if seed_input is None:
        raise ValueError('seed_input is required: pass an image shaped like the model input')
    try:
        x = np.asarray(seed_input)
    except ValueError as exc:       # ragged nested lists
        raise ValueError('seed_input is not a rectangular array: %s' % exc) from None
    if x.dtype.kind not in 'fiub':
        raise TypeError('seed_input must be a real numeric array (float, int or bool), got dtype %s'
                        % x.dtype)
    desired = _input_shape(model)
    if x.ndim == len(desired) - 1:
        x = x[None]
    elif x.ndim != len(desired):
        raise ValueError('seed_input has shape %s; expected %s (one sample) or (N,) + that '
                         '(a batch), to match the model input %s'
                         % (x.shape, desired[1:], desired))
    want, got = desired[1:], x.shape[1:]
    if any(w is not None and w != g for w, g in zip(want, got)):
        if len(got) >= 3 and got[0] == want[-1] and got[1:] == tuple(
                g if w is None else w for w, g in zip(want[:-1], got[1:])):
            raise ValueError('seed_input has shape %s, which looks like channels_first data; '
                             'channels_first is not supported: pyvis models are channels_last, '
                             'pass the image as %s' % (np.shape(seed_input), want))
        raise ValueError('seed_input has per-sample shape %s but the model input is %s'
                         % (got, want))
    if x.shape[0] == 0:
        raise ValueError('seed_input is an empty batch (shape %s); expected at least one image'
                         % (x.shape,))
    batched = x.shape[0] > 1
    with np.errstate(over='ignore'):
        x32 = np.array(x, dtype=np.float32, copy=True)
    bad = x32.size - int(np.count_nonzero(np.isfinite(x32)))
    if bad:
        # a NaN/Inf pixel makes every gradient NaN: the map would be silently meaningless
        raise ValueError('seed_input contains %d NaN/Inf value(s) (or values beyond float32 range); '
                         'expected finite pixel values' % bad)
    return x32, batched


def _check_losses(losses):
    """Validate ``[(loss, weight), ...]``; a weight of 0 or None disables the term."""
    if not isinstance(losses, (list, tuple)):
        raise TypeError('losses must be a list of (Loss, weight) pairs, got %r' % (losses,))
    kept = []
    for k, item in enumerate(losses):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise TypeError('losses[%d] must be a (Loss, weight) pair, got %r' % (k, item))
        loss, weight = item
        if not hasattr(loss, 'evaluate'):
            raise TypeError('losses[%d]: %r has no evaluate(tape) method' % (k, loss))
        if weight is None or weight == 0:
            continue
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool):
            raise TypeError('losses[%d]: weight must be a number or None, got %r' % (k, weight))
        kept.append((loss, float(weight)))
    if not kept:
        raise ValueError('losses: every loss has weight 0 or None, so there is nothing to '
                         'differentiate')
    return kept


def _gradient(model, losses, x, wrt_tensor):
    """Forward ``x``, then d(sum of weighted losses)/d(wrt_tensor) (model input if None).

    Returns (grads, tape); grads keeps the batch axis.  Samples are independent.
    """
    tape = model.run(x)
    seeds = []
    for loss, weight in losses:
        _, loss_seeds = loss.evaluate(tape)
        for handle, grad in loss_seeds:
            seeds.append((handle, np.asarray(grad, dtype=np.float32) * np.float32(weight)))
    wrt = None if wrt_tensor is None else [wrt_tensor]
    grads = tape.backward(seeds, wrt=wrt)[0]
    return np.asarray(grads), tape


def _resolve_grad_modifier(grad_modifier):
    return None if grad_modifier is None else grad_modifiers.get(grad_modifier)


def _with_backprop(model, backprop_modifier):
    if backprop_modifier is None:
        return model
    return backprop_modifiers.get(backprop_modifier)(model)


def _layer_at(model, layer_idx, what='layer_idx'):
    if not isinstance(layer_idx, numbers.Integral) or isinstance(layer_idx, bool):
        raise TypeError('%s must be an int index into model.layers, got %r' % (what, layer_idx))
    n = len(model.layers)
    if not -n <= layer_idx < n:
        raise IndexError('%s=%d is out of range for a model with %d layers'
                         % (what, layer_idx, n))
    return model.layers[layer_idx]


# --------------------------------------------------------------------------------------------
# saliency

def _saliency(model, losses, seed_input, wrt_tensor, grad_modifier, keepdims):
    losses = _check_losses(losses)
    modifier = _resolve_grad_modifier(grad_modifier)
    x, batched = _prepare_seed(model, seed_input)
    grads, _ = _gradient(model, losses, x, wrt_tensor)
    if modifier is not None:
        grads = modifier(grads)
    if not keepdims:
        grads = np.max(grads, axis=-1)
    # keras-vis normalises over the whole batch; per sample is the same for one image and makes
    # each map of a batch equal to the single-image result.
    maps = np.stack([utils.normalize(g) for g in grads])
    return maps if batched else maps[0]


def visualize_saliency_with_losses(input_tensor, losses, seed_input, wrt_tensor=None,
                                   grad_modifier='absolute', keepdims=False):
    """Saliency of the weighted ``losses`` at ``seed_input``.

    Args:
        input_tensor: the model input (``model.input``) or the model itself.
        losses: list of ``(Loss, weight)``; a weight of 0 or None disables the term.
        seed_input: image (H, W, C), or a batch (N, H, W, C).
        wrt_tensor: take the gradient at this layer output (tensor, layer, index or name)
            instead of the input; the map then has that layer's resolution.
        grad_modifier: applied to the gradient; ``'absolute'`` by default, None for signed.
        keepdims: keep the channel axis instead of taking the max over it.

    Returns:
        float32 map in [0, 1] (minimum 0): (H, W), or (H, W, C) with ``keepdims``; with a batch
        axis if the seed was a batch of N > 1.
    """
    model, wrt_tensor = _model_for_input(input_tensor, _check_losses(losses), wrt_tensor)
    return _saliency(model, losses, seed_input, wrt_tensor, grad_modifier, keepdims)


def visualize_saliency(model, layer_idx, filter_indices, seed_input, wrt_tensor=None,
                       backprop_modifier=None, grad_modifier='absolute', keepdims=False):
    """Saliency of ``model.layers[layer_idx]``'s ``filter_indices`` at ``seed_input``.

    The quantity differentiated is ``+sum_idx mean(output[..., idx])`` (an ActivationMaximization
    loss with weight -1), so positive gradients increase the output.  ``filter_indices`` may be
    an int, a list (the terms are summed) or None (the mean of the whole output).
    ``backprop_modifier`` is None, ``'guided'``, ``'rectified'`` / ``'relu'`` / ``'deconv'`` or a
    callable mapping a model to a model.  Other arguments as ``visualize_saliency_with_losses``.
    """
    model = _with_backprop(_as_model(model), backprop_modifier)
    losses = [(ActivationMaximization(_layer_at(model, layer_idx), filter_indices), -1)]
    return _saliency(model, losses, seed_input, wrt_tensor, grad_modifier, keepdims)


# --------------------------------------------------------------------------------------------
# Grad-CAM

def _is_conv_or_pool(layer):
    names = [cls.__name__ for cls in type(layer).__mro__]
    if any(name.startswith('Global') for name in names):
        return False
    return any(name in _CONV_OR_POOL_NAMES for name in names)


def _find_penultimate_layer(model, layer_idx, penultimate_layer_idx):
    """The layer whose output Grad-CAM weighs (keras-vis's search, kept as is).

    Without ``penultimate_layer_idx`` it scans ``model.layers[:layer_idx - 1]`` backwards (so the
    layer just before ``layer_idx`` is never picked) for the nearest conv or (non-global) pooling
    layer: ``block5_pool`` for VGG16.
    """
    n = len(model.layers)
    if penultimate_layer_idx is not None:
        _layer_at(model, penultimate_layer_idx, 'penultimate_layer_idx')   # type and range first
    if penultimate_layer_idx is None:
        for idx, layer in utils.reverse_enumerate(model.layers[:layer_idx - 1]):
            inner = getattr(layer, 'layer', None)   # Keras Wrapper layers expose .layer
            if _is_conv_or_pool(layer) or (inner is not None and _is_conv_or_pool(inner)):
                penultimate_layer_idx = idx
                break
    if penultimate_layer_idx is None:
        raise ValueError('Unable to determine penultimate `Conv` or `Pooling` '
                         'layer for layer_idx: {}'.format(layer_idx))
    if layer_idx < 0:
        layer_idx = n + layer_idx
    if penultimate_layer_idx > layer_idx:
        raise ValueError('`penultimate_layer_idx` needs to be before `layer_idx`; got '
                         'penultimate_layer_idx=%d, layer_idx=%d'
                         % (penultimate_layer_idx, layer_idx))
    return _layer_at(model, penultimate_layer_idx, 'penultimate_layer_idx')


def _zoom(heatmap, out_h, out_w):
    """scipy.ndimage.zoom(heatmap, (out_h/H, out_w/W), order=3), computed natively."""
    from pyvis import _core
    return _core.zoom_cubic(np.ascontiguousarray(heatmap, dtype=np.float32), int(out_h),
                            int(out_w))


def _cam_map(grads, activations, input_dims):
    """One sample's Grad-CAM: grads, activations (H', W', C) -> normalised (H, W) map."""
    # Faithful keras-vis scaling by the signed max (it flips the weights if every g < 0).
    grads = grads / (np.max(grads) + np.float32(_EPS))
    weights = np.mean(grads, axis=(0, 1)).astype(np.float32)       # (C,)
    heatmap = np.tensordot(activations, weights, axes=([2], [0])).astype(np.float32)
    heatmap = np.maximum(heatmap, 0)
    heatmap = _zoom(heatmap, input_dims[0], input_dims[1])
    return utils.normalize(heatmap)


def _cam(model, losses, seed_input, penultimate_layer, grad_modifier):
    losses = _check_losses(losses)
    modifier = _resolve_grad_modifier(grad_modifier)
    x, batched = _prepare_seed(model, seed_input)
    grads, tape = _gradient(model, losses, x, penultimate_layer)
    if modifier is not None:
        grads = modifier(grads)
    activations = np.asarray(tape.value(penultimate_layer))
    if activations.ndim != 4:
        raise ValueError('Grad-CAM needs a penultimate layer with a spatial output (N, H, W, C); '
                         '%r has output shape %s'
                         % (getattr(penultimate_layer, 'name', penultimate_layer),
                            activations.shape))
    # keras-vis upsamples to the model's static input size; unknown (None) dims take the seed's.
    static = _input_shape(model)[1:3]
    input_dims = tuple(s if s is not None else x.shape[1 + k] for k, s in enumerate(static))
    maps = np.stack([_cam_map(np.asarray(grads[n], dtype=np.float32), activations[n], input_dims)
                     for n in range(x.shape[0])])
    return maps if batched else maps[0]


def visualize_cam_with_losses(input_tensor, losses, seed_input, penultimate_layer,
                              grad_modifier=None):
    """Grad-CAM of the weighted ``losses`` at ``seed_input``.

    Args:
        input_tensor: the model input (``model.input``) or the model itself.
        losses: list of ``(Loss, weight)``; a weight of 0 or None disables the term.
        seed_input: image (H, W, C), or a batch (N, H, W, C).
        penultimate_layer: the layer (object) whose output is weighed.
        grad_modifier: applied to the gradient before the weights; None (signed) by default.

    Returns:
        float32 heat map in [0, 1] shaped like the model input's spatial dims (H, W); with a
        batch axis if the seed was a batch of N > 1.
    """
    model, penultimate = _model_for_input(input_tensor, _check_losses(losses), penultimate_layer)
    return _cam(model, losses, seed_input, penultimate, grad_modifier)


def visualize_cam(model, layer_idx, filter_indices, seed_input, penultimate_layer_idx=None,
                  backprop_modifier=None, grad_modifier=None):
    """Grad-CAM of ``model.layers[layer_idx]``'s ``filter_indices`` at ``seed_input``.

    ``penultimate_layer_idx`` defaults to the nearest conv/pooling layer found by keras-vis's
    search (``block5_pool`` for VGG16).  ``backprop_modifier`` changes the gradients that flow
    into the channel weights (it is not "guided Grad-CAM").  Other arguments as
    ``visualize_cam_with_losses``.
    """
    model = _with_backprop(_as_model(model), backprop_modifier)
    _layer_at(model, layer_idx)
    penultimate_layer = _find_penultimate_layer(model, layer_idx, penultimate_layer_idx)
    losses = [(ActivationMaximization(model.layers[layer_idx], filter_indices), -1)]
    return _cam(model, losses, seed_input, penultimate_layer, grad_modifier)
