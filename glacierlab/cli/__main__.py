"""``python -m glacierlab.cli`` = the ``glacierlab`` script."""

import sys

from glacierlab.cli import main

sys.exit(main())
