"""Typed errors that carry a one-line message meant for the user (never a traceback)."""

from __future__ import annotations


class PhotoAtlasError(Exception):
    """Base class: ``user_message`` is one line a person can act on; ``details`` is optional extra text."""

    exit_code = 1

    def __init__(self, user_message: str, *, details: str = "") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.details = details


class BadArgument(PhotoAtlasError):
    """The user asked for something that cannot be (an unknown model name, a missing folder)."""

    exit_code = 2


class ModelUnavailable(PhotoAtlasError):
    """The model's weights are not on this machine and cannot be downloaded now."""


class UnreadableFile(PhotoAtlasError):
    """One file could not be read; the pipeline turns this into a ``Skipped`` record."""


class Cancelled(PhotoAtlasError):
    """The user cancelled a long-running job."""
