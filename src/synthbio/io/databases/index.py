"""A database index in SQLite: samples (path, identity, attributes), protocols, groups and pairs.

One index file describes one database as built from a folder and its
metadata. It is written once, whole (temporary file + rename), by
`IndexContent.write`, and read by `Database` (read-only connection):

    meta(key, value)                               format version, kind, root, builder options
    samples(id, key, path, identity, identity_index)
    attributes(sample_id, name, value)             one row per sample and attribute (SQLite types:
                                                   INTEGER, REAL or TEXT, as the builder gave them)
    memberships(protocol, grp, purpose, sample_id) purpose '' (the whole group), 'enroll' or 'probe'
    pairs(protocol, grp, enroll_id, probe_id, genuine)   explicit comparisons (LFW pairs, FVC)

`path` is relative to the database root (stored absolute in `meta`; a moved
root is passed as `root=` when opening). `identity` is the database's own
label (a subject id, a name); `identity_index` numbers the identities 0..K-1
in sorted order, the integer identity that sample collections (`samples.h5`)
need. Groups follow the bob vocabulary: `train` (bob's "world"), `dev`,
`eval`, each with `enroll` / `probe` members where the protocol says so.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.utils.hashing import commit_temp, temp_path_for

FORMAT = "synthbio-database"
FORMAT_VERSION = 1
PURPOSES: tuple[str, ...] = ("", "enroll", "probe")
GROUP_ALIASES: Mapping[str, str] = {"world": "train"}

AttrValue = int | float | str
_INT_RE = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+|[0-9]*\.[0-9]+[eE][+-]?[0-9]+)$")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE samples (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, path TEXT NOT NULL,
                      identity TEXT NOT NULL, identity_index INTEGER NOT NULL);
CREATE TABLE attributes (sample_id INTEGER NOT NULL REFERENCES samples(id), name TEXT NOT NULL,
                         value, PRIMARY KEY (sample_id, name));
CREATE TABLE memberships (protocol TEXT NOT NULL, grp TEXT NOT NULL, purpose TEXT NOT NULL,
                          sample_id INTEGER NOT NULL REFERENCES samples(id),
                          PRIMARY KEY (protocol, grp, purpose, sample_id));
CREATE TABLE pairs (protocol TEXT NOT NULL, grp TEXT NOT NULL, enroll_id INTEGER NOT NULL REFERENCES samples(id),
                    probe_id INTEGER NOT NULL REFERENCES samples(id), genuine INTEGER NOT NULL);
CREATE INDEX samples_identity ON samples(identity);
CREATE INDEX attributes_name ON attributes(name, value);
CREATE INDEX memberships_sample ON memberships(sample_id);
"""


@dataclass(frozen=True)
class Sample:
    """One sample of a database.

    key: unique name within the database; path: relative to the root; file:
    absolute path on this machine; identity: the database's label;
    identity_index: 0..K-1 over the sorted identities of the whole database.
    """

    key: str
    path: str
    file: Path
    identity: str
    identity_index: int
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Pair:
    """One comparison of a pairs protocol: enroll vs probe; genuine = same identity by the protocol."""

    enroll: Sample
    probe: Sample
    genuine: bool


@dataclass(frozen=True)
class GroupInfo:
    protocol: str
    group: str
    purpose: str
    samples: int


# --- building ---------------------------------------------------------------------------


@dataclass
class IndexContent:
    """What a builder collects before the index is written (see `write`).

    Samples are added once each (`add_sample`); memberships and pairs name
    samples by key.
    """

    kind: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    _samples: dict[str, tuple[str, str, dict[str, AttrValue]]] = field(default_factory=dict)
    _memberships: set[tuple[str, str, str, str]] = field(default_factory=set)
    _pairs: list[tuple[str, str, str, str, bool]] = field(default_factory=list)

    def add_sample(self, key: str, path: str, identity: str, attributes: Mapping[str, Any] | None = None) -> None:
        if key in self._samples:
            raise InputError(f"{self.kind} database: sample key {key!r} appears twice (under {self.root})")
        attrs = {str(k): _attr_value(v, key=key, name=str(k)) for k, v in (attributes or {}).items() if v is not None}
        self._samples[key] = (path, str(identity), attrs)

    def has_sample(self, key: str) -> bool:
        return key in self._samples

    def add_member(self, protocol: str, group: str, key: str, *, purpose: str = "") -> None:
        if purpose not in PURPOSES:
            raise InputError(f"purpose {purpose!r} is not one of 'enroll', 'probe' or '' (whole group)")
        if key not in self._samples:
            raise InputError(f"{self.kind} database: protocol {protocol!r} names unknown sample {key!r}")
        self._memberships.add((protocol, group, purpose, key))

    def add_pair(self, protocol: str, group: str, enroll_key: str, probe_key: str, *, genuine: bool) -> None:
        for k in (enroll_key, probe_key):
            if k not in self._samples:
                raise InputError(f"{self.kind} database: pair in {protocol}/{group} names unknown sample {k!r}")
        self._pairs.append((protocol, group, enroll_key, probe_key, bool(genuine)))

    @property
    def num_samples(self) -> int:
        return len(self._samples)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to `path` atomically; InputError when there is nothing to index."""
        path = Path(path)
        if not self._samples:
            raise InputError(f"{self.kind} database under {os.fspath(self.root)!r}: no samples found")
        if path.exists() and path.is_dir():
            raise InputError(f"index path {os.fspath(path)!r} is a folder; give a file name such as db.sqlite")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path_for(path)
        try:
            con = sqlite3.connect(tmp)
            try:
                self._fill(con)
                con.commit()
            finally:
                con.close()
            commit_temp(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def _fill(self, con: sqlite3.Connection) -> None:
        con.executescript(_SCHEMA)
        meta = {"format": FORMAT, "version": str(FORMAT_VERSION), "kind": self.kind,
                "root": os.fspath(Path(self.root).resolve()), "options": json.dumps(self.options, sort_keys=True)}
        con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        identities = {ident: i for i, ident in enumerate(sorted({s[1] for s in self._samples.values()}, key=_natural))}
        ids: dict[str, int] = {}
        for i, (key, (rel, ident, attrs)) in enumerate(sorted(self._samples.items(), key=lambda kv: _natural(kv[0]))):
            ids[key] = i
            con.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", (i, key, rel, ident, identities[ident]))
            con.executemany("INSERT INTO attributes VALUES (?, ?, ?)", [(i, n, v) for n, v in sorted(attrs.items())])
        con.executemany("INSERT INTO memberships VALUES (?, ?, ?, ?)",
                        sorted((p, g, u, ids[k]) for p, g, u, k in self._memberships))
        con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?)",
                        [(p, g, ids[a], ids[b], int(gen)) for p, g, a, b, gen in self._pairs])


def _attr_value(v: Any, *, key: str, name: str) -> AttrValue:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float, str)):
        return v
    if hasattr(v, "item"):  # numpy scalars
        return _attr_value(v.item(), key=key, name=name)
    raise InputError(f"sample {key!r}: attribute {name}={v!r} is not a number or a string")


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts 'id2' before 'id10'."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


# --- reading -----------------------------------------------------------------------------


def parse_group(spec: str | None) -> tuple[str | None, str | None]:
    """'dev' -> ('dev', None); 'dev/probe' -> ('dev', 'probe'); 'world' -> ('train', None); None -> (None, None)."""
    if spec is None or spec == "":
        return None, None
    group, _, purpose = spec.partition("/")
    group = GROUP_ALIASES.get(group, group)
    if purpose and purpose not in PURPOSES[1:]:
        raise InputError(f"group {spec!r}: the part after '/' must be 'enroll' or 'probe'")
    return group, (purpose or None)


def coerce_value(text: str) -> AttrValue:
    """A command-line or CSV value: an int or a float when it is written as one, else the string.

    Strict on purpose: '05_1' (Python's int() reads 51) and '007' (an id) stay strings.
    """
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    return text


class Database:
    """A read-only view of an index file. Use `open_database`; close with `close()` or `with`."""

    def __init__(self, path: Path, con: sqlite3.Connection, meta: dict[str, str], root: Path) -> None:
        self.path = path
        self._con = con
        self.meta = meta
        self.root = root

    # context manager
    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.meta.get("options", "{}"))

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._con.execute(sql, tuple(args)))

    def protocols(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT protocol FROM memberships ORDER BY protocol")]

    def groups(self, protocol: str | None = None) -> list[GroupInfo]:
        sql = "SELECT protocol, grp, purpose, COUNT(*) FROM memberships"
        args: list[Any] = []
        if protocol is not None:
            self._check_protocol(protocol)
            sql += " WHERE protocol = ?"
            args.append(protocol)
        sql += " GROUP BY protocol, grp, purpose ORDER BY protocol, grp, purpose"
        return [GroupInfo(p, g, u, n) for p, g, u, n in self._all(sql, args)]

    def attribute_names(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT name FROM attributes ORDER BY name")]

    def attribute_values(self, name: str) -> list[tuple[AttrValue, int]]:
        """Distinct values of one attribute with their sample counts."""
        return [(v, n) for v, n in self._all(
            "SELECT value, COUNT(*) FROM attributes WHERE name = ? GROUP BY value ORDER BY value", [name])]

    def num_samples(self) -> int:
        return int(self._all("SELECT COUNT(*) FROM samples")[0][0])

    def identities(self) -> list[str]:
        return [r[0] for r in self._all("SELECT identity FROM samples GROUP BY identity ORDER BY identity_index")]

    def _check_protocol(self, protocol: str) -> None:
        known = self.protocols()
        if protocol not in known:
            raise InputError(f"database {os.fspath(self.path)!r} has no protocol {protocol!r}; "
                             f"protocols: {', '.join(known) or '(none)'}")

    def _check_group(self, protocol: str, group: str, purpose: str | None) -> None:
        infos = [g for g in self.groups(protocol) if g.group == group and (purpose is None or g.purpose == purpose)]
        if not infos:
            names = sorted({g.group + (f"/{g.purpose}" if g.purpose else "") for g in self.groups(protocol)})
            want = group + (f"/{purpose}" if purpose else "")
            raise InputError(f"protocol {protocol!r} of {os.fspath(self.path)!r} has no group {want!r}; "
                             f"groups: {', '.join(names)}")

    def samples(self, *, protocol: str | None = None, group: str | None = None, purpose: str | None = None,
                identity: str | None = None, where: Mapping[str, AttrValue] | None = None) -> list[Sample]:
        """Samples selected by protocol / group (/ purpose), identity and attribute equality, in key order.

        group may be written 'dev/probe' (then purpose is taken from it).
        Without a protocol every sample of the database qualifies; a group
        needs a protocol. Unknown protocols and groups raise InputError
        listing the known ones.
        """
        if group is not None and "/" in group:
            group, purpose = parse_group(group)
        elif group is not None:
            group = GROUP_ALIASES.get(group, group)
        if group is not None and protocol is None:
            raise InputError(f"group {group!r} needs a protocol (--protocol); protocols: {', '.join(self.protocols())}")
        sql = "SELECT DISTINCT s.id, s.key, s.path, s.identity, s.identity_index FROM samples s"
        conds: list[str] = []
        args: list[Any] = []
        if protocol is not None:
            self._check_protocol(protocol)
            sql += " JOIN memberships m ON m.sample_id = s.id"
            conds.append("m.protocol = ?")
            args.append(protocol)
            if group is not None:
                self._check_group(protocol, group, purpose)
                conds.append("m.grp = ?")
                args.append(group)
            if purpose is not None:
                conds.append("m.purpose = ?")
                args.append(purpose)
        if identity is not None:
            conds.append("s.identity = ?")
            args.append(str(identity))
        # One join per attribute condition; the JOIN placeholders come before the WHERE ones.
        join_args: list[Any] = []
        for i, (name, value) in enumerate(sorted((where or {}).items())):
            sql += f" JOIN attributes a{i} ON a{i}.sample_id = s.id AND a{i}.name = ?"
            join_args.append(name)
            conds.append(f"a{i}.value = ?")
            args.append(value)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY s.id"
        rows = self._all(sql, join_args + args)
        return self._materialise(rows)

    def _materialise(self, rows: Iterable[tuple[Any, ...]]) -> list[Sample]:
        rows = list(rows)
        attrs: dict[int, dict[str, AttrValue]] = {r[0]: {} for r in rows}
        ids = list(attrs)
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            chunk = ids[start:start + 900]
            q = f"SELECT sample_id, name, value FROM attributes WHERE sample_id IN ({','.join('?' * len(chunk))})"
            for sid, name, value in self._con.execute(q, chunk):
                attrs[sid][name] = value
        return [Sample(key=k, path=p, file=self.root / p, identity=ident, identity_index=int(ii), attributes=attrs[i])
                for i, k, p, ident, ii in rows]

    def sample(self, key: str) -> Sample:
        rows = self._all("SELECT id, key, path, identity, identity_index FROM samples WHERE key = ?", [key])
        if not rows:
            raise InputError(f"database {os.fspath(self.path)!r} has no sample {key!r}")
        return self._materialise(rows)[0]

    def pairs(self, *, protocol: str, group: str | None = None) -> list[Pair]:
        """The explicit comparisons of a pairs protocol (LFW views, FVC), in stored order."""
        self._check_protocol(protocol)
        sql = "SELECT enroll_id, probe_id, genuine FROM pairs WHERE protocol = ?"
        args: list[Any] = [protocol]
        if group is not None:
            group = GROUP_ALIASES.get(group, group)
            self._check_group(protocol, group, None)
            sql += " AND grp = ?"
            args.append(group)
        rows = self._all(sql + " ORDER BY rowid", args)
        if not rows:
            raise InputError(f"protocol {protocol!r} of {os.fspath(self.path)!r} defines no pairs")
        ids = sorted({r[0] for r in rows} | {r[1] for r in rows})
        by_id: dict[int, Sample] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            q = f"SELECT id, key, path, identity, identity_index FROM samples WHERE id IN ({','.join('?' * len(chunk))})"
            got = self._all(q, chunk)
            by_id.update(zip([r[0] for r in got], self._materialise(got)))
        return [Pair(by_id[a], by_id[b], bool(g)) for a, b, g in rows]

    def has_pairs(self, protocol: str) -> bool:
        return bool(self._all("SELECT 1 FROM pairs WHERE protocol = ? LIMIT 1", [protocol]))

    def summary(self) -> dict[str, Any]:
        """Counts for `db info`: samples, identities, protocols with their groups, attributes."""
        protos: dict[str, dict[str, int]] = {}
        for g in self.groups():
            protos.setdefault(g.protocol, {})[g.group + (f"/{g.purpose}" if g.purpose else "")] = g.samples
        return {"path": os.fspath(self.path), "kind": self.kind, "root": os.fspath(self.root),
                "samples": self.num_samples(), "identities": len(self.identities()),
                "protocols": protos, "attributes": self.attribute_names(),
                "pairs": {p: n for p, n in self._all("SELECT protocol, COUNT(*) FROM pairs GROUP BY protocol")}}


def missing_files(samples: Iterable[Sample]) -> list[Sample]:
    return [s for s in samples if not s.file.is_file()]


def check_files(samples: Sequence[Sample], *, database: Database | None = None) -> None:
    """InputError naming the first missing file (and how many are missing) when any sample's file is absent."""
    missing = missing_files(samples)
    if missing:
        where = f" (database root {os.fspath(database.root)!r}; pass the root if the files moved)" if database else ""
        raise InputError(f"{len(missing)} of {len(samples)} sample files are missing, the first: "
                         f"{os.fspath(missing[0].file)!r}{where}")


def open_in_memory(content: IndexContent, *, name: str | None = None) -> Database:
    """A Database over `content` without writing a file (a folder given where an index is accepted)."""
    if not content.num_samples:
        raise InputError(f"no samples found under {os.fspath(content.root)!r}")
    con = sqlite3.connect(":memory:")
    content._fill(con)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    return Database(Path(name or content.root), con, meta, Path(meta["root"]))


def open_database(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None) -> Database:
    """Open an index written by `IndexContent.write`; InputError naming the file when it is not one."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"database index {os.fspath(p)!r} does not exist (build one with `synthbio db build`)")
    with open(p, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise InputError(f"{os.fspath(p)!r} is not a database index (not an SQLite file)")
    try:
        con = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True)
        meta = dict(con.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{os.fspath(p)!r} is not a readable database index: {exc}") from None
    if meta.get("format") != FORMAT:
        con.close()
        raise InputError(f"{os.fspath(p)!r} is an SQLite file but not a synthbio database index")
    if int(meta.get("version", "0")) > FORMAT_VERSION:
        con.close()
        raise InputError(f"{os.fspath(p)!r} is index format {meta['version']}, newer than this synthbio "
                         f"reads ({FORMAT_VERSION}); upgrade synthbio")
    base = Path(root) if root is not None else Path(meta["root"])
    if root is not None and not base.is_dir():
        con.close()
        raise InputError(f"database root {os.fspath(base)!r} is not a folder")
    return Database(p, con, meta, base)
