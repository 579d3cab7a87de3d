"""A generated corpus of malformed and hostile model files (beyond test_broken_files.py).

Truncated HDF5, weights of the wrong dtype or shape, dimensions that overflow size_t, zero and
negative dimensions, configs claiming 10**12 elements, deeply nested models, Lambda layers in
every hiding place, zip bombs and path-traversal member names in .keras archives, HDF5 link
cycles and virtual datasets.

All files are loaded in ONE child process (so a crash fails the tests instead of killing the
run) whose working directory, HOME and TMPDIR are a fresh temporary folder. For every file we
assert: the loader raises ValueError or OSError whose message names the file and the reason;
the child's peak RSS grew by less than 200 MB over its warmed-up baseline; nothing appeared
outside that temporary folder (path-traversal targets are checked by name).
"""
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
from _configs import keras2_functional, keras3_functional  # noqa: E402
from _files import h5_full, keras_archive, weights_store  # noqa: E402

MAX_EXTRA_RSS_MB = 200


# -- builders ------------------------------------------------------------------------------------

def k2(edit):
    """A Keras 2 full-model .h5 (bytes) whose config is `edit(config)`."""
    cfg = keras2_functional()
    out = edit(cfg)
    return h5_full(out if out is not None else cfg)


def layer(cfg, name):
    return next(entry for entry in cfg["config"]["layers"] if entry["name"] == name)


def set_cfg(name, **values):
    """A maker of a Keras 2 .h5 whose layer `name` has `values` in its config."""
    def edit(cfg):
        layer(cfg, name)["config"].update(values)
    return lambda: k2(edit)


def with_dataset(name, value=None, **create):
    """A Keras 2 .h5 whose dataset model_weights/<layer>/<name> is replaced."""
    def make():
        buf = io.BytesIO(h5_full(keras2_functional()))
        with h5py.File(buf, "r+") as f:
            group = f["model_weights/" + name.split("/")[0]]
            del group[name]
            if value is not None:
                group.create_dataset(name, data=value)
            else:
                group.create_dataset(name, **create)
        return buf.getvalue()
    return make


def h5_edit(fn):
    def make():
        buf = io.BytesIO(h5_full(keras2_functional()))
        with h5py.File(buf, "r+") as f:
            fn(f)
        return buf.getvalue()
    return make


def truncated(fraction):
    def make():
        data = h5_full(keras2_functional())
        return data[: int(len(data) * fraction)]
    return make


def nested_sequential(depth):
    """JSON text of Sequential models nested `depth` deep (built as text: json.dumps would recurse)."""
    inner = json.dumps({"class_name": "Sequential", "config": {"name": "s0", "layers": [
        {"class_name": "Dense", "config": {"name": "d0", "units": 2, "batch_input_shape": [None, 3]}}]}})
    head = "".join('{"class_name": "Sequential", "config": {"name": "s%d", "layers": [' % k for k in range(depth - 1))
    return np.bytes_((head + inner + "]}}" * (depth - 1)).encode())


def deep_initializer(depth):
    """A Keras 2 .h5 whose Dense activation is a dict nested `depth` deep (as JSON text)."""
    cfg = keras2_functional()
    layer(cfg, "d")["config"]["activation"] = "@DEEP@"
    text = json.dumps(cfg).replace('"@DEEP@"', '{"class_name": ' * depth + "1" + "}" * depth)
    buf = io.BytesIO(h5_full(keras2_functional()))
    with h5py.File(buf, "r+") as f:
        f.attrs["model_config"] = text.encode()
    return buf.getvalue()


def raw_h5(config, keras_version=b"2.2.4"):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["model_config"] = config if isinstance(config, np.bytes_) else json.dumps(config).encode()
        f.create_group("model_weights").attrs["layer_names"] = np.asarray([b"in"])
        f["model_weights"].create_group("in").attrs["weight_names"] = np.asarray([])
    return buf.getvalue()


def archive(config=None, weights=None, extra=(), compression=zipfile.ZIP_STORED, config_name="config.json"):
    members = [("metadata.json", json.dumps({"keras_version": "3.6.0"}).encode())]
    members += list(extra)
    if config is not False:
        members.append((config_name, json.dumps(config if config is not None else keras3_functional()).encode()))
    if weights is not False:
        members.append(("model.weights.h5", weights if weights is not None else weights_store()))
    return keras_archive(members, compression)


def k3_edit(edit):
    cfg = keras3_functional()
    edit(cfg)
    return archive(cfg)


def k3_layer(cfg, name):
    return next(entry for entry in cfg["config"]["layers"] if entry["name"] == name)


def deflate_bomb(member, size):
    """A .keras whose `member` inflates to `size` bytes of zeros (about size/1000 stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        if member != "config.json":
            z.writestr("config.json", json.dumps(keras3_functional()))
        with z.open(member, "w", force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return buf.getvalue()


def lying_sizes():
    """config.json whose central directory claims 10 bytes but whose stream inflates to 512 MB."""
    data = bytearray(deflate_bomb("config.json", 512 << 20))
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack("<H", data[pos + 28:pos + 30])[0]
        if data[pos + 46:pos + 46 + name_len] == b"config.json":
            data[pos + 24:pos + 28] = struct.pack("<I", 10)          # uncompressed size
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


def overlapping_members(count):
    """Many central-directory entries that all point at the same local member (a 'zip bomb'
    by overlap): the archive claims count * 1 MB of config.json data."""
    base = bytearray(keras_archive([("metadata.json", b"{}"), ("config.json", b" " * (1 << 20))],
                                   zipfile.ZIP_STORED))
    cd = base.rfind(b"PK\x01\x02")
    end = base.find(b"PK\x05\x06")
    entry = bytes(base[cd:end])
    entries = entry * count
    eocd = bytearray(base[end:])
    struct.pack_into("<HHII", eocd, 8, count + 1, count + 1, len(entries) + (cd - base.rfind(b"PK\x01\x02", 0, cd)),
                     base.rfind(b"PK\x01\x02", 0, cd))
    return bytes(base[:cd]) + entries + bytes(eocd)


def many_members(count):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in range(count):
            z.writestr(f"assets/{k}", b"")
        z.writestr("config.json", json.dumps(keras3_functional()))
    return buf.getvalue()


def nested_zip():
    inner = archive()
    return archive(weights=inner)


def store_edit(fn):
    def make():
        buf = io.BytesIO(weights_store())
        with h5py.File(buf, "r+") as f:
            fn(f)
        return archive(weights=buf.getvalue())
    return make


def _vds(f):
    layout = h5py.VirtualLayout(shape=(4, 5), dtype="f4")
    layout[:] = h5py.VirtualSource("/etc/passwd-does-not-exist.h5", "x", shape=(4, 5))
    del f["layers/dense/vars/0"]
    f["layers/dense/vars"].create_virtual_dataset("0", layout)


def _hard_cycle(f):
    f["layers/dense/vars/loop"] = f["layers"]


def _scalar_vars(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = np.float32(1.0)


# -- the corpus ------------------------------------------------------------------------------------
# name: (file suffix, bytes or a function making them, action, words the message must contain)
# action "model" = pyvis.io.load_model(path); "weights" = load_weights into the matching model.

HUGE = 2 ** 64 + 5
CORPUS = {
    # truncated / damaged HDF5
    "h5 truncated 25%": (".h5", truncated(0.25), "model", ["truncated"]),
    "h5 truncated 50%": (".h5", truncated(0.5), "model", ["truncated"]),
    "h5 truncated 85%": (".h5", truncated(0.85), "model", []),
    "h5 superblock zeroed": (".h5", lambda: bytes(64) + h5_full(keras2_functional())[64:], "model", ["unrecognised content"]),
    "h5 config attribute not UTF-8": (".h5", lambda: raw_h5(np.bytes_(b"\xff\xfe{")), "model", ["UTF-8"]),
    "h5 config is a JSON list of numbers": (".h5", lambda: raw_h5([1, 2, 3]), "model", ["Sequential"]),
    "h5 config is a JSON string": (".h5", lambda: raw_h5("hello"), "model", ["class_name"]),
    # wrong dtypes
    "kernel complex64": (".h5", with_dataset("c/kernel:0", np.ones((3, 3, 2, 3), np.complex64)), "model", ["c/kernel:0", "numeric"]),
    "kernel bool": (".h5", with_dataset("c/kernel:0", np.ones((3, 3, 2, 3), bool)), "model", ["c/kernel:0", "numeric"]),
    "kernel compound": (".h5", with_dataset("c/kernel:0", np.zeros((3, 3, 2, 3), [("a", "f4"), ("b", "i4")])), "model",
                        ["c/kernel:0", "numeric"]),
    "kernel variable-length strings": (".h5", with_dataset("d/kernel:0", shape=(27, 4), dtype=h5py.string_dtype()), "model",
                                       ["d/kernel:0", "numeric"]),
    "kernel opaque 2-byte (bfloat16 without tag)": (".h5", with_dataset("d/bias:0", np.zeros(4, "V2")), "model",
                                                    ["d/bias:0", "numeric"]),
    "kernel object references": (".h5", with_dataset("d/bias:0", shape=(4,), dtype=h5py.ref_dtype), "model", ["d/bias:0"]),
    # mismatched shapes
    "kernel transposed": (".h5", with_dataset("d/kernel:0", np.ones((4, 27), np.float32)), "model", ["'d'", "(4, 27)", "(27, 4)"]),
    "bias too long": (".h5", with_dataset("d/bias:0", np.ones(5, np.float32)), "model", ["'d'", "(5,)", "(4,)"]),
    "kernel rank 3": (".h5", with_dataset("c/kernel:0", np.ones((3, 3, 6), np.float32)), "model", ["'c'", "(3, 3, 6)"]),
    "kernel scalar": (".h5", with_dataset("c2/kernel:0", np.float32(1)), "model", ["'c2'", "()"]),
    "kernel empty": (".h5", with_dataset("d/kernel:0", np.ones((0, 4), np.float32)), "model", ["'d'", "(0, 4)"]),
    "dataset claims 2**62 elements": (".h5", with_dataset("d/kernel:0", shape=(2 ** 31, 2 ** 31), dtype="f4", chunks=(1, 4)),
                                      "model", ["'d'", "(2147483648, 2147483648)"]),
    # dimensions that overflow size_t
    "input dim 2**64": (".h5", set_cfg("in", batch_input_shape=[None, HUGE, 6, 2]), "model", ["'in'", str(HUGE)]),
    "units 2**64": (".h5", set_cfg("d", units=HUGE), "model", ["'d'", f"units={HUGE}"]),
    "filters 2**70": (".h5", set_cfg("c", filters=2 ** 70), "model", ["'c'", f"filters={2 ** 70}"]),
    "kernel_size 2**63": (".h5", set_cfg("c", kernel_size=[2 ** 63, 2 ** 63]), "model", ["'c'", "kernel_size"]),
    "strides 2**64": (".h5", set_cfg("p", strides=[HUGE, 1]), "model", ["'p'", "strides"]),
    "dilation 2**63": (".h5", set_cfg("c", dilation_rate=[2 ** 63, 1]), "model", ["'c'", "dilation_rate"]),
    "input dims multiply past size_t": (".h5", set_cfg("in", batch_input_shape=[None, 2 ** 24, 2 ** 24, 2 ** 24]), "model",
                                        ["'in'", "elements per sample"]),
    # zero and negative dimensions
    "input dim 0": (".h5", set_cfg("in", batch_input_shape=[None, 0, 6, 2]), "model", ["'c'"]),
    "input dim -5": (".h5", set_cfg("in", batch_input_shape=[None, -5, 6, 2]), "model", ["'in'", "-5"]),
    "units 0": (".h5", set_cfg("d", units=0), "model", ["'d'", "units=0"]),
    "units -3": (".h5", set_cfg("d", units=-3), "model", ["'d'", "units=-3"]),
    "filters -1": (".h5", set_cfg("c", filters=-1), "model", ["'c'", "filters=-1"]),
    "kernel_size 0": (".h5", set_cfg("c", kernel_size=[0, 3]), "model", ["'c'", "kernel_size=[0, 3]"]),
    "pool_size -2": (".h5", set_cfg("p", pool_size=[-2, 2]), "model", ["'p'", "pool_size=[-2, 2]"]),
    "strides 0": (".h5", set_cfg("c", strides=[0, 0]), "model", ["'c'", "strides=[0, 0]"]),
    "units as string": (".h5", set_cfg("d", units="4"), "model", ["'d'", "units='4'"]),
    "units as float": (".h5", set_cfg("d", units=4.0), "model", ["'d'", "units=4.0"]),
    "units as bool": (".h5", set_cfg("d", units=True), "model", ["'d'", "units=True"]),
    # configs claiming 10**12 elements
    "conv claims 10**12 weights": (".h5", set_cfg("c", filters=2 ** 24, kernel_size=[4096, 4096]), "model", ["'c'"]),
    "dense claims 10**12 weights": (".h5", lambda: raw_h5({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "big", "units": 10 ** 6, "batch_input_shape": [None, 10 ** 6]}}]}}),
        "model", ["'big'", "1000000000000 weights", "limit"]),
    "input claims 10**12 per sample": (".h5", set_cfg("in", batch_input_shape=[None, 10 ** 6, 10 ** 6, 1]), "model",
                                       ["'in'", "1000000"]),
    "upsampling output 10**12": (".h5", lambda: raw_h5({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "UpSampling2D", "config": {"name": "up", "size": [10 ** 6, 10 ** 6],
                                                  "batch_input_shape": [None, 6, 6, 2]}}]}}), "model", ["'up'"]),
    "padding output 10**12": (".h5", lambda: raw_h5({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "ZeroPadding2D", "config": {"name": "pad", "padding": [[10 ** 6, 10 ** 6], [10 ** 6, 0]],
                                                   "batch_input_shape": [None, 6, 6, 2]}}]}}), "model", ["'pad'"]),
    # deep nesting
    "Sequential nested 40 deep": (".h5", lambda: raw_h5(nested_sequential(40)), "model", ["nested more than"]),
    "Sequential nested 500 deep": (".h5", lambda: raw_h5(nested_sequential(500)), "model", []),
    "activation nested 800 deep": (".h5", lambda: deep_initializer(800), "model", ["'d'", "activation"]),
    "activation nested 5000 deep": (".h5", lambda: deep_initializer(5000), "model", ["JSON"]),
    # Lambda layers and code in every hiding place
    "TFOpLambda layer": (".h5", lambda: k2(lambda cfg: layer(cfg, "f").update(class_name="TFOpLambda")), "model",
                         ["TFOpLambda", "never runs code"]),
    "SlicingOpLambda layer": (".h5", lambda: k2(lambda cfg: layer(cfg, "f").update(class_name="SlicingOpLambda")), "model",
                              ["SlicingOpLambda", "never runs code"]),
    "Lambda inside nested Sequential": (".h5", lambda: raw_h5({"class_name": "Sequential", "config": {"name": "o", "layers": [
        {"class_name": "Sequential", "config": {"name": "i", "layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 3]}},
            {"class_name": "Lambda", "config": {"name": "evil", "function": ["YQ==", None, None], "function_type": "lambda"}}]}}]}}),
        "model", ["'evil'", "Lambda", "never runs code"]),
    "lambda in initializer config": (".h5", lambda: k2(lambda cfg: layer(cfg, "d")["config"].update(
        kernel_initializer={"class_name": "__lambda__", "config": {"code": "ZXZpbA=="}})), "model", ["'d'", "never runs code"]),
    "module-qualified activation": (".h5", set_cfg("d", activation={"module": "os", "class_name": "function",
                                                                     "config": "system", "registered_name": "system"}),
                                    "model", ["'d'", "system", "never imports code"]),
    "Lambda in .keras config": (".keras", lambda: k3_edit(lambda cfg: k3_layer(cfg, "drop").update(class_name="Lambda")),
                                "model", ["'drop'", "Lambda", "never runs code"]),
    # zip bombs and hostile archives
    "weights member inflating to 512 MB": (".keras", lambda: deflate_bomb("model.weights.h5", 512 << 20), "model",
                                           ["model.weights.h5"]),
    "config.json inflating to 80 MB": (".keras", lambda: deflate_bomb("config.json", 80 << 20), "model",
                                       ["config.json", "limit"]),
    "config.json lying about its size": (".keras", lying_sizes, "model", ["config.json"]),
    "overlapping members x2000": (".keras", lambda: overlapping_members(2000), "model", []),
    "zip inside zip as weights": (".keras", nested_zip, "model", ["model.weights.h5"]),
    "20000 members": (".keras", lambda: many_members(20000), "model", ["model.weights.h5"]),
    # path traversal: pyvis never extracts, so these names must simply never become files
    "config only under ../config.json": (".keras", lambda: archive(config_name="../config.json"), "model", ["config.json"]),
    "config only under /abs/config.json": (".keras", lambda: archive(config_name="/tmp/config.json"), "model", ["config.json"]),
    "traversal members + broken weights": (".keras", lambda: archive(weights=b"\x89HDF\r\n\x1a\n" + bytes(64), extra=[
        ("../../pyvis-evil-1.txt", b"x"), ("/tmp/pyvis-evil-2.txt", b"x"), ("a/../../../pyvis-evil-3.txt", b"x"),
        ("..\\..\\pyvis-evil-4.txt", b"x")]), "model", ["model.weights.h5"]),
    "traversal members + Lambda": (".keras", lambda: archive(
        config=(lambda cfg: (k3_layer(cfg, "drop").update(class_name="Lambda"), cfg)[1])(keras3_functional()),
        extra=[("../pyvis-evil-5.txt", b"x"), ("assets/../../pyvis-evil-6.txt", b"x")]), "model", ["Lambda"]),
    # hostile HDF5 structure inside the weights store
    "weights store with a hard-link cycle": (".keras", store_edit(_hard_cycle), "model", ["vars"]),
    "virtual dataset pointing at another file": (".keras", store_edit(_vds), "model", ["virtual"]),
    "scalar variable": (".keras", store_edit(_scalar_vars), "model", ["(4, 5)"]),
    "layer_names lists a layer twice": (".h5", h5_edit(lambda f: f["model_weights"].attrs.__setitem__(
        "layer_names", np.asarray([b"d", b"d", b"c", b"c2"]))), "weights", ["layer"]),
    "weight_names climbs out of the group": (".h5", h5_edit(lambda f: f["model_weights/d"].attrs.__setitem__(
        "weight_names", np.asarray([b"../../model_weights/c/c/kernel:0", b"d/bias:0"]))), "model", ["'../../model_weights/c/c/kernel:0'", "no dataset"]),
}

TRAVERSAL_NAMES = ["pyvis-evil-%d.txt" % k for k in range(1, 7)]


CHILD = textwrap.dedent("""
    import json, os, resource, sys, time, traceback
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np
    import pyvis.io as pio
    from pyvis.io.config import build_model
    sys.path.insert(0, sys.argv[2])
    from _configs import keras2_functional

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    # warm up every code path once so that imports and caches are part of the baseline
    model = build_model(keras2_functional(), "warmup")[0]
    model.predict(np.zeros((1, 6, 6, 2), np.float32))
    base = peak_mb()
    results = {}
    for name, path, action in json.load(open(sys.argv[1])):
        print(name, file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            if action == "weights":
                pio.load_weights(build_model(keras2_functional(), "target")[0], path)
            else:
                pio.load_model(path)
            outcome = ["loaded", ""]
        except Exception as exc:
            outcome = [type(exc).__name__, str(exc)]
        results[name] = outcome + [peak_mb() - base, time.perf_counter() - start]
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    work = root / "work"            # cwd, HOME and TMPDIR of the loader
    files = work / "files"
    files.mkdir(parents=True)
    jobs = []
    for k, (name, (suffix, make, action, _)) in enumerate(CORPUS.items()):
        path = files / f"case{k}{suffix}"
        path.write_bytes(make() if callable(make) else make)
        jobs.append((name, str(path), action))
    (root / "jobs.json").write_text(json.dumps(jobs))
    (root / "child.py").write_text(CHILD)
    before = {p for p in work.rglob("*")}
    env = dict(os.environ, HOME=str(work), TMPDIR=str(work), KERAS_HOME=str(work / "keras"),
               PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, str(root / "child.py"), str(root / "jobs.json"),
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"the loader process died ({proc.returncode}) while loading " \
                                 f"{proc.stderr.strip().splitlines()[-1:]}: {proc.stderr[-3000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    written = sorted(str(p) for p in work.rglob("*") if p not in before)
    return {"results": results, "written": written, "root": root, "jobs": dict((n, p) for n, p, _ in jobs)}


def test_corpus_size():
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_file_is_refused_cleanly(outcomes, name):
    kind, message, extra_mb, seconds = outcomes["results"][name]
    words = CORPUS[name][3]
    assert kind in ("ValueError", "OSError", "FileNotFoundError"), f"{kind}: {message}"
    assert os.path.basename(outcomes["jobs"][name]) in message, message
    for word in words or ():
        assert word in message, message
    assert extra_mb < MAX_EXTRA_RSS_MB, f"peak RSS grew by {extra_mb:.0f} MB"
    assert seconds < 60


def test_nothing_written_outside_the_temporary_folder(outcomes):
    assert outcomes["written"] == []
    for name in TRAVERSAL_NAMES:
        for folder in (outcomes["root"], outcomes["root"].parent, "/tmp", os.getcwd()):
            assert not os.path.exists(os.path.join(folder, name)), (folder, name)
