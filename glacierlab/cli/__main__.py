"""``python -m glacierlab.cli`` = the ``glacierlab`` script."""

import sys

from glacierlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
