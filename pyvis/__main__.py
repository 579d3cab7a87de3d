"""``python -m pyvis ...``: the same command line as the ``pyvis`` console script."""

import sys

from pyvis.cli import main

if __name__ == "__main__":
    sys.exit(main())
