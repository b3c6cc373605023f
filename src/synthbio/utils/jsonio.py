"""Reading JSON a user hands over (configs, templates, manifests) without surprises.

`json.loads` accepts NaN and Infinity, turns a 400-digit integer into a value
that overflows `float()` later, and raises RecursionError (not ValueError) for
nesting deeper than the interpreter's stack. `loads_strict` refuses all three
with a ValueError that says which, so a reader has one exception to turn into
its own error naming the file.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

#: No field synthbio reads needs a longer integer; a longer one would overflow float().
MAX_INT_DIGITS = 18
#: config.json / template files are kilobytes; anything past this is not one.
MAX_JSON_BYTES = 64 << 20


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits is too large")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would read as inf: as unusable as a written Infinity
        raise ValueError(f"the number {text[:20]} is too large for a float")
    return value


def loads_strict(data: str | bytes) -> Any:
    """JSON text or UTF-8 bytes (a leading byte-order mark allowed) -> object.

    Raises ValueError (with a one-line reason) for invalid UTF-8 or JSON, for
    NaN/Infinity and numbers that overflow a float (1e400), integers over MAX_INT_DIGITS digits and nesting too deep to parse.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        data = data.removeprefix("\ufeff")
    if not data.strip():
        raise ValueError("empty file")
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


def read_json_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON object in a file (see `loads_strict`); OSError for unreadable files, ValueError for the rest."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes >> 20} MiB, not a JSON config")
    return loads_strict(data)
