"""The command line: ``python -m pyvis demo`` and ``pyvis saliency|cam|activation``.

Oracles: the library API called directly on the same pixels (the command line must write exactly
the maps ``visualize_saliency`` / ``visualize_cam`` give, coloured with matplotlib's jet), the
model's own predictions, and the files on disk (inputs untouched, outputs decodable PNGs).
Mistakes must exit with status 2 and one line on stderr, never a traceback.
"""

import csv
import os
import shutil
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from PIL import Image

from pyvis import activations, cli
from pyvis.applications import demo
from pyvis.applications.shapes import make_shapes
from pyvis.utils import utils
from pyvis.visualization import overlay, visualize_activation, visualize_cam, visualize_saliency


@pytest.fixture(scope="module")
def linear_model():
    m = demo.ShapesNet()
    m.layers[-1].activation = activations.linear
    return utils.apply_modifications(m)


@pytest.fixture
def image_dir(tmp_path):
    """Five generated PNGs (64x64, what ShapesNet takes) in their own folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    data = make_shapes(5, seed=31)
    for i, img in enumerate(data.images):
        Image.fromarray(img).save(folder / ("shape%d.png" % i))
    return folder


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fails_cleanly(argv, capsys, fragment):
    """Exit status 2, exactly one line on stderr mentioning `fragment`, no traceback."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:          # argparse mistakes
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert fragment in err, err


def _read_png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _jet(heat):
    """The keras-vis notebooks' recipe."""
    return np.uint8(matplotlib.colormaps["jet"](heat)[..., :3] * 255)


def _assert_same_picture(got, expected, what=""):
    """Equal up to BLAS summation order: a batch of N and a single image sum in different order,
    so a map value may land in the neighbouring entry of the 256-colour table (one step is at
    most 5 levels) at a handful of pixels; nothing more."""
    d = np.abs(np.asarray(got, dtype=int) - expected)
    assert d.max() <= 5 and np.mean(d.max(axis=-1) > 0) < 0.01, (what, d.max(), np.mean(d > 0))


def _snapshot(folder):
    return {p: open(os.path.join(folder, p), "rb").read() for p in sorted(os.listdir(folder))}


# --------------------------------------------------------------------------------------------
# demo

def test_python_m_pyvis_demo(tmp_path):
    out = tmp_path / "demo_out"
    proc = subprocess.run([sys.executable, "-m", "pyvis", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("attention.png", "activation.png", "predictions.csv"):
        assert (out / name).is_file(), name
    att = _read_png(out / "attention.png")
    assert att.shape[0] > 4 * 128 and att.shape[1] > 6 * 128       # 4 rows x 6 columns of 128 px
    # the probabilities written are the model's for the images the demo draws
    data = make_shapes(4, seed=0, labels=[0, 1, 2, 3])
    probs = demo.ShapesNet().predict(data.images.astype(np.float32))
    with open(out / "predictions.csv") as f:
        rows = list(csv.reader(f))[1:]
    written = np.array([[float(v) for v in r[2:]] for r in rows])
    np.testing.assert_allclose(written, probs, atol=6e-5)
    assert "predicted" in proc.stdout


def test_console_script_is_installed():
    """`pip install .` puts the `pyvis` script next to the interpreter ([project.scripts])."""
    script = os.path.join(os.path.dirname(sys.executable), "pyvis")
    if not os.path.exists(script):
        script = shutil.which("pyvis")
    assert script, "the pyvis console script is not installed"
    ok = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "saliency" in ok.stdout
    bad = subprocess.run([script, "cam"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


# --------------------------------------------------------------------------------------------
# saliency / cam

def test_saliency_writes_the_library_maps(image_dir, tmp_path, capsys, linear_model):
    out = tmp_path / "out"
    before = _snapshot(image_dir)
    code, stdout, _ = _run(["saliency", "shapesnet", image_dir, "--class", 2, "--out", out,
                            "--batch-size", 2, "--quiet"], capsys)
    assert code == 0
    assert _snapshot(image_dir) == before
    for i in range(5):
        img = utils.load_img(str(image_dir / ("shape%d.png" % i)))
        expected = _jet(visualize_saliency(linear_model, -1, filter_indices=2, seed_input=img))
        got = _read_png(out / ("shape%d_saliency_2.png" % i))
        _assert_same_picture(got, expected, i)


def test_cam_guided_overlay_top2(image_dir, tmp_path, capsys, linear_model):
    out = tmp_path / "out"
    code, stdout, _ = _run(["cam", "shapesnet", image_dir, "--top", 2, "--modifier", "guided",
                            "--overlay", "--out", out, "--quiet"], capsys)
    assert code == 0
    images = [utils.load_img(str(image_dir / ("shape%d.png" % i))) for i in range(5)]
    probs = demo.ShapesNet().predict(np.stack(images).astype(np.float32))
    for i in range(5):
        img = utils.load_img(str(image_dir / ("shape%d.png" % i)))
        top2 = np.argsort(-probs[i])[:2]
        files = sorted(f for f in os.listdir(out) if f.startswith("shape%d_cam-guided_" % i))
        assert files == sorted("shape%d_cam-guided_%d.png" % (i, c) for c in top2)
        c = int(top2[0])
        heat = visualize_cam(linear_model, -1, filter_indices=c, seed_input=img,
                             backprop_modifier="guided")
        expected = overlay(_jet(heat), img)
        got = _read_png(out / ("shape%d_cam-guided_%d.png" % (i, c)))
        _assert_same_picture(got, expected, i)
    # predictions.csv: top classes of each image, best first
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    firsts = [r for r in rows if r["rank"] == "1"]
    assert [int(r["class"]) for r in firsts] == [int(np.argmax(p)) for p in probs]
    assert firsts[0]["label"] in demo.CLASS_NAMES


def test_batch_size_does_not_change_results(image_dir, tmp_path, capsys):
    for bs in (1, 3):
        code, _, _ = _run(["saliency", "shapesnet", image_dir, "--modifier", "rectified",
                           "--out", tmp_path / ("bs%d" % bs), "--batch-size", bs, "--quiet"],
                          capsys)
        assert code == 0
    a, b = _snapshot(tmp_path / "bs1"), _snapshot(tmp_path / "bs3")
    assert a.keys() == b.keys() and len(a) == 6      # 5 maps + predictions.csv
    for name in a:
        if name.endswith(".png"):
            _assert_same_picture(_read_png(tmp_path / "bs1" / name),
                                 _read_png(tmp_path / "bs3" / name), name)


def test_model_file_and_layer_by_name(image_dir, tmp_path, capsys):
    model_file = tmp_path / "my_model.h5"
    shutil.copy(demo.WEIGHTS_PATH, model_file)
    code, stdout, _ = _run(["cam", model_file, image_dir / "shape0.png", "--layer", "predictions",
                            "--penultimate", "block3_conv", "--class", "0,1",
                            "--out", tmp_path / "o"], capsys)
    assert code == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["predictions.csv", "shape0_cam_0.png",
                                                  "shape0_cam_1.png"]
    assert "wrote 2 cam maps" in stdout


def test_outputs_never_overwrite_inputs(image_dir, tmp_path, capsys):
    # writing into the input folder is fine while names differ ...
    before = _snapshot(image_dir)
    code, _, _ = _run(["saliency", "shapesnet", image_dir / "shape0.png", "--class", 0,
                       "--out", image_dir, "--quiet"], capsys)
    assert code == 0
    after = _snapshot(image_dir)
    assert {k: after[k] for k in before} == before
    # ... but an output that would replace an input is refused before anything is written
    victim = image_dir / "shape1_saliency_0.png"
    shutil.copy(image_dir / "shape1.png", victim)
    original = victim.read_bytes()
    _fails_cleanly(["saliency", "shapesnet", image_dir / "shape1.png", victim, "--class", 0,
                    "--out", image_dir], capsys, "would be overwritten")
    assert victim.read_bytes() == original


# --------------------------------------------------------------------------------------------
# activation

def test_activation_matches_the_library(tmp_path, capsys, linear_model):
    code, _, _ = _run(["activation", "shapesnet", "--class", 3, "--max-iter", 5, "--seed", 4,
                       "--out", tmp_path, "--quiet"], capsys)
    assert code == 0
    got = _read_png(tmp_path / "shapesnet_activation_predictions_3.png")
    expected = visualize_activation(linear_model, -1, filter_indices=3, max_iter=5, seed=4)
    np.testing.assert_array_equal(got, expected)


def test_activation_from_an_image(image_dir, tmp_path, capsys, linear_model):
    img = image_dir / "shape2.png"
    code, _, _ = _run(["activation", "shapesnet", img, "--class", 1, "--max-iter", 4,
                       "--out", tmp_path, "--quiet"], capsys)
    assert code == 0
    got = _read_png(tmp_path / "shape2_activation_predictions_1.png")
    seed = utils.load_img(str(img)).astype(np.float32)        # raw pixels, as keras-vis
    expected = visualize_activation(linear_model, -1, filter_indices=1, seed_input=seed,
                                    max_iter=4, seed=0)
    np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------------------------------
# mistakes: one line, exit status 2

def test_mistakes_exit_2_with_one_line(image_dir, tmp_path, capsys):
    img = image_dir / "shape0.png"
    out = tmp_path / "o"
    _fails_cleanly(["saliency", "no_such_model", img], capsys, "unknown MODEL")
    _fails_cleanly(["saliency", tmp_path / "missing.h5", img], capsys, "does not exist")
    _fails_cleanly(["saliency", "shapesnet", tmp_path / "nope.png", "--out", out], capsys,
                   "does not exist")
    _fails_cleanly(["saliency", "shapesnet", img, "--class", 7, "--out", out], capsys,
                   "out of range")
    _fails_cleanly(["saliency", "shapesnet", img, "--layer", "nope", "--out", out], capsys,
                   "no such layer")
    _fails_cleanly(["saliency", "shapesnet", img, "--layer", 99, "--out", out], capsys,
                   "out of range")
    _fails_cleanly(["cam", "shapesnet", img, "--penultimate", "fc9", "--out", out], capsys,
                   "no such layer")
    _fails_cleanly(["saliency", "shapesnet", img, "--class", 1, "--top", 2], capsys,
                   "not allowed with")
    _fails_cleanly(["saliency", "shapesnet", img, "--batch-size", 0], capsys, "positive integer")
    _fails_cleanly(["saliency", "shapesnet", img, "--modifier", "magic"], capsys, "invalid choice")
    _fails_cleanly(["saliency", "shapesnet"], capsys, "required")
    _fails_cleanly(["frobnicate"], capsys, "invalid choice")
    # a file that is not an image, and a file that is not a model
    bad_img = tmp_path / "notes.png"
    bad_img.write_text("not a picture")
    _fails_cleanly(["saliency", "shapesnet", bad_img, "--out", out], capsys, "cannot read image")
    bad_model = tmp_path / "broken.h5"
    bad_model.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    _fails_cleanly(["saliency", bad_model, img, "--out", out], capsys, "cannot load MODEL")
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails_cleanly(["saliency", "shapesnet", empty, "--out", out], capsys, "holds no images")
    _fails_cleanly(["activation", "shapesnet", "--class", 4, "--out", out], capsys, "out of range")
    # --out naming an existing file
    _fails_cleanly(["saliency", "shapesnet", img, "--out", img], capsys, "not a folder")


def test_vgg16_without_cached_weights_is_a_clear_error(image_dir, tmp_path, capsys, monkeypatch):
    """No network and no cached file: one line naming the missing weights, exit status 2."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    import pyvis.io.download as download
    # stand in for "offline": any download attempt fails the way urllib does without network
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    monkeypatch.setattr(download.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    _fails_cleanly(["saliency", "vgg16", image_dir / "shape0.png", "--out", tmp_path / "o"],
                   capsys, "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
