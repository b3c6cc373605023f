"""`synthbio masks export`: samples to annotate, each with its latents and a blank annotation file.

See `synthbio.pipelines.masks.layout` for the folder. Re-running the same
export resumes (and may add seeds); the blank annotation of a sample is
written only when the sample has no annotation file yet, so painted files are
never replaced. A folder holding another run (other generator or sampling
settings) is refused; with `overwrite` it is cleared, unless annotations of
that run have been painted: those are a person's work, and stay until moved away.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.checkpoints import load_generator, model_hash
from synthbio.errors import InputError, OutputDirError
from synthbio.generation.sampling import check_noise_mode, check_truncation, class_vector, map_seeds, synthesize
from synthbio.io.images import png_planes, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from synthbio.pipelines.common.seeded import make_outdir, prepare_seeded_outdir, previous_run
from synthbio.pipelines.masks.layout import (
    CONFIG_NAME,
    EXPORT_COMMAND,
    README_NAME,
    RUN_KEYS,
    annotation_relpath,
    image_relpath,
    painted_annotation,
    ws_relpath,
)
from synthbio.segmentation.annotations import encode_annotation_png, write_annotation_png
from synthbio.segmentation.classes import CLASSES_NAME, MaskClass, read_classes, write_classes
from synthbio.segmentation.features import feature_modules
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write, atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file
from synthbio.utils.progress import Progress
from synthbio.utils.seeds import check_seed


@dataclass(frozen=True)
class ExportConfig:
    """Everything `synthbio masks export` needs; saved in ANN/config.json.

    classes: the class list (index 0 = what a blank annotation holds: the background).
    truncation_psi: 0.7 by default, as DatasetGAN and BiFaceGAN sample.
    """

    model: str
    outdir: str
    seeds: tuple[int, ...]
    classes: tuple[MaskClass, ...]
    truncation_psi: float = 0.7
    truncation_cutoff: int | None = None
    class_idx: int | None = None
    noise_mode: str = "const"
    batch_size: int = 8
    device: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(check_seed(s) for s in self.seeds))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "truncation_psi", float(self.truncation_psi))
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.seeds:
            raise InputError("no seeds given")
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError("the seed list repeats a seed")
        check_noise_mode(self.noise_mode)
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        d["classes"] = [c.to_dict() for c in self.classes]
        return d


@dataclass(frozen=True)
class ExportResult:
    outdir: Path
    exported: list[int]  # seeds written by this call
    kept: list[int]  # seeds found complete from an earlier call
    annotations: list[Path]  # the annotation file of every seed, in seed order
    painted: list[int]  # seeds whose annotation is already painted


README = """\
Annotating these samples
========================

Each sample `seedNNNN` has its image(s) and `seedNNNN_annotation.png`, a blank
annotation in the class colours of classes.json (every pixel class 0,
"{background}"). Paint it, save it under the same name (PNG), then run
`synthbio masks train {folder} --outdir CLASSIFIER`.

Classes (index, name, colour):
{classes}

GIMP: open the image, File > Open as Layers the annotation, set the layer's
opacity to ~50% to see the image through it, paint with the Pencil (hard edges,
no antialiasing) in the class colours (the annotation is an indexed image:
its colormap holds exactly the classes), then File > Export As ... the
annotation layer as seedNNNN_annotation.png. Krita and other editors: paint in
the exact class colours and export an RGB PNG; every colour must be a class
colour (`masks train --colour-tolerance N` accepts colours within N levels,
for antialiased edges).

Also accepted: a grey index PNG (pixel value = class index, 255 = not
annotated), an RGBA PNG whose transparent pixels are not annotated, or
`seedNNNN_annotation.npy` (an integer array [H, W] of class indices).
Annotate 8 samples or more; unpainted ones are skipped.
"""


def _planes_of(G: Any) -> list[tuple[str, str]]:
    out = []
    for name, channels in G.config.branches:
        out += [(name, s) for s in ([""] if channels in (1, 3) else [f"_c{i}" for i in range(channels)])]
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _check_no_painted_work(outdir: Path, records: list[dict[str, Any]]) -> None:
    painted = [r["seed"] for r in records if isinstance(r.get("seed"), int)
               and painted_annotation(outdir, r["seed"], r.get("annotation", {}).get("blank_sha256")) is not None]
    if painted:
        raise OutputDirError(
            f"{os.fspath(outdir)} holds {len(painted)} painted annotations of another export "
            f"(seeds {', '.join(map(str, painted[:8]))}{' ...' if len(painted) > 8 else ''}): "
            "move them away or choose another --outdir"
        )


def _check_classes(outdir: Path, classes: Sequence[MaskClass], records: list[dict[str, Any]]) -> None:
    """Annotations painted in other class colours must not be read through new ones."""
    path = outdir / CLASSES_NAME
    if not path.is_file():
        return
    try:
        old = read_classes(path)
    except InputError:
        return
    if tuple(old) != tuple(classes):
        _check_no_painted_work(outdir, records)


def export_annotations(config: ExportConfig, *, on_sample: Callable[[int], None] | None = None,
                       progress: bool = False) -> ExportResult:
    """Load the generator and export `config.seeds` into `config.outdir` (resumable)."""
    device = resolve_device(config.device)
    G = load_generator(config.model, device=device).eval().requires_grad_(False)
    return export_with(G, config, on_sample=on_sample, progress=progress)


def export_with(G: Any, config: ExportConfig, *, on_sample: Callable[[int], None] | None = None,
                progress: bool = False) -> ExportResult:
    """Export with an already loaded generator (see module docstring); progress: report on stderr."""
    if len(config.classes) < 2:
        raise InputError("masks need at least 2 classes (--classes)")
    feature_modules(G)  # a generator without tappable features cannot be annotated for masks
    class_vector(G.c_dim, config.class_idx)
    check_truncation(G, config.truncation_psi, config.truncation_cutoff)
    outdir = Path(config.outdir)
    multi = len(G.branch_names) > 1
    planes = _planes_of(G)
    file_keys = [b + s for b, s in planes] + ["ws"]
    run = {"model_sha256": model_hash(G), "truncation_psi": config.truncation_psi,
           "truncation_cutoff": config.truncation_cutoff, "class_idx": config.class_idx,
           "noise_mode": config.noise_mode}
    assert tuple(run) == RUN_KEYS
    make_outdir(outdir)
    before = read_manifest(outdir / MANIFEST_NAME).records
    prev = previous_run(outdir, before, RUN_KEYS)
    if prev is not None and prev != run and config.overwrite:
        _check_no_painted_work(outdir, before)
        for rec in before:  # the blank annotations go with the samples they were made for
            if isinstance(rec.get("seed"), int):
                (outdir / annotation_relpath(rec["seed"])).unlink(missing_ok=True)
    _check_classes(outdir, config.classes, before)
    kept, _ = prepare_seeded_outdir(outdir, run, overwrite=config.overwrite, file_keys=file_keys)
    write_classes(outdir / CLASSES_NAME, config.classes)
    atomic_write_json(outdir / CONFIG_NAME, {
        "command": EXPORT_COMMAND, "config": config.to_dict(), "run": {**run, "model": config.model},
        "generator": {"img_resolution": int(G.img_resolution), "branches": [list(b) for b in G.config.branches],
                      "num_ws": int(G.num_ws), "w_dim": int(G.w_dim)},
        "synthbio_version": synthbio.__version__,
    })
    classes_text = "\n".join(f"  {i:3d}  {c.name:20s} #{''.join(f'{v:02x}' for v in c.color)}"
                             for i, c in enumerate(config.classes))
    readme = README.format(background=config.classes[0].name, folder=os.fspath(outdir), classes=classes_text)
    atomic_write_bytes(outdir / README_NAME, readme.encode("utf-8"))
    blank = np.zeros([G.img_resolution, G.img_resolution], dtype=np.uint8)
    todo = [s for s in config.seeds if s not in kept]
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(progress and bool(todo)) as bar:
        task = bar.add_task("samples to annotate", total=len(todo))
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start:start + config.batch_size]
            _, ws = map_seeds(G, batch, class_idx=config.class_idx, truncation_psi=config.truncation_psi,
                              truncation_cutoff=config.truncation_cutoff)
            images = {b: to_uint8(x) for b, x in synthesize(G, ws, seeds=batch, noise_mode=config.noise_mode).items()}
            for i, seed in enumerate(batch):
                files = {}
                for branch in G.branch_names:
                    for suffix, plane in png_planes(images[branch][i]):
                        rel = image_relpath(seed, branch, suffix, multi_branch=multi)
                        files[branch + suffix] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
                data = _npy_bytes(ws[i].float().cpu().numpy())
                atomic_write(outdir / ws_relpath(seed), lambda tmp, d=data: tmp.write_bytes(d))
                files["ws"] = {"path": ws_relpath(seed), "sha256": sha256_file(outdir / ws_relpath(seed))}
                blank_path = outdir / annotation_relpath(seed)
                if painted_annotation(outdir, seed, None) is None:  # neither .png nor .npy yet
                    blank_sha = write_annotation_png(blank_path, blank, config.classes)
                else:
                    blank_sha = _blank_sha256(blank, config.classes)
                manifest.append({"seed": seed, **run, "files": files,
                                 "annotation": {"path": annotation_relpath(seed), "blank_sha256": blank_sha}})
                if on_sample is not None:
                    on_sample(seed)
            bar.advance(task, len(batch))
    records = {r["seed"]: r for r in read_manifest(outdir / MANIFEST_NAME).records}
    painted = [s for s in config.seeds
               if painted_annotation(outdir, s, records[s]["annotation"]["blank_sha256"]) is not None]
    return ExportResult(outdir=outdir, exported=todo, kept=[s for s in config.seeds if s in kept],
                        annotations=[outdir / annotation_relpath(s) for s in config.seeds], painted=painted)


def _blank_sha256(blank: np.ndarray, classes: Sequence[MaskClass]) -> str:
    return sha256_bytes(encode_annotation_png(blank, classes))


def describe(config: ExportConfig) -> dict[str, Any]:
    """The resolved plan, for --dry-run (loads nothing)."""
    return {"command": EXPORT_COMMAND, "config": config.to_dict(),
            "resolved_device": str(resolve_device(config.device)),
            "outdir": os.path.abspath(config.outdir), "num_seeds": len(config.seeds)}
