"""A corpus of broken, hostile and unsupported files; each must raise its own clear error.

Nothing here may crash the interpreter, run code from a file, or allocate what a file merely
claims: every case asserts the exception type and the words of the message (the path, the
layer, the reason). A subprocess fuzzes byte-flipped copies of real files.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import h5py
import numpy as np
import pytest

import pyvis.io as pio
from pyvis import layers as L
from pyvis import models
from pyvis.io import limits


# -- small builders -----------------------------------------------------------------------

def dense_entry(name, units, inbound, activation="linear", **extra):
    cfg = {"name": name, "units": units, "activation": activation, "use_bias": True, **extra}
    return {"class_name": "Dense", "name": name, "config": cfg, "inbound_nodes": inbound}


def k2_model(layers, inputs=("in",), outputs=("d",)):
    return {"class_name": "Model", "config": {
        "name": "m", "layers": layers,
        "input_layers": [[n, 0, 0] for n in inputs], "output_layers": [[n, 0, 0] for n in outputs]}}


def input_entry(name="in", shape=(None, 4)):
    return {"class_name": "InputLayer", "name": name,
            "config": {"batch_input_shape": list(shape), "name": name, "dtype": "float32"}, "inbound_nodes": []}


def simple_config(**dense_kw):
    return k2_model([input_entry(), dense_entry("d", 3, [[["in", 0, 0, {}]]], **dense_kw)])


NO_KERNEL = {"in": [], "d": [("d/kernel:0", None), ("d/bias:0", np.zeros(3, np.float32))]}


def write_full(path, config, weights=None, raw_config=None):
    """A Keras 2 full-model file; weights: {layer: [(name, array)]} (None = correct Dense(4->3))."""
    if weights is None:
        weights = {"in": [], "d": [("d/kernel:0", np.ones((4, 3), np.float32)), ("d/bias:0", np.zeros(3, np.float32))]}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = raw_config if raw_config is not None else json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.asarray([n.encode() for n in weights])
        for name, ws in weights.items():
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.asarray([w.encode() for w, _ in ws]) if ws else np.asarray([])
            for wname, value in ws:
                if value is not None:
                    lg.create_dataset(wname, data=value)
    return path


def small_model():
    inp = L.Input((4,), name="in")
    return models.Model(inp, L.Dense(3, name="d")(inp), name="m")


def expect(exc, *parts):
    return exc, parts


# -- the corpus: name -> (writer(tmp_path) -> path, action, (exception, message parts)) --------------

def _empty(tmp):
    p = tmp / "empty.h5"
    p.write_bytes(b"")
    return p


def _random(tmp):
    p = tmp / "random.keras"
    p.write_bytes(np.random.default_rng(0).bytes(5000))
    return p


def _json_text(tmp):
    p = tmp / "model.json"
    p.write_text(json.dumps(simple_config()))
    return p


def _not_keras_h5(tmp):
    p = tmp / "plain.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    return p


def _truncated(fraction):
    def make(tmp):
        good = write_full(tmp / "good.h5", simple_config())
        data = good.read_bytes()
        p = tmp / f"truncated_{fraction}.h5"
        p.write_bytes(data[: int(len(data) * fraction)])
        return p
    return make


def _bad_json(tmp):
    return write_full(tmp / "badjson.h5", None, raw_config=b"{not json")


def _json_bomb(tmp):
    return write_full(tmp / "deep.h5", None, raw_config=b"[" * 200000 + b"]" * 200000)


def _lambda_k2(tmp):
    cfg = simple_config()
    cfg["config"]["layers"].append({"class_name": "Lambda", "name": "evil", "config": {
        "name": "evil",
        "function": ["4wEAAAAAAAAAAQAAAAMAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQApAdoBeHIBAAAAcgEAAAD6", None, None],
        "function_type": "lambda"}, "inbound_nodes": [[["d", 0, 0, {}]]]})
    cfg["config"]["output_layers"] = [["evil", 0, 0]]
    return write_full(tmp / "lambda.h5", cfg)


def _lambda_k3(tmp):
    cfg = simple_config()
    cfg["config"]["layers"][1]["config"]["activation"] = {
        "class_name": "__lambda__", "config": {"code": "ZXZpbA==", "defaults": None, "closure": None}}
    return write_full(tmp / "lambda3.h5", cfg)


def _custom_layer(tmp):
    cfg = simple_config()
    cfg["config"]["layers"][1]["class_name"] = "MyDense"
    cfg["config"]["layers"][1]["registered_name"] = "my_pkg>MyDense"
    return write_full(tmp / "custom.h5", cfg)


def _custom_activation(tmp):
    return write_full(tmp / "custom_act.h5", simple_config(activation={
        "module": "my_pkg.acts", "class_name": "function", "config": "relu", "registered_name": "my_relu"}))


def _subclassed(tmp):
    return write_full(tmp / "subclassed.h5", {"class_name": "MyModel", "config": {"name": "x"}})


def _absurd_units(tmp):
    return write_full(tmp / "units.h5", k2_model([input_entry(), dense_entry("d", 10 ** 12, [[["in", 0, 0, {}]]])]))


def _absurd_input(tmp):
    return write_full(tmp / "input.h5", k2_model([input_entry(shape=(None, 10 ** 6, 10 ** 6, 3)),
                                                  dense_entry("d", 3, [[["in", 0, 0, {}]]])]))


def _absurd_weight_total(tmp):
    return write_full(tmp / "total.h5", k2_model([input_entry(shape=(None, 1 << 20)),
                                                  dense_entry("d", 1 << 20, [[["in", 0, 0, {}]]])]))


def _float_units(tmp):
    return write_full(tmp / "float_units.h5", k2_model([input_entry(), dense_entry("d", 3.5e9, [[["in", 0, 0, {}]]])]))


def _cycle(tmp):
    layers = [input_entry(), dense_entry("a", 4, [[["b", 0, 0, {}]]]), dense_entry("b", 4, [[["a", 0, 0, {}]]]),
              dense_entry("d", 3, [[["b", 0, 0, {}]]])]
    return write_full(tmp / "cycle.h5", k2_model(layers))


def _unknown_ref(tmp):
    return write_full(tmp / "ref.h5", k2_model([input_entry(), dense_entry("d", 3, [[["ghost", 0, 0, {}]]])]))


def _bad_node(tmp):
    return write_full(tmp / "node.h5", k2_model([input_entry(), dense_entry("d", 3, [["in"]])]))


def _missing_group(tmp):
    return write_full(tmp / "nogroup.h5", simple_config(), weights={"in": []})


def _huge_dataset(tmp):
    p = write_full(tmp / "huge.h5", simple_config(), weights={"in": [], "d": [("d/kernel:0", None), ("d/bias:0", None)]})
    with h5py.File(p, "a") as f:
        g = f["model_weights/d"]
        g.create_dataset("d/kernel:0", shape=(1 << 20, 1 << 20), dtype="f4")   # 4 TiB claimed, nothing stored
        g.create_dataset("d/bias:0", data=np.zeros(3, np.float32))
    return p


def _string_dataset(tmp):
    p = write_full(tmp / "strings.h5", simple_config(), weights={"in": [], "d": [("d/kernel:0", None), ("d/bias:0", None)]})
    with h5py.File(p, "a") as f:
        g = f["model_weights/d"]
        g.create_dataset("d/kernel:0", data=np.full((4, 3), b"abc"))
        g.create_dataset("d/bias:0", data=np.zeros(3, np.float32))
    return p


def _missing_dataset(tmp):
    return write_full(tmp / "nodata.h5", simple_config(),
                      weights={"in": [], "d": [("d/kernel:0", None), ("d/bias:0", np.zeros(3, np.float32))]})


def _soft_link(tmp):
    p = write_full(tmp / "soft.h5", simple_config(), weights=NO_KERNEL)
    with h5py.File(p, "a") as f:
        f["elsewhere"] = np.ones((4, 3), np.float32)
        f["model_weights/d/d/kernel:0"] = h5py.SoftLink("/elsewhere")
    return p


def _external_link(tmp):
    other = tmp / "other.h5"
    with h5py.File(other, "w") as f:
        f["k"] = np.ones((4, 3), np.float32)
    p = write_full(tmp / "extlink.h5", simple_config(), weights=NO_KERNEL)
    with h5py.File(p, "a") as f:
        f["model_weights/d/d/kernel:0"] = h5py.ExternalLink(str(other), "/k")
    return p


def _external_storage(tmp):
    raw = tmp / "raw.bin"
    raw.write_bytes(np.ones((4, 3), np.float32).tobytes())
    p = write_full(tmp / "extstore.h5", simple_config(), weights=NO_KERNEL)
    with h5py.File(p, "a") as f:
        f["model_weights/d"].create_dataset("d/kernel:0", shape=(4, 3), dtype="f4", external=[(str(raw), 0, 48)])
    return p


def _version_wrong_type(tmp):
    p = write_full(tmp / "version.h5", simple_config())
    with h5py.File(p, "a") as f:
        f.attrs["keras_version"] = 2
    return p


def _zip_without_config(tmp):
    p = tmp / "noconfig.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    return p


def _keras_zip(tmp, name, config=None, members=None):
    p = tmp / name
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", config if config is not None else json.dumps(_k3_config()))
        for member, data in (members or {}).items():
            z.writestr(member, data)
    return p


def _k3_config():
    kt = {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                       "keras_history": ["in", 0, 0]}}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "in",
                 "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}, "inbound_nodes": []},
                {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "name": "d",
                 "config": {"name": "d", "units": 3, "activation": "linear", "use_bias": True},
                 "inbound_nodes": [{"args": [kt], "kwargs": {}}]}],
                "input_layers": ["in", 0, 0], "output_layers": ["d", 0, 0]}}


def _weights_store(path, kernel_shape=(4, 3), extra=False):
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "d"
        g["0"] = np.ones(kernel_shape, np.float32)
        g["1"] = np.zeros(kernel_shape[-1:], np.float32)
        f.create_group("layers/input_layer/vars")
        if extra:
            f.create_group("layers/dense_1/vars")["0"] = np.ones((3, 3), np.float32)
    return path.read_bytes()


def _truncated_keras(tmp):
    p = _keras_zip(tmp, "full.keras", members={"model.weights.h5": _weights_store(tmp / "w.h5")})
    data = p.read_bytes()
    q = tmp / "truncated.keras"
    q.write_bytes(data[: len(data) // 2])
    return q


def _keras_bad_config(tmp):
    return _keras_zip(tmp, "badcfg.keras", config="{{{")


def _keras_no_weights(tmp):
    return _keras_zip(tmp, "noweights.keras")


def _keras_npz_weights(tmp):
    return _keras_zip(tmp, "npzweights.keras", members={"model.weights.npz": b"PK"})


def _keras_garbage_weights(tmp):
    return _keras_zip(tmp, "garbage.keras", members={"model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 100})


def _keras_other_architecture(tmp):
    return _keras_zip(tmp, "other.keras", members={"model.weights.h5": _weights_store(tmp / "w.h5", extra=True)})


def _keras_wrong_shape(tmp):
    return _keras_zip(tmp, "shape.keras", members={"model.weights.h5": _weights_store(tmp / "w.h5", (5, 3))})


def _npz_pickle(tmp):
    p = tmp / "pickle.npz"
    np.savez(p, **{"d/0": np.array([{"a": 1}], dtype=object)})
    return p


def _npz_bomb(tmp):
    p = tmp / "bomb.npz"
    header = {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)}
    with zipfile.ZipFile(p, "w") as z:
        with z.open("d/0.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\0" * 64)
    return p


def _npz_bad_keys(tmp):
    p = tmp / "keys.npz"
    np.savez(p, kernel=np.ones((4, 3)))
    return p


def _npz_count(tmp):
    p = tmp / "count.npz"
    np.savez(p, np.ones((4, 3)))
    return p


def _npz_unknown_layer(tmp):
    p = tmp / "unknown.npz"
    np.savez(p, **{"ghost/0": np.ones(3)})
    return p


CASES = {
    # name: (writer, action, expected)
    "empty file": (_empty, "load_model", expect(ValueError, "empty")),
    "random bytes": (_random, "load_model", expect(ValueError, "unrecognised content")),
    "json text file": (_json_text, "load_model", expect(ValueError, "unrecognised content")),
    "hdf5 but not keras": (_not_keras_h5, "load_model", expect(ValueError, "not a Keras model")),
    "truncated h5 (10%)": (_truncated(0.1), "load_model", expect(OSError, "truncated")),
    "truncated h5 (60%)": (_truncated(0.6), "load_model", expect(OSError, "truncated")),
    "truncated h5 (97%)": (_truncated(0.97), "load_model", expect((OSError, ValueError), "truncated")),
    "config not json": (_bad_json, "load_model", expect(ValueError, "not valid JSON")),
    "config nesting bomb": (_json_bomb, "load_model", expect(ValueError, "not valid JSON")),
    "Lambda layer (Keras 2)": (_lambda_k2, "load_model", expect(ValueError, "'evil'", "Lambda", "never runs code")),
    "lambda object (Keras 3)": (_lambda_k3, "load_model", expect(ValueError, "'d'", "never runs code")),
    "custom layer class": (_custom_layer, "load_model", expect(ValueError, "'d'", "MyDense", "custom_objects")),
    "custom activation": (_custom_activation, "load_model", expect(ValueError, "'d'", "my_relu", "custom_objects")),
    "subclassed model": (_subclassed, "load_model", expect(ValueError, "MyModel", "subclassed")),
    "absurd units": (_absurd_units, "load_model", expect(ValueError, "'d'", "units=1000000000000")),
    "float units": (_float_units, "load_model", expect(ValueError, "'d'", "units=3500000000.0")),
    "absurd input shape": (_absurd_input, "load_model", expect(ValueError, "'in'", "1000000")),
    "absurd total weights": (_absurd_weight_total, "load_model", expect(ValueError, "'d'", "weights", "limit")),
    "cyclic connections": (_cycle, "load_model", expect(ValueError, "cannot be resolved")),
    "unknown inbound layer": (_unknown_ref, "load_model", expect(ValueError, "'ghost'")),
    "malformed inbound node": (_bad_node, "load_model", expect(ValueError, "'d'", "inbound")),
    "no weight group": (_missing_group, "load_model", expect(ValueError, "'d'")),
    "dataset claims 4 TiB": (_huge_dataset, "load_model", expect(ValueError, "'d'", "(1048576, 1048576)", "(4, 3)")),
    "string dataset": (_string_dataset, "load_model", expect(ValueError, "numeric")),
    "listed dataset missing": (_missing_dataset, "load_model", expect(ValueError, "d/kernel:0", "no dataset")),
    "soft link": (_soft_link, "load_model", expect(ValueError, "SoftLink")),
    "external link": (_external_link, "load_model", expect(ValueError, "ExternalLink")),
    "external storage": (_external_storage, "load_model", expect(ValueError, "external")),
    "keras_version not a string": (_version_wrong_type, "load_model", expect(ValueError, "keras_version")),
    "zip without config": (_zip_without_config, "load_model", expect(ValueError, "config.json")),
    "truncated .keras": (_truncated_keras, "load_model", expect(ValueError, "zip")),
    ".keras config not json": (_keras_bad_config, "load_model", expect(ValueError, "config.json", "JSON")),
    ".keras without weights": (_keras_no_weights, "load_model", expect(ValueError, "model.weights.h5")),
    ".keras with pickled npz weights": (_keras_npz_weights, "load_model", expect(ValueError, "pickle")),
    ".keras with garbage weights": (_keras_garbage_weights, "load_model", expect(OSError, "model.weights.h5")),
    ".keras other architecture": (_keras_other_architecture, "load_model",
                                  expect(ValueError, "dense_1", "different architecture")),
    ".keras wrong shape": (_keras_wrong_shape, "load_model", expect(ValueError, "'d'", "(4, 3)", "(5, 3)")),
    "npz pickle": (_npz_pickle, "load_weights", expect(ValueError, "d/0", "pickled")),
    "npz shape bomb": (_npz_bomb, "load_weights", expect(ValueError, "d/0", "declares shape")),
    "npz bad keys": (_npz_bad_keys, "load_weights", expect(ValueError, "'kernel'")),
    "npz wrong count": (_npz_count, "load_weights", expect(ValueError, "1 arrays", "2 weights")),
    "npz unknown layer": (_npz_unknown_layer, "load_weights", expect(ValueError, "ghost")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_file(case, tmp_path):
    writer, action, (exc, parts) = CASES[case]
    path = writer(tmp_path)
    start = time.perf_counter()
    with pytest.raises(exc) as err:
        if action == "load_model":
            pio.load_model(path)
        else:
            pio.load_weights(small_model(), path)
    msg = str(err.value)
    assert str(path) in msg or os.path.basename(path) in msg, msg
    for part in parts:
        assert part in msg, msg
    assert time.perf_counter() - start < 20           # nothing was allocated or computed at claimed size


def test_attribute_with_too_many_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ATTRIBUTE_ELEMENTS", 2)
    path = write_full(tmp_path / "many.h5", simple_config(),
                      weights={"in": [], "d": [], "x": []})
    with pytest.raises(ValueError, match="layer_names.*3 entries"):
        pio.load_model(path)


def test_config_too_large(tmp_path, monkeypatch):
    path = _keras_zip(tmp_path, "big.keras", members={"model.weights.h5": _weights_store(tmp_path / "w.h5")})
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    with pytest.raises(ValueError, match="config.json is .* bytes"):
        pio.load_model(path)


def test_missing_path_and_wrong_argument_types(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        pio.load_model(tmp_path / "nope.h5")
    with pytest.raises(TypeError, match="filepath"):
        pio.load_model(42)
    with pytest.raises(TypeError, match="custom_objects"):
        pio.load_model(_json_text(tmp_path), custom_objects=["x"])
    with pytest.raises(TypeError, match="pyvis model"):
        pio.load_weights("not a model", _json_text(tmp_path))
    (tmp_path / "somedir").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        pio.load_model(tmp_path / "somedir")


def test_custom_objects_can_supply_an_activation(tmp_path, rng):
    """A custom activation is accepted when the caller maps its name to a pyvis function."""
    from pyvis import activations
    path = _custom_activation(tmp_path)
    model = pio.load_model(path, custom_objects={"my_relu": activations.relu})
    assert model.get_layer("d").activation is activations.relu
    x = rng.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x), np.maximum(x.sum(axis=1, keepdims=True).repeat(3, 1), 0), rtol=1e-5)


_FUZZ = textwrap.dedent("""
    import os, sys, random
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import pyvis.io as pio
    src, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    rnd = random.Random(1234)
    outcomes = {}
    for i in range(n):
        buf = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            pos = rnd.randrange(len(buf))
            buf[pos] = rnd.randrange(256)
        if rnd.random() < 0.3:
            del buf[rnd.randrange(len(buf)):]
        path = os.path.join(os.path.dirname(src), f"fuzz_{i}.{kind}")
        open(path, "wb").write(bytes(buf))
        try:
            pio.load_model(path)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except (ValueError, OSError) as e:
            outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
        os.unlink(path)
    print(outcomes)
""")


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_fuzzed_files_raise_clean_errors_in_a_subprocess(kind, tmp_path):
    """Byte-flipped and cut copies of valid files: only ValueError/OSError (any other exception,
    or a crash of the interpreter, fails the test)."""
    if kind == "h5":
        src = write_full(tmp_path / "src.h5", simple_config())
    else:
        src = _keras_zip(tmp_path, "src.keras", members={"model.weights.h5": _weights_store(tmp_path / "w.h5")})
    assert pio.load_model(src) is not None
    script = tmp_path / "fuzz.py"
    script.write_text(_FUZZ)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, str(script), str(src), kind, "60"], capture_output=True, text=True,
                          timeout=600, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().startswith("{")
