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
