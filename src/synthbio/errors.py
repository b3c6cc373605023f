"""Errors that name the bad input. The CLI turns them into exit code 2."""

from __future__ import annotations

import re


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


# Advice some libraries attach to a refusal: loading the file unsafely, which would run code from it.
_UNSAFE_ADVICE = re.compile(r"weights_only|allow_pickle|safe_globals|trust(?:ed)? (?:the )?source|if you trust|"
                            r"arbitrary code|pickle=True", re.IGNORECASE)


def without_unsafe_advice(text: str) -> str:
    """`text` without the sentences that advise loading a file unsafely (weights_only=False, allow_pickle)."""
    if not _UNSAFE_ADVICE.search(text):
        return text
    parts = re.split(r"(?<=[.!?:;])\s+|\n+|\t+", text)
    return " ".join(p.strip() for p in parts if p.strip() and not _UNSAFE_ADVICE.search(p))


def library_message(exc: BaseException, *, limit: int = 300) -> str:
    """A library's exception as one short line for the user, without advice to load the file unsafely.

    torch's weights-only refusal suggests `weights_only=False` and numpy's
    suggests `allow_pickle=True`; both would run code the file carries. What
    was refused is kept (the name of a global), the advice is dropped.
    """
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it refers to Python code ({found.group(1)}), which synthbio never loads"
    if "Object arrays cannot be loaded" in text or "allow_pickle" in text:
        return "it holds Python objects (an object array), which synthbio never loads"
    line = " ".join(without_unsafe_advice(text).split()) or type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
