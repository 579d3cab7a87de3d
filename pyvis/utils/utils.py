"""Helpers mirroring ``vis.utils.utils`` (keras-vis master): same names, signatures and defaults.

pyvis models are always channels_last, so the data-format dependent helpers (``get_img_shape``,
``slicer``) implement the channels_last branch of keras-vis.  Deliberate differences, each where
keras-vis crashed, corrupted data or broke after ``pip install``:

* ``apply_modifications`` rebuilds the native graph instead of a save/reload round trip;
* ``load_img(grayscale=True, target_size=...)`` keeps the [0, 1] floats instead of casting them
  to uint8 (which zeroed the image);
* ``lookup_imagenet_labels`` reads the class index through ``pyvis.io.imagenet``, so it works
  from an installed package.
"""

import functools
import logging
import math
import numbers
import os

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ['reverse_enumerate', 'listify', 'add_defaults_to_kwargs', 'get_identifier',
           'apply_modifications', 'random_array', 'find_layer_idx', 'deprocess_input',
           'stitch_images', 'get_img_shape', 'load_img', 'lookup_imagenet_labels', 'draw_text',
           'bgr2rgb', 'normalize', 'slicer']

# Keras's fuzz factor K.epsilon(); keras-vis adds it wherever it divides.
_EPS = 1e-7


def reverse_enumerate(iterable):
    """Enumerate from the last item to the first, keeping the original indices, without copying."""
    return zip(reversed(range(len(iterable))), reversed(iterable))


def listify(value):
    """Wrap ``value`` in a list unless it already is a list (tuples and arrays are wrapped too)."""
    if not isinstance(value, list):
        value = [value]
    return value


def add_defaults_to_kwargs(defaults, **kwargs):
    """Return a copy of ``defaults`` updated with ``kwargs`` (explicit kwargs win)."""
    merged = dict(defaults)
    merged.update(kwargs)
    return merged


def get_identifier(identifier, module_globals, module_name):
    """Resolve a string in ``module_globals`` or pass a callable through.

    Raises ``ValueError('Unknown <module_name>: <identifier>')`` for an unknown string and
    ``ValueError('Could not interpret identifier')`` for anything else.
    """
    if isinstance(identifier, str):
        fn = module_globals.get(identifier)
        if fn is None:
            raise ValueError('Unknown {}: {}; expected one of {}'.format(
                module_name, identifier, sorted(k for k in module_globals if not k.startswith('_'))))
        return fn
    elif callable(identifier):
        return identifier
    else:
        raise ValueError('Could not interpret identifier %r for %s: expected a name (str) or a '
                         'callable' % (identifier, module_name))


def apply_modifications(model, custom_objects=None):
    """Commit edits such as ``model.layers[i].activation = activations.linear``.

    Returns a new model that shares the weight arrays, with its native graph rebuilt from the
    layers' current attributes; layer order, names and indices are unchanged.  keras-vis saved
    and reloaded the model through a temporary ``.h5`` file; nothing is written here.

    ``custom_objects`` is accepted for keras-vis compatibility; no file is reloaded, so nothing
    needs resolving by name.  A Keras model object is converted with ``pyvis.io.as_pyvis_model``.
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError('custom_objects must be a dict or None, got %r' % (custom_objects,))
    if not hasattr(model, '_rebuilt'):
        from pyvis.io import as_pyvis_model
        model = as_pyvis_model(model)
    return model._rebuilt()


def random_array(shape, mean=128., std=20.):
    """Uniform noise standardised over the whole array, then given mean ``mean`` and std ``std``.

    Returns float64, as keras-vis does.
    """
    x = np.random.random(shape)
    x = (x - np.mean(x)) / (np.std(x) + _EPS)
    return x * std + mean


def find_layer_idx(model, layer_name):
    """Index of the first layer in ``model.layers`` named ``layer_name``."""
    for idx, layer in enumerate(model.layers):
        if layer.name == layer_name:
            return idx
    raise ValueError("No layer with name '{}' within the model".format(layer_name))


def deprocess_input(input_array, input_range=(0, 255)):
    """Map an arbitrary array to ``input_range`` for display, clipping beyond about 5 std.

    Steps: centre, scale to std 0.1, shift to 0.5, clip to [0, 1], map to the range.
    Float inputs keep their dtype; integer inputs become float64.  The input is not modified.
    """
    x = np.array(input_array, copy=True)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    x -= x.mean()
    x /= (x.std() + _EPS)
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0, 1)
    return (input_range[1] - input_range[0]) * x + input_range[0]


def stitch_images(images, margin=5, cols=5):
    """Tile equally shaped HWC images row-major into one array with black margins.

    Returns ``None`` for an empty sequence; the result has the dtype of ``images[0]``.
    """
    if len(images) == 0:
        return None
    first = np.asarray(images[0])
    if first.ndim != 3:
        raise ValueError('stitch_images: images must be (rows, cols, channels) arrays; '
                         'images[0] has shape %s' % (first.shape,))
    h, w, c = first.shape
    n_rows = int(math.ceil(len(images) / float(cols)))
    n_cols = min(len(images), cols)
    out_w = n_cols * w + (n_cols - 1) * margin
    out_h = n_rows * h + (n_rows - 1) * margin
    stitched = np.zeros((out_h, out_w, c), dtype=first.dtype)
    for k, img in enumerate(images):
        img = np.asarray(img)
        if img.shape != first.shape:
            raise ValueError('stitch_images: every image must have the shape of images[0] %s; '
                             'images[%d] has shape %s' % (first.shape, k, img.shape))
        row, col = k // cols, k % cols
        top, left = (h + margin) * row, (w + margin) * col
        stitched[top:top + h, left:left + w, :] = img
    return stitched


def _static_shape(img):
    """Shape tuple of an array or a symbolic tensor (unknown dims stay None)."""
    if isinstance(img, np.ndarray):
        return img.shape
    shape = getattr(img, 'shape', None)
    if shape is None:
        raise TypeError('get_img_shape: expected an array or a tensor with a shape, got %r'
                        % (type(img).__name__,))
    return tuple(None if d is None else int(d) for d in shape)


def get_img_shape(img):
    """Shape of a batched image ordered ``(samples, channels, dims...)``.

    pyvis is channels_last, so the last axis is moved to position 1: (5, 1, 2, 4) -> (5, 4, 1, 2).
    """
    shape = tuple(_static_shape(img))
    if len(shape) < 2:
        raise ValueError('get_img_shape: expected a batched image (samples, dims..., channels), '
                         'got shape %s' % (shape,))
    return (shape[0], shape[-1]) + shape[1:-1]


def _pil_image_to_array(image, grayscale):
    """Pixel array of a Pillow image with skimage.io.imread's channel conventions."""
    mode = image.mode
    if mode == 'P':
        # skimage decodes palettes to RGB, or RGBA when the palette has transparency.
        image = image.convert('RGBA' if 'transparency' in image.info else 'RGB')
    elif mode == '1':
        image = image.convert('L')
    elif mode not in ('L', 'LA', 'RGB', 'RGBA', 'I', 'I;16', 'F'):
        image = image.convert('RGB')
    if grayscale and image.mode == 'LA':
        image = image.convert('L')
    arr = np.asarray(image)
    if grayscale and arr.ndim == 3:
        # skimage's as_gray: floats in [0, 1]; RGBA is first blended onto a white background
        # (rgba2rgb), then mixed with the Rec. 709 luma weights (rgb2gray).
        rgb = arr[..., :3].astype(np.float64) / 255.0
        if arr.shape[-1] == 4:
            alpha = arr[..., 3:4].astype(np.float64) / 255.0
            rgb = rgb * alpha + (1.0 - alpha)
        arr = rgb @ np.array([0.2125, 0.7154, 0.0721])
    return arr


def _resize(arr, target_size):
    """Bilinear resize of an (H, W) or (H, W, C) array to ``target_size`` = (rows, cols).

    Each channel is resampled as a float image by Pillow (pixel-centre aligned and antialiased
    when shrinking, like skimage.transform.resize).  uint8 data is rounded back to uint8; float
    data stays float, so grayscale images keep their [0, 1] values.
    """
    from PIL import Image
    rows, cols = target_size
    planes = arr[..., None] if arr.ndim == 2 else arr
    out = np.empty((rows, cols, planes.shape[-1]), dtype=np.float64)
    for c in range(planes.shape[-1]):
        plane = Image.fromarray(np.ascontiguousarray(planes[..., c], dtype=np.float32))
        out[..., c] = np.asarray(plane.resize((cols, rows), Image.Resampling.BILINEAR))
    if arr.ndim == 2:
        out = out[..., 0]
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(arr.dtype)
    return out


def load_img(path, grayscale=False, target_size=None):
    """Load an image file as a NumPy array (Pillow, with skimage.io.imread's conventions).

    Args:
        path: path of the image file.
        grayscale: if True, colour images become float64 (rows, cols) luma in [0, 1]
            (files that are already single-channel keep their dtype, as in skimage).
        target_size: ``(rows, cols)`` to resize to, or None.  (keras-vis's docstring says
            "(w, h)"; its code and examples use rows first.)

    Returns:
        (rows, cols, channels) uint8 for colour files (4 channels for RGBA PNGs),
        (rows, cols) for grayscale.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ImportError('Failed to import PIL. You must install Pillow')
    if target_size is not None:
        ok = (isinstance(target_size, (tuple, list)) and len(target_size) == 2 and
              all(isinstance(d, numbers.Integral) and d > 0 for d in target_size))
        if not ok:
            raise ValueError('load_img: target_size must be (rows, cols) with two positive ints, '
                             'got %r' % (target_size,))
    if not isinstance(path, (str, bytes, os.PathLike)) and not hasattr(path, 'read'):
        raise TypeError('load_img: path must be a file path or a binary file object, got %r'
                        % (path,))
    with Image.open(path) as image:
        image.load()
        arr = _pil_image_to_array(image, grayscale)
    if target_size is not None:
        arr = _resize(arr, tuple(int(d) for d in target_size))
    return arr


def lookup_imagenet_labels(indices):
    """Human-readable ImageNet labels for class indices: 20 -> ['water_ouzel'].

    Always returns a list.  Also accepts a tuple or an array of indices.
    """
    from pyvis.io.imagenet import load_class_index
    class_index = load_class_index()
    if isinstance(indices, (tuple, np.ndarray)):
        indices = [int(i) for i in np.ravel(indices)]
    labels = []
    for idx in listify(indices):
        if not isinstance(idx, numbers.Integral) or isinstance(idx, bool):
            raise TypeError('lookup_imagenet_labels: indices must be ints, got %r' % (idx,))
        entry = class_index.get(str(int(idx)), class_index.get(int(idx)))
        if entry is None:
            raise ValueError('lookup_imagenet_labels: index %d is not an ImageNet class '
                             '(expected 0..%d)' % (idx, len(class_index) - 1))
        labels.append(entry[1])
    return labels


# Directories where fonts are commonly installed (what matplotlib's findSystemFonts scans).
_FONT_DIRS = (
    '/usr/share/fonts', '/usr/local/share/fonts', '/usr/X11R6/lib/X11/fonts',
    os.path.expanduser('~/.fonts'), os.path.expanduser('~/.local/share/fonts'),
    '/Library/Fonts', '/System/Library/Fonts', os.path.expanduser('~/Library/Fonts'),
    os.path.join(os.environ.get('WINDIR', 'C:\\Windows'), 'Fonts'),
)
_FONT_EXTENSIONS = ('.ttf', '.otf', '.ttc')


@functools.lru_cache(maxsize=32)
def _find_font_file(query):
    """Font files whose basename contains ``query`` (case-insensitive), sorted for stability.

    Cached: labelling every frame of a GIF must not walk the font folders each time."""
    query = query.lower()
    matches = []
    for root_dir in _FONT_DIRS:
        if not os.path.isdir(root_dir):
            continue
        for dirpath, _, filenames in os.walk(root_dir):
            for name in filenames:
                if name.lower().endswith(_FONT_EXTENSIONS) and query in name.lower():
                    matches.append(os.path.join(dirpath, name))
    return tuple(sorted(matches))


def _load_font(font, font_size):
    """A TrueType font found on the system, else Pillow's default font (with a warning)."""
    from PIL import ImageFont
    candidates = [font] if os.path.isfile(font) else _find_font_file(font.lower())
    for path in candidates:
        try:
            return ImageFont.truetype(path, font_size)
        except OSError:
            continue
    logger.warning('Could not find font file %r; using Pillow\'s default font.', font)
    try:
        return ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1 has no size argument
        return ImageFont.load_default()


def draw_text(img, text, position=(10, 10), font='FreeSans.ttf', font_size=14, color=(0, 0, 0)):
    """Return a copy of ``img`` (uint8 HWC or HW) with ``text`` drawn at ``position``.

    The font is the first system font file whose name contains ``font`` (case-insensitive),
    or ``font`` itself if it is a path; Pillow's default font is the fallback.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise ImportError('Failed to import PIL. You must install Pillow')
    arr = np.asarray(img)
    orig_shape = arr.shape
    if arr.dtype != np.uint8:
        raise TypeError('draw_text: img must be a uint8 image, got dtype %s' % arr.dtype)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    pil_img = Image.fromarray(arr)
    draw = ImageDraw.Draw(pil_img)
    fill = color
    if pil_img.mode == 'L' and isinstance(color, (tuple, list)):
        fill = int(round(np.mean(color)))  # one-channel image: draw with the colour's grey level
    draw.text(position, text, fill=fill, font=_load_font(font, font_size))
    return np.asarray(pil_img).reshape(orig_shape)


def bgr2rgb(img):
    """Reverse the channel axis (BGR <-> RGB); returns a view."""
    return img[..., ::-1]


def normalize(array, min_value=0., max_value=1.):
    """Global min-max scaling to [min_value, max_value] (eps keeps a constant array at min_value)."""
    if np.size(array) == 0:
        raise ValueError('normalize: array is empty (shape %s); expected at least one value'
                         % (np.shape(array),))
    arr_min = np.min(array)
    arr_max = np.max(array)
    normalized = (array - arr_min) / (arr_max - arr_min + _EPS)
    return (max_value - min_value) * normalized + min_value


class _BackendAgnosticImageSlice(object):
    """``slicer[...]`` takes an index in (samples, channels, ...) order and returns it for
    pyvis's channels_last tensors: the item at position 1 moves to the end."""

    def __getitem__(self, item_slice):
        if not isinstance(item_slice, tuple) or len(item_slice) < 2:
            raise ValueError('slicer expects an index tuple of length >= 2 written as '
                             '(samples, channels, ...), got %r' % (item_slice,))
        item_slice = list(item_slice)
        item_slice.append(item_slice.pop(1))
        return tuple(item_slice)


slicer = _BackendAgnosticImageSlice()
