"""`synthbio translate testbed`: two image domains with identity ground truth, to prove a translator offline.

Kinds:

- `fingerprints`: procedural fingers rendered under two impression styles
  (`TESTBED_STYLES`): A, a clean live-scan capture (thin dark ridges, light
  background, little noise); B, an inked or worn capture (thick wet ridges,
  grey background, low contrast, blur, noise, creases). Impression k of a
  finger has the same geometry in both styles (the style settings do not
  change the geometric draws), so test pairs are pixel-aligned.
- `branches`: two outputs of a multi-branch generator (`synthbio demo`'s
  RGB + NIR model, or any `--branches rgb:3,nir:1` model): seed s in both
  branches is one identity, pixel-aligned.

Layout (identities are folders, as synthbio datasets):

    DIR/config.json
    DIR/manifest.jsonl                     one line per identity, files with sha256
    DIR/train/A/<id>/<k>.png               training identities, first half: domain A only
    DIR/train/B/<id>/<k>.png               second half: domain B only (unpaired)
    DIR/test/A/<id>/<k>.png                held-out identities in both domains
    DIR/test/B/<id>/<k>.png                  (same names: pixel-aligned pairs)

Every identity is a function of (seed, index); files are written atomically
and an identity's manifest line follows its files, so a killed run resumes.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import encode_png
from synthbio.io.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    read_manifest,
    rewrite_manifest,
)
from synthbio.utils.hashing import (
    atomic_write_bytes,
    atomic_write_json,
    sha256_bytes,
    sha256_file,
)
from synthbio.utils.progress import Progress

KINDS = ("fingerprints", "branches")
CONFIG_NAME = "config.json"


def testbed_styles(width: int, height: int) -> dict[str, Any]:
    """The two impression styles of the fingerprint test bed (ImpressionConfig each)."""
    from synthbio.fingerprints.impressions import ImpressionConfig

    clean = ImpressionConfig(width=width, height=height, noise_std_range=(1.0, 3.0), blur_sigma_range=(0.3, 0.6),
                             background_range=(215.0, 245.0), ridge_grey_range=(20.0, 60.0),
                             pressure_range=(0.3, 0.7), moisture_range=(0.4, 0.7), max_creases=0, max_scratches=0,
                             ink_variation=0.2)
    inked = ImpressionConfig(width=width, height=height, noise_std_range=(8.0, 14.0), blur_sigma_range=(1.0, 1.6),
                             background_range=(150.0, 190.0), ridge_grey_range=(60.0, 110.0),
                             pressure_range=(0.6, 1.0), moisture_range=(0.6, 0.95), max_creases=5, max_scratches=3,
                             ink_variation=0.5)
    return {"A": clean, "B": inked}


@dataclass(frozen=True)
class TranslationTestbedConfig:
    """What `synthbio translate testbed` makes; saved in DIR/config.json.

    kind: 'fingerprints' or 'branches'.
    train_identities: training identities (the first half go to A, the rest to B).
    test_identities: held-out identities, rendered in both domains.
    samples: images per identity (impressions; for 'branches' always 1).
    width, height: fingerprint image size in pixels at 500 dpi.
    model, branches: 'branches' only: a multi-branch generator and the two
        outputs used as A and B (default: its first two).
    truncation_psi: 'branches' only.
    overwrite: replace a test bed made with other settings in outdir (only the files it wrote).
    """

    outdir: str
    kind: str = "fingerprints"
    train_identities: int = 200
    test_identities: int = 50
    samples: int = 4
    seed: int = 0
    width: int = 256
    height: int = 256
    model: str | None = None
    branches: tuple[str, str] | None = None
    truncation_psi: float = 0.7
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        if self.kind not in KINDS:
            raise InputError(f"--kind must be one of {KINDS}, got {self.kind!r}")
        if self.train_identities < 2 or self.test_identities < 1:
            raise InputError(f"--train-identities must be >= 2 and --test-identities >= 1, got "
                             f"{self.train_identities} and {self.test_identities}")
        if not 1 <= self.samples <= 100:
            raise InputError(f"--samples must be in 1..100, got {self.samples}")
        if self.width < 64 or self.height < 64:
            raise InputError(f"image size {self.width}x{self.height} is too small (min 64x64)")
        if self.kind == "branches":
            if self.model is None:
                raise InputError("--kind branches needs a multi-branch generator (-m/--model), e.g. the one "
                                 "`synthbio demo` saves in DIR/model")
            if self.samples != 1:
                object.__setattr__(self, "samples", 1)
        if self.branches is not None:
            object.__setattr__(self, "branches", tuple(self.branches))
            if len(self.branches) != 2 or self.branches[0] == self.branches[1]:
                raise InputError(f"--branches must name two different outputs, got {self.branches}")

    def to_dict(self) -> dict[str, Any]:
        """The settings that decide the content (overwrite is how a run starts, not what it makes)."""
        d = dataclasses.asdict(self)
        d.pop("overwrite")
        return d


@dataclass(frozen=True)
class TranslationTestbedResult:
    outdir: Path
    made: int
    kept: int


def identity_name(index: int) -> str:
    return f"{index:05d}"


def _plan(config: TranslationTestbedConfig) -> list[tuple[int, str, tuple[str, ...]]]:
    """(identity index, split, domains) for every identity."""
    half = config.train_identities // 2
    out = [(i, "train", ("A",) if i < half else ("B",)) for i in range(config.train_identities)]
    out += [(i, "test", ("A", "B")) for i in range(config.train_identities,
                                                   config.train_identities + config.test_identities)]
    return out


def _identity_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class _FingerprintSource:
    def __init__(self, config: TranslationTestbedConfig) -> None:
        from synthbio.fingerprints.master import MasterConfig

        self.config = config
        self.styles = testbed_styles(config.width, config.height)
        self.master_config = MasterConfig()

    def describe(self) -> dict[str, Any]:
        return {d: _jsonable(dataclasses.asdict(s)) for d, s in self.styles.items()}

    def images(self, index: int, domains: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
        from synthbio.fingerprints.impressions import make_impression
        from synthbio.fingerprints.master import generate_master

        seed = _identity_seed(self.config.seed, index)
        master = generate_master(seed, self.master_config)
        return {d: [make_impression(master, seed, k, self.styles[d]).image for k in range(self.config.samples)]
                for d in domains}


class _BranchSource:
    def __init__(self, config: TranslationTestbedConfig) -> None:
        from synthbio.checkpoints.loading import load_generator

        self.config = config
        self.G = load_generator(config.model)  # type: ignore[arg-type]
        names = list(self.G.branch_names)
        chosen = config.branches or tuple(names[:2])
        if len(names) < 2 or any(b not in names for b in chosen):
            raise InputError(f"--model {config.model}: needs two outputs among {names}, asked for {list(chosen)}")
        self.chosen = {"A": chosen[0], "B": chosen[1]}

    def describe(self) -> dict[str, Any]:
        return {"model": self.config.model, "branches": self.chosen, "truncation_psi": self.config.truncation_psi}

    def images(self, index: int, domains: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
        from synthbio.generation.sampling import map_seeds, synthesize
        from synthbio.io.images import to_uint8

        seed = _identity_seed(self.config.seed, index) % (2**32)
        _, ws = map_seeds(self.G, [seed], truncation_psi=self.config.truncation_psi)
        out = synthesize(self.G, ws, seeds=[seed], noise_mode="const")
        images = {}
        for d in domains:
            a = to_uint8(out[self.chosen[d]])[0]
            images[d] = [a[:, :, 0] if a.shape[2] == 1 else a]
        return images


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def describe(config: TranslationTestbedConfig) -> dict[str, Any]:
    source = _FingerprintSource(config) if config.kind == "fingerprints" else _BranchSource(config)
    return {"command": "translate testbed", "config": config.to_dict(), "source": source.describe(),
            "synthbio_version": synthbio.__version__}


def _intact(outdir: Path, record: dict[str, Any]) -> bool:
    try:
        return all((outdir / f["path"]).is_file() and sha256_file(outdir / f["path"]) == f["sha256"]
                   for f in record["files"])
    except (KeyError, TypeError, OSError):
        return False


def _clear_testbed(outdir: Path) -> None:
    """Delete what an earlier test bed wrote there (the files its manifest lists, manifest, config), nothing else."""
    parents: set[Path] = set()
    for rec in read_manifest(outdir / MANIFEST_NAME).records:
        for f in rec.get("files", []) if isinstance(rec.get("files"), list) else []:
            if isinstance(f, dict) and isinstance(f.get("path"), str):
                (outdir / f["path"]).unlink(missing_ok=True)
                parents.update((outdir / f["path"]).parents)
    (outdir / MANIFEST_NAME).unlink(missing_ok=True)
    (outdir / CONFIG_NAME).unlink(missing_ok=True)
    for folder in sorted((p for p in parents if outdir in p.parents), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def make_testbed(config: TranslationTestbedConfig, *, log: bool = False) -> TranslationTestbedResult:
    """Write (or complete) the test bed; a folder made with other settings is refused."""
    outdir = Path(config.outdir)
    meta = describe(config)
    config_path = outdir / CONFIG_NAME
    if config_path.is_file():
        import json

        saved = json.loads(config_path.read_text(encoding="utf-8"))
        if saved.get("config") != _jsonable(meta["config"]) or saved.get("source") != meta["source"]:
            if not config.overwrite:
                raise OutputDirError(f"--outdir {str(outdir)!r} holds a test bed made with other settings; "
                                     "choose another folder or pass --overwrite")
            _clear_testbed(outdir)
    elif outdir.exists() and any(outdir.iterdir()) and not config.overwrite:
        raise OutputDirError(f"--outdir {str(outdir)!r} is not empty and holds no test bed; choose another folder "
                             "or pass --overwrite (only a test bed's own files are ever deleted)")
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, meta)
    source = _FingerprintSource(config) if config.kind == "fingerprints" else _BranchSource(config)
    contents = read_manifest(outdir / MANIFEST_NAME)
    kept = [r for r in contents.records if _intact(outdir, r)]
    if len(kept) != len(contents.records) or contents.dropped_lines:
        rewrite_manifest(outdir / MANIFEST_NAME, kept)  # drop lines whose files are gone or changed
    done = {r["identity"] for r in kept}
    plan = _plan(config)
    made = 0
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(log) as bar:
        task = bar.add_task("test bed identities", total=len(plan), completed=sum(1 for p in plan if p[0] in done))
        for index, split, domains in plan:
            if index in done:
                continue
            files = []
            for d, images in source.images(index, domains).items():
                for k, img in enumerate(images):
                    rel = f"{split}/{d}/{identity_name(index)}/{k:02d}.png"
                    data = encode_png(img)
                    (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(outdir / rel, data)
                    files.append({"path": rel, "sha256": sha256_bytes(data)})
            manifest.append({"identity": index, "split": split, "files": files})
            made += 1
            bar.advance(task)
    return TranslationTestbedResult(outdir=outdir, made=made, kept=len(done))
