"""Errors that name the bad input. The CLI turns them into exit code 2."""

from __future__ import annotations

import errno
import os
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


class OutputError(SynthbioError):
    """An output place that cannot take the result: a full disk, no permission, a read-only file
    system, a file where a folder is needed. Files written before are kept (writes are atomic).

    errno: the operating system's code (None if unknown); filename: the path refused.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.filename = filename


# What each operating-system refusal means for the file it names: one line, no traceback.
_OS_PROBLEMS: dict[int, str] = {
    errno.ENOSPC: "no space left on {path} (files finished before are kept)",
    errno.EDQUOT: "disk quota exceeded on {path} (files finished before are kept)",
    errno.EFBIG: "{path}: file too large for this file system or the process's file-size limit",
    errno.EACCES: "permission denied: {path}",
    errno.EPERM: "operation not permitted: {path}",
    errno.EROFS: "{path}: read-only file system",
    errno.ENOTDIR: "{path}: a part of this path is a file, not a folder",
    errno.EISDIR: "{path} is a folder, where a file is needed",
    errno.EEXIST: "{path} already exists and is not a folder",
    errno.ENOENT: "no such file or folder: {path}",
    errno.ENAMETOOLONG: "{path}: file name too long",
    errno.ELOOP: "{path}: too many levels of symbolic links",
    errno.EIO: "input/output error on {path} (a failing disk or a lost network share?)",
    errno.ENXIO: "{path}: no such device",
}

_ERRNO_IN_TEXT = re.compile(r"\(os error (\d+)\)|errno = (\d+)|\[Errno (\d+)\]")


def os_problem(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str | None:
    """One line for an operating-system refusal found in `exc` or its causes, naming `path`
    (else the file the error names); None when the chain holds no such refusal.

    Libraries that write in native code (safetensors, HDF5) report the errno only in their message.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = current.errno if isinstance(current, OSError) else None
        if code is None:
            found = _ERRNO_IN_TEXT.search(str(current))
            code = int(next(g for g in found.groups() if g)) if found else None
        if code in _OS_PROBLEMS:
            named = path if path is not None else getattr(current, "filename", None)
            return _OS_PROBLEMS[code].format(path=os.fspath(named) if named is not None else "the output")
        current = current.__cause__ or current.__context__
    return None


def output_error(exc: BaseException, path: str | os.PathLike[str]) -> BaseException:
    """OutputError naming `path` when `exc` is an operating-system refusal, else `exc` unchanged."""
    if isinstance(exc, SynthbioError):
        return exc
    problem = os_problem(exc, path)
    if problem is None:
        return exc
    code = next((e.errno for e in _chain(exc) if isinstance(e, OSError) and e.errno), None)
    return OutputError(problem, errno=code, filename=os.fspath(path))


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


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
