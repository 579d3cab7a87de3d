"""Convert a live Keras 3 or tf.keras model object into a pyvis model (config + weights).

The model's own config is serialized (as Keras would write it to a file) and rebuilt with the
same builder the file loaders use; weights are copied layer by layer with `get_weights()`. An
activation the user assigned to a Keras layer (keras-vis notebooks set
`layer.activation = activations.linear`) is carried over, also when it is a pyvis function.

`as_pyvis_model` converts each Keras object once and keeps the result, keyed weakly on the
object, so every pyvis function can accept a Keras model without repeated conversions.
"""

import json
import sys
import threading
import weakref

import numpy as np

from . import assign, units
from .config import build_model

_KERAS_MODULE_ROOTS = ("keras", "tf_keras", "tensorflow")
_cache = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _module_root(obj):
    return type(obj).__module__.split(".")[0]


def is_pyvis_model(obj):
    try:
        from pyvis import models
    except ImportError:     # pragma: no cover - models.py is part of the package
        return False
    return isinstance(obj, getattr(models, "Model", ()))


def is_keras_model(obj):
    """True for Keras 3, tf.keras or tf_keras model objects (by their class's module, no import)."""
    return any(c.__module__.split(".")[0] in _KERAS_MODULE_ROOTS for c in type(obj).__mro__) and \
        hasattr(obj, "get_config") and hasattr(obj, "layers") and hasattr(obj, "get_weights")


def _keras_version(obj):
    root = _module_root(obj)
    if root == "keras":
        keras = sys.modules.get("keras")
        return getattr(keras, "__version__", "3")
    if root == "tf_keras":
        return getattr(sys.modules.get("tf_keras"), "__version__", "2")
    return "2"          # tf.keras inside TensorFlow


def _jsonable(value):
    """json.dumps fallback for what a live get_config may hold (NumPy scalars, tuples become lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if callable(value):
        return getattr(value, "__name__", repr(value))
    raise TypeError(f"config value {value!r} of type {type(value).__name__} cannot be converted")


def _envelope(obj):
    serialize = None
    if _module_root(obj) == "keras":
        saving = getattr(sys.modules.get("keras"), "saving", None)
        serialize = getattr(saving, "serialize_keras_object", None)
    if serialize is not None:
        envelope = serialize(obj)
    else:
        envelope = {"class_name": type(obj).__name__, "config": obj.get_config()}
    # Live configs hold tuples and NumPy values; normalise to what a file would contain.
    return json.loads(json.dumps(envelope, default=_jsonable))


def _keras_child(kobj, name, label):
    try:
        return kobj.get_layer(name)
    except (ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{label}: the Keras model has no layer named {name!r} ({exc})") from exc


def _copy_weights(rec, kobj, label):
    for child in rec.children:
        if child.kind == "input":
            continue
        klayer = _keras_child(kobj, child.name, label)
        if child.kind == "model":
            _copy_weights(child, klayer, label)
            continue
        values = [np.asarray(v) for v in klayer.get_weights()]
        if values or child.layer.weights:
            srcs = [assign.Source.of_array(v, f"{child.name} weight {i}") for i, v in enumerate(values)]
            assign.assign_layer(child.layer, child.class_name, srcs, label)
        live = getattr(klayer, "activation", None)
        if live is not None and getattr(live, "__module__", "") == "pyvis.activations":
            child.layer.activation = live


def from_keras(obj, custom_objects=None):
    """A new pyvis model equivalent to the Keras model `obj` (architecture and current weights)."""
    if is_pyvis_model(obj):
        return obj
    if not is_keras_model(obj):
        raise TypeError(f"from_keras expects a Keras 3 or tf.keras Model, got {type(obj).__module__}."
                        f"{type(obj).__name__}")
    label = f"Keras model {getattr(obj, 'name', '?')!r}"
    envelope = _envelope(obj)
    model, root = build_model(envelope, label, _keras_version(obj), custom_objects)
    _copy_weights(root, obj, label)
    units.remember(model, root)
    return model


def as_pyvis_model(obj):
    """`obj` itself if it is a pyvis model, else its pyvis conversion (made once per Keras object).

    A changed `layer.activation` on the Keras model triggers a new conversion; changed weights
    do not (call `from_keras` again for a fresh copy after training or `set_weights`).
    """
    if is_pyvis_model(obj):
        return obj
    if not is_keras_model(obj):
        raise TypeError("expected a pyvis model (pyvis.models.Model / Sequential) or a Keras model, got "
                        f"{type(obj).__module__}.{type(obj).__name__}")
    with _cache_lock:
        try:
            hit = _cache.get(obj)
        except TypeError:           # unhashable or not weak-referenceable: convert every time
            return from_keras(obj)
        stamp = _activation_stamp(obj)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        model = from_keras(obj)
        _cache[obj] = (stamp, model)
        return model


def _activation_stamp(obj, depth=0):
    """Which activation each layer holds: keras-vis edits `layer.activation` on the Keras model
    after it may already have been converted, and such an edit must not be served stale."""
    stamp = []
    for layer in getattr(obj, "layers", ()):
        if depth < 32 and hasattr(layer, "layers"):
            stamp.append((layer.name, _activation_stamp(layer, depth + 1)))
        else:
            stamp.append((layer.name, id(getattr(layer, "activation", None))))
    return tuple(stamp)
