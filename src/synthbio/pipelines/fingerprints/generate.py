"""`synthbio fingerprints generate`: a synthetic fingerprint dataset on disk.

Layout (finger 0, impression 0):

    DIR/config.json             FingerprintDatasetConfig + the synthesis settings
    DIR/manifest.jsonl          one line per completed finger
    DIR/00000/00.png            impression image, 8-bit grey, dark ridges
    DIR/00000/00.iso            ISO/IEC 19794-2:2005 ground-truth template
    DIR/00000/00.xyt            the same minutiae as NIST .xyt (NBIS convention)
    DIR/00000/00.json           full ground truth: minutiae, singularities,
                                finger class, seeds, the impression's transform

Determinism: finger i gets the seed `SeedSequence([seed, i])` and its
impression k is `make_impression(master, finger_seed, k)`, so every file is a
function of (seed, i, k) and the settings, whatever the worker count or order.

Resuming: every file is written atomically (temp file, fsync, rename) and a
finger's manifest line is appended and fsynced only after all its files are in
place. On restart the manifest's intact lines are kept when their files still
hash as recorded; a partial last line is dropped, stray temp files are
removed and every other finger is (re)made. A directory holding another run
(other settings, or another command's results) is refused with OutputDirError
unless `overwrite`, which deletes only what that run wrote
(`synthbio.pipelines.common.rundir`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError
from synthbio.io.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    read_manifest,
    rewrite_manifest,
)
from synthbio.pipelines.common.rundir import claim_run_folder
from synthbio.utils.hashing import (
    atomic_write_bytes,
    atomic_write_json,
    sha256_bytes,
    sha256_file,
)
from synthbio.utils.progress import Progress
from synthbio.utils.seeds import check_seed

CONFIG_NAME = "config.json"
COMMAND = "fingerprints generate"
LAYOUT_VERSION = 1
TEMPLATE_FILES = ("png", "iso", "xyt", "json")
# config.json keys that fix the content of a finger; a directory holds one value of each.
_RUN_KEYS = ("seed", "impressions", "fp_class", "width", "height", "layout_version", "master", "impression", "sensor")


@dataclass(frozen=True)
class FingerprintDatasetConfig:
    """What `synthbio fingerprints generate` makes; saved in DIR/config.json.

    fingers: number of fingers (ids 0..fingers-1). Rerunning with more fingers
        extends a directory; its other settings must match.
    impressions: impressions per finger.
    seed: dataset seed; finger i's seed is derived from (seed, i).
    fp_class: make every finger this class (None = natural class mix).
    width, height: sensor size in pixels at 500 dpi.
    sensor: a sensor preset (``optical``, ``capacitive``, ``ink``, ``latent``;
        see `synthbio.fingerprints.impressions.SENSOR_PRESETS`), a comma list
        of them, or ``mixed`` (all four). With several, each impression's
        sensor is drawn from them by its own seed, so a finger's impressions
        may come from different sensors (cross-sensor comparisons).
    workers: processes (1 = in this process); never changes the files.
    overwrite: replace another run's dataset in `outdir` instead of refusing.
    """

    outdir: str
    fingers: int
    impressions: int = 4
    seed: int = 0
    fp_class: str | None = None
    width: int = 416
    height: int = 560
    sensor: str = "optical"
    workers: int = 1
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        check_seed(self.seed)
        from synthbio.fingerprints.impressions import parse_sensors

        parse_sensors(self.sensor)
        if self.fingers < 1:
            raise InputError(f"--fingers must be >= 1, got {self.fingers}")
        if not 1 <= self.impressions <= 100:
            raise InputError(f"--impressions must be in 1..100, got {self.impressions}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        if self.width < 64 or self.height < 64:
            raise InputError(f"sensor size {self.width}x{self.height} is too small (min 64x64)")
        if self.fp_class is not None:
            from synthbio.fingerprints.orientation import check_class

            check_class(self.fp_class)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FingerprintDatasetResult:
    outdir: Path
    generated: list[int]  # fingers made by this call
    kept: list[int]  # fingers found complete from an earlier call
    redone: list[int]  # fingers listed earlier whose files were missing or changed
    manifest: Path
    config: Path


@dataclass(frozen=True)
class _FingerTask:
    """What a worker needs for one finger (picklable, for spawned processes)."""

    outdir: str
    finger: int
    dataset_seed: int
    impressions: int
    fp_class: str | None
    width: int
    height: int
    sensors: tuple[str, ...] = ("optical",)


# --- seeds, names, settings ---------------------------------------------------------------


def finger_seed(dataset_seed: int, finger: int) -> int:
    """Seed of finger `finger`: a 32-bit word of SeedSequence([dataset_seed, finger])."""
    return int(np.random.SeedSequence([int(dataset_seed), int(finger)]).generate_state(1)[0])


def finger_dirname(finger: int) -> str:
    return f"{finger:05d}"


def impression_relpath(finger: int, impression: int, ext: str) -> str:
    return f"{finger_dirname(finger)}/{impression:02d}.{ext}"


def _synthesis_configs(fp_class: str | None, width: int, height: int,
                       names: tuple[str, ...] = ("optical",)) -> tuple[Any, dict[str, Any]]:
    """(MasterConfig, {sensor: ImpressionConfig})."""
    from synthbio.fingerprints.impressions import sensor_preset
    from synthbio.fingerprints.master import MasterConfig

    impressions = {n: sensor_preset(n, width=width, height=height) for n in names}
    return MasterConfig(fp_class=fp_class), impressions  # type: ignore[arg-type]


def describe(config: FingerprintDatasetConfig) -> dict[str, Any]:
    """The content of config.json: the command's config plus everything it resolved to."""
    from synthbio.fingerprints.impressions import parse_sensors

    names = parse_sensors(config.sensor)
    master, impression = _synthesis_configs(config.fp_class, config.width, config.height, names)
    described: dict[str, Any] = {
        "command": COMMAND,
        "config": config.to_dict(),
        "seed": config.seed,
        "impressions": config.impressions,
        "fp_class": config.fp_class,
        "width": config.width,
        "height": config.height,
        "layout_version": LAYOUT_VERSION,
        "master": _jsonable(dataclasses.asdict(master)),
        "sensor": list(names),
        "impression": {n: _jsonable(dataclasses.asdict(c)) for n, c in impression.items()},
        "synthbio_version": synthbio.__version__,
    }
    described["run"] = {k: described[k] for k in _RUN_KEYS}  # what decides a finger's files
    return described


def _jsonable(obj: Any) -> Any:
    """Tuples -> lists, so a dict compares equal to its JSON round trip."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


# --- one finger ---------------------------------------------------------------------------


def make_finger_files(task: _FingerTask) -> dict[str, Any]:
    """Write every file of one finger (each atomically); return its manifest record."""
    from synthbio.fingerprints.impressions import impression_sensor, make_impression
    from synthbio.fingerprints.master import generate_master
    from synthbio.fingerprints.truth_files import encode_ground_truth
    from synthbio.io.images import encode_png

    master_cfg, imp_cfgs = _synthesis_configs(task.fp_class, task.width, task.height, task.sensors)
    seed = finger_seed(task.dataset_seed, task.finger)
    master = generate_master(seed, master_cfg)
    folder = Path(task.outdir) / finger_dirname(task.finger)
    folder.mkdir(parents=True, exist_ok=True)
    impressions = []
    for k in range(task.impressions):
        imp = make_impression(master, seed, k, imp_cfgs[impression_sensor(task.sensors, seed, k)])
        template = imp.template()
        meta = {
            "finger_class": master.fp_class,
            "finger": task.finger,
            "impression": k,
            "finger_seed": seed,
            "dataset_seed": task.dataset_seed,
            "transform": imp.transform,
            "sensor": imp.transform["sensor"],
            # Where the skin conditions changed the ridge topology: a matcher may
            # find minutiae there that the finger does not have.
            "artefacts": imp.artefacts.to_dict(),
        }
        payloads = {"png": encode_png(imp.image), **encode_ground_truth(template, meta)}
        files = {}
        for ext, data in payloads.items():
            rel = impression_relpath(task.finger, k, ext)
            _write_file(Path(task.outdir) / rel, data)
            files[ext] = {"path": rel, "sha256": sha256_bytes(data)}
        impressions.append({"index": k, "files": files, "minutiae": len(template.minutiae)})
    return {
        "finger": task.finger,
        "seed": seed,
        "class": master.fp_class,
        "singularities": [{"x": s.x, "y": s.y, "kind": s.kind} for s in master.singularities],
        "impressions": impressions,
    }


def _write_file(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


# --- resuming -----------------------------------------------------------------------------


def _record_is_intact(outdir: Path, rec: dict[str, Any], impressions: int) -> bool:
    try:
        imps = rec["impressions"]
        if len(imps) != impressions:
            return False
        for imp in imps:
            for ext in TEMPLATE_FILES:
                entry = imp["files"][ext]
                path = outdir / entry["path"]
                if not path.is_file() or sha256_file(path) != entry["sha256"]:
                    return False
    except (KeyError, TypeError):
        return False
    return True


def remove_temp_files(outdir: Path) -> int:
    """Delete the temp files an interrupted atomic write leaves (`.<name>.*.tmp`)."""
    n = 0
    for folder in [outdir, *[p for p in outdir.iterdir() if p.is_dir() and p.name.isdigit()]]:
        for p in folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)
            n += 1
    return n


def _legacy_run(saved: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run key of a folder written before config.json held one (None: not a dataset of this tool)."""
    return {k: saved.get(k) for k in _RUN_KEYS} if saved else None


def _prepare(config: FingerprintDatasetConfig) -> tuple[Path, dict[int, dict[str, Any]], list[int]]:
    """Validate DIR, keep the intact fingers, clean up; return (outdir, kept records, redone ids)."""
    want = describe(config)
    folder = claim_run_folder(config.outdir, command=COMMAND, run=want["run"], overwrite=config.overwrite,
                              legacy_run=_legacy_run)
    outdir = folder.outdir
    contents = read_manifest(outdir / MANIFEST_NAME)
    kept: dict[int, dict[str, Any]] = {}
    redone: list[int] = []
    for rec in contents.records:
        finger = rec.get("finger")
        if not isinstance(finger, int) or finger in kept:
            continue  # a duplicate line cannot happen in our own writes; keep the first
        if _record_is_intact(outdir, rec, config.impressions):
            kept[finger] = rec
        else:
            redone.append(finger)
    if contents.dropped_lines or len(kept) != len(contents.records):
        rewrite_manifest(outdir / MANIFEST_NAME, [kept[f] for f in sorted(kept)])
    remove_temp_files(outdir)
    atomic_write_json(outdir / CONFIG_NAME, want)
    return outdir, kept, redone


def single_threaded_worker() -> None:
    """Pool initializer: one OpenCV thread per worker process (the pool is the parallelism)."""
    import cv2

    cv2.setNumThreads(1)


# --- the job ------------------------------------------------------------------------------


def generate_dataset(
    config: FingerprintDatasetConfig,
    *,
    progress: bool = True,
    on_finger: Callable[[int], None] | None = None,
) -> FingerprintDatasetResult:
    """Make (or complete) the dataset described by `config`. See the module docstring."""
    outdir, kept, redone = _prepare(config)
    from synthbio.fingerprints.impressions import parse_sensors

    todo = [f for f in range(config.fingers) if f not in kept]
    tasks = [
        _FingerTask(str(outdir), f, config.seed, config.impressions, config.fp_class, config.width, config.height,
                    parse_sensors(config.sensor))
        for f in todo
    ]
    done: list[int] = []
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(progress and bool(tasks)) as bar:
        job = bar.add_task("fingers", total=len(tasks))

        def finish(rec: dict[str, Any]) -> None:
            manifest.append(rec)  # only now is the finger complete
            done.append(rec["finger"])
            bar.advance(job)
            if on_finger is not None:
                on_finger(rec["finger"])

        if config.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                finish(make_finger_files(task))
        else:
            # spawn: no fork of a parent holding threads or open handles.
            with ProcessPoolExecutor(
                max_workers=config.workers, mp_context=get_context("spawn"), initializer=single_threaded_worker
            ) as pool:
                futures = [pool.submit(make_finger_files, t) for t in tasks]
                for fut in as_completed(futures):
                    finish(fut.result())
    return FingerprintDatasetResult(
        outdir=outdir,
        generated=sorted(done),
        kept=sorted(kept),
        redone=sorted(set(redone) & set(done)),
        manifest=outdir / MANIFEST_NAME,
        config=outdir / CONFIG_NAME,
    )


@dataclass(frozen=True)
class DatasetImpression:
    """One impression as listed in a dataset's manifest (paths are absolute)."""

    finger: int
    index: int
    fp_class: str
    files: dict[str, Path]
    sha256: dict[str, str]


@dataclass(frozen=True)
class DatasetIndex:
    outdir: Path
    fingers: list[int]
    classes: dict[int, str]
    impressions: dict[int, list[DatasetImpression]] = field(default_factory=dict)


def load_dataset_index(outdir: str | os.PathLike[str]) -> DatasetIndex:
    """The fingers and impressions a dataset's manifest lists (sorted by finger, then index)."""
    root = Path(outdir)
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(f"{root} has no {MANIFEST_NAME}: not a fingerprint dataset (run `synthbio fingerprints generate`)")
    records: dict[int, dict[str, Any]] = {}
    for rec in read_manifest(manifest).records:
        if isinstance(rec.get("finger"), int):
            records.setdefault(rec["finger"], rec)
    if not records:
        raise InputError(f"{manifest} lists no complete finger")
    imps: dict[int, list[DatasetImpression]] = {}
    classes: dict[int, str] = {}
    for finger in sorted(records):
        rec = records[finger]
        try:
            classes[finger] = str(rec["class"])
            imps[finger] = [
                DatasetImpression(
                    finger=finger,
                    index=int(imp["index"]),
                    fp_class=str(rec["class"]),
                    files={ext: root / e["path"] for ext, e in imp["files"].items()},
                    sha256={ext: str(e["sha256"]) for ext, e in imp["files"].items()},
                )
                for imp in sorted(rec["impressions"], key=lambda d: int(d["index"]))
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{manifest}: malformed record for finger {finger}: {exc!r}") from None
    return DatasetIndex(outdir=root, fingers=sorted(records), classes=classes, impressions=imps)
