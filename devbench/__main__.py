"""``python -m devbench``."""

from devbench.cli import entry

entry()
