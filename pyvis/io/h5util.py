"""Careful HDF5 access through h5py for files that may be old, odd or hostile.

Keras writers over the years stored the same string as a variable-length str, a fixed-length
NumPy ``S`` array, a scalar or a one-element array, UTF-8 or ASCII tagged; long name lists are
split into ``name0``, ``name1``, ... (keras-formats.md §1.2-1.3). Every reader here accepts all of
them. Sizes are checked before h5py allocates anything, and only hard links are followed (a soft
or external link could point outside the file).
"""

import numpy as np

from . import limits

try:
    import h5py
except ImportError:  # pragma: no cover - h5py is a runtime dependency
    h5py = None


def require_h5py():
    if h5py is None:
        raise ImportError("reading Keras .h5/.keras files needs h5py; install it with `pip install h5py`")
    return h5py


def open_h5(source, label):
    """Open an HDF5 file (path or binary file object) read-only; errors name `label`."""
    require_h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise OSError(f"{label}: not a readable HDF5 file ({exc})") from exc


def _decode(value, label):
    if isinstance(value, (bytes, np.bytes_)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{label}: string is not valid UTF-8") from exc
    if not isinstance(value, str):
        raise ValueError(f"{label}: expected a string, found {type(value).__name__}")
    return value.rstrip("\x00")


def _attr_info(obj, name):
    """(shape, dtype) of attribute `name` without reading its value."""
    aid = obj.attrs.get_id(name)
    return aid.shape, aid.dtype


def _read_attr(obj, name, label):
    shape, dtype = _attr_info(obj, name)
    count = int(np.prod(shape)) if shape else 1
    if count > limits.MAX_ATTRIBUTE_ELEMENTS:
        raise ValueError(f"{label}: attribute {name!r} has {count} entries (limit {limits.MAX_ATTRIBUTE_ELEMENTS})")
    if dtype.kind == "S" and dtype.itemsize > limits.MAX_NAME_CHARS * 4:
        raise ValueError(f"{label}: attribute {name!r} has {dtype.itemsize}-byte strings")
    try:
        return obj.attrs[name]
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{label}: cannot read attribute {name!r} ({exc})") from exc


def has_attr(obj, name):
    try:
        return name in obj.attrs
    except (OSError, RuntimeError):
        return False


def read_string_attr(obj, name, label, default=None):
    """A scalar string attribute as `str` (any h5py string variant), or `default` if absent."""
    if not has_attr(obj, name):
        return default
    value = _read_attr(obj, name, label)
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{label}: attribute {name!r} should be one string, found shape {value.shape}")
        value = value.reshape(-1)[0]
    return _decode(value, f"{label}: attribute {name!r}")


def _string_list(value, label):
    if isinstance(value, (str, bytes, np.bytes_)):
        return [_decode(value, label)]
    arr = np.asarray(value)
    if arr.size == 0:
        return []                      # np.asarray([]) was written as float64 (0,): an empty list
    if arr.ndim != 1 or arr.dtype.kind not in "SUO":
        raise ValueError(f"{label}: expected a 1-D list of strings, found dtype {arr.dtype} shape {arr.shape}")
    return [_decode(v, label) for v in arr]


def read_string_list_attr(obj, name, label):
    """A list-of-strings attribute, chunk-aware (`name` or `name0`, `name1`, ...); None if absent."""
    if has_attr(obj, name):
        return _string_list(_read_attr(obj, name, label), f"{label}: attribute {name!r}")
    if not has_attr(obj, f"{name}0"):
        return None
    out = []
    for i in range(limits.MAX_ATTRIBUTE_CHUNKS):
        chunk = f"{name}{i}"
        if not has_attr(obj, chunk):
            return out
        out.extend(_string_list(_read_attr(obj, chunk, label), f"{label}: attribute {chunk!r}"))
        if len(out) > limits.MAX_ATTRIBUTE_ELEMENTS:
            raise ValueError(f"{label}: attribute {name!r} lists more than {limits.MAX_ATTRIBUTE_ELEMENTS} entries")
    raise ValueError(f"{label}: attribute {name!r} is split into more than {limits.MAX_ATTRIBUTE_CHUNKS} chunks")


def get_child(group, path, label):
    """Object at `path` (relative, '/'-separated) under `group`, following hard links only; None if absent."""
    obj = group
    for part in path.split("/"):
        if part == "":
            continue
        if not isinstance(obj, h5py.Group):
            return None
        try:
            link = obj.get(part, getlink=True)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ValueError(f"{label}: cannot read {path!r} ({exc})") from exc
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{label}: {path!r} is a {type(link).__name__}; only plain HDF5 objects are read")
        try:
            obj = obj[part]
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ValueError(f"{label}: cannot open {path!r} ({exc})") from exc
    return obj


def dataset_shape_and_reader(ds, desc, label):
    """(shape, read) of the weight dataset `ds` at `desc`: read() loads it as read_array does.
    Anything that is not a readable dataset raises ValueError naming it."""
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{label}: {desc!r} is not a dataset")
    try:
        shape = ds.shape
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{label}: cannot read the shape of {desc!r} ({exc})") from exc
    if shape is None:
        raise ValueError(f"{label}: {desc!r} has no shape")
    return shape, (lambda: read_array(ds, f"{label}: {desc}"))


def read_array(ds, label, expected_shape=None):
    """Read a weight dataset as float32 after checking its type, storage and size."""
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{label}: expected an HDF5 dataset, found {type(ds).__name__}")
    try:
        shape = ds.shape
        dtype = ds.dtype
        if ds.is_virtual or ds.external:
            raise ValueError(f"{label}: virtual/external datasets refer to other files and are not read")
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{label}: unreadable dataset ({exc})") from exc
    if shape is None:
        raise ValueError(f"{label}: dataset has no shape (null dataspace)")
    count = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if count > limits.MAX_WEIGHT_ELEMENTS:
        raise ValueError(f"{label}: dataset shape {shape} has {count} elements (limit {limits.MAX_WEIGHT_ELEMENTS})")
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise ValueError(f"{label}: stored shape {tuple(shape)} differs from expected {tuple(expected_shape)}")
    bfloat16 = dtype.kind == "V" and dtype.itemsize == 2 and read_string_attr(ds, "dtype", label) == "bfloat16"
    if not bfloat16 and dtype.kind not in "fiu":
        raise ValueError(f"{label}: weights must be numeric, found HDF5 type {dtype}")
    try:
        value = ds[()]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"{label}: cannot read data ({exc}); the file may be truncated or corrupt") from exc
    if bfloat16:
        # bfloat16 is the top half of a float32
        bits = np.ascontiguousarray(value).view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.asarray(value, dtype=np.float32)
