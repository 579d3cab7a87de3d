"""pyvis: keras-vis saliency, Grad-CAM and activation maximization on a native C layer graph.

Import the keras-vis style submodules directly (`from pyvis.utils import utils`,
`from pyvis.visualization import visualize_saliency`, `from pyvis.applications import VGG16`);
this top-level module stays light so that `import pyvis` is fast.
"""
from pyvis._core import get_num_threads as _get_num_threads
from pyvis._core import set_num_threads as _set_num_threads

__version__ = "0.1.0"


def set_num_threads(n):
    """Use `n` threads for pyvis's own loops and for BLAS together (default: all cores)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("set_num_threads: n must be an int, got %r" % (n,))
    _set_num_threads(n)


def get_num_threads():
    """The number of threads pyvis's loops and BLAS use."""
    return _get_num_threads()
