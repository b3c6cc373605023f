"""The command-line conventions every `synthbio` command follows, as data a test checks.

One vocabulary
--------------
- The generator is `-m/--model M` (a registry name or a path). A recogniser is
  `--identity-model NAME` (+ `--identity-weights PATH`), an encoder
  `-e/--encoder`, an editing direction `-d/--direction`.
- Inputs are positional arguments. An input a command can do without is an
  option (`train --data`, not needed with `--resume`; `train-encoder --data`).
- Output folder: `-o/--outdir DIR`. A command that writes a single file takes
  `-o/--output FILE`. A job that reads a dataset and writes a report writes it
  OUTSIDE the dataset, by default to the sibling folder `<DIR>_<job>`
  (`fp_report`, `fp_attack`, `faces_ds_report`), and every reader of a dataset
  skips report and cache folders (`synthbio.io.derived`).
- Seeds: `--seeds 0-99,120` (inclusive ranges `a-b`), `--seed S` for one base
  seed; other id lists the same way (`--fingers 900-999`, `--styles 0-6`,
  `--layers 0-3`); `--shard K/N`; numeric sweeps `start:stop:count`
  (`--strengths -3:3:7`).
- `--device auto|cpu|cuda|mps` (default `auto`: cuda, then mps, then cpu),
  `--precision float32|bfloat16` (`train` also `auto`, `float16`),
  `--batch-size N` (`train`: over all processes), `-j/--workers N`,
  `--truncation/--trunc PSI`, `--class-idx N`, `--noise-mode const|random|none`.
- Counts are long options (`--samples`, `--identities`, `--fingers`,
  `--impressions`); the only single-letter options are `-m -e -d -o -j -n -h`
  (`-n` is reserved for `--dry-run`).
- A switch that is on by default is the pair `--X/--no-X` (`serve --reports/--no-reports`);
  click lists `--no-X` as a second name, it is the same option turned off.
- `--overwrite`: a folder holding another run is refused without it; the same
  command again resumes. `--dry-run`: print the resolved config as JSON, write
  nothing. `--json`: the result as JSON on stdout (every command that reports
  or lists).

Scriptable
----------
- Results go to stdout, as plain text (never wrapped, whatever the width) or
  with `--json` as one JSON document; progress and notes go to stderr: a bar
  on a terminal, plain `[progress] ...` lines at most every 10 s otherwise
  (`SYNTHBIO_PROGRESS=bar|lines|off`, `SYNTHBIO_PROGRESS_INTERVAL=SECONDS`).
- Exit codes: 0 done, 2 bad input (one line on stderr naming the flag or
  file, and the command that fixes it when there is one), 130 interrupted.
- `synthbio --version`, `-h` everywhere, `synthbio info DIR` for what a
  folder holds.

Old spellings of renamed options still work for one release (`ALIASES`,
rewritten before parsing with a note on stderr); they are hidden from `--help`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

# Single-letter options and the only long option each may stand for.
SHORT_OPTIONS: dict[str, tuple[str, ...]] = {
    "-m": ("--model",),
    "-e": ("--encoder",),
    "-d": ("--direction",),
    "-o": ("--outdir", "--output"),
    "-j": ("--workers",),
    "-n": ("--dry-run",),
    "-h": ("--help",),
}
# Long options with a second visible spelling.
SECOND_SPELLINGS: dict[str, str] = {"--truncation": "--trunc"}
# Option names with one meaning everywhere: (what it must be about, the words its help must contain).
MEANINGS: dict[str, tuple[str, ...]] = {
    "--device": ("auto", "cpu", "cuda", "mps"),
    "--noise-mode": ("const", "random", "none"),
    "--precision": ("float32", "bfloat16"),
    "--dry-run": ("JSON",),  # the resolved config, as JSON on stdout
    "--json": ("JSON",),
}
DEFAULTS: dict[str, object] = {"--device": "auto"}
# Spellings no visible option may use (the convention's word is on the right).
FORBIDDEN: dict[str, str] = {
    "--out": "--output or --outdir", "--generator": "--model", "--batch": "--batch-size", "--force": "--overwrite",
    "--class": "--class-idx (a fingerprint class: --finger-class)", "--weights": "--identity-weights",
    "--num": "--samples or another count word", "--num-seeds": "--samples", "--cfg": "--config",
    "--identity": "--identity-model", "--out-dir": "--outdir", "--output-dir": "--outdir",
    "--batch_size": "--batch-size", "--dryrun": "--dry-run",
}
# Commands that report or list: they must offer --json. A new command with one of these names is checked too.
REPORTING_NAMES = frozenset({"list", "report", "evaluate", "attack", "compare", "detect", "info", "fid"})

# Old spellings kept for one release: {command path ("*" = every command): {old: new}}.
# A new value of "" means the old option took a value that is now the positional argument.
ALIASES: dict[str, dict[str, str]] = {
    "*": {"--force": "--overwrite", "--class": "--class-idx", "-s": "--seed", "--cfg": "--config"},
    "convert": {"--force": "--overwrite"},
    "demo": {"--num-seeds": "--samples"},
    "train": {"--batch": "--batch-size"},
    "translate train": {"--batch": "--batch-size"},
    "train-encoder": {"--generator": "--model", "-g": "--model", "--batch": "--batch-size",
                      "--identity": "--identity-model"},
    "invert": {"--generator": "--model", "-g": "--model"},
    "train-classifier": {"--generator": "--model", "-g": "--model"},
    "directions svm": {"--generator": "--model"},
    "directions sefa": {"-k": "--num-directions", "--num": "--num-directions"},
    "directions pca": {"-k": "--num-directions", "--num": "--num-directions"},
    "faces crop": {"--out": "--output"},
    "faces embed": {"--out": "--output", "--model": "--identity-model", "-m": "--identity-model",
                    "--weights": "--identity-weights"},
    "faces compare": {"--model": "--identity-model", "-m": "--identity-model", "--weights": "--identity-weights"},
    "fingerprints generate": {"-n": "--fingers", "-m": "--impressions", "--class": "--finger-class"},
    "fingerprints reconstruct": {"--out": "--output"},
    "dataset generate": {"-n": "--identities"},  # -m is the generator now, as everywhere
    "dataset merge": {"--out": "--outdir"},
    "metrics fid": {"--out": "--output", "--num": "--samples"},
    "serve": {"--with-reports": "--reports"},
}


def aliases_for(path: Sequence[str]) -> dict[str, str]:
    """The old -> new spellings that apply to the command at `path` (e.g. ("faces", "embed"))."""
    return {**ALIASES["*"], **ALIASES.get(" ".join(path), {})}


def _command_path(group: Any, argv: list[str]) -> tuple[list[str], int]:
    """(command names, index of the first token after them) of an argv for the click group `group`."""
    path: list[str] = []
    i = 0
    cmd = group
    while i < len(argv) and hasattr(cmd, "commands"):
        token = argv[i]
        if token.startswith("-"):
            i += 1
            continue
        sub = cmd.commands.get(token)
        if sub is None:
            break
        path.append(token)
        cmd = sub
        i += 1
    return path, i


def rewrite_aliases(group: Any, argv: list[str], *, warn: Any = None) -> list[str]:
    """argv with old option spellings replaced by the current ones (a note per replacement on stderr)."""
    path, start = _command_path(group, argv)
    table = aliases_for(path)
    out = list(argv[:start])
    warn = warn or (lambda text: sys.stderr.write(text + "\n"))
    rest = argv[start:]
    for n, token in enumerate(rest):
        if token == "--":
            out += rest[n:]
            break
        name, sep, value = token.partition("=")
        new = table.get(name) if token.startswith("-") else None
        if new is None and token.startswith("-") and not token.startswith("--") and len(token) > 2:
            short = token[:2]  # -n100 -> --fingers=100
            if short in table:
                name, sep, value, new = short, "=", token[2:], table[short]
        if new is None:
            out.append(token)
            continue
        warn(f"note: {name} is now {new} (the old spelling goes in the next release)")
        out.append(f"{new}{sep}{value}" if sep else new)
    return out
