"""The errors merbench reports to users.

Every message says what went wrong, where, and how to fix it. The CLI turns
these into one line on stderr and an exit code, in one place.
"""

from __future__ import annotations


class MerbenchError(Exception):
    """Base class of errors that are reported to the user without a traceback."""

    exit_code = 2


class UsageError(MerbenchError):
    """Bad command-line usage or configuration (unknown name, bad --set key or value)."""


class DataError(MerbenchError):
    """A dataset tree, annotation file or frame is missing or malformed."""


class PluginError(MerbenchError):
    """A plugin could not be loaded or registered."""


class RunFailed(MerbenchError):
    """A run started but could not finish (for example the loss became NaN)."""

    exit_code = 1
