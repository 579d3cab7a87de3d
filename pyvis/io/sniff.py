"""Recognise a model or weights file from its bytes, never from its name (keras-formats.md §2.5).

A Keras 3 `.weights.h5` and a legacy weights-only `.h5` differ only inside the HDF5 tree, and
users rename files freely, so the kind is decided by magic numbers and then by the HDF5 layout.
"""

import os
import zipfile

from . import h5util

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"

# The kinds returned by sniff()
KERAS_ZIP = "keras_v3_archive"          # .keras: config.json + model.weights.h5
KERAS_DIR = "keras_v3_directory"        # save_model(zipped=False)
NPZ = "npz"
H5_FULL = "keras2_full_model_h5"        # model_config + model_weights
H5_LEGACY_WEIGHTS = "keras2_weights_h5"  # layer_names at the root (or model_weights without a config)
H5_V3_WEIGHTS = "keras3_weights_h5"      # layers/.../vars/0

V3_ROOTS = ("layers", "vars", "_layer_checkpoint_dependencies")


def check_path(path, argname="filepath"):
    """Return `path` as str; TypeError for non-paths, OSError if it does not exist."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{argname} must be a path (str or os.PathLike), got {type(path).__name__}: {path!r}")
    path = os.fsdecode(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{argname}: no such file: {path!r}")
    return path


def hdf5_offset(f, size):
    """Offset of the HDF5 superblock (0 or 512*2**n when the file has a user block), or None."""
    offset = 0
    while offset + len(HDF5_MAGIC) <= size:
        f.seek(offset)
        if f.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def h5_kind(h5file, label):
    """Classify an open HDF5 file by its root attributes and groups."""
    if h5util.has_attr(h5file, "model_config"):
        return H5_FULL
    if h5util.has_attr(h5file, "layer_names") or h5util.has_attr(h5file, "layer_names0"):
        return H5_LEGACY_WEIGHTS
    try:
        names = set(h5file.keys())
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{label}: cannot list the HDF5 root group ({exc})") from exc
    if "model_weights" in names:
        return H5_LEGACY_WEIGHTS        # a full-model file without a config: Keras reads its weights
    if names & set(V3_ROOTS):
        return H5_V3_WEIGHTS
    raise ValueError(
        f"{label}: HDF5 file is not a Keras model or weights file (no 'model_config' or 'layer_names' "
        f"attribute and no 'model_weights', 'layers' or 'vars' group; root holds {sorted(names)[:10]})")


def sniff(path):
    """Return one of the kind constants above for the file or directory at `path`."""
    path = check_path(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")):
            return KERAS_DIR
        raise ValueError(f"{path!r} is a directory without config.json; expected a Keras model file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
            h5_at = hdf5_offset(f, size) if head[:4] != ZIP_MAGIC else None
    except OSError as exc:
        raise OSError(f"cannot read {path!r}: {exc}") from exc
    if head[:4] == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        # NotImplementedError: a central directory entry claims a zip version zipfile lacks
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"{path!r}: starts like a zip archive but cannot be read as one ({exc})") from exc
        if "config.json" in names:
            return KERAS_ZIP
        if names and all(n.endswith(".npy") for n in names):
            return NPZ
        raise ValueError(f"{path!r}: zip archive holds neither config.json (.keras) nor only .npy members (.npz): "
                         f"{names[:10]}")
    if h5_at is not None:
        with h5util.open_h5(path, repr(path)) as h5file:
            return h5_kind(h5file, repr(path))
    if size == 0:
        raise ValueError(f"{path!r} is empty; expected a Keras .h5/.keras/.weights.h5 or .npz file")
    raise ValueError(f"{path!r}: unrecognised content (first bytes {head!r}); expected HDF5 (.h5, .weights.h5), "
                     "a .keras zip archive or an .npz archive")
