"""Errors of the content pipeline: each names the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class ContentError(ValueError):
    """Base class: a content input could not be turned into features."""


class DecodeError(ContentError):
    """A media file could not be decoded (missing, empty, not media, truncated, too long)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class EncoderLoadError(ContentError):
    """An encoder named by a Hugging Face id or local path could not be loaded."""

    def __init__(self, role: str, name: str, reason: str) -> None:
        self.role = role
        self.name = name
        super().__init__(f"cannot load the {role} model {name!r}: {reason}")
