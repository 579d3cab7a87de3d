"""What a weight file's entries pair with: the model's weighted "units", in Keras order.

Keras lists weights per entry of `model.layers`; an entry is either a plain layer or a whole
nested model (keras-formats.md §1.6). pyvis inlines nested models, so a model loaded from a
config carries its nesting as `LayerRecord`s (kept here, weakly keyed on the model); a model
built in code is described directly by `model.layers`.
"""

import weakref

from .config import LayerRecord

_RECORDS = weakref.WeakKeyDictionary()


def remember(model, root):
    """Keep the config records of `model` (for later load_weights calls)."""
    try:
        _RECORDS[model] = root
    except TypeError:       # not weak-referenceable: fall back to model.layers
        pass


def _record_from_layer(layer):
    """A LayerRecord tree for a pyvis layer or (nested) model built in code."""
    sub = getattr(layer, "layers", None)
    if isinstance(sub, list):
        cls = type(layer).__name__
        is_seq = cls == "Sequential"
        rec = LayerRecord(layer.name, "Sequential" if is_seq else "Functional", "model",
                          trainable=getattr(layer, "trainable", True), sequential=is_seq)
        rec.children = [_record_from_layer(child) for child in sub]
        return rec
    cls = type(layer).__name__
    kind = "input" if cls == "InputLayer" else "layer"
    return LayerRecord(layer.name, cls, kind, layer=layer, trainable=getattr(layer, "trainable", True))


def root_record(model):
    """The record tree describing `model` (from its config if it was loaded, else from model.layers)."""
    try:
        rec = _RECORDS.get(model)
    except TypeError:
        rec = None
    if rec is not None:
        return rec
    return _record_from_layer(model)


def container(rec):
    """The children Keras lists in `model.layers` (a Sequential omits its InputLayer)."""
    if rec.sequential:
        return [c for c in rec.children if c.kind != "input"]
    return list(rec.children)


def has_weights(rec):
    if rec.kind == "layer":
        return len(rec.layer.weights) > 0
    if rec.kind == "model":
        return any(has_weights(c) for c in rec.children)
    return False


def weighted_leaves(rec):
    """All plain layers with weights inside `rec`, in config order (depth first)."""
    if rec.kind == "layer":
        return [rec] if rec.layer.weights else []
    out = []
    for c in rec.children:
        out.extend(weighted_leaves(c))
    return out


def nontrainable_count(leaf):
    """How many of a layer's weights Keras lists as non-trainable (they go last in a nested model)."""
    n = len(leaf.layer.weights)
    if not leaf.trainable:
        return n
    if leaf.class_name == "BatchNormalization":
        return 2            # moving_mean, moving_variance
    return 0


def legacy_order(rec):
    """(leaf, weight index) pairs in Keras 2 `_legacy_weights` order for a nested model:
    all trainable weights of all sublayers, then all non-trainable ones."""
    leaves = weighted_leaves(rec)
    trainable, frozen = [], []
    for leaf in leaves:
        n = len(leaf.layer.weights)
        split = n - nontrainable_count(leaf)
        trainable.extend((leaf, i) for i in range(split))
        frozen.extend((leaf, i) for i in range(split, n))
    return trainable + frozen
