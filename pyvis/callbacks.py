"""Optimizer callbacks, mirroring ``vis.callbacks``.

``Optimizer.minimize`` calls ``callback(i, named_losses, overall_loss, grads, wrt_value)`` after
the gradient of iteration ``i`` (0-based) is known, and ``on_end()`` once at the end.
``named_losses`` is a list of ``(name, weighted value)``; values are floats for a single image and
arrays of shape (N,) for a batch.

``GifGenerator`` writes the animated GIF with Pillow (keras-vis needed imageio).
"""

import os
import pprint

import numpy as np

from pyvis.utils import utils

__all__ = ['OptimizerCallback', 'Print', 'GifGenerator']


class OptimizerCallback(object):
    """Abstract callback: override ``callback`` (and ``on_end`` if needed)."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        """Called once per iteration ``i`` (0-based) of ``Optimizer.minimize``."""
        raise NotImplementedError()

    def on_end(self):
        """Called once after the last iteration."""
        pass


class Print(OptimizerCallback):
    """Prints the weighted losses of every iteration, in keras-vis's format."""

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        print('Iteration: {}, named_losses: {}, overall loss: {}'.format(
            i + 1, pprint.pformat(named_losses), overall_loss))


class GifGenerator(OptimizerCallback):
    """Records the optimised input of every iteration as a frame labelled "Step N".

    Args:
        path: output file; ``.gif`` is appended if missing.  Written when ``on_end`` is called.
        input_range: accepted for keras-vis compatibility.  As in keras-vis the frames are
            deprocessed to 0..255 whatever the range (a GIF is 8-bit anyway), so ranges such as
            (0, 1) no longer give black frames.
        duration: milliseconds per frame.

    Only the first sample of a batch is recorded.  Pillow stores two identical consecutive
    frames as one frame shown twice as long (only possible when the label falls outside a tiny
    image and the input did not change).  Frames must be 2-D images, (H, W, C) with
    C = 1 or 3, or (H, W).
    """

    def __init__(self, path, input_range=(0, 255), duration=100):
        try:
            import PIL.Image  # noqa: F401  (fail at construction, as keras-vis did with imageio)
        except ImportError:
            raise ImportError('Failed to import PIL. You must install Pillow')
        path = os.fspath(path)
        if not path.endswith('.gif'):
            path += '.gif'
        self.path = path
        self.input_range = input_range
        self.duration = int(duration)
        self.frames = []

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        img = np.asarray(wrt_value)[0]
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3 or img.shape[-1] not in (1, 3):
            raise ValueError(
                "GifGenerator: the optimised input must be an image (N, H, W, C) with 1 or 3 "
                "channels; got a value of shape %s" % (np.asarray(wrt_value).shape,))
        frame = np.clip(utils.deprocess_input(img), 0, 255).astype(np.uint8)
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)  # a black label must show on grey frames too
        self.frames.append(utils.draw_text(frame, 'Step {}'.format(i + 1)))

    def on_end(self):
        from PIL import Image
        if not self.frames:
            return
        images = [Image.fromarray(f) for f in self.frames]
        images[0].save(self.path, save_all=True, append_images=images[1:],
                       duration=self.duration, loop=0)
        self.frames = []
