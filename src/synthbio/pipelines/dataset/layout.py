"""The folder `synthbio dataset generate` writes: names, per-identity latents, resume checks, samples.h5.

    DIR/config.json                      the DatasetConfig and what it resolved to
    DIR/00003/reference.png              ImageFolder layout: one folder per identity
    DIR/00003/variation_0.png
    DIR/00003/reference_mask.png         with --masks: each image's index mask (value = class,
                                         DIR/classes.json names them); ImageFolder readers skip *_mask.png
    DIR/00003/latents.safetensors        the identity's z / ws / embeddings
    DIR/references.safetensors           every reference of the dataset (cache)
    DIR/manifest.jsonl                   one line per written sample
    DIR/samples.h5                       /<identity:05d>/<label>/ groups, rebuilt at the end

A multi-branch generator (RGB + NIR) writes every branch, one ImageFolder per
branch with the same names, as `synthbio generate` does: `DIR/rgb/00003/reference.png`,
`DIR/nir/00003/reference.png` (the identity model sees the first branch).
Procedural fingerprints get their ground truth beside each impression, as
`synthbio fingerprints generate` writes it (`synthbio.fingerprints.truth_files`):
`DIR/00003/reference.iso`, `.xyt`, `.json`.

A manifest record names its first-branch image as `path` / `sha256` and, when
a sample has more than one file, every file under `files` ({key: {path, sha256}}),
the shape `synthbio.pipelines.common.rundir` reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError
from synthbio.io.images import encode_png
from synthbio.io.manifest import ManifestWriter
from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
from synthbio.pipelines.dataset.config import LATENTS_NAME, REFERENCE_LABEL
from synthbio.pipelines.common.rundir import record_is_intact
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes


def sample_labels(m: int) -> list[str]:
    return [REFERENCE_LABEL] + [f"variation_{i}" for i in range(m - 1)]


def identity_dirname(identity: int) -> str:
    return f"{identity:05d}"


def image_relpath(identity: int, label: str, *, branch: str | None = None, ext: str = "png") -> str:
    """`<identity>/<label>.<ext>`, or `<branch>/<identity>/<label>.<ext>` for a multi-branch dataset."""
    rel = f"{identity_dirname(identity)}/{label}.{ext}"
    return f"{branch}/{rel}" if branch else rel


def identity_folders(identity: int, branches: Iterable[str] = ()) -> list[str]:
    """Folders holding an identity's files (relative): its own, and one per branch of a multi-branch dataset."""
    return [identity_dirname(identity), *[f"{b}/{identity_dirname(identity)}" for b in branches]]


def mask_relpath(identity: int, label: str) -> str:
    return f"{identity_dirname(identity)}/{label}_mask.png"


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


# --- resuming -----------------------------------------------------------------------------


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
    cache: dict[str, bool] = {}
    for ident, recs in by_id.items():
        if sorted(recs) == sorted(labels) and all(record_is_intact(outdir, r, cache=cache) and "latents" in r
                                                  for r in recs.values()):
            complete[ident] = [recs[label] for label in labels]
        else:
            partial.add(ident)
    return complete, partial


def remove_temp_files(outdir: Path) -> None:
    """Temp files of atomic writes cut short by a kill (`.<name>.*.tmp`), up to two folders deep."""
    for pattern in (".*.tmp", "*/.*.tmp", "*/*/.*.tmp"):
        for p in outdir.glob(pattern):
            p.unlink(missing_ok=True)


def remove_identity_files(outdir: Path, identity: int, labels: list[str], branches: Iterable[str] = ()) -> None:
    """Whatever a partial identity left (its samples' files and latents), before it is redone."""
    for folder in identity_folders(identity, branches):
        for label in labels:
            for p in (outdir / folder).glob(f"{label}.*"):
                p.unlink(missing_ok=True)
            (outdir / folder / f"{label}_mask.png").unlink(missing_ok=True)
    (outdir / latents_relpath(identity)).unlink(missing_ok=True)


# --- writing one identity -----------------------------------------------------------------


def write_identity(outdir: Path, sample: Any, manifest: ManifestWriter, run: dict[str, Any]) -> None:
    """Write images (every branch) and ground-truth files, then latents, then (last) the manifest lines.

    sample: an `IdentitySamples` (synthbio.pipelines.dataset.engines); its masks, when it has
    them, go beside the images as grey index PNGs.
    """
    ident = sample.identity
    for folder in identity_folders(ident, sample.branch_images):
        (outdir / folder).mkdir(parents=True, exist_ok=True)
    per_sample: list[dict[str, dict[str, str]]] = []
    masks: list[dict[str, str]] = []
    for k, label in enumerate(sample.labels):
        files: dict[str, dict[str, str]] = {}
        images = ({b: imgs[k] for b, imgs in sample.branch_images.items()} if sample.branch_images
                  else {"png": sample.images_uint8[k]})
        for key, image in images.items():
            data = encode_png(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
            rel = image_relpath(ident, label, branch=key if sample.branch_images else None)
            atomic_write_bytes(outdir / rel, data)
            files[key] = {"path": rel, "sha256": sha256_bytes(data)}
        for ext, data in (sample.extra_files[k] if sample.extra_files else {}).items():
            rel = image_relpath(ident, label, ext=ext)
            atomic_write_bytes(outdir / rel, data)
            files[ext] = {"path": rel, "sha256": sha256_bytes(data)}
        per_sample.append(files)
        if sample.masks_uint8 is not None:  # one mask for every branch, in the identity's own folder
            mask = encode_png(np.ascontiguousarray(sample.masks_uint8[k], dtype=np.uint8))
            atomic_write_bytes(outdir / mask_relpath(ident, label), mask)
            masks.append({"mask": mask_relpath(ident, label), "mask_sha256": sha256_bytes(mask)})
    meta = {"identity": str(ident), "labels": ",".join(sample.labels)}
    latents = encode_arrays({"z": sample.z, "ws": sample.ws, "embedding": sample.embeddings, **sample.arrays},
                            metadata=meta)
    atomic_write_bytes(outdir / latents_relpath(ident), latents)
    latents_sha = sha256_bytes(latents)
    for k, (label, files) in enumerate(zip(sample.labels, per_sample)):
        first = next(iter(files.values()))  # the image the identity model saw
        manifest.append({
            "identity": ident, "label": label, "seed": sample.seeds[k], **run,
            "path": first["path"], "sha256": first["sha256"],
            **({"files": files} if len(files) > 1 else {}), **(masks[k] if masks else {}),
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
