"""``overlay`` and ``get_num_filters``, the two helpers ``vis.visualization`` defines itself."""

import numbers

import numpy as np

__all__ = ['overlay', 'get_num_filters']


def get_num_filters(layer):
    """Number of filters of a layer: the last dim of its output (Dense units or channels)."""
    shape = getattr(layer, 'output_shape', None)
    if shape is None:
        shape = layer.output.shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError('get_num_filters: layer %r has %d outputs; expected one'
                             % (getattr(layer, 'name', layer), len(shape)))
        shape = shape[0]
    shape = tuple(shape)
    if len(shape) < 2 or shape[-1] is None:
        raise ValueError('get_num_filters: layer %r has output shape %s without a known '
                         'filter axis' % (getattr(layer, 'name', layer), shape))
    return int(shape[-1])


def overlay(array1, array2, alpha=0.5):
    """Blend two equally shaped images: ``array1 * alpha + array2 * (1 - alpha)``.

    ``alpha`` (the weight of ``array1``) must lie in [0, 1]; the result has ``array1``'s dtype
    (values are truncated toward zero when that dtype is an integer type, as in keras-vis).
    """
    if not isinstance(alpha, numbers.Real) or not 0. <= alpha <= 1.:
        raise ValueError('`alpha` needs to be between [0, 1]; got %r' % (alpha,))
    array1 = np.asarray(array1)
    array2 = np.asarray(array2)
    for name, arr in (('array1', array1), ('array2', array2)):
        if arr.dtype.kind not in 'fiub':
            raise TypeError('`%s` must be a real numeric image, got dtype %s' % (name, arr.dtype))
    if array1.shape != array2.shape:
        raise ValueError('`array1` and `array2` must have the same shapes; got %s and %s'
                         % (array1.shape, array2.shape))
    return (array1 * alpha + array2 * (1. - alpha)).astype(array1.dtype)
