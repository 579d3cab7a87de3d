"""Image regularizers for activation maximisation, mirroring ``vis.regularizers``.

Both regularizers follow the pyvis loss protocol (``pyvis.losses``): ``evaluate(tape)`` reads the
model input from the forward tape and returns one value per sample plus the gradient seed on the
input.  The gradients are the closed-form derivatives computed in NumPy float64 (no finite
differences).  Values equal keras-vis's for a single image:

* ``TotalVariation``: (1/(C*prod N_k)) * sum over locations of
  (sum_d (x[l+e_d] - x[l])^2)^(beta/2), every difference cropped to N_k - 1 along every
  spatial axis;
* ``LPNorm``: (sum |x|^p)^(1/p) / (C*prod N_k); for p = inf the *signed* max (a keras-vis quirk
  kept on purpose).

The per-sample normaliser C*prod N_k is taken from the actual input array, so models whose input
has ``None`` spatial dims work (keras-vis's static shape raised TypeError there, its issue #186).
"""

import numbers

import numpy as np

from pyvis.losses import Loss

__all__ = ['normalize', 'TotalVariation', 'LPNorm']


def _per_sample_size(shape, what):
    """C * prod(spatial dims) for a shape with a leading batch axis; refuses unknown dims."""
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            "%s: cannot normalise by a shape with unknown dims %s; pass the actual input array "
            "instead of a symbolic tensor" % (what, tuple(shape)))
    return int(np.prod([int(d) for d in dims], dtype=np.int64))


def normalize(input_tensor, output_tensor):
    """Divide ``output_tensor`` by the number of elements per sample of ``input_tensor``.

    ``input_tensor`` is anything with a ``shape`` whose first axis is the batch (an array or a
    symbolic tensor with known non-batch dims).  Keeps regulariser weights comparable across
    image sizes.
    """
    shape = getattr(input_tensor, 'shape', None)
    if shape is None:
        raise TypeError("normalize: input_tensor must have a .shape (array or tensor), got %s"
                        % type(input_tensor).__name__)
    return output_tensor / _per_sample_size(shape, 'normalize')


class TotalVariation(Loss):
    """N-dimensional total variation of the input image: penalises high-frequency noise.

    ``beta`` controls sharpness; smaller gives spikier images (keras-vis recommends 1.5 to 3).
    """

    def __init__(self, img_input, beta=2.):
        super(TotalVariation, self).__init__()
        if not isinstance(beta, numbers.Real) or isinstance(beta, bool) or not beta > 0:
            raise ValueError("TotalVariation: beta must be a positive number, got %r" % (beta,))
        self.name = "TV({}) Loss".format(beta)
        self.img = img_input
        self.beta = beta

    def value_and_grad(self, x):
        """Per-sample TV values (N,) and d(sum values)/dx for a float64 array (N, *spatial, C)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 3:
            raise ValueError(
                "%s: img_input must be an image with a batch axis, at least one spatial axis and "
                "a channel axis (N, ..., C); got a value of shape %s" % (self.name, x.shape))
        spatial = range(1, x.ndim - 1)
        # Every difference is cropped to N_k - 1 along every spatial axis, so all D difference
        # maps are aligned on the same locations l (the last row/column are dropped).
        crop = tuple([slice(None)] + [slice(0, -1)] * len(spatial) + [slice(None)])
        diffs = []
        for d in spatial:
            shifted = list(crop)
            shifted[d] = slice(1, None)
            diffs.append(x[tuple(shifted)] - x[crop])
        sq = np.zeros_like(diffs[0])
        for diff in diffs:
            sq += diff * diff
        half_beta = self.beta / 2.0
        scale = 1.0 / _per_sample_size(x.shape, self.name)
        values = np.power(sq, half_beta).reshape(x.shape[0], -1).sum(axis=1) * scale

        # d s^(beta/2) / d diff_d = beta * s^(beta/2 - 1) * diff_d.  Where s == 0 every diff is 0
        # and the subgradient 0 is used (s^(beta/2-1) would be inf for beta < 2).
        with np.errstate(divide='ignore', invalid='ignore'):
            coef = np.where(sq > 0, self.beta * np.power(sq, half_beta - 1.0), 0.0) * scale
        grad = np.zeros_like(x)
        for d, diff in zip(spatial, diffs):
            g = coef * diff
            shifted = list(crop)
            shifted[d] = slice(1, None)
            grad[tuple(shifted)] += g   # diff_d = x[l + e_d] - x[l]
            grad[crop] -= g
        return values, grad

    def evaluate(self, tape):
        x = np.asarray(tape.value(self.img), dtype=np.float64)
        values, grad = self.value_and_grad(x)
        return values, [(self.img, grad.astype(np.float32))]


class LPNorm(Loss):
    """The p-norm of the input image: keeps pixel values within a natural range.

    ``p`` must be in [1, inf].  p = inf gives the signed maximum, as keras-vis does.
    """

    def __init__(self, img_input, p=6.):
        super(LPNorm, self).__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or np.isnan(p):
            raise ValueError("LPNorm: p must be a number in [1, inf), got %r" % (p,))
        if p < 1:
            raise ValueError('p value should range between [1, inf)')
        self.name = "L-{} Norm Loss".format(p)
        self.p = p
        self.img = img_input

    def value_and_grad(self, x):
        """Per-sample values (N,) and d(sum values)/dx for a float64 array (N, ..., C)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 2:
            raise ValueError("%s: img_input must have a batch axis (N, ...); got a value of "
                             "shape %s" % (self.name, x.shape))
        n = x.shape[0]
        flat = x.reshape(n, -1)
        scale = 1.0 / _per_sample_size(x.shape, self.name)
        if np.isinf(self.p):
            values = flat.max(axis=1)
            # Gradient of a max: shared equally among tied maxima (as TF's reduce_max does).
            hits = (flat == values[:, None]).astype(np.float64)
            grad = hits / hits.sum(axis=1, keepdims=True)
            return values * scale, grad.reshape(x.shape) * scale
        p = float(self.p)
        a = np.abs(flat)
        # Scale by the largest |x| first so |x|^p cannot overflow for large p or pixel values.
        m = a.max(axis=1, keepdims=True)
        safe_m = np.where(m > 0, m, 1.0)
        norm = safe_m[:, 0] * np.power(np.power(a / safe_m, p).sum(axis=1), 1.0 / p)
        # d ||x||_p / dx = sign(x) * (|x| / ||x||_p)^(p-1); the zero image gets the subgradient 0.
        safe_norm = np.where(norm > 0, norm, 1.0)[:, None]
        grad = np.sign(flat) * np.power(a / safe_norm, p - 1.0)
        grad[norm == 0] = 0.0
        return norm * scale, grad.reshape(x.shape) * scale

    def evaluate(self, tape):
        x = np.asarray(tape.value(self.img), dtype=np.float64)
        values, grad = self.value_and_grad(x)
        return values, [(self.img, grad.astype(np.float32))]
