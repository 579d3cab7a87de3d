"""Input modifiers for activation maximisation, mirroring ``vis.input_modifiers``.

An input modifier changes the image before (``pre``) and after (``post``) every optimisation
step.  Arrays carry the batch axis and are channels-last: (N, *spatial, C).  Modifiers return new
arrays; the caller's array is never modified.

keras-vis has ``InputModifier`` and ``Jitter``.  ``Rotate``, ``Rotate2D`` and ``Scale`` follow the
successor project tf-keras-vis (random small rotation / zoom before each step, bilinear sampling
with half-sample-symmetric ``'reflect'`` borders, as scipy.ndimage does), written here in NumPy
because SciPy is not a runtime dependency.

Randomness: every draw comes from ``pyvis.backend``'s generator (seeded by
``pyvis.backend.set_random_seed``), or from the generator ``Optimizer.minimize(seed=...)`` lends
to the modifiers for one run (``using_generator``).
"""

import contextlib
import numbers

import numpy as np

__all__ = ['InputModifier', 'Jitter', 'Rotate', 'Rotate2D', 'Scale']


def global_generator():
    """The process-wide random generator pyvis draws from.

    ``pyvis.backend.rng()`` when the backend provides it; otherwise the ``numpy.random`` module
    itself (its global RandomState, which ``pyvis.backend.set_random_seed`` seeds): it offers
    the ``random``, ``uniform`` and ``randint`` draws used here.
    """
    from pyvis import backend
    rng = getattr(backend, 'rng', None)
    if rng is not None:
        return rng()
    return np.random


def draw_integers(gen, low, high):
    """Integers in [low, high) from a numpy Generator or a legacy RandomState."""
    if hasattr(gen, 'integers'):
        return gen.integers(low, high)
    return gen.randint(low, high)


class InputModifier(object):
    """Identity modifier; subclasses override ``pre`` and/or ``post``."""

    # A generator lent by ``using_generator`` for one optimisation run (None: the global one).
    _rng = None

    def pre(self, inp):
        """Applied to the input before the forward/backward pass of each step."""
        return inp

    def post(self, inp):
        """Applied to the input after the step (modifiers run in reverse order)."""
        return inp

    def _generator(self):
        return self._rng if self._rng is not None else global_generator()


@contextlib.contextmanager
def using_generator(modifiers, gen):
    """Make every pyvis ``InputModifier`` in ``modifiers`` draw from ``gen`` inside the block."""
    lent = [m for m in modifiers if isinstance(m, InputModifier)]
    saved = [m.__dict__.get('_rng') for m in lent]
    for m in lent:
        m._rng = gen
    try:
        yield
    finally:
        for m, old in zip(lent, saved):
            if old is None:
                m.__dict__.pop('_rng', None)
            else:
                m._rng = old


def _check_image(img, who, min_ndim=3):
    arr = np.asarray(img)
    if arr.ndim < min_ndim:
        raise ValueError("%s: expected an input with a batch axis, spatial axes and a channel "
                         "axis (N, ..., C) of at least %d dims; got shape %s"
                         % (who, min_ndim, arr.shape))
    return arr


class Jitter(InputModifier):
    """Random circular shift of the image along its spatial axes before each step.

    Args:
        jitter: one value for every spatial axis, or a list with one value per spatial axis.
            A value < 1 is a fraction of that axis's size, a value >= 1 a number of pixels
            (both truncated to whole pixels).  Each step shifts by an integer drawn uniformly
            from [-v, v] along each axis.  Default 5% of each axis.

    As in keras-vis there is no ``post``: the shifts accumulate as a random walk.  The shift is a
    true circular roll (keras-vis used scipy's legacy ``'wrap'`` mode, whose period is N-1 along
    each axis; the difference is one seam row and invisible).
    """

    def __init__(self, jitter=0.05):
        values = list(jitter) if isinstance(jitter, (list, tuple, np.ndarray)) else [jitter]
        if not values:
            raise ValueError("Jitter: jitter must be a number or a non-empty list of numbers, "
                             "got %r" % (jitter,))
        for v in values:
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v):
                raise ValueError("Jitter: jitter values must be finite numbers, got %r" % (jitter,))
            if v < 0:
                raise ValueError("Jitter value should be positive: got jitter=%r" % (jitter,))
        self.jitter = np.array(values, dtype=np.float64)

    def _pixels(self, dims):
        """Maximum shift in pixels for each spatial axis of sizes ``dims``."""
        values = self.jitter
        if values.size == 1:
            values = np.repeat(values, len(dims))
        elif values.size != len(dims):
            raise ValueError(
                "Jitter: got %d jitter values %s for an input with %d spatial axes %s; give one "
                "value or one per spatial axis" % (values.size, values.tolist(), len(dims), dims))
        return [int(d * v) if v < 1 else int(v) for v, d in zip(values, dims)]

    def pre(self, img):
        arr = _check_image(img, 'Jitter')
        dims = arr.shape[1:-1]
        gen = self._generator()
        shifts = [int(draw_integers(gen, -v, v + 1)) for v in self._pixels(dims)]
        return np.roll(arr, shifts, axis=tuple(range(1, arr.ndim - 1)))


def _reflect_index(idx, n):
    """Fold integer indices into [0, n) with half-sample symmetry (d c b a | a b c d | d c b a)."""
    period = 2 * n
    m = np.mod(idx, period)
    return np.where(m >= n, period - 1 - m, m)


def _float_result(out, like):
    """Return in the input's float dtype (float64 for integer inputs)."""
    dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.float64
    return out.astype(dtype, copy=False)


def rotate_image(img, angle, axes=(1, 2)):
    """Rotate every plane spanned by ``axes`` by ``angle`` degrees about its centre.

    Bilinear interpolation, borders reflected, output the same shape: the same result as
    ``scipy.ndimage.rotate(img, angle, axes, reshape=False, order=1, mode='reflect')``.
    """
    arr = np.asarray(img)
    a0, a1 = axes
    n0, n1 = arr.shape[a0], arr.shape[a1]
    theta = np.deg2rad(angle)
    c, s = np.cos(theta), np.sin(theta)
    o0, o1 = np.meshgrid(np.arange(n0, dtype=np.float64), np.arange(n1, dtype=np.float64),
                         indexing='ij')
    # The output pixel o samples the input at R (o - centre) + centre, R = [[c, s], [-s, c]].
    m0, m1 = (n0 - 1) / 2.0, (n1 - 1) / 2.0
    p0 = c * (o0 - m0) + s * (o1 - m1) + m0
    p1 = -s * (o0 - m0) + c * (o1 - m1) + m1
    f0, f1 = np.floor(p0), np.floor(p1)
    w0, w1 = p0 - f0, p1 - f1
    r0, r1 = _reflect_index(f0.astype(np.intp), n0), _reflect_index(f0.astype(np.intp) + 1, n0)
    c0, c1 = _reflect_index(f1.astype(np.intp), n1), _reflect_index(f1.astype(np.intp) + 1, n1)

    planes = np.moveaxis(arr, (a0, a1), (0, 1)).astype(np.float64)
    extra = (1,) * (planes.ndim - 2)
    w0 = w0.reshape(w0.shape + extra)
    w1 = w1.reshape(w1.shape + extra)
    out = ((1 - w0) * ((1 - w1) * planes[r0, c0] + w1 * planes[r0, c1])
           + w0 * ((1 - w1) * planes[r1, c0] + w1 * planes[r1, c1]))
    return _float_result(np.moveaxis(out, (0, 1), (a0, a1)), arr)


def _zoom_axis(arr, axis, n_out):
    """Linear resampling of one axis to ``n_out`` samples, end points aligned (scipy ``zoom``)."""
    n_in = arr.shape[axis]
    if n_out == n_in:
        return arr
    step = (n_in - 1) / (n_out - 1) if n_out > 1 else 1.0
    pos = np.arange(n_out) * step
    lo = np.floor(pos).astype(np.intp)
    w = pos - lo
    hi = _reflect_index(lo + 1, n_in)
    lo = _reflect_index(lo, n_in)
    shape = [1] * arr.ndim
    shape[axis] = n_out
    w = w.reshape(shape)
    return np.take(arr, lo, axis=axis) * (1 - w) + np.take(arr, hi, axis=axis) * w


def zoom_image(img, factor):
    """Zoom the spatial axes by ``factor`` then crop (factor > 1) or pad (factor < 1) back.

    The zoom is bilinear with aligned corners (``scipy.ndimage.zoom(order=1)`` semantics); a
    larger image is cropped around its centre, a smaller one is padded with the mean of each
    row/column (``np.pad(mode='mean')``), so the shape never changes.
    """
    arr = np.asarray(img)
    out = arr.astype(np.float64)
    for axis in range(1, arr.ndim - 1):
        out = _zoom_axis(out, axis, int(round(arr.shape[axis] * factor)))
    if factor > 1.0:
        index = tuple(slice((z - e) // 2, (z - e) // 2 + e) for z, e in zip(out.shape, arr.shape))
        out = out[index]
    elif factor < 1.0:
        widths = [((e - z) // 2, (e - z) - (e - z) // 2) for z, e in zip(out.shape, arr.shape)]
        out = np.pad(out, widths, mode='mean')
    return _float_result(out, arr)


def _check_positive(value, name, who):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value) \
            or value < 0:
        raise ValueError("%s: %s must be a non-negative finite number, got %r" % (who, name, value))
    return float(value)


class Rotate(InputModifier):
    """Random rotation by an angle drawn uniformly from [-degree, degree] before each step.

    Args:
        axes: the two spatial axes (of the batched array) spanning the plane of rotation.
        degree: the largest rotation in degrees.
    """

    def __init__(self, axes=(1, 2), degree=3.0):
        if not isinstance(axes, (list, tuple)) or len(axes) != 2 or \
                not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
            raise ValueError("Rotate: axes must be a tuple of two ints, got %r" % (axes,))
        self.axes = (int(axes[0]), int(axes[1]))
        self.degree = _check_positive(degree, 'degree', 'Rotate')

    def pre(self, img):
        arr = _check_image(img, 'Rotate', min_ndim=4)
        axes = tuple(a + arr.ndim if a < 0 else a for a in self.axes)
        spatial = range(1, arr.ndim - 1)
        if axes[0] == axes[1] or not all(a in spatial for a in axes):
            raise ValueError("Rotate: axes %r must be two different spatial axes of an input of "
                             "shape %s (between 1 and %d)" % (self.axes, arr.shape, arr.ndim - 2))
        angle = self._generator().uniform(-self.degree, self.degree)
        return rotate_image(arr, angle, axes)


class Rotate2D(Rotate):
    """``Rotate`` in the plane of the two image axes (N, H, W, C)."""

    def __init__(self, degree=3.0):
        super(Rotate2D, self).__init__(axes=(1, 2), degree=degree)


class Scale(InputModifier):
    """Random zoom by a factor drawn uniformly from [low, high] before each step; shape kept."""

    def __init__(self, low=0.9, high=1.1):
        self.low = _check_positive(low, 'low', 'Scale')
        self.high = _check_positive(high, 'high', 'Scale')
        if not 0 < self.low <= self.high:
            raise ValueError("Scale: need 0 < low <= high, got low=%r, high=%r" % (low, high))

    def pre(self, img):
        arr = _check_image(img, 'Scale')
        factor = self._generator().uniform(self.low, self.high)
        return zoom_image(arr, factor)
