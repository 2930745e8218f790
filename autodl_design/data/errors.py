"""The one exception type of the data package."""

from __future__ import annotations


class DataError(ValueError):
    """A data source is missing, unreadable or inconsistent; the message is one line naming it."""


def one_line(error: BaseException) -> str:
    """The first line of ``str(error)`` (or its type name), for embedding in a DataError."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
