"""Model and weight files: Keras 2 `.h5`, Keras 3 `.keras` / `.weights.h5`, `.npz`, live Keras models.

Entry points used by `pyvis.models`:
  load_model(path, custom_objects=None, compile=True)
  load_weights(model, path, by_name=False, skip_mismatch=False)
  from_keras(obj)            a live Keras 3 / tf.keras model -> pyvis model
  as_pyvis_model(obj)        pyvis model as is, Keras model converted once (cached)

Formats are recognised from the file's content (`sniff`), never from its name. Loading never
executes code from a file; malformed files raise ValueError or OSError naming the path.
"""

import struct
import zipfile
import zlib

from . import keras_h5, keras_v3, npz, sniff
from .from_keras import as_pyvis_model, from_keras, is_keras_model

__all__ = ["load_model", "load_weights", "from_keras", "as_pyvis_model", "is_keras_model"]

_WEIGHTS_ONLY = {sniff.H5_LEGACY_WEIGHTS: "Keras 2 weights-only HDF5", sniff.H5_V3_WEIGHTS: "Keras 3 .weights.h5",
                 sniff.NPZ: ".npz weights"}

# Exceptions a malformed file can provoke deep inside h5py/zipfile/json handling.
_MALFORMED = (KeyError, IndexError, AttributeError, TypeError, RecursionError, struct.error,
              zipfile.BadZipFile, EOFError, UnicodeDecodeError, OverflowError,
              zlib.error)          # a corrupt deflate stream inside a .keras archive


def _guard(path, fn, *args):
    try:
        return fn(*args)
    except (ValueError, OSError, MemoryError):
        raise
    except _MALFORMED as exc:
        raise ValueError(f"{path!r}: malformed model/weights file ({type(exc).__name__}: {exc})") from exc


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a whole model (architecture and weights) from a Keras `.h5` or `.keras` file.

    `compile` and `safe_mode` are accepted for Keras compatibility: pyvis models are never
    trained (the training configuration is ignored) and no code from a file is ever run,
    whatever `safe_mode` says.
    """
    path = sniff.check_path(filepath)
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict or None, got {type(custom_objects).__name__}")
    kind = _guard(path, sniff.sniff, path)
    if kind == sniff.H5_FULL:
        return _guard(path, keras_h5.load_model, path, custom_objects)
    if kind in (sniff.KERAS_ZIP, sniff.KERAS_DIR):
        return _guard(path, keras_v3.load_model, path, custom_objects)
    raise ValueError(f"{path!r} is a {_WEIGHTS_ONLY[kind]} file: it holds weights but no architecture. Build the "
                     "model in code (e.g. pyvis.applications.VGG16(weights=None)) and call model.load_weights(path)")


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Load weights from any supported file into `model` (a pyvis model), in place.

    Keras 2 `.h5`: topological pairing of layers with weights (as Keras), or by layer name if
    `by_name`. Keras 3 `.weights.h5` / `.keras`: by Keras 3 variable paths, or by the stored layer
    names if `by_name`. `.npz`: by layer name or `get_weights()` order. A shape mismatch raises a
    ValueError naming the layer and both shapes, or is skipped with a warning if `skip_mismatch`.
    """
    if not hasattr(model, "layers"):
        raise TypeError(f"model must be a pyvis model, got {type(model).__name__}")
    path = sniff.check_path(filepath)
    kind = _guard(path, sniff.sniff, path)
    if kind in (sniff.H5_LEGACY_WEIGHTS, sniff.H5_FULL):
        return _guard(path, keras_h5.load_weights, model, path, by_name, skip_mismatch)
    if kind == sniff.H5_V3_WEIGHTS:
        return _guard(path, keras_v3.load_weights, model, path, by_name, skip_mismatch)
    if kind in (sniff.KERAS_ZIP, sniff.KERAS_DIR):
        return _guard(path, keras_v3.load_weights, model, path, by_name, skip_mismatch, True)
    return _guard(path, npz.load_weights, model, path, skip_mismatch)
