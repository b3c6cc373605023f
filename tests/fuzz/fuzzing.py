"""The fuzz harness: property-based generation (Hypothesis), then fast mutation, in a short or a long run.

Every fuzz test is `@fuzz(family, strategy, ...)` over a check that feeds one
input to a parser and accepts only two outcomes: a value that passes the
parser's own validation, or the one error type the parser promises
(TemplateError, CheckpointError, InputError ...). Anything else escaping is a
failure.

Each test runs in two phases:

1. Hypothesis draws `examples` structured inputs from `strategy` (valid files
   with edits, hostile corner cases) and shrinks any failure to a small one.
2. The drawn inputs become a corpus that a plain mutator (byte and character
   flips, cuts, insertions, splices between corpus members) turns into
   `mutations` more inputs, about a hundred times faster per input than
   drawing them: that is what makes a million inputs per family affordable.
   A failure here is reported with the input that caused it.

Budget: the default run is deterministic and takes seconds. With
`SYNTHBIO_FUZZ_EXAMPLES=M` each test runs M inputs (0.2% drawn by
Hypothesis in rounds of fresh seeds, the rest mutated with a random seed).
The inputs run per family are counted, printed at the end of the session and
written as JSON to `SYNTHBIO_FUZZ_REPORT` when that is set; with
`SYNTHBIO_FUZZ_LAST_INPUT` set, each input is written there before it runs
(bench/fuzz_long.py uses both):

    SYNTHBIO_FUZZ_EXAMPLES=1000000 pytest -m fuzz tests/fuzz -k iso --timeout=0
"""

from __future__ import annotations

import collections
import functools
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROUND = 5_000  # Hypothesis examples per run (it keeps every example of a run in memory)
CORPUS = 4_000  # drawn inputs kept for the mutation phase
COUNTS: collections.Counter[str] = collections.Counter()
SECONDS: collections.Counter[str] = collections.Counter()

Mutator = Callable[[Any, random.Random, list[Any]], Any]


def long_mode() -> int | None:
    """Inputs per test requested through SYNTHBIO_FUZZ_EXAMPLES (None: the default budget)."""
    value = os.environ.get("SYNTHBIO_FUZZ_EXAMPLES")
    return int(value) if value else None


# --- fast mutation -----------------------------------------------------------------------------------------------

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF)


def mutate_bytes(data: bytes, rng: random.Random, corpus: list[Any]) -> bytes:
    """A few random edits of `data` (flip, set, cut, insert, duplicate, splice with another input, truncate)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out[min(pos, len(out) - 1)] = rng.choice(_INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
        elif kind == 2:
            del out[pos : pos + rng.randint(1, 16)]
        elif kind == 3:
            out[pos:pos] = os.urandom(rng.randint(1, 8)) if rng.random() < 0.5 else bytes([rng.choice(_INTERESTING)])
        elif kind == 4:
            out[pos:pos] = out[pos : pos + rng.randint(1, 64)]
        elif kind == 5 and corpus:
            other = _as_bytes(rng.choice(corpus))
            start = rng.randrange(len(other) + 1)
            out[pos:] = other[start:]
        else:
            del out[pos:]
    return bytes(out)


def mutate_text(text: str, rng: random.Random, corpus: list[Any]) -> str:
    return mutate_bytes(text.encode("utf-8"), rng, [_as_bytes(c) for c in corpus[:64]]).decode("utf-8", "replace")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, tuple) and value:
        return _as_bytes(value[0])
    return repr(value).encode()


def mutate_value(value: Any, rng: random.Random, corpus: list[Any]) -> Any:
    """Bytes and text are edited; of a tuple, the first element (the file's content) is."""
    if isinstance(value, bytes):
        return mutate_bytes(value, rng, corpus)
    if isinstance(value, str):
        return mutate_text(value, rng, corpus)
    if isinstance(value, tuple) and value:
        return (mutate_value(value[0], rng, [c[0] for c in corpus if isinstance(c, tuple)]), *value[1:])
    return value


# --- the decorator -----------------------------------------------------------------------------------------------


def fuzz(family: str, strategy: st.SearchStrategy[Any], *, examples: int, mutations: int = 0,
         mutate: Mutator = mutate_value) -> Callable[[Callable[[Any], None]], Callable[[], None]]:
    """Decorator turning check(value) into a test over drawn and mutated values (see module docstring)."""
    def decorate(check: Callable[[Any], None]) -> Callable[[], None]:
        @functools.wraps(check)
        def test() -> None:
            requested = long_mode()
            drawn_total = examples if requested is None else max(examples, requested // 500)
            # a test without a mutation phase (a round trip of drawn values) stays without one
            mutated_total = mutations if requested is None or not mutations else max(0, requested - drawn_total)
            base = random.SystemRandom().randrange(1 << 30) if requested else 0
            corpus: list[Any] = []
            seen: set[int] = set()
            start = time.perf_counter()

            def counted(value: Any) -> None:
                _note(value)
                COUNTS[family] += 1
                key = _key(value)
                if len(corpus) < CORPUS and key not in seen:  # each distinct input once: mutations spread evenly
                    seen.add(key)
                    corpus.append(value)
                check(value)

            done = rounds = 0
            while done < drawn_total:
                n = min(ROUND, drawn_total - done)
                run = settings(max_examples=n, deadline=None, database=None, derandomize=requested is None,
                               suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                               print_blob=True)(given(strategy)(counted))
                if requested:
                    run = seed(base + rounds)(run)
                run()
                done, rounds = done + n, rounds + 1
            rng = random.Random(base)
            for _ in range(mutated_total if corpus else 0):
                value = mutate(rng.choice(corpus), rng, corpus)
                _note(value)
                COUNTS[family] += 1
                try:
                    check(value)
                except Exception as exc:
                    raise AssertionError(f"{family}: a mutated input broke the check ({type(exc).__name__}: "
                                         f"{exc}); the input is in {_keep(value)}") from exc
            SECONDS[family] += time.perf_counter() - start

        test.__signature__ = None  # type: ignore[attr-defined]  # pytest must not see check's parameter
        del test.__wrapped__  # ... nor look through functools.wraps to it
        return test

    return decorate


_LAST_INPUT = os.environ.get("SYNTHBIO_FUZZ_LAST_INPUT")


def scratch_dir(prefix: str) -> Path:
    """A fresh folder for files the checks write per input: in memory (/dev/shm) where there is one,
    since a million small writes to a busy disk cost more than the parsing they feed."""
    shm = Path("/dev/shm")
    where = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=where))


def _note(value: Any) -> None:
    """With SYNTHBIO_FUZZ_LAST_INPUT set, keep the input about to run there: a run killed from outside
    (bench/fuzz_long.py stops one whose memory runs away) leaves the input that did it."""
    if _LAST_INPUT:
        with open(_LAST_INPUT, "wb") as f:
            f.write(_as_bytes(value) if not isinstance(value, tuple) else repr(value).encode())


def _key(value: Any) -> int:
    try:
        return hash(value)
    except TypeError:  # dicts, lists
        return hash(repr(value))


def _keep(value: Any) -> str:
    """Write a failing input where a person can get at it; returns the path."""
    fd, path = tempfile.mkstemp(prefix="synthbio-fuzz-", suffix=".bin")
    with os.fdopen(fd, "wb") as f:
        f.write(_as_bytes(value) if not isinstance(value, tuple) else repr(value).encode())
    return path


# --- strategies shared by the families ---------------------------------------------------------------------------

#: Numbers as text, the awkward ones included.
NUMBER_TEXT = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "-1e400", "1e-400", "-0", "0x10", "1_000", "+5", ".5", "5.",
                     "1" + "0" * 400, "١٢", "\u00bd", "", " ", "e", "--1"]),
)

#: Any JSON value, nested a little, with the numbers JSON readers trip on.
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(10**30), 10**30),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children,
                                                                               max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, data: bytes, *, max_edits: int = 4) -> bytes:
    """`data` with a few byte edits drawn by Hypothesis (so failures shrink to the edit that matters)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "dup", "truncate"]))
        if not out and kind != "insert":
            continue
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[pos] = draw(st.sampled_from([*_INTERESTING, draw(st.integers(0, 255))]))
        elif kind == "cut":
            del out[pos : pos + draw(st.integers(1, 16))]
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "dup":
            end = min(len(out), pos + draw(st.integers(1, 64)))
            out[pos:pos] = out[pos:end]
        else:
            del out[draw(st.integers(0, len(out))):]
    return bytes(out)
