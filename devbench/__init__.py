"""devbench: is a pruned network really faster than one simply built smaller? Measure it on your boards."""

__version__ = "0.1.0"
