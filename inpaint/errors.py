"""Errors a user can cause, with messages a user understands.

The app and the command line catch `InpaintError` and show its message as it is; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class InpaintError(Exception):
    """An error a user can cause, with a sentence a user understands."""


class ModelLoadError(InpaintError):
    """A checkpoint could not be loaded; the message names the source and the cause.

    `source` is what the user asked for (a folder or a Hub repo id), when known.
    """

    def __init__(self, message: str, *, source: str | None = None):
        super().__init__(message)
        self.source = source
