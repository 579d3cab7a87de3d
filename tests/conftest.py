"""Shared pytest setup for the pyvis test suite.

- Keras 3 is an oracle in some tests; it must run on the torch backend
  (TensorFlow is not installed), so the backend is chosen before any import.
- `rng` gives every test its own reproducible random stream.
"""
import os
import zlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's node id: reproducible per test,
    different across tests (so a grid does not reuse one draw everywhere)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
