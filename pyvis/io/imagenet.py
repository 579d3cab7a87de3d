"""The ImageNet class index (`imagenet_class_index.json`) and `decode_predictions`.

The file is taken from the Keras cache (or downloaded there with Keras's origin and md5, exactly
as `keras.applications.imagenet_utils` does), so pyvis works after `pip install` (keras-vis
issue #126) and shares the copy Keras users already have. Format: {"0": [wnid, label], ...}.
"""

import json
import os
import threading

import numpy as np

from . import download

CLASS_INDEX_FNAME = "imagenet_class_index.json"
CLASS_INDEX_ORIGIN = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
NUM_CLASSES = 1000

_lock = threading.Lock()
_class_index = None


def parse_class_index(path):
    """Read and validate a class-index JSON file; returns {int: (wnid, label)}."""
    if os.path.getsize(path) > 16 << 20:
        raise ValueError(f"{path}: too large for an ImageNet class index")
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON ImageNet class index ({exc})") from exc
    if not isinstance(raw, dict) or len(raw) != NUM_CLASSES:
        raise ValueError(f"{path}: expected a JSON object with {NUM_CLASSES} entries")
    index = {}
    for i in range(NUM_CLASSES):
        entry = raw.get(str(i))
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, str) for e in entry)):
            raise ValueError(f"{path}: entry {i!r} should be [wnid, label], found {entry!r}")
        index[i] = (entry[0], entry[1])
    return index


def class_index(path=None, progress=True):
    """The class index as {int: (wnid, label)}; cached after the first successful load."""
    global _class_index
    if path is not None:
        return parse_class_index(os.fspath(path))
    with _lock:
        if _class_index is None:
            found = download.get_file(CLASS_INDEX_FNAME, CLASS_INDEX_ORIGIN, CLASS_INDEX_MD5,
                                      cache_subdir="models", progress=progress)
            _class_index = parse_class_index(found)
        return _class_index


def reset_cache():
    """Forget the loaded class index (tests; or after the cache folder changed)."""
    global _class_index
    with _lock:
        _class_index = None


def _check_class_id(i):
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"indices must be integers in [0, {NUM_CLASSES}), got {i!r}")
    if not 0 <= int(i) < NUM_CLASSES:
        raise ValueError(f"indices must be in [0, {NUM_CLASSES}), got {int(i)}")
    return int(i)


def lookup_labels(indices):
    """keras-vis `lookup_imagenet_labels`: list of labels (second field) for an index or list of them."""
    if isinstance(indices, np.ndarray):
        indices = indices.reshape(-1).tolist()
    elif not isinstance(indices, (list, tuple)):
        indices = [indices]
    ids = [_check_class_id(i) for i in indices]
    index = class_index()
    return [index[i][1] for i in ids]


def decode_predictions(preds, top=5):
    """Keras `decode_predictions`: per sample, the `top` (wnid, label, score) tuples, best first."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError("decode_predictions expects a batch of predictions, i.e. a 2D array of shape "
                         f"(samples, {NUM_CLASSES}); found array with shape {preds.shape}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    index = class_index()
    results = []
    for pred in preds:
        best = pred.argsort()[-int(top):][::-1]          # the same tie order as Keras
        results.append([index[int(i)] + (pred[i],) for i in best])
    return results


# The name pyvis.utils.utils uses.
load_class_index = class_index
