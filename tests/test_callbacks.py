"""pyvis.callbacks: OptimizerCallback, Print, GifGenerator (Pillow-written animated GIF)."""

import numpy as np
import pytest
from PIL import Image, ImageSequence

from pyvis.callbacks import GifGenerator, OptimizerCallback, Print
from pyvis.utils import utils


def test_base_callback_is_abstract():
    cb = OptimizerCallback()
    with pytest.raises(NotImplementedError):
        cb.callback(0, [], 0.0, None, None)
    assert cb.on_end() is None


def test_print_format(capsys):
    Print().callback(4, [('TV(2.0) Loss', 1.5)], 2.25, None, None)
    out = capsys.readouterr().out
    assert out == "Iteration: 5, named_losses: [('TV(2.0) Loss', 1.5)], overall loss: 2.25\n"


def _frames(path):
    with Image.open(path) as im:
        return [np.asarray(f.convert('RGB')) for f in ImageSequence.Iterator(im)]


@pytest.mark.parametrize('channels', [3, 1])
def test_gif_has_one_labelled_frame_per_step(tmp_path, channels):
    rng = np.random.default_rng(0)
    gif = GifGenerator(str(tmp_path / 'progress'))
    assert gif.path.endswith('progress.gif')
    values = [rng.normal(size=(1, 48, 64, channels)).astype(np.float32) for _ in range(7)]
    for i, v in enumerate(values):
        gif.callback(i, [('loss', 1.0)], 1.0, None, v)
    gif.on_end()
    frames = _frames(gif.path)
    assert len(frames) == 7
    assert frames[0].shape == (48, 64, 3)
    for i, (frame, v) in enumerate(zip(frames, values)):
        # Frame = deprocessed value over 0..255 with "Step i+1" stamped in black at (10, 10).
        base = np.clip(utils.deprocess_input(v[0]), 0, 255).astype(np.uint8)
        if channels == 1:
            base = np.repeat(base, 3, axis=-1)
        label = utils.draw_text(base, 'Step {}'.format(i + 1))
        changed = np.any(label != base, axis=-1)
        assert changed.any()
        # GIF palettes quantise colours: compare loosely away from the text, and check the
        # text pixels are dark.
        assert np.abs(frame[~changed].astype(int) - base[~changed].astype(int)).mean() < 12
        assert frame[changed].mean() < base[changed].mean()


def test_gif_keeps_existing_extension_and_ignores_batch_tail(tmp_path):
    gif = GifGenerator(tmp_path / 'a.gif', input_range=(0., 1.))
    assert gif.path == str(tmp_path / 'a.gif')
    rng = np.random.default_rng(1)
    gif.callback(0, [], 0.0, None, rng.normal(size=(3, 40, 40, 3)))
    gif.callback(1, [], 0.0, None, rng.normal(size=(3, 40, 40, 3)))
    gif.on_end()
    assert len(_frames(gif.path)) == 2


def test_gif_refuses_non_images(tmp_path):
    gif = GifGenerator(str(tmp_path / 'x'))
    with pytest.raises(ValueError, match=r'\(1, 35\)'):
        gif.callback(0, [], 0.0, None, np.zeros((1, 35)))
