"""Utilities mirroring ``vis.utils``; ``from pyvis.utils import utils`` is the usual import."""

from . import utils  # noqa: F401
