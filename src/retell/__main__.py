"""``python -m retell``: see `retell.cli`."""

import sys

from retell.cli import main

sys.exit(main())
