"""`synthbio project-database`: every sample of a database protocol / group projected into W or W+.

Output folder:

    OUT/config.json                  ProjectDatabaseConfig (without the shard and runtime fields) and
                                     the generator's weight hash: every shard of a run writes the same one
    OUT/manifest-<K>-of-<N>.jsonl    one line per projected sample of shard K: index, key, part file
                                     and row, the part's sha256 (an unsharded run is shard 0 of 1)
    OUT/parts/<first>-<last>.safetensors   ws [B, num_ws, w_dim] and final_loss [B] of one batch
    OUT/checkpoints/batch_<first>.pt the projector's state of the batch in progress (resume mid-batch)
    OUT/samples.h5                   written once every sample of the selection is done (by whichever
                                     shard finishes last): /<identity_index:05d>/<key>/ with w_latent,
                                     w_plus_latent and the sample's attributes, key, path and identity

Sample i of the selection (in key order) is projected with seed + i, so its
latents do not depend on the batch, the shard or an interruption. `--shard
K/N` takes the samples with i % N == K; all shards may share OUT (each has its
own manifest). A killed run, started again with the same command, keeps the
finished batches (their manifest lines and part files) and continues the
batch in progress from its checkpoint. Backend 'ray' runs `ray_shards`
shards as Ray tasks on one OUT.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthbio.errors import InputError, OutputDirError
from synthbio.inversion.projector import ProjectorConfig, ReconstructionLossLike
from synthbio.io.databases import ImageSelection, Sample, select_samples
from synthbio.utils.jsonio import read_json_file
from synthbio.utils.progress import Progress
from synthbio.utils.seeds import check_seed, parse_shard

CONFIG_NAME = "config.json"
_RUNTIME_FIELDS = ("outdir", "shard", "backend", "ray_address", "ray_shards", "device", "overwrite")
_RESERVED_ATTRS = ("key", "path", "identity", "seed", "final_loss", "space", "database", "protocol", "group")


@dataclass(frozen=True)
class ProjectDatabaseConfig:
    """`synthbio project-database`, saved as OUT/config.json (less the runtime fields)."""

    model: str
    selection: ImageSelection
    outdir: str
    projector: ProjectorConfig = ProjectorConfig()
    loss: str = "vgg"
    vgg_weights: str | None = None
    seed: int = 303
    batch_size: int = 4
    shard: str = "0/1"
    backend: str = "local"
    ray_shards: int = 2
    ray_address: str | None = None
    device: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        check_seed(self.seed)
        parse_shard(self.shard)
        if self.batch_size < 1 or self.ray_shards < 1:
            raise InputError("batch size and ray shards must be >= 1")
        if self.backend not in ("local", "ray"):
            raise InputError(f"backend must be 'local' or 'ray', got {self.backend!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["selection"] = self.selection.to_json()
        d["projector"] = self.projector.to_dict()
        return d

    def run_record(self) -> dict[str, Any]:
        """What fixes the results: every field but the runtime ones (checkpoint interval aside)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _RUNTIME_FIELDS}
        d["projector"] = {k: v for k, v in d["projector"].items() if k != "checkpoint_every"}
        return d


@dataclass(frozen=True)
class ProjectDatabaseResult:
    outdir: Path
    samples: int  # in the selection
    projected: list[int]  # indices projected by this call
    kept: list[int]  # indices of this shard already done before
    complete: bool  # every sample of the selection is done and samples.h5 is written

    @property
    def samples_path(self) -> Path:
        return self.outdir / "samples.h5"


def sample_label(key: str) -> str:
    """A sample key as an HDF5 sample label (letters, digits, '_', '-', '.')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key) or "_"


def manifest_name(shard: str) -> str:
    k, n = parse_shard(shard)
    return f"manifest-{k}-of-{n}.jsonl"


def _done(out: Path) -> dict[int, dict[str, Any]]:
    """Finished samples of every shard whose part files are intact: index -> manifest record."""
    from synthbio.io.manifest import read_manifest
    from synthbio.utils.hashing import sha256_file

    good: dict[str, bool] = {}
    done: dict[int, dict[str, Any]] = {}
    for m in sorted(out.glob("manifest-*-of-*.jsonl")):
        for rec in read_manifest(m).records:
            part = rec.get("part")
            if not isinstance(part, str) or not isinstance(rec.get("index"), int):
                continue
            if part not in good:
                p = out / part
                good[part] = p.is_file() and sha256_file(p) == rec.get("sha256")
            if good[part]:
                done[rec["index"]] = rec
    return done


def _check_outdir(config: ProjectDatabaseConfig, record: dict[str, Any]) -> Path:
    from synthbio.utils.hashing import atomic_write_json

    out = Path(config.outdir)
    cfg = out / CONFIG_NAME
    if cfg.exists():
        try:
            previous = read_json_file(cfg)
        except (OSError, ValueError):
            previous = None
        if previous != record:
            if not config.overwrite:
                raise OutputDirError(f"{out} holds another projection run; use another --outdir or --overwrite")
            for p in [*out.glob("manifest-*-of-*.jsonl"), *(out / "parts").glob("*.safetensors"),
                      *(out / "checkpoints").glob("batch_*.pt"), out / "samples.h5"]:
                p.unlink(missing_ok=True)
    try:
        (out / "parts").mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot use {os.fspath(out)!r} as output directory: {exc}") from None
    atomic_write_json(cfg, record)
    return out


class _Progress:
    """Samples done of this shard, rate and time left on stderr (`synthbio.utils.progress`)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self._bar = Progress(enabled).start()
        self._task = self._bar.add_task("project-database samples", total=total, completed=done)

    def step(self, n: int) -> None:
        self._bar.advance(self._task, n)


def project_database(config: ProjectDatabaseConfig, *, loss: ReconstructionLossLike | None = None,
                     progress: bool = True) -> ProjectDatabaseResult:
    """Project this shard's samples (see the module doc); write samples.h5 when the whole selection is done."""
    if config.backend == "ray":
        return project_database_with_ray(config, progress=progress)
    from safetensors.torch import save_file

    from synthbio.checkpoints.loading import load_generator
    from synthbio.inversion.projector import branch_index, compute_w_stats, project
    from synthbio.io.manifest import ManifestWriter
    from synthbio.pipelines.projection.project import _build_loss, load_target
    from synthbio.utils.devices import resolve_device
    from synthbio.utils.hashing import atomic_write, module_sha256, sha256_file

    samples = select_samples(config.selection)
    device = resolve_device(config.device)
    G = load_generator(config.model, device=device).eval()
    b = branch_index(G, config.projector.branch)
    channels = dict(G.branches)[G.branch_names[b]]
    record = {"config": config.run_record(), "generator_sha256": module_sha256(G), "samples": len(samples),
              "keys_sha256": _keys_hash(samples)}
    loss = loss if loss is not None else _build_loss(config, device)  # before any file is written
    out = _check_outdir(config, record)
    k, n = parse_shard(config.shard)
    mine = [i for i in range(len(samples)) if i % n == k]
    done = _done(out)
    todo = [i for i in mine if i not in done]
    bar = _Progress(len(mine), len(mine) - len(todo), progress)
    pc = config.projector
    c = None
    if G.c_dim:
        from synthbio.generation.sampling import conditioning

        c = conditioning(G, pc.class_idx)
    w_stats = compute_w_stats(G, num_samples=pc.w_avg_samples, seed=pc.w_avg_seed, c=c) if todo else None
    with ManifestWriter(out / manifest_name(config.shard)) as manifest:
        for lo in range(0, len(todo), config.batch_size):
            idx = todo[lo:lo + config.batch_size]
            targets = torch.cat([load_target(samples[i].file, resolution=G.img_resolution, channels=channels)
                                 for i in idx])
            gens = [torch.Generator().manual_seed(config.seed + i) for i in idx]
            res = project(G, targets, config=pc, loss=loss, generator=gens, progress=False,
                          checkpoint_path=out / "checkpoints" / f"batch_{idx[0]:06d}.pt", w_stats=w_stats)
            part = f"parts/{idx[0]:06d}-{idx[-1]:06d}.safetensors"
            tensors = {"ws": res.ws.detach().cpu().contiguous(), "final_loss": res.losses[-1].detach().cpu().contiguous()}
            atomic_write(out / part, lambda tmp, t=tensors: save_file(t, os.fspath(tmp)))
            digest = sha256_file(out / part)
            for row, i in enumerate(idx):  # manifest lines after the part file
                manifest.append({"index": i, "key": samples[i].key, "part": part, "row": row, "sha256": digest})
            (out / "checkpoints" / f"batch_{idx[0]:06d}.pt").unlink(missing_ok=True)
            bar.step(len(idx))
    complete = _assemble(out, config, samples, record)
    return ProjectDatabaseResult(outdir=out, samples=len(samples), projected=todo,
                                 kept=[i for i in mine if i not in set(todo)], complete=complete)


def _keys_hash(samples: list[Sample]) -> str:
    from synthbio.utils.hashing import sha256_bytes

    return sha256_bytes("\n".join(s.key for s in samples).encode())


def _assemble(out: Path, config: ProjectDatabaseConfig, samples: list[Sample], record: dict[str, Any]) -> bool:
    """Write OUT/samples.h5 when every sample of the selection has its latents; True when written."""
    from safetensors.torch import load_file

    from synthbio.io.samples import SampleLatents, write_samples

    done = _done(out)
    if len(done) < len(samples) or any(i not in done for i in range(len(samples))):
        return False
    parts: dict[str, dict[str, torch.Tensor]] = {}
    rows = []
    labels: set[tuple[int, str]] = set()
    for i, s in enumerate(samples):
        rec = done[i]
        if rec.get("key") != s.key:
            raise OutputDirError(f"{out}: manifest names sample {rec.get('key')!r} at index {i}, the selection "
                                 f"has {s.key!r}; the database changed since this run began (use --overwrite)")
        if rec["part"] not in parts:
            parts[rec["part"]] = load_file(os.fspath(out / rec["part"]))
        ws = parts[rec["part"]]["ws"][rec["row"]].numpy()
        label = sample_label(s.key)
        if (s.identity_index, label) in labels:
            label = f"{label}.{i}"
        labels.add((s.identity_index, label))
        # W: every row is w but an anchored StyleGAN3 ws[0] (w_avg), so the last row; W+: the layer mean.
        w = ws[-1] if config.projector.space == "w" else ws.mean(axis=0)
        attrs: dict[str, Any] = {("attr." + k if k in _RESERVED_ATTRS else k): v for k, v in s.attributes.items()}
        attrs.update(key=s.key, path=s.path, identity=s.identity, seed=config.seed + i,
                     final_loss=float(parts[rec["part"]]["final_loss"][rec["row"]]), space=config.projector.space)
        rows.append(SampleLatents(identity=s.identity_index, label=label, z=None, w=w, w_plus=ws, attrs=attrs))
    sel = config.selection
    write_samples(out / "samples.h5", rows, attrs={
        "generator": config.model, "generator_sha256": record["generator_sha256"], "loss": config.loss,
        "space": config.projector.space, "database": sel.source, "protocol": sel.protocol or "",
        "group": sel.group or "", "where": json.dumps(dict(sel.where), sort_keys=True)})
    return True


# --- Ray backend --------------------------------------------------------------------------


def run_shard(config: ProjectDatabaseConfig) -> list[int]:
    """One shard in this process (the body of a Ray task); returns the indices it projected."""
    return project_database(config, progress=False).projected


def project_database_with_ray(config: ProjectDatabaseConfig, *, progress: bool = False) -> ProjectDatabaseResult:
    """Run `ray_shards` shards as Ray tasks on one OUT, then assemble samples.h5."""
    try:
        import ray
    except ImportError:
        raise InputError("the ray backend needs Ray: pip install 'synthbio[ray]' (or `pip install ray`)") from None
    if config.shard != "0/1":
        raise InputError("--backend ray splits the whole run itself: leave --shard at 0/1")
    n = config.ray_shards
    cfgs = [dataclasses.replace(config, backend="local", shard=f"{k}/{n}") for k in range(n)]
    started = not ray.is_initialized()
    if started:
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(run_shard)
        projected = ray.get([task.remote(c) for c in cfgs])
    finally:
        if started:
            ray.shutdown()
    final = project_database(dataclasses.replace(cfgs[0]), progress=progress)  # all done: assembles
    return dataclasses.replace(final, projected=sorted(i for p in projected for i in p))
