"""pyvis: keras-vis saliency, Grad-CAM and activation maximization on a native C layer graph.

Import the keras-vis style submodules directly (`from pyvis.utils import utils`,
`from pyvis.visualization import visualize_saliency`, `from pyvis.applications import VGG16`).
This top-level module imports nothing heavy (not even NumPy), so `import pyvis` is instant; the
native core loads with the first submodule that needs it.
"""

__version__ = "0.1.0"


def set_num_threads(n):
    """Use `n` threads for pyvis's own loops and for BLAS together (default: all cores)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("set_num_threads: n must be an int, got %r" % (n,))
    from pyvis import _core

    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads pyvis's loops and BLAS use."""
    from pyvis import _core

    return _core.get_num_threads()


def set_exact_convolution(flag=True):
    """Choose the forward algorithm of 3x3 stride-1 convolutions for every model.

    By default pyvis uses Winograd F(4x4, 3x3), about twice as fast; its float32 rounding
    differs from a direct convolution's by ~1e-5 relative, which can flip a ReLU or max-pool
    decision that sits on a tie. `set_exact_convolution(True)` convolves directly so those
    decisions match a direct convolution as closely as float32 allows. Backward passes are
    unaffected. `model.run(x, exact=...)` overrides it for one call.
    """
    from pyvis import engine

    engine.set_exact_forward(flag)


def exact_convolution():
    """True when forward passes use direct convolution (see set_exact_convolution)."""
    from pyvis import engine

    return engine.exact_forward()
