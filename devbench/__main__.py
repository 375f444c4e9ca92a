"""``python -m devbench``."""

import sys

from devbench.cli import main

sys.exit(main())
