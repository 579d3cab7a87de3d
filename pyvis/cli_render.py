"""Pictures for the command line: the jet colour map, heat-map overlays and labelled PNG grids.

Only NumPy and Pillow (runtime dependencies); matplotlib is not needed. ``jet`` reproduces
matplotlib's 'jet' map (same knots, same 256-entry table), so the PNGs are the keras-vis
notebooks' ``np.uint8(cm.jet(heat)[..., :3] * 255)`` pictures.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# matplotlib's _jet_data: (position, value) knots per channel
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}

BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
PAD = 4


def _jet_table(n=256):
    """matplotlib's jet lookup table: n RGB rows sampled at i / (n - 1)."""
    x = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(x, *zip(*_JET[name])) for name in ("red", "green", "blue")], axis=-1)


_JET_TABLE = _jet_table()


def jet(values):
    """uint8 RGB image (..., 3) of values in [0, 1]: ``np.uint8(cm.jet(values)[..., :3] * 255)``.

    Same table lookup as matplotlib (256 entries, value v -> entry floor(256 v), clipped) and the
    same truncation to uint8 as the keras-vis notebooks' recipe.
    """
    v = np.asarray(values, dtype=np.float64)
    idx = np.clip(np.floor(v * 256.0), 0, 255)
    idx = np.where(np.isnan(v), 0, idx).astype(np.intp)
    return (_JET_TABLE[idx] * 255).astype(np.uint8)


def as_rgb8(image):
    """A displayable uint8 (H, W, 3) copy of an image: grey becomes RGB, values are clipped."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.clip(np.rint(a.astype(np.float64)), 0, 255).astype(np.uint8)


def heat_overlay(heat, image, alpha=0.5):
    """The jet-coloured heat map blended over the image (pyvis.visualization.overlay)."""
    from pyvis.visualization import overlay
    return overlay(jet(heat), as_rgb8(image), alpha)


def save_png(array, path):
    Image.fromarray(as_rgb8(array)).save(path, format="PNG")


def _font():
    return ImageFont.load_default()


def _text_size(draw, text, font):
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def grid(tiles, col_labels=None, row_labels=None, scale=1, title=None):
    """A PIL image of `tiles` (rows of equally sized HxW(x3) arrays) with captions.

    Args:
        tiles: list of rows, each a list of images (None leaves a blank cell).
        col_labels: a caption above each column.
        row_labels: a caption left of each row.
        scale: integer nearest-neighbour magnification of every tile (small images stay crisp).
        title: a line of text above everything.
    """
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    first = next(as_rgb8(t) for row in tiles for t in row if t is not None)
    th, tw = first.shape[0] * scale, first.shape[1] * scale
    line_h = _text_size(probe, "Ag", font)[1] + 2 * PAD
    left = max([_text_size(probe, s, font)[0] for s in row_labels or []] + [0])
    left = left + 2 * PAD if row_labels else PAD
    ncols = max(len(row) for row in tiles)
    top = (line_h if title else 0) + (line_h if col_labels else PAD)
    width = left + ncols * (tw + PAD)
    height = top + len(tiles) * (th + PAD)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, PAD), title, fill=TEXT, font=font)
    y0 = top - line_h + PAD if col_labels else top
    for c, label in enumerate(col_labels or []):
        draw.text((left + c * (tw + PAD), y0), label, fill=TEXT, font=font)
    for r, row in enumerate(tiles):
        y = top + r * (th + PAD)
        if row_labels:
            draw.text((PAD, y + th // 2 - line_h // 2 + PAD), row_labels[r], fill=TEXT, font=font)
        for c, tile in enumerate(row):
            if tile is None:
                continue
            img = Image.fromarray(as_rgb8(tile))
            if scale != 1:
                img = img.resize((tw, th), Image.Resampling.NEAREST)
            canvas.paste(img, (left + c * (tw + PAD), y))
    return canvas
