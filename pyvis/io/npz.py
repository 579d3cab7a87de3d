"""Weights stored as a NumPy `.npz` archive (no pickle, ever).

Two layouts are understood:
  * `np.savez(path, *model.get_weights())` -> members `arr_0`, `arr_1`, ... in `get_weights()` order;
  * `np.savez(path, **{f"{layer.name}/{i}": w})` -> one entry per weight, keyed by layer name and
    position inside the layer (what `save_npz` below writes).
Each member's `.npy` header is checked before NumPy allocates the array it declares, so a tiny
archive cannot claim a huge shape (the "npz bomb" Keras also guards against).
"""

import re
import zipfile

import numpy as np

from . import limits

_FLAT_KEY = re.compile(r"^arr_(\d+)$")
_LAYER_KEY = re.compile(r"^(.+)/(\d+)$")


def _check_header(z, info, path):
    key = info.filename[:-4]
    try:
        f = z.open(info)
    except (NotImplementedError, zipfile.BadZipFile, OSError, ValueError) as exc:   # odd zip version/method
        raise ValueError(f"{path}: cannot open member {key!r} ({exc})") from exc
    with f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as exc:
            raise ValueError(f"{path}: member {key!r} is not a valid .npy array ({exc})") from exc
    if dtype.hasobject or dtype.kind not in "fiub":
        raise ValueError(f"{path}: member {key!r} has dtype {dtype}; weights must be numeric "
                         "(pickled objects are refused)")
    count = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if count > limits.MAX_WEIGHT_ELEMENTS:
        raise ValueError(f"{path}: member {key!r} declares shape {shape} "
                         f"({count} elements, limit {limits.MAX_WEIGHT_ELEMENTS})")
    if count * dtype.itemsize > info.file_size:
        raise ValueError(f"{path}: member {key!r} declares shape {shape} ({count * dtype.itemsize} bytes) but stores "
                         f"only {info.file_size} bytes: truncated or hostile file")
    return key


def read_npz(path):
    """{key: float32 array} for every member, in archive order."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({exc})") from exc
    out = {}
    total = 0
    with z:
        infos = z.infolist()
        if len(infos) > limits.MAX_LAYERS * 8:
            raise ValueError(f"{path}: {len(infos)} members is more than any model has")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{path}: member {info.filename!r} is not a .npy array")
            key = _check_header(z, info, path)
            try:
                with z.open(info) as f:
                    arr = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise ValueError(f"{path}: cannot read member {key!r} ({exc})") from exc
            total += arr.size
            if total > limits.MAX_WEIGHT_ELEMENTS:
                raise ValueError(f"{path}: more than {limits.MAX_WEIGHT_ELEMENTS} weight values in total")
            out[key] = np.asarray(arr, dtype=np.float32)
    return out


def split_npz(arrays, path):
    """Classify the keys: ('flat', [arrays in order]) or ('by_layer', {layer: [arrays in order]})."""
    keys = list(arrays)
    if keys and all(_FLAT_KEY.match(k) for k in keys):
        order = sorted(keys, key=lambda k: int(_FLAT_KEY.match(k).group(1)))
        if [int(_FLAT_KEY.match(k).group(1)) for k in order] != list(range(len(order))):
            raise ValueError(f"{path}: members arr_0 ... arr_{len(order) - 1} are not contiguous")
        return "flat", [arrays[k] for k in order]
    per_layer = {}
    for k in keys:
        m = _LAYER_KEY.match(k)
        if not m:
            raise ValueError(f"{path}: member {k!r} is neither 'arr_<i>' nor '<layer name>/<i>'")
        per_layer.setdefault(m.group(1), {})[int(m.group(2))] = arrays[k]
    grouped = {}
    for layer, items in per_layer.items():
        if sorted(items) != list(range(len(items))):
            raise ValueError(f"{path}: weights of layer {layer!r} are numbered {sorted(items)}, "
                             f"expected 0..{len(items) - 1}")
        grouped[layer] = [items[i] for i in range(len(items))]
    return "by_layer", grouped


def save_npz(model, path):
    """Write `model`'s weights as '<layer name>/<i>' members (readable by `load_weights`)."""
    entries = {}
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            entries[f"{layer.name}/{i}"] = np.asarray(w)
    np.savez(path, **entries)


def load_weights(model, path, skip_mismatch=False):
    """Load an .npz written as either layout above into `model` (always matched by layer name or
    by `get_weights()` position; nothing else is meaningful for a plain array archive)."""
    from . import assign
    label = repr(path)
    kind, data = split_npz(read_npz(path), label)
    layers = list(model.layers)
    if kind == "flat":
        expected = sum(len(layer.weights) for layer in layers)
        if expected != len(data):
            raise ValueError(f"{label}: the archive holds {len(data)} arrays (arr_0...) but the model has "
                             f"{expected} weights")
        pos = 0
        for layer in layers:
            n = len(layer.weights)
            if n:
                srcs = [assign.Source.of_array(a, f"{label} arr_{pos + i}") for i, a in enumerate(data[pos:pos + n])]
                assign.assign_layer(layer, type(layer).__name__, srcs, label, skip_mismatch=skip_mismatch)
            pos += n
        return
    by_name = {layer.name: layer for layer in layers}
    unknown = [name for name in data if name not in by_name]
    if unknown:
        msg = f"{label}: the archive has weights for layers {unknown[:5]} that the model does not have"
        if not skip_mismatch:
            raise ValueError(msg)
        assign._mismatch(msg, True)
    for name, arrays in data.items():
        layer = by_name.get(name)
        if layer is None:
            continue
        srcs = [assign.Source.of_array(a, f"{label} {name}/{i}") for i, a in enumerate(arrays)]
        assign.assign_layer(layer, type(layer).__name__, srcs, label, skip_mismatch=skip_mismatch)
