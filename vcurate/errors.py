"""The errors a user can cause and fix. The command line prints them as one line (exit status 2);
anything else is a fault of vcurate itself and keeps its traceback. Each also derives from the builtin
error it used to be, so callers that catch ValueError, OSError or FileNotFoundError still do."""

from __future__ import annotations


class VcurateError(Exception):
    """Something the user can fix: a setting, an input, an output, a file."""


class InputError(VcurateError, ValueError):
    """An input, output or option that cannot be used as given."""


class NotFoundError(VcurateError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class ConfigError(VcurateError, ValueError):
    """A pipeline YAML that cannot be used, with a message that says where and why."""
