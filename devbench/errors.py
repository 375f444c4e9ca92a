"""The one exception type for mistakes a user can fix.

The CLI maps :class:`DevbenchError` to a one-line message and exit code 2; any other exception is a
bug in devbench and keeps its traceback (shown with ``--debug``).
"""


class DevbenchError(Exception):
    """Bad input from the user: unknown name, malformed file, unreachable board, wrong host key..."""
