"""Errors that name the bad input. The CLI turns them into exit code 2."""

from __future__ import annotations


class SynthbioError(Exception):
    """Base class: a user-facing problem with an input, a file or a setting."""


class InputError(SynthbioError, ValueError):
    """A malformed argument (seed list, class index, range, template...)."""


class CheckpointError(SynthbioError):
    """A checkpoint that is truncated, of the wrong format, or unsafe to load."""


class ModelNotFoundError(SynthbioError, KeyError):
    """An unknown model name, or a registry file that is not available offline."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OutputDirError(SynthbioError):
    """An output directory that holds another run's results."""
