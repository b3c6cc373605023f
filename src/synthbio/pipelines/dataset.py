"""`synthbio dataset generate`: an identity-labelled synthetic dataset on disk.

Layout (identity 3, samples per identity M = 3):

    DIR/config.json                      the DatasetConfig and what it resolved to
    DIR/00003/reference.png              ImageFolder layout: one folder per identity
    DIR/00003/variation_0.png
    DIR/00003/variation_1.png
    DIR/00003/latents.safetensors        the identity's z / ws / embeddings (resume, merge;
                                         not an image, so ImageFolder readers skip it)
    DIR/references.safetensors           every reference of the dataset (cache, see below)
    DIR/manifest.jsonl                   one line per written sample
    DIR/samples.h5                       /<identity:05d>/<label>/ groups, rebuilt at the end

M counts every image of an identity: the reference and M - 1 variations.

Determinism: identity i's seed is a word of `SeedSequence([seed, i])` (with
rejection references: of the i-th accepted candidate, see
`synthbio.pipelines.dataset_engines`), sample k of it gets `SeedSequence([seed,
i, k])`, so every file is a function of the config, whatever the shard, batch
size, backend or interruption.

References and shards: references have inter-class constraints (rejection
needs the set accepted so far, Langevin moves them all together), so they
are computed once for the WHOLE dataset, deterministically, by every run
(shards included) and cached in DIR/references.safetensors; a shard then
makes only the variations of its identities. Every shard therefore holds the
same references as an unsharded run, and the merged dataset equals the
unsharded one, file for file. `--shard K/N` takes identities i with
i % N == K (strided, so shards stay balanced and a longer run extends each).

Resuming: images, latents and references are written atomically; an
identity's manifest lines are appended (fsynced) only after all its files.
On restart, identities whose M records are present and whose files hash as
recorded are kept; a partial identity is removed and redone; temp files of a
killed write are deleted. A directory holding another run's dataset is
refused with OutputDirError.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError, OutputDirError
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
from synthbio.utils.hashing import atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file
from synthbio.utils.seeds import check_seed

CONFIG_NAME = "config.json"
LATENTS_NAME = "latents.safetensors"
REFERENCES_NAME = "references.safetensors"
LAYOUT_VERSION = 1
REFERENCE_LABEL = "reference"

MODALITIES = ("face", "fingerprint")
REFERENCE_METHODS = ("rejection", "langevin", "derivative-free")
VARIATION_METHODS = {
    "face": ("dispersion", "disco", "style-mixing"),
    "fingerprint": ("procedural", "generator"),
}
BACKENDS = ("local", "ray")
# Config fields that never change a file of the dataset: a directory may be resumed with other values.
_RUNTIME_FIELDS = ("outdir", "shard", "backend", "ray_address", "ray_shards", "batch_size", "device")


@dataclass(frozen=True)
class DatasetConfig:
    """Everything `synthbio dataset generate` needs; saved in DIR/config.json.

    model: generator (registry name or checkpoint path); None only for
        procedural fingerprints, which need no generator.
    identity_model: recogniser name (`synthbio.identity.models`), e.g.
        "dlib-resnet", "pixel-random" (tests only), "nbis-bozorth3".
    identities: N, identity ids 0..N-1. samples_per_identity: M >= 1
        (the reference and M - 1 variations).
    truncation_psi: truncation of reference (and style-mixing) latents.
    inter_threshold: between references of two identities. Vector models: the
        minimum angle in radians (None = 1.4, the ICT of Geissbuehler et al.);
        template matchers: the maximum score (None = the model's threshold).
    intra_threshold: between a variation and its reference. Vector models:
        the maximum angle in radians; template matchers: the minimum score
        (None = the model's threshold, in either case).
    max_intra_similarity: two variations of one identity may be at most this
        similar (drops near-duplicates; ArcBiFaceGAN uses cosine 0.853); None = no limit.
    privacy_reference: an ImageFolder of REAL identities; references whose
        similarity to any real image reaches privacy_threshold are rejected.
        privacy_threshold None = derived from that folder (mean - 2 std of its
        genuine similarities), but never below the identity model's decision
        threshold (a matcher's genuine scores can put mean - 2 std below 0).
    shard: "K/N": make only identities i with i % N == K.
    backend: "local" (this process) or "ray" (ray_shards Ray tasks on the
        cluster at ray_address, or a local Ray instance when None, then merged).
    directions: direction files (`synthbio.editing.directions`) DisCo varies along.
    fp_width, fp_height: sensor size of procedural fingerprints (500 dpi).
    max_attempts: tries per variation before keeping the best one when the
        intra-class check fails (recorded as passed=false).
    """

    outdir: str
    model: str | None = None
    identity_model: str = "pixel-random"
    identity_weights: str | None = None
    modality: str = "face"
    identities: int = 10
    samples_per_identity: int = 4
    seed: int = 0
    truncation_psi: float = 0.7
    noise_mode: str = "const"
    reference_method: str = "rejection"
    variation_method: str = "style-mixing"
    inter_threshold: float | None = None
    intra_threshold: float | None = None
    max_intra_similarity: float | None = None
    privacy_reference: str | None = None
    privacy_threshold: float | None = None
    directions: tuple[str, ...] = ()
    fp_width: int = 416
    fp_height: int = 560
    max_attempts: int = 4
    shard: str = "0/1"
    backend: str = "local"
    ray_address: str | None = None
    ray_shards: int = 2
    batch_size: int = 8
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "truncation_psi", float(self.truncation_psi))
        object.__setattr__(self, "directions", tuple(os.fspath(d) for d in self.directions))
        check_seed(self.seed)
        if self.modality not in MODALITIES:
            raise InputError(f"modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        methods = VARIATION_METHODS[self.modality]
        if self.variation_method not in methods:
            raise InputError(
                f"variation method {self.variation_method!r} does not apply to {self.modality}s: use {', '.join(methods)}"
            )
        if self.reference_method not in REFERENCE_METHODS:
            raise InputError(f"reference method {self.reference_method!r} is not one of {', '.join(REFERENCE_METHODS)}")
        if self.model is None and self.variation_method != "procedural":
            raise InputError("no generator given (--model); only procedural fingerprints need none")
        if self.identities < 1:
            raise InputError(f"--identities must be >= 1, got {self.identities}")
        if self.samples_per_identity < 1:
            raise InputError(f"--samples must be >= 1, got {self.samples_per_identity}")
        if self.batch_size < 1 or self.max_attempts < 1 or self.ray_shards < 1:
            raise InputError("batch size, max attempts and ray shards must be >= 1")
        if self.backend not in BACKENDS:
            raise InputError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.fp_width < 64 or self.fp_height < 64:
            raise InputError(f"fingerprint sensor {self.fp_width}x{self.fp_height} is too small (min 64x64)")
        parse_shard(self.shard)
        from synthbio.generation.sampling import check_noise_mode

        check_noise_mode(self.noise_mode)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["directions"] = list(self.directions)  # as JSON gives it back, so saved and new configs compare equal
        return d

    def content(self) -> dict[str, Any]:
        """The fields that fix the dataset's files (all but outdir, shard and runtime knobs)."""
        return {k: v for k, v in self.to_dict().items() if k not in _RUNTIME_FIELDS}


@dataclass(frozen=True)
class DatasetResult:
    outdir: Path
    identities: list[int]  # the identities of this shard
    generated: list[int]  # identities made by this call
    kept: list[int]  # identities found complete from an earlier call
    redone: list[int]  # identities found partial or changed, made again
    manifest: Path
    samples: Path
    config: Path


# --- seeds, shards, names -----------------------------------------------------------------


def derived_seed(*words: int) -> int:
    """A 32-bit seed from SeedSequence(words): independent streams per (dataset seed, identity, sample)."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1)[0])


def parse_shard(spec: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N; InputError naming the spec otherwise."""
    parts = str(spec).split("/")
    try:
        k, n = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"shard {spec!r} must look like K/N, e.g. 0/4") from None
    if n < 1 or not 0 <= k < n:
        raise InputError(f"shard {spec!r}: need 0 <= K < N")
    return k, n


def shard_identities(identities: int, shard: str) -> list[int]:
    """Identities of shard K/N: i with i % N == K."""
    k, n = parse_shard(shard)
    return list(range(k, identities, n))


def sample_labels(m: int) -> list[str]:
    return [REFERENCE_LABEL] + [f"variation_{i}" for i in range(m - 1)]


def identity_dirname(identity: int) -> str:
    return f"{identity:05d}"


def image_relpath(identity: int, label: str) -> str:
    return f"{identity_dirname(identity)}/{label}.png"


def latents_relpath(identity: int) -> str:
    return f"{identity_dirname(identity)}/{LATENTS_NAME}"


# --- per-identity latents (safetensors: deterministic bytes) ---------------------------------


def encode_arrays(arrays: dict[str, np.ndarray | None], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes of the non-None arrays; equal inputs give equal bytes.

    The metadata goes in ONE header entry (sorted JSON): safetensors keeps
    metadata in a hash map whose order, and so the file's bytes, would
    otherwise change from process to process.
    """
    from safetensors.numpy import save

    meta = {"synthbio": json.dumps(metadata or {}, sort_keys=True)}
    return save({k: np.ascontiguousarray(v) for k, v in arrays.items() if v is not None}, metadata=meta)


def arrays_metadata(path: Path) -> dict[str, str]:
    """The metadata `encode_arrays` stored ({} when absent or unreadable)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("synthbio", "{}"))
    except Exception:  # safetensors raises its own error types for corrupt files
        return {}
    return meta if isinstance(meta, dict) else {}


def decode_arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return load(path.read_bytes())
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise InputError(f"cannot read {os.fspath(path)!r}: {exc}") from None


# --- the output directory -----------------------------------------------------------------


def describe(config: DatasetConfig) -> dict[str, Any]:
    """config.json content (the resolved model hash is added by the job)."""
    return {
        "command": "dataset generate",
        "config": config.to_dict(),
        "content": config.content(),
        "identities_in_shard": len(shard_identities(config.identities, config.shard)),
        "layout_version": LAYOUT_VERSION,
        "synthbio_version": synthbio.__version__,
    }


def read_config(outdir: Path) -> dict[str, Any]:
    path = outdir / CONFIG_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{outdir} has no {CONFIG_NAME}: not a dataset made by `synthbio dataset generate`") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("content"), dict):
        raise InputError(f"{path} is not a dataset config")
    return data


def _check_same_run(outdir: Path, want: dict[str, Any], have_records: bool) -> None:
    if not (outdir / CONFIG_NAME).exists():
        if have_records:
            raise OutputDirError(f"{outdir} holds a manifest but no {CONFIG_NAME}: not a dataset of this tool")
        return
    try:
        have = read_config(outdir)
    except InputError as exc:
        raise OutputDirError(str(exc)) from None
    keys = sorted(set(have["content"]) | set(want["content"]))
    diffs = [k for k in keys if have["content"].get(k) != want["content"].get(k)]
    for key in ("model_sha256", "layout_version"):
        if key in have and key in want and have[key] != want[key]:
            diffs.append(key)
    if have["config"].get("shard") != want["config"]["shard"]:
        diffs.append("shard")
    if diffs:
        raise OutputDirError(
            f"{outdir} holds another dataset (different {', '.join(diffs)}); use another --outdir or the same settings"
        )


def _record_is_intact(outdir: Path, rec: dict[str, Any]) -> bool:
    try:
        for path_key, sha_key in (("path", "sha256"), ("latents", "latents_sha256")):
            p = outdir / rec[path_key]
            if not p.is_file() or sha256_file(p) != rec[sha_key]:
                return False
    except (KeyError, TypeError):
        return False
    return True


def complete_identities(
    outdir: Path, records: Iterable[dict[str, Any]], labels: list[str]
) -> tuple[dict[int, list[dict[str, Any]]], set[int]]:
    """Split manifest records into (complete identities -> records in label order, partial identity ids)."""
    by_id: dict[int, dict[str, dict[str, Any]]] = {}
    for rec in records:
        ident, label = rec.get("identity"), rec.get("label")
        if isinstance(ident, int) and isinstance(label, str):
            by_id.setdefault(ident, {}).setdefault(label, rec)
    complete: dict[int, list[dict[str, Any]]] = {}
    partial: set[int] = set()
    for ident, recs in by_id.items():
        if sorted(recs) == sorted(labels) and all(_record_is_intact(outdir, r) for r in recs.values()):
            complete[ident] = [recs[label] for label in labels]
        else:
            partial.add(ident)
    return complete, partial


def remove_temp_files(outdir: Path) -> None:
    """Temp files of atomic writes cut short by a kill (`.<name>.*.tmp`)."""
    for folder in [outdir, *[p for p in outdir.iterdir() if p.is_dir()]]:
        for p in folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)


def _prepare(config: DatasetConfig, want: dict[str, Any]) -> tuple[Path, dict[int, list[dict[str, Any]]], set[int]]:
    outdir = Path(config.outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {os.fspath(outdir)!r} as output directory: {exc.strerror}") from None
    contents = read_manifest(outdir / MANIFEST_NAME)
    _check_same_run(outdir, want, bool(contents.records))
    mine = set(shard_identities(config.identities, config.shard))
    complete, partial = complete_identities(outdir, contents.records, sample_labels(config.samples_per_identity))
    complete = {i: r for i, r in complete.items() if i in mine}
    for ident in partial:  # whatever a partial identity left is removed before it is redone
        for label in sample_labels(config.samples_per_identity):
            (outdir / image_relpath(ident, label)).unlink(missing_ok=True)
        (outdir / latents_relpath(ident)).unlink(missing_ok=True)
    kept = [r for i in sorted(complete) for r in complete[i]]
    if partial or contents.dropped_lines or len(kept) != len(contents.records):
        rewrite_manifest(outdir / MANIFEST_NAME, kept)
    remove_temp_files(outdir)
    atomic_write_json(outdir / CONFIG_NAME, want)
    return outdir, complete, partial


# --- writing one identity -----------------------------------------------------------------


def write_identity(outdir: Path, sample: Any, manifest: ManifestWriter, run: dict[str, Any]) -> None:
    """Write images, then latents, then (last) the manifest lines of one identity.

    sample: an `IdentitySamples` (synthbio.pipelines.dataset_engines).
    """
    ident = sample.identity
    (outdir / identity_dirname(ident)).mkdir(exist_ok=True)
    files = []
    for label, image in zip(sample.labels, sample.images_uint8):
        from synthbio.io.images import encode_png

        data = encode_png(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
        rel = image_relpath(ident, label)
        atomic_write_bytes(outdir / rel, data)
        files.append((rel, sha256_bytes(data)))
    meta = {"identity": str(ident), "labels": ",".join(sample.labels)}
    latents = encode_arrays({"z": sample.z, "ws": sample.ws, "embedding": sample.embeddings}, metadata=meta)
    atomic_write_bytes(outdir / latents_relpath(ident), latents)
    latents_sha = sha256_bytes(latents)
    for k, (label, (rel, sha)) in enumerate(zip(sample.labels, files)):
        manifest.append({
            "identity": ident, "label": label, "seed": sample.seeds[k], **run,
            "path": rel, "sha256": sha,
            "latents": latents_relpath(ident), "latents_sha256": latents_sha,
            "attrs": dict(sample.attrs[k]),
        })


# --- samples.h5 ---------------------------------------------------------------------------


def h5_attrs(want: dict[str, Any]) -> dict[str, Any]:
    """File attributes of samples.h5 (nothing shard-specific, so a merge equals an unsharded run)."""
    c = want["content"]
    return {
        "generator": c["model"] or "procedural",
        "generator_sha256": want.get("model_sha256") or "none",
        "embedding_model": c["identity_model"],
        "modality": c["modality"],
        "dataset_seed": c["seed"],
        "truncation_psi": c["truncation_psi"],
        "reference_method": c["reference_method"],
        "variation_method": c["variation_method"],
        "synthbio_version": synthbio.__version__,
    }


def build_samples_h5(outdir: Path, records: list[dict[str, Any]], attrs: dict[str, Any]) -> int:
    """Rebuild DIR/samples.h5 from the latents files the manifest lists (identity, label order)."""
    by_id: dict[int, list[dict[str, Any]]] = {}
    for rec in records:
        by_id.setdefault(int(rec["identity"]), []).append(rec)

    def samples() -> Iterable[SampleLatents]:
        for ident in sorted(by_id):
            arrays = decode_arrays(outdir / by_id[ident][0]["latents"])
            for k, rec in enumerate(by_id[ident]):
                z, ws, emb = arrays.get("z"), arrays.get("ws"), arrays.get("embedding")
                extra = {a: v for a, v in (rec.get("attrs") or {}).items() if v is not None}
                yield SampleLatents(
                    identity=ident, label=rec["label"],
                    z=None if z is None else z[k], w=None if ws is None else ws[k, 0],
                    w_plus=None if ws is None else ws[k], embedding=None if emb is None else emb[k],
                    attrs={"seed": int(rec["seed"]), **extra},
                )

    return write_samples(outdir / SAMPLES_NAME, samples(), attrs=attrs)


# --- the job ------------------------------------------------------------------------------


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=False)


def generate_dataset(
    config: DatasetConfig,
    *,
    progress: bool = False,
    on_identity: Callable[[int], None] | None = None,
) -> DatasetResult:
    """Make (or complete) the dataset, or this shard of it; see the module docstring.

    backend "ray" runs `ray_shards` shards as Ray tasks and merges them into
    `config.outdir` (synthbio.pipelines.dataset_merge.generate_with_ray).
    """
    if config.backend == "ray":
        from synthbio.pipelines.dataset_merge import generate_with_ray

        return generate_with_ray(config, progress=progress)
    from synthbio.pipelines.dataset_engines import build_engine

    engine = build_engine(config)
    want = {**describe(config), "model_sha256": engine.model_sha256}
    outdir, complete, partial = _prepare(config, want)
    run = engine.run_info()
    mine = shard_identities(config.identities, config.shard)
    todo = [i for i in mine if i not in complete]
    done: list[int] = []
    with _progress(progress) as bar:
        refs = engine.references(outdir / REFERENCES_NAME, bar=bar) if todo else None
        job = bar.add_task("identities", total=len(todo))
        with ManifestWriter(outdir / MANIFEST_NAME) as manifest:
            for ident in todo:
                write_identity(outdir, engine.identity(ident, refs), manifest, run)
                done.append(ident)
                bar.advance(job)
                if on_identity is not None:
                    on_identity(ident)
    records = read_manifest(outdir / MANIFEST_NAME).records
    # Identity order, whatever order resumed runs appended in: a resumed, a sharded-then-merged
    # and an uninterrupted run leave the same manifest.
    ordered = sorted(records, key=lambda r: int(r["identity"]))  # stable: label order kept
    if ordered != records:
        rewrite_manifest(outdir / MANIFEST_NAME, ordered)
    build_samples_h5(outdir, ordered, h5_attrs(want))
    return DatasetResult(
        outdir=outdir, identities=list(mine), generated=done, kept=sorted(complete),
        redone=sorted(partial & set(done)), manifest=outdir / MANIFEST_NAME,
        samples=outdir / SAMPLES_NAME, config=outdir / CONFIG_NAME,
    )
