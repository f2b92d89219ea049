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
    """One file could not be read; the pipeline turns this into a ``Skipped`` record. The verdict is about the
    file's content (not a picture, corrupt, over the pixel limit): it holds until the file changes, so the
    embedding cache remembers it and an unchanged library is not read again."""


class FileAccessError(UnreadableFile):
    """The disk, not the content: the file vanished, permission was denied, an I/O error, too little memory.
    Worth another try next time, so it is never remembered."""


class Cancelled(PhotoAtlasError):
    """The user cancelled a long-running job."""
