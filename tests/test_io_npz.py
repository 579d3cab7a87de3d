"""`.npz` weights: `np.savez(*get_weights())` and per-layer `'<layer>/<i>'` archives, no pickle."""

import numpy as np
import pytest

import io_keras_files as kf
import pyvis.io as pio
from pyvis.io import npz


@pytest.fixture
def pair(rng):
    """A Keras model (oracle) and its pyvis conversion with scrambled weights."""
    kmodel = kf.functional_add_concat(seed=9)
    kf.randomize(kmodel, seed=10)
    model = pio.from_keras(kmodel)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape) for w in layer.weights])
    return kmodel, model


def test_flat_archive_in_get_weights_order(pair, tmp_path, rng):
    kmodel, model = pair
    reference = pio.from_keras(kmodel)
    np.savez(tmp_path / "flat.npz", *reference.get_weights())
    model.load_weights(tmp_path / "flat.npz")
    x = rng.normal(size=(2, 10, 10, 3)).astype("float32")
    kf.assert_close(model.predict(x), kmodel.predict(x, verbose=0))


def test_per_layer_archive_round_trip(pair, tmp_path, rng):
    kmodel, model = pair
    npz.save_npz(pio.from_keras(kmodel), tmp_path / "layers.npz")
    with np.load(tmp_path / "layers.npz", allow_pickle=False) as data:
        assert "branch_a/0" in data.files and "logits/1" in data.files
    model.load_weights(tmp_path / "layers.npz")
    for layer in model.layers:
        for got, want in zip(layer.get_weights(), kmodel.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)


def test_per_layer_archive_may_hold_a_subset(pair, tmp_path):
    kmodel, model = pair
    before = model.get_layer("branch_b").get_weights()
    want = kmodel.get_layer("hidden").get_weights()
    np.savez(tmp_path / "subset.npz", **{"hidden/0": want[0], "hidden/1": want[1]})
    model.load_weights(tmp_path / "subset.npz")
    np.testing.assert_array_equal(model.get_layer("hidden").get_weights()[0], want[0])
    np.testing.assert_array_equal(model.get_layer("branch_b").get_weights()[0], before[0])


def test_npz_shape_mismatch_and_skip(pair, tmp_path):
    _, model = pair
    np.savez(tmp_path / "bad.npz", **{"hidden/0": np.zeros((3, 3)), "hidden/1": np.zeros(12)})
    with pytest.raises(ValueError, match=r"'hidden'.*\(30, 12\).*\(3, 3\)"):
        model.load_weights(tmp_path / "bad.npz")
    with pytest.warns(UserWarning, match="hidden"):
        model.load_weights(tmp_path / "bad.npz", skip_mismatch=True)


def test_npz_member_numbering_must_be_contiguous(pair, tmp_path):
    _, model = pair
    np.savez(tmp_path / "gap.npz", **{"hidden/0": np.zeros((30, 12)), "hidden/2": np.zeros(12)})
    with pytest.raises(ValueError, match="numbered"):
        model.load_weights(tmp_path / "gap.npz")
