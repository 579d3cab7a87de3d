"""Synthetic "shapes" images for the built-in demo model (ShapesNet) and for tests.

Each image is 64x64 RGB (uint8, the 0..255 range ``utils.load_img`` gives) with one filled shape
-- a circle, a square, a triangle or a cross -- of random size, colour, position and rotation,
drawn on a textured, noisy background (a colour gradient, a sinusoidal grating, smooth blotches and
pixel noise). Together with the image the generator returns what evaluation needs and a real
photo never has: the class, the shape's bounding box and its pixel mask. That lets tests check
that a saliency or Grad-CAM map points at the object (the "pointing game") without any data file.

Everything is NumPy and seeded: ``make_shapes(n, seed=s)`` returns the same images on every
machine, so the demo model's training set, its held-out set and the tests never overlap by
accident (they use different seeds).
"""

import collections
import numbers

import numpy as np

CLASS_NAMES = ("circle", "square", "triangle", "cross")
IMAGE_SIZE = 64

# Half-size of a shape in pixels (the circle's radius, the triangle's circumradius).
MIN_HALF_SIZE = 7.0
MAX_HALF_SIZE = 15.0
# Squares, triangles and crosses are rotated by at most this many degrees either way: enough
# variety, without a 45-degree square becoming a "diamond" class of its own.
MAX_ROTATION_DEG = 30.0
# Minimum RGB distance between the shape colour and the background's mean colour.
MIN_CONTRAST = 100.0
# Anti-aliasing: each pixel's coverage is the mean of SUPERSAMPLE x SUPERSAMPLE point tests.
SUPERSAMPLE = 4
# Every shape lies within EXTENT * half-size of its centre (a square's corner: 0.85 * sqrt(2)).
EXTENT = 1.25

Shapes = collections.namedtuple("Shapes", ["images", "labels", "boxes", "masks"])
Shapes.__doc__ = """A batch of synthetic images.

images: (N, 64, 64, 3) uint8.
labels: (N,) int64 indices into CLASS_NAMES.
boxes:  (N, 4) int64 (row0, col0, row1, col1) of the mask's bounding box, ends exclusive, so
        ``masks[i, r0:r1, c0:c1]`` holds the whole shape.
masks:  (N, 64, 64) bool, True where the shape covers at least half of the pixel.
"""


def _inside(label, u, v, s):
    """Point test in the shape's own (rotated, centred) coordinates; s is the half-size."""
    if label == 0:                                   # circle of radius s
        return u * u + v * v <= s * s
    if label == 1:                                   # square of side 1.7 s (about a circle's area)
        h = 0.85 * s
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if label == 2:                                   # equilateral triangle, circumradius s, apex up
        inside = np.ones(u.shape, dtype=bool)
        for angle in (90.0, 210.0, 330.0):           # outward edge normals (v grows downwards)
            a = np.deg2rad(angle)
            inside &= u * np.cos(a) + v * np.sin(a) <= 0.5 * s   # inradius = s / 2
        return inside
    arm = 0.3 * s                                    # cross: two bars of half-width 0.3 s
    return (((np.abs(u) <= arm) & (np.abs(v) <= s)) |
            ((np.abs(v) <= arm) & (np.abs(u) <= s)))


def _coverage(label, size, cy, cx, s, theta):
    """(size, size) float64 fraction of each pixel covered by the shape."""
    cover = np.zeros((size, size))
    # only the pixels within EXTENT * s of the centre can be touched: test just that window
    r0, r1 = max(0, int(cy - EXTENT * s) - 1), min(size, int(cy + EXTENT * s) + 2)
    c0, c1 = max(0, int(cx - EXTENT * s) - 1), min(size, int(cx + EXTENT * s) + 2)
    k = SUPERSAMPLE
    # sub-pixel sample positions; pixel (r, c) spans [r, r+1) x [c, c+1)
    offsets = (np.arange(k) + 0.5) / k
    ys = (np.arange(r0, r1)[:, None] + offsets[None, :]).reshape(-1)
    xs = (np.arange(c0, c1)[:, None] + offsets[None, :]).reshape(-1)
    dy, dx = ys[:, None] - cy, xs[None, :] - cx
    cos, sin = np.cos(theta), np.sin(theta)
    u = cos * dx + sin * dy                          # rotate the samples into shape coordinates
    v = -sin * dx + cos * dy
    hit = _inside(label, u, v, s).astype(np.float64)
    cover[r0:r1, c0:c1] = hit.reshape(r1 - r0, k, c1 - c0, k).mean(axis=(1, 3))
    return cover


def _smooth_noise(rng, size, cells):
    """Blotches: a (cells x cells) normal grid upsampled bilinearly to (size, size)."""
    grid = rng.normal(size=(cells + 1, cells + 1))
    pos = np.linspace(0, cells, size)
    i = np.minimum(pos.astype(int), cells - 1)
    f = pos - i
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _background(rng, size):
    """(size, size, 3) float64 texture around a random base colour; returns (image, base colour)."""
    base = rng.uniform(40, 215, size=3)
    y, x = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    img = np.broadcast_to(base, (size, size, 3)).copy()
    # a linear colour gradient across the image
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(direction) * x + np.sin(direction) * y
    img += ramp[..., None] * rng.uniform(-40, 40, size=3)
    # a sinusoidal grating (period 5-20 px) tinted per channel
    phi = rng.uniform(0, np.pi)
    period = rng.uniform(5, 20)
    grating = np.sin(2 * np.pi * (np.cos(phi) * x + np.sin(phi) * y) * (size - 1) / period
                     + rng.uniform(0, 2 * np.pi))
    img += grating[..., None] * rng.uniform(0, 18) * rng.uniform(0.3, 1.0, size=3)
    # smooth blotches, independent per channel
    cells = int(rng.integers(3, 9))
    for c in range(3):
        img[..., c] += _smooth_noise(rng, size, cells) * rng.uniform(5, 20)
    return img, base


def _shape_colour(rng, base):
    """A random RGB colour at least MIN_CONTRAST away from the background's base colour."""
    while True:
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - base) >= MIN_CONTRAST:
            return colour


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError("%s must be an int >= %d, got %r" % (name, minimum, value))
    return int(value)


def make_shapes(n, seed=None, labels=None, size=IMAGE_SIZE):
    """Generate ``n`` shape images; returns ``Shapes(images, labels, boxes, masks)``.

    Args:
        n: number of images (>= 0).
        seed: int or None; the same seed gives the same images (NumPy ``default_rng``).
        labels: None (classes drawn uniformly) or a sequence of ``n`` class indices to draw.
        size: image side in pixels (>= 32); the demo model expects the default 64.
    """
    n = _check_int("n", n, 0)
    size = _check_int("size", size, 32)
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.integers(0, len(CLASS_NAMES), size=n)
    else:
        labels = np.array(labels, copy=True)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) \
                or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(CLASS_NAMES):
            raise ValueError("labels must be %d ints in [0, %d), got %r"
                             % (n, len(CLASS_NAMES), labels))
    scale = size / IMAGE_SIZE
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    boxes = np.empty((n, 4), dtype=np.int64)
    masks = np.empty((n, size, size), dtype=bool)
    for i, label in enumerate(labels):
        background, base = _background(rng, size)
        s = rng.uniform(MIN_HALF_SIZE, MAX_HALF_SIZE) * scale
        margin = EXTENT * s + 1                      # the whole shape stays inside the image
        cy, cx = rng.uniform(margin, size - margin, size=2)
        theta = 0.0 if label == 0 else np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
        cover = _coverage(int(label), size, cy, cx, s, theta)[..., None]
        colour = _shape_colour(rng, base)
        # a faint shading across the shape so that it is not a flat colour
        shade = _smooth_noise(rng, size, 4)[..., None] * 8
        img = background * (1 - cover) + (colour + shade) * cover
        img += rng.normal(scale=rng.uniform(3, 10), size=img.shape)      # sensor noise
        images[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        mask = cover[..., 0] >= 0.5
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes[i] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)
        masks[i] = mask
    return Shapes(images, labels.astype(np.int64), boxes, masks)
