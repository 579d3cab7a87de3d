"""Keras 3 `.keras` archives and `.weights.h5` variable stores (keras-formats.md §3).

The archive's `model.weights.h5` member is STORED (uncompressed), so h5py reads it in place
through a window onto the archive file: nothing is extracted or copied. Variables live at
`layers/<snake_case class>[_k]/vars/<i>`, counted per class inside each container, recursively
for nested models; the layer's own name is not part of the path.
"""

import io
import json
import os
import re
import struct
import tempfile
import zipfile

from . import assign, h5util, units
from .config import build_model, parse_json
from . import limits

WEIGHTS_MEMBER = "model.weights.h5"
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")   # zip local file header, 30 bytes


def to_snake_case(name):
    """Keras's naming.to_snake_case: 'Conv2D' -> 'conv2d', 'ReLU' -> 're_lu'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _path_class(rec):
    if rec.kind == "model":
        return "Sequential" if rec.sequential else "Functional"
    if rec.kind == "input":
        return "InputLayer"
    return type(rec.layer).__name__


def variable_paths(rec, prefix=""):
    """[(record, 'layers/conv2d_1')] for every layer inside `rec` (nested models recursed)."""
    out = []
    counts = {}
    for child in units.container(rec):
        snake = to_snake_case(_path_class(child))
        k = counts.get(snake, 0)
        counts[snake] = k + 1
        path = f"{prefix}layers/{snake}" + (f"_{k}" if k else "")
        if child.kind == "model":
            out.extend(variable_paths(child, path + "/"))
        else:
            out.append((child, path))
    return out


def _vars_sources(vars_group, label):
    """Sources for datasets '0', '1', ... of a `vars` group."""
    try:
        keys = list(vars_group.keys())
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{label}: cannot list {vars_group.name!r} ({exc})") from exc
    if not all(k.isdigit() for k in keys) or sorted(int(k) for k in keys) != list(range(len(keys))):
        raise ValueError(f"{label}: {vars_group.name!r} holds {keys[:10]}, expected datasets '0', '1', ...")
    out = []
    for i in range(len(keys)):
        ds = h5util.get_child(vars_group, str(i), label)
        desc = f"{vars_group.name}/{i}"
        shape, read = h5util.dataset_shape_and_reader(ds, desc, label)
        out.append(assign.Source(shape, read, desc))
    return out


def _find_vars(h5file, path, label):
    group = h5util.get_child(h5file, path + "/vars", label)
    if group is None and path.startswith("layers/"):
        # tf.keras 2.13 stored the layer list under this attribute name (K3's own fallback)
        group = h5util.get_child(h5file, "_layer_checkpoint_dependencies/" + path[len("layers/"):] + "/vars", label)
    return group


def _all_weighted_vars(h5file, label):
    """Paths of every non-empty `vars` group under the layer containers."""
    found = []

    def visit(name, obj):
        if name.endswith("/vars") or name == "vars":
            if isinstance(obj, h5util.h5py.Group) and len(obj) > 0:
                found.append(name[:-len("/vars")])
        if len(found) > limits.MAX_LAYERS:
            raise ValueError(f"{label}: more than {limits.MAX_LAYERS} variable groups")

    for top in ("layers", "_layer_checkpoint_dependencies"):
        group = h5util.get_child(h5file, top, label)
        if group is not None:
            try:
                group.visititems(lambda n, o, t=top: visit(f"{t}/{n}", o))
            except (OSError, RuntimeError) as exc:
                raise ValueError(f"{label}: cannot walk the HDF5 tree ({exc})") from exc
    return found


def load_store_into(root, h5file, label, by_name=False, skip_mismatch=False):
    """Load a Keras 3 variable store (open h5py file) into the model described by `root`."""
    if by_name:
        return _load_store_by_name(root, h5file, label, skip_mismatch)
    used = set()
    for rec, path in variable_paths(root):
        if rec.kind != "layer":
            continue
        group = _find_vars(h5file, path, label)
        srcs = _vars_sources(group, label) if group is not None else []
        used.add(path)
        if not srcs and not rec.layer.weights:
            continue
        assign.assign_layer(rec.layer, rec.class_name, srcs, f"{label} ({path})", skip_mismatch=skip_mismatch)
    extra = [p for p in _all_weighted_vars(h5file, label)
             if p.replace("_layer_checkpoint_dependencies/", "layers/", 1) not in used]
    if extra:
        msg = (f"{label}: the file has weights at {extra[:5]} that no layer of the model maps to; "
               "the file was saved from a different architecture")
        if not skip_mismatch:
            raise ValueError(msg)
        assign._mismatch(msg, True)


def _load_store_by_name(root, h5file, label, skip_mismatch):
    """Match by the `name` attribute Keras >= 3.6 writes on every `vars` group."""
    named = {}
    for path in _all_weighted_vars(h5file, label):
        group = _find_vars(h5file, path, label) or h5util.get_child(h5file, path + "/vars", label)
        name = h5util.read_string_attr(group, "name", label)
        if name is None:
            raise ValueError(f"{label}: by_name loading needs the layer names Keras >= 3.6 stores; "
                             f"{group.name!r} has none")
        named.setdefault(name, group)
    for rec in units.weighted_leaves(root):
        for key in (rec.name, rec.layer.name):
            if key in named:
                assign.assign_layer(rec.layer, rec.class_name, _vars_sources(named[key], label),
                                    label, skip_mismatch=skip_mismatch)
                break


class _Window(io.RawIOBase):
    """A read-only, seekable view of bytes [start, start+size) of an open binary file."""

    def __init__(self, f, start, size):
        super().__init__()
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(buffer)[:n])
        self._pos += got
        return got


class Archive:
    """An open `.keras` zip (or unzipped directory): config, metadata and the weights store."""

    def __init__(self, path):
        self.path = path
        self.label = repr(path)
        self._file = None
        self._zip = None
        self._tmp = None
        if os.path.isdir(path):
            return
        try:
            self._file = open(path, "rb")
            self._zip = zipfile.ZipFile(self._file)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            self.close()
            raise ValueError(f"{self.label}: not a readable .keras zip archive ({exc})") from exc

    def close(self):
        for obj in (self._zip, self._file, self._tmp):
            if obj is not None:
                obj.close()
        self._zip = self._file = self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _member_info(self, name):
        try:
            return self._zip.getinfo(name)
        except KeyError:
            return None

    def read_text(self, name, required=True):
        if self._zip is None:
            p = os.path.join(self.path, name)
            if not os.path.isfile(p):
                if required:
                    raise ValueError(f"{self.label}: no {name}")
                return None
            if os.path.getsize(p) > limits.MAX_JSON_BYTES:
                raise ValueError(f"{self.label}: {name} is larger than {limits.MAX_JSON_BYTES} bytes")
            with open(p, "rb") as f:
                return f.read()
        info = self._member_info(name)
        if info is None:
            if required:
                raise ValueError(f"{self.label}: the archive has no {name} member")
            return None
        if info.file_size > limits.MAX_JSON_BYTES:
            raise ValueError(f"{self.label}: {name} is {info.file_size} bytes (limit {limits.MAX_JSON_BYTES})")
        try:
            # read(n) inflates at most n bytes: zipfile.read() would inflate a whole stream whose
            # header lies about its size (a deflate bomb) before noticing
            with self._zip.open(info) as member:
                return member.read(limits.MAX_JSON_BYTES + 1)[:limits.MAX_JSON_BYTES]
        # NotImplementedError: the member claims a zip version or compression zipfile lacks
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ValueError(f"{self.label}: cannot read member {name} ({exc})") from exc

    def keras_version(self):
        raw = self.read_text("metadata.json", required=False)
        if raw is None:
            return None
        meta = parse_json(raw, f"{self.label} metadata.json")
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        return version if isinstance(version, str) else None

    def open_weights(self):
        """An h5py.File on the weights store, read in place when the member is stored uncompressed."""
        if self._zip is None:
            p = os.path.join(self.path, WEIGHTS_MEMBER)
            if not os.path.isfile(p):
                self._no_weights()
            return h5util.open_h5(p, f"{self.label}/{WEIGHTS_MEMBER}")
        info = self._member_info(WEIGHTS_MEMBER)
        if info is None:
            self._no_weights()
        label = f"{self.label}/{WEIGHTS_MEMBER}"
        if info.compress_type == zipfile.ZIP_STORED:
            self._file.seek(info.header_offset)
            header = self._file.read(LOCAL_HEADER.size)
            if len(header) != LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                raise ValueError(f"{label}: corrupt zip local header")
            fields = LOCAL_HEADER.unpack(header)
            start = info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]
            end = os.fstat(self._file.fileno()).st_size
            if start + info.file_size > end:
                raise ValueError(f"{label}: member extends past the end of the archive (truncated file)")
            window = _Window(self._file, start, info.file_size)
            return h5util.open_h5(window, label)
        # A re-compressed archive: decompress into a temporary file (bounded in size).
        if info.file_size > limits.MAX_WEIGHT_ELEMENTS * 4 + (64 << 20):
            raise ValueError(f"{label}: {info.file_size} bytes is larger than any supported model")
        self._tmp = tempfile.TemporaryFile()
        try:
            with self._zip.open(info) as src:
                while True:
                    block = src.read(1 << 20)
                    if not block:
                        break
                    self._tmp.write(block)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"{label}: cannot decompress ({exc})") from exc
        self._tmp.seek(0)
        return h5util.open_h5(self._tmp, label)

    def _no_weights(self):
        names = self._zip.namelist() if self._zip is not None else os.listdir(self.path)
        if "model.weights.npz" in names:
            raise ValueError(f"{self.label}: weights are stored as model.weights.npz, which Keras writes with "
                             "pickled Python objects; pyvis never unpickles. Re-save with the default .h5 weights")
        raise ValueError(f"{self.label}: no {WEIGHTS_MEMBER} in the archive")


def load_model(path, custom_objects=None):
    """A pyvis model (architecture + weights) from a `.keras` archive or unzipped directory."""
    with Archive(path) as archive:
        label = archive.label
        envelope = parse_json(archive.read_text("config.json"), f"{label} config.json")
        model, root = build_model(envelope, label, archive.keras_version(), custom_objects)
        with archive.open_weights() as h5file:
            load_store_into(root, h5file, label)
    units.remember(model, root)
    return model


def load_weights(model, path, by_name=False, skip_mismatch=False, archive=False):
    """Keras 3 weights (`.weights.h5`, or the weights inside a `.keras` archive) into `model`."""
    root = units.root_record(model)
    if archive:
        with Archive(path) as arch, arch.open_weights() as h5file:
            load_store_into(root, h5file, arch.label, by_name, skip_mismatch)
        return
    label = repr(path)
    with h5util.open_h5(path, label) as h5file:
        load_store_into(root, h5file, label, by_name, skip_mismatch)


def read_config(path):
    """The parsed config.json of an archive (for inspection and tests)."""
    with Archive(path) as archive:
        return json.loads(archive.read_text("config.json"))
