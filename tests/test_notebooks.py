"""Every notebook in notebooks/ executes from top to bottom (nbclient, kernel python3).

The notebooks are committed without outputs and run here in a temporary working folder:

* attention_demo.ipynb needs nothing: the demo model and its images ship with pyvis.
* The VGG16 notebooks call ``VGG16(weights='imagenet')``. There is no network in CI and the real
  528 MB file cannot be committed, so the test writes a stand-in with random weights in the exact
  layout of Keras's ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (weights-only, Keras 1 names
  such as ``block1_conv1_W_1:0``, keras-formats.md §2.2) into ``$KERAS_HOME/models``, plus a
  stand-in ``imagenet_class_index.json``. pyvis checks cached files by md5, and a generated file
  cannot have Keras's md5; so a first, test-only cell registers the stand-ins' md5 sums in
  ``pyvis.applications.imagenet_utils.WEIGHT_FILES`` and ``pyvis.io.imagenet.CLASS_INDEX_MD5``.
  Everything after that is the real path: the cache lookup under ``$KERAS_HOME``, the md5 check,
  the Keras 1 weights loader. The notebook cells themselves run unchanged.
* activation_maximization_vggnet.ipynb has a cell tagged ``parameters`` (iterations, numbers of
  classes and filters); as papermill does, the test inserts a cell after it with small values.
* The seed workflow reads images/ouzel1.jpg and images/ouzel2.jpg: generated pictures are
  written there (the real photos may not be committed).
"""

import hashlib
import json
import os
import re

import h5py
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from pyvis.applications.shapes import make_shapes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = sorted(n for n in os.listdir(NOTEBOOK_DIR) if n.endswith(".ipynb"))
VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CELL_TIMEOUT = 900

# VGG16 as keras-formats.md §2.2 / §6 and the keras-vis model summary describe it
VGG16_CONVS = [("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block2_conv1", 64, 128),
               ("block2_conv2", 128, 128), ("block3_conv1", 128, 256), ("block3_conv2", 256, 256),
               ("block3_conv3", 256, 256), ("block4_conv1", 256, 512), ("block4_conv2", 512, 512),
               ("block4_conv3", 512, 512), ("block5_conv1", 512, 512), ("block5_conv2", 512, 512),
               ("block5_conv3", 512, 512)]
VGG16_DENSE = [("fc1", 7 * 7 * 512, 4096), ("fc2", 4096, 4096), ("predictions", 4096, 1000)]

# What CI runs the activation-maximization notebook with (the defaults take many minutes).
SMALL_PARAMETERS = {"max_iter": 2, "long_max_iter": 3, "n_classes": 2, "n_filters": 2,
                    "n_random_filters": 1}


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _vgg16_layer_names():
    names = ["input_1"]
    for block in range(1, 6):
        names += [n for n, _, _ in VGG16_CONVS if n.startswith("block%d_" % block)]
        names.append("block%d_pool" % block)
    return names + ["flatten"] + [n for n, _, _ in VGG16_DENSE]


def write_vgg16_standin(path, seed=0):
    """Random He-scaled weights in the keras.applications VGG16 (Keras 1, weights-only) layout."""
    rng = np.random.default_rng(seed)
    shapes = {n: ((3, 3, cin, cout), cout) for n, cin, cout in VGG16_CONVS}
    shapes.update({n: ((cin, cout), cout) for n, cin, cout in VGG16_DENSE})
    with h5py.File(path, "w") as f:
        # Keras 1 wrote only layer_names at the root (no keras_version / backend)
        f.attrs["layer_names"] = [n.encode("utf8") for n in _vgg16_layer_names()]
        for name in _vgg16_layer_names():
            g = f.create_group(name)
            if name not in shapes:
                g.attrs["weight_names"] = np.asarray([])
                continue
            kshape, nbias = shapes[name]
            fan_in = int(np.prod(kshape[:-1]))
            g.attrs["weight_names"] = [("%s_W_1:0" % name).encode("utf8"),
                                       ("%s_b_1:0" % name).encode("utf8")]
            std = np.float32(np.sqrt(2.0 / fan_in))
            kernel = rng.standard_normal(kshape, dtype=np.float32) * std
            g.create_dataset("%s_W_1:0" % name, data=kernel)
            g.create_dataset("%s_b_1:0" % name, data=np.zeros(nbias, np.float32))
            del kernel


def write_class_index_standin(path):
    index = {str(i): ["n%08d" % i, "class_%d" % i] for i in range(1000)}
    index["20"] = ["n01601694", "water_ouzel"]
    with open(path, "w") as f:
        json.dump(index, f)


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    """A KERAS_HOME holding the stand-in VGG16 weights and class index; returns (dir, md5s)."""
    home = tmp_path_factory.mktemp("keras_home")
    models = home / "models"
    models.mkdir()
    write_vgg16_standin(str(models / VGG16_FILE))
    write_class_index_standin(str(models / CLASS_INDEX_FILE))
    return str(home), _md5(str(models / VGG16_FILE)), _md5(str(models / CLASS_INDEX_FILE))


def _write_images(folder):
    os.makedirs(folder)
    data = make_shapes(2, seed=7, size=224)
    for i, img in enumerate(data.images, start=1):
        Image.fromarray(img).save(os.path.join(folder, "ouzel%d.jpg" % i), quality=92)


def _code(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _run(nb, cwd):
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _outputs_text(nb):
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o and "text/plain" in o["data"]:
                out.append(o["data"]["text/plain"])
    return "\n".join(out)


def test_there_are_the_three_notebooks():
    assert {"attention_vggnet.ipynb", "activation_maximization_vggnet.ipynb",
            "attention_demo.ipynb"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name):
    nb = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
    # keras-vis workflows with pyvis imports: no Keras, TensorFlow or keras-vis left
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", _code(nb), flags=re.M)
    roots = {i.split(".")[0] for i in imports}
    assert not roots & {"keras", "vis", "tensorflow", "tf_keras"}, (name, roots)
    assert "pyvis" in roots


def test_attention_demo_notebook_runs_offline(tmp_path, monkeypatch):
    # an empty KERAS_HOME: the demo must not need any cached or downloaded file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    nb = nbformat.read(os.path.join(NOTEBOOK_DIR, "attention_demo.ipynb"), as_version=4)
    _run(nb, tmp_path)
    text = _outputs_text(nb)
    # the notebook's own measurement (test_demo.py checks the same property on 200 images)
    line = next(s for s in text.splitlines() if s.startswith("Grad-CAM pointing game"))
    hits, total = [int(t) for t in line.split(":")[1].replace("hits", "").split("/")]
    assert total == 100 and hits >= 85, line


def _vgg_notebook(name, keras_home, tmp_path, monkeypatch, parameters=None):
    home, vgg_md5, index_md5 = keras_home
    monkeypatch.setenv("KERAS_HOME", home)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
    setup = nbformat.v4.new_code_cell(
        "# test-only setup: trust the generated stand-in files in $KERAS_HOME/models\n"
        "import pyvis.applications.imagenet_utils as _iu\n"
        "import pyvis.io.imagenet as _im\n"
        "_iu.WEIGHT_FILES[('vgg16', True)] = (%r, %r)\n"
        "_im.CLASS_INDEX_MD5 = %r\n" % (VGG16_FILE, vgg_md5, index_md5))
    cells = [setup]
    for cell in nb.cells:
        cells.append(cell)
        if parameters and "parameters" in cell.metadata.get("tags", []):
            cells.append(nbformat.v4.new_code_cell(
                "# injected parameters\n" + "".join("%s = %r\n" % kv for kv in parameters.items())))
    if parameters:
        assert len(cells) == len(nb.cells) + 2, "no cell tagged 'parameters' in %s" % name
    nb.cells = cells
    _write_images(str(tmp_path / "images"))
    return _run(nb, tmp_path)


def test_attention_vggnet_notebook_runs(keras_home, tmp_path, monkeypatch):
    nb = _vgg_notebook("attention_vggnet.ipynb", keras_home, tmp_path, monkeypatch)
    # 1 image + 2 saliency + 3 Grad-CAM figure cells produced pictures
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert pngs >= 6


def test_activation_maximization_vggnet_notebook_runs(keras_home, tmp_path, monkeypatch):
    nb = _vgg_notebook("activation_maximization_vggnet.ipynb", keras_home, tmp_path, monkeypatch,
                       SMALL_PARAMETERS)
    text = _outputs_text(nb)
    # the verbose run showed its progress (a tqdm bar with the losses, on stderr)
    assert "Activation maximization" in text
