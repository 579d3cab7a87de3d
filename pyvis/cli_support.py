"""The command line's plumbing: models by name or file, image discovery and loading, class choice,
output names that never overwrite an input.

Every user mistake found here raises ``UsageError`` with a one-line message; ``pyvis.cli`` prints
it and exits with status 2.
"""

import importlib
import os
import re

import numpy as np

from pyvis.losses import Loss

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")

# name -> (module, constructor, preprocessing mode); all ImageNet models load weights='imagenet'
APPLICATIONS = {
    "vgg16": ("pyvis.applications.vgg16", "VGG16", "caffe"),
    "vgg19": ("pyvis.applications.vgg19", "VGG19", "caffe"),
    "resnet50": ("pyvis.applications.resnet50", "ResNet50", "caffe"),
    "mobilenet": ("pyvis.applications.mobilenet", "MobileNet", "tf"),
    "mobilenet_v2": ("pyvis.applications.mobilenet_v2", "MobileNetV2", "tf"),
    "inception_v3": ("pyvis.applications.inception_v3", "InceptionV3", "tf"),
    "xception": ("pyvis.applications.xception", "Xception", "tf"),
    "densenet121": ("pyvis.applications.densenet", "DenseNet121", "torch"),
}
DEMO_NAMES = ("shapesnet", "demo")
PREPROCESS_MODES = ("none", "caffe", "tf", "torch")


class UsageError(Exception):
    """A mistake in the command line or its inputs; reported in one line, exit status 2."""


class LoadedModel(object):
    """A model plus what the command line needs to feed it and to name its classes."""

    def __init__(self, model, name, preprocess, class_names=None):
        self.model = model
        self.name = name
        self.preprocess = preprocess          # 'none', 'caffe', 'tf' or 'torch'
        self.class_names = class_names        # list of str, or None (classes shown as numbers)

    def input_dims(self):
        """(rows or None, cols or None, channels) of one input image."""
        shape = self.model.input_shape
        if isinstance(shape, list):
            if len(shape) != 1:
                raise UsageError("model %s has %d inputs; the command line supports single-input "
                                 "image models" % (self.name, len(shape)))
            shape = shape[0]
        if len(shape) != 4 or shape[-1] not in (1, 3):
            raise UsageError("model %s takes inputs of shape %s; the command line needs images "
                             "(None, rows, cols, 1 or 3)" % (self.name, tuple(shape)))
        return shape[1], shape[2], shape[3]

    def label(self, class_idx):
        if self.class_names is not None and 0 <= class_idx < len(self.class_names):
            return self.class_names[class_idx]
        return "class %d" % class_idx


def _cached_imagenet_labels():
    """ImageNet labels if the class index is already in the Keras cache (never downloads)."""
    from pyvis.io import download, imagenet
    path, _ = download.find_cached(imagenet.CLASS_INDEX_FNAME, imagenet.CLASS_INDEX_MD5)
    if path is None:
        return None
    index = imagenet.class_index(path)
    return [index[i][1] for i in range(imagenet.NUM_CLASSES)]


def load_model(spec, preprocess=None):
    """A LoadedModel for a file path or an application name (vgg16, ..., shapesnet)."""
    key = spec.lower()
    if os.path.isdir(spec) and not os.path.isfile(os.path.join(spec, "config.json")):
        raise UsageError("MODEL %r is a folder, not a model file" % spec)
    if os.path.exists(spec):
        from pyvis.models import load_model as load_file
        try:
            model = load_file(spec)
        except (ValueError, OSError) as exc:
            raise UsageError("cannot load MODEL %r: %s" % (spec, exc)) from exc
        class_names = None
        if model.output_shape[-1] == 1000:
            class_names = _cached_imagenet_labels()
        return LoadedModel(model, os.path.basename(spec), preprocess or "none", class_names)
    if key in DEMO_NAMES:
        from pyvis.applications import demo
        return LoadedModel(demo.ShapesNet(), "shapesnet", preprocess or "none",
                           list(demo.CLASS_NAMES))
    if key in APPLICATIONS:
        module, ctor, mode = APPLICATIONS[key]
        build = getattr(importlib.import_module(module), ctor)
        try:
            model = build(weights="imagenet")
        except OSError as exc:          # not in the Keras cache and no network
            raise UsageError("cannot get the ImageNet weights of %s: %s" % (key, exc)) from exc
        return LoadedModel(model, key, preprocess or mode, _cached_imagenet_labels())
    if key.endswith((".h5", ".hdf5", ".keras")):
        raise UsageError("MODEL file %r does not exist" % spec)
    raise UsageError("unknown MODEL %r: give a .h5 / .keras file or one of %s"
                     % (spec, ", ".join(sorted(APPLICATIONS) + ["shapesnet"])))


def preprocess(x, mode):
    """Apply a Keras preprocessing mode to float32 RGB images in [0, 255] (a new array)."""
    if mode == "none":
        return np.array(x, dtype=np.float32, copy=True)
    if x.shape[-1] != 3:
        raise UsageError("--preprocess %s needs 3-channel images" % mode)
    from pyvis.applications.imagenet_utils import preprocess_input
    return np.asarray(preprocess_input(np.asarray(x, dtype=np.float32), mode=mode),
                      dtype=np.float32)


def find_images(paths):
    """Image files named by `paths` (files, or folders scanned one level deep), in order."""
    found = []
    for p in paths:
        if os.path.isdir(p):
            names = sorted(n for n in os.listdir(p) if n.lower().endswith(IMAGE_EXTENSIONS))
            files = [os.path.join(p, n) for n in names if os.path.isfile(os.path.join(p, n))]
            if not files:
                raise UsageError("folder %r holds no images (%s)" % (p, " ".join(IMAGE_EXTENSIONS)))
            found.extend(files)
        elif os.path.isfile(p):
            found.append(p)
        else:
            raise UsageError("image %r does not exist" % p)
    return found


def check_images(paths):
    """Open every image's header now, so that a bad file is reported before any work is done."""
    from PIL import Image, UnidentifiedImageError
    for path in paths:
        try:
            with Image.open(path) as im:
                im.size
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UsageError("cannot read image %r: %s" % (path, exc)) from exc


def load_image(path, rows, cols, channels):
    """uint8 (rows, cols, channels) pixels of an image file, resized bilinearly if needed."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            if rows is not None and cols is not None and im.size != (cols, rows):
                im = im.resize((cols, rows), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UsageError("cannot read image %r: %s" % (path, exc)) from exc
    return arr[..., None] if arr.ndim == 2 else arr


def resolve_layer(model, spec, what="--layer"):
    """Index into model.layers of a layer given by name or (possibly negative) index."""
    n = len(model.layers)
    if isinstance(spec, int) or spec.lstrip("-").isdigit():
        idx = int(spec)
        if not -n <= idx < n:
            raise UsageError("%s %d is out of range: the model has %d layers" % (what, idx, n))
        return idx % n
    for idx, layer in enumerate(model.layers):
        if layer.name == spec:
            return idx
    names = [layer.name for layer in model.layers]
    shown = ", ".join(names[-8:])
    raise UsageError("%s %r: no such layer (last layers: %s)" % (what, spec, shown))


def output_units(model, layer_idx):
    shape = model.layers[layer_idx].output_shape
    if isinstance(shape, list):
        shape = shape[0]
    return shape[-1]


class ClassScore(Loss):
    """keras-vis's ActivationMaximization with one filter per sample: sample n's loss is
    ``-mean(out[n, ..., classes[n]])``, so a batch can explain a different class per image."""

    def __init__(self, layer, classes):
        super(ClassScore, self).__init__()
        self.name = "ClassScore Loss"
        self.layer = layer
        self.classes = np.asarray(classes, dtype=np.int64)

    def evaluate(self, tape):
        out = np.asarray(tape.value(self.layer))
        n = out.shape[0]
        if n != len(self.classes):
            raise ValueError("ClassScore: %d classes for a batch of %d" % (len(self.classes), n))
        per_channel = int(np.prod(out.shape[1:-1])) if out.ndim > 2 else 1
        rows = np.arange(n)
        picked = out[rows, ..., self.classes] if out.ndim > 2 else out[rows, self.classes]
        values = -picked.reshape(n, -1).astype(np.float64).mean(axis=1)
        grad = np.zeros(out.shape, dtype=np.float32)
        if out.ndim > 2:
            grad[rows, ..., self.classes] = np.float32(-1.0 / per_channel)
        else:
            grad[rows, self.classes] = np.float32(-1.0)
        return values, [(self.layer, grad)]


def output_path(out_dir, stem, suffix, inputs):
    """out_dir/stem_suffix.png, refusing any path that is one of the input files."""
    path = os.path.join(out_dir, "%s_%s.png" % (stem, suffix))
    real = os.path.realpath(path)
    if real in inputs:
        raise UsageError("output %r would overwrite the input image %r; choose another --out"
                         % (path, real))
    return path


def check_no_clobber(out_dir, stems, method, inputs):
    """Refuse up front when an input file has the name of an output of this run.

    Outputs are named ``<stem>_<method>_<class>.png``; with ``--top`` the classes are only known
    after the forward pass, so any class number counts.
    """
    out_real = os.path.realpath(out_dir)
    pattern = re.compile(r"^(?:%s)_%s_\d+\.png$" % ("|".join(re.escape(s) for s in stems),
                                                    re.escape(method)))
    for real in sorted(inputs):
        if os.path.dirname(real) == out_real and pattern.match(os.path.basename(real)):
            raise UsageError("the input image %r has the name of an output of this run and would "
                             "be overwritten; choose another --out" % real)


def unique_stems(paths):
    """File stems for naming outputs; repeated stems (same name in two folders) get a suffix."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    seen, out = {}, []
    for s in stems:
        k = seen.get(s, 0)
        seen[s] = k + 1
        out.append(s if k == 0 else "%s-%d" % (s, k + 1))
    return out
