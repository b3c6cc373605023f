"""`synthbio edit`: latents moved along a direction, one image per strength, a strip per sample.

Output folder (single-branch model; a multi-branch one has a folder per branch):

    DIR/config.json                 the EditConfig and the run it resolved to
    DIR/seed0004_edit00.png ...     one PNG per (sample, strength)
    DIR/strip_seed0004.png          the strengths of one sample, left to right
    DIR/manifest.jsonl              one line per finished sample (its images and strips, sha256)
    DIR/samples.h5                  the edited latents, /<sample>/edit_<k>/ groups

The folder holds one run (`synthbio.pipelines.common.rundir`): the weights,
the direction (its file's content), strengths, layers, the source latents
(seeds, or the latents file's content), truncation, class and noise mode.
The same command again keeps the samples whose files still hash as the
manifest records and edits the rest; a folder holding another run is
refused unless `overwrite`, which deletes only that run's files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import synthbio
from synthbio.editing.apply import edit_latents, edit_layers, read_latents
from synthbio.editing.directions import Direction, format_layer_range, resolve_direction
from synthbio.errors import InputError
from synthbio.io.images import png_planes, save_grid, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter
from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
from synthbio.pipelines.common.rundir import CONFIG_NAME, claim_run_folder, keep_intact, remove_temp_files
from synthbio.utils.hashing import atomic_write_json, sha256_bytes, sha256_file
from synthbio.utils.progress import Progress


@dataclass(frozen=True)
class EditConfig:
    """Everything `synthbio edit` needs; saved as DIR/config.json.

    Exactly one of `seeds` / `latents` (a samples.h5, .npy or .npz file).
    direction: a direction file or a NAME looked up in `directions_dir`.
    layers: 'a-b' ws range to edit (None = the direction's own range, else all).
    truncation_psi: applied to seed latents only (file latents are used as stored).
    overwrite: replace another run's results in `outdir` instead of refusing.
    """

    model: str
    outdir: str
    direction: str
    strengths: tuple[float, ...]
    seeds: tuple[int, ...] = ()
    latents: str | None = None
    layers: str | None = None
    truncation_psi: float = 1.0
    class_idx: int | None = None
    noise_mode: str = "const"
    batch_size: int = 8
    device: str = "auto"
    directions_dir: str = "."
    overwrite: bool = False

    def __post_init__(self) -> None:
        from synthbio.generation.sampling import check_noise_mode
        from synthbio.utils.seeds import check_seed

        if bool(self.seeds) == bool(self.latents):
            raise InputError("give either --seeds or --latents (exactly one)")
        object.__setattr__(self, "seeds", tuple(check_seed(s) for s in self.seeds))
        strengths = tuple(float(s) for s in self.strengths)
        if not strengths or not all(np.isfinite(strengths)):
            raise InputError(f"--strengths must be a non-empty list of finite numbers, got {list(self.strengths)}")
        object.__setattr__(self, "strengths", strengths)
        check_noise_mode(self.noise_mode)
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"], d["strengths"] = list(self.seeds), list(self.strengths)
        return d


@dataclass(frozen=True)
class EditResult:
    outdir: Path
    images: list[Path]
    strips: list[Path]
    samples: Path
    layers: range
    edited: list[str]  # samples edited by this call
    kept: list[str]  # samples found complete from an earlier call


def run_edit(config: EditConfig, *, progress: bool = False) -> EditResult:
    """Load the model and direction named in `config`, write edited images, strips and latents."""
    from synthbio.checkpoints import load_generator
    from synthbio.utils.devices import resolve_device

    direction = resolve_direction(config.direction, search_dirs=(config.directions_dir,))
    G = load_generator(config.model, device=resolve_device(config.device))
    G.eval().requires_grad_(False)
    return edit_with(G, direction, config, progress=progress)


def _source_latents(G: Any, config: EditConfig) -> tuple[list[str], list[int], torch.Tensor, torch.Tensor | None]:
    """(names, noise seeds / identities, ws [N, L, D] on G's device, z or None)."""
    from synthbio.generation.sampling import check_truncation, map_seeds

    device = next(G.parameters()).device
    if config.seeds:
        check_truncation(G, config.truncation_psi, None)
        z, ws = map_seeds(G, list(config.seeds), class_idx=config.class_idx, truncation_psi=config.truncation_psi)
        return [f"seed{s:04d}" for s in config.seeds], list(config.seeds), ws, z.cpu()
    assert config.latents is not None
    lat = read_latents(config.latents, num_ws=G.num_ws)
    if lat.ws.shape[2] != G.w_dim:
        raise InputError(f"--latents {config.latents!r} have w_dim {lat.ws.shape[2]}, the model has {G.w_dim}")
    names = [k.replace("/", "_") for k in lat.keys]
    return names, lat.identities, lat.ws.to(device), lat.z


def run_key(G: Any, direction: Direction, config: EditConfig, layers: range) -> dict[str, Any]:
    """What decides the edited images (compared with the folder's config.json)."""
    from synthbio.checkpoints import model_hash

    vector = direction.vector.detach().float().cpu().contiguous().numpy()
    return {
        "model_sha256": model_hash(G),
        "direction_sha256": sha256_bytes(vector.tobytes() + str(vector.shape).encode()),
        "strengths": list(config.strengths),
        "layers": format_layer_range(layers),
        "seeds": list(config.seeds),
        "latents_sha256": sha256_file(config.latents) if config.latents else None,
        "truncation_psi": config.truncation_psi if config.seeds else None,
        "class_idx": config.class_idx,
        "noise_mode": config.noise_mode,
    }


def edit_with(G: Any, direction: Direction, config: EditConfig, *, progress: bool = False) -> EditResult:
    """The edit job with a loaded generator and direction (see `run_edit`)."""
    from synthbio.generation.sampling import synthesize

    if direction.vector.shape[-1] != G.w_dim:
        raise InputError(f"--direction {config.direction!r} has w_dim {direction.vector.shape[-1]}, "
                         f"the model has {G.w_dim}")
    layers = edit_layers(direction, G.num_ws, config.layers)
    names, idents, ws, z = _source_latents(G, config)
    strengths = list(config.strengths)
    multi = len(G.branch_names) > 1
    run = run_key(G, direction, config, layers)
    folder = claim_run_folder(config.outdir, command="edit", run=run, overwrite=config.overwrite,
                              legacy_run=lambda saved, records: {"model_sha256": None})
    outdir = folder.outdir
    remove_temp_files(outdir, G.branch_names if multi else ())
    kept, _ = keep_intact(outdir, folder.records, key=lambda r: r.get("source"))
    atomic_write_json(outdir / CONFIG_NAME, {
        "command": "edit", "config": config.to_dict(), "run": run, "layers": format_layer_range(layers),
        "direction_metadata": dict(direction.metadata), "synthbio_version": synthbio.__version__})
    images: list[Path] = []
    strips: list[Path] = []
    records: list[SampleLatents] = []
    edited: list[str] = []
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(progress) as bar:
        task = bar.add_task("edited samples", total=len(names), completed=len([n for n in names if n in kept]))
        for i, name in enumerate(names):
            edited_ws = edit_latents(ws[i:i + 1], direction.vector, strengths, layers)[0]  # [S, L, D]
            w_plus = edited_ws.float().cpu().numpy()
            zi = z[i].numpy() if z is not None else np.zeros([0], dtype=np.float32)
            for j, s in enumerate(strengths):
                records.append(SampleLatents(identity=i, label=f"edit_{j:02d}", z=zi, w=w_plus[j, 0],
                                             w_plus=w_plus[j],
                                             attrs={"source": name, "source_identity": idents[i], "strength": s}))
            if name in kept:
                files = kept[name]["files"]
            else:
                files = _edit_one(G, config, name, idents[i], edited_ws, strengths, outdir, multi, synthesize)
                manifest.append({"source": name, "files": files})  # after every file of the sample
                edited.append(name)
                bar.advance(task)
            for key, entry in files.items():
                (strips if key.startswith("strip_") else images).append(outdir / entry["path"])
    samples = outdir / SAMPLES_NAME
    write_samples(samples, records, attrs={
        "generator_path": config.model, "direction": config.direction, "direction_method": direction.method,
        "direction_label": direction.label, "layers": format_layer_range(layers),
        "strengths": np.asarray(strengths, dtype=np.float64), "synthbio_version": synthbio.__version__})
    return EditResult(outdir=outdir, images=images, strips=strips, samples=samples, layers=layers,
                      edited=edited, kept=[n for n in names if n in kept])


def _edit_one(G: Any, config: EditConfig, name: str, ident: int, edited_ws: torch.Tensor, strengths: list[float],
              outdir: Path, multi: bool, synthesize: Any) -> dict[str, dict[str, str]]:
    """Render and write one sample's images and strips; returns its manifest files {key: {path, sha256}}."""
    tiles: dict[str, list[np.ndarray]] = {b: [] for b in G.branch_names}
    for start in range(0, len(strengths), config.batch_size):
        chunk = edited_ws[start:start + config.batch_size]
        out = synthesize(G, chunk, seeds=[ident] * chunk.shape[0], noise_mode=config.noise_mode)
        for b, x in out.items():
            tiles[b].extend(to_uint8(x))
    files: dict[str, dict[str, str]] = {}
    for b, arrs in tiles.items():
        prefix = f"{b}/" if multi else ""
        for j, img in enumerate(arrs):
            for suffix, plane in png_planes(img):
                rel = f"{prefix}{name}_edit{j:02d}{suffix}.png"
                (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
                files[f"{b}{suffix}_{j:02d}"] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
        for k, strip in enumerate(save_grid(outdir / f"{prefix}strip_{name}.png", arrs, cols=len(arrs))):
            files[f"strip_{b}_{k}"] = {"path": strip.relative_to(outdir).as_posix(), "sha256": sha256_file(strip)}
    return files
