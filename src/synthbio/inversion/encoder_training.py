"""`synthbio train-encoder`: train a pSp-style encoder against a frozen generator.

The generator (G_ema of a checkpoint) stays frozen and renders with
noise_mode "const"; only the encoder learns. Per step, on a batch of
(input x, target y[, known ws*]):

    ws   = E(x)                       (w_avg + predicted offsets)
    y^   = G.synthesis(ws)
    loss = l2_weight         * mean((y^ - y)^2)
         + perceptual_weight * P(y^, y)            (build_reconstruction_loss spec)
         + identity_weight   * (1 - cos(f(y^), f(y)))
         + w_norm_weight     * ||ws - w_avg||_2    (pSp's W-norm regulariser)
         + latent_weight     * mean((ws - ws*)^2)  (only for samples drawn from G)

Tasks: "invert" (x = y = an image; from --data, or drawn from G on the fly
when no --data is given) and "minutiae" (x = minutiae maps of a template,
y = its impression; see synthbio.inversion.encoder_data).

Layout of OUTDIR:

    config.json                 {"train": EncoderTrainConfig, "encoder": EncoderConfig, "split": {...}}
    stats.jsonl                 one line every `log_every` steps and at snapshots
    samples-<step:06d>.png      rows of input | target | reconstruction (fixed items)
    encoder-<step:06d>/         native encoder folder (load_encoder)
    latest/                     the newest encoder folder plus training_state.pt

Exact resume: the only randomness is one torch.Generator (latents for the
"invert without data" task) and the data order, a pure function of (seed,
position); their states, the encoder, Adam and the step go into
training_state.pt (loaded with weights_only=True), so k + k steps equal k
steps, resume, k steps, bit for bit on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from synthbio.errors import InputError, OutputDirError
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.utils.jsonio import read_json_file
from synthbio.utils.progress import Progress

TASKS = ("invert", "minutiae")
LATEST_DIR = "latest"
_FIXED_FOR_RESUME = ("generator", "task", "data", "mode", "channels", "blocks", "head_channels", "fpn_channels",
                     "norm", "batch", "seed", "holdout_fingers", "truncation_psi")


@dataclass(frozen=True)
class EncoderTrainConfig:
    """One encoder training run (saved as the "train" object of OUTDIR/config.json).

    generator: checkpoint path or registry name (its G_ema is used, frozen).
    data: images (invert) or a fingerprint dataset (minutiae); None with task
        "invert" = images drawn from G on the fly (truncation_psi), whose ws are
        known, so `latent_weight` can supervise them.
    images: training length in images (steps = ceil(images / batch)).
    snapshot_images: snapshot every this many images (and at the end).
    perceptual: a `build_reconstruction_loss` spec ("vgg", "orientation", ...) or None.
    identity: an identity model name (synthbio.identity.models) or None.
    holdout_fingers: minutiae task: keep the last K fingers out of training.
    channels, blocks, head_channels, fpn_channels, norm, mode: EncoderConfig knobs.
    input_scale: the encoder's input scale (minutiae maps are >= 0, ~1 at a point).
    max_minutes: snapshot and stop after this long (None = no limit).
    init_from: warm start from this encoder checkpoint (same architecture): its
        weights are loaded and its w_avg replaced by the generator's, e.g. to
        fine-tune an encoder trained against an earlier snapshot of the generator.
    """

    generator: str
    outdir: str
    task: str = "invert"
    data: str | None = None
    mode: str = "wplus"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    blocks: tuple[int, ...] = (1, 2, 2, 1)
    head_channels: int = 64
    fpn_channels: int | None = None
    norm: str = "batch"
    input_scale: float = 1.0
    batch: int = 4
    images: int = 20_000
    snapshot_images: int = 2_000
    log_every: int = 10
    lr: float = 1e-4
    l2_weight: float = 1.0
    perceptual: str | None = None
    perceptual_weight: float = 0.8
    vgg_weights: str | None = None
    identity: str | None = None
    identity_weight: float = 0.1
    identity_weights: str | None = None
    w_norm_weight: float = 0.0
    latent_weight: float = 0.0
    truncation_psi: float = 1.0
    holdout_fingers: int = 0
    grid: int = 6
    seed: int = 0
    device: str = "cpu"
    max_minutes: float | None = None
    resume: str | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if self.task not in TASKS:
            raise InputError(f"--task {self.task!r} is not one of {TASKS}")
        if self.task == "minutiae" and not self.data:
            raise InputError("--task minutiae needs --data (a `synthbio fingerprints generate` folder)")
        if self.batch < 1 or self.images < 1 or self.snapshot_images < 1 or self.log_every < 1 or self.grid < 1:
            raise InputError("--batch-size, --images, --snapshot-images, --log-every and --grid must be >= 1")
        if not self.lr > 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        weights = (self.l2_weight, self.perceptual_weight, self.identity_weight, self.w_norm_weight,
                   self.latent_weight)
        if min(weights) < 0:
            raise InputError("loss weights must be >= 0")
        if self.holdout_fingers < 0:
            raise InputError(f"--holdout-fingers must be >= 0, got {self.holdout_fingers}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"--max-minutes must be > 0, got {self.max_minutes}")

    @property
    def total_steps(self) -> int:
        return math.ceil(self.images / self.batch)

    @property
    def snapshot_steps(self) -> int:
        return max(self.snapshot_images // self.batch, 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"], d["blocks"] = list(self.channels), list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown encoder training config keys: {sorted(unknown)}")
        return cls(**d)


def saved_config(outdir: str | Path) -> EncoderTrainConfig:
    """The EncoderTrainConfig an earlier run saved in OUTDIR/config.json (for --resume OUTDIR)."""
    path = Path(outdir) / "config.json"
    try:
        return EncoderTrainConfig.from_dict(read_json_file(path)["train"])
    except FileNotFoundError:
        raise InputError(f"--resume {str(outdir)!r}: no config.json (not an encoder training run)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable encoder training config: {exc}") from None


# --------------------------------------------------------------------------- losses


def l2_loss(images: Tensor, targets: Tensor) -> Tensor:
    """Per-sample mean squared error [N]."""
    return (images - targets).square().flatten(1).mean(1)


def _warm_start(encoder: Encoder, path_or_name: str) -> None:
    """Copy the weights of a saved encoder of the same architecture, keeping `encoder.w_avg`."""
    from synthbio.checkpoints.encoders import load_encoder

    source, _ = load_encoder(path_or_name)
    if source.config != encoder.config:
        raise InputError(f"--init-from {path_or_name!r}: its encoder architecture differs from this run's "
                         f"({source.config} vs {encoder.config})")
    state = {k: v for k, v in source.state_dict().items() if k != "w_avg"}
    encoder.load_state_dict(state, strict=False)


def w_norm_loss(ws: Tensor, w_avg: Tensor) -> Tensor:
    """pSp's W-norm: ||ws - w_avg||_2 over all layers and channels, per sample [N]."""
    return (ws - w_avg).flatten(1).norm(dim=1)


def _build_losses(config: EncoderTrainConfig, device: torch.device) -> dict[str, tuple[float, Any]]:
    """{name: (weight, ReconstructionLoss)} for the optional perceptual and identity terms."""
    out: dict[str, tuple[float, Any]] = {}
    if config.perceptual and config.perceptual_weight > 0:
        from synthbio.inversion.losses import build_reconstruction_loss

        out["perceptual"] = (config.perceptual_weight,
                             build_reconstruction_loss(config.perceptual, device=str(device),
                                                       vgg_weights=config.vgg_weights).to(device).eval())
    if config.identity and config.identity_weight > 0:
        from synthbio.identity.models import build_identity_model
        from synthbio.inversion.losses import IdentityLoss

        model = build_identity_model(config.identity, device=str(device), weights=config.identity_weights)
        if not getattr(model, "differentiable", False):
            raise InputError(f"--identity-model {config.identity!r} is not differentiable; it cannot train an encoder")
        out["identity"] = (config.identity_weight, IdentityLoss(model).to(device).eval())
    for _, module in out.values():
        module.requires_grad_(False)
    return out


# --------------------------------------------------------------------------- trainer


def _first_branch(imgs: Tensor | dict[str, Tensor]) -> Tensor:
    return next(iter(imgs.values())) if isinstance(imgs, dict) else imgs


class _EncoderTrainer:
    """State of one run; `step()` trains on one batch."""

    def __init__(self, config: EncoderTrainConfig, device: torch.device) -> None:
        from synthbio.checkpoints.loading import load_generator
        from synthbio.generation.sampling import class_count

        self.config, self.device = config, device
        self.G = load_generator(config.generator, device=device).requires_grad_(False).eval()
        if class_count(self.G) > 0:
            raise InputError(f"--model {config.generator!r} is conditional (c_dim={self.G.c_dim}); "
                             "encoders are trained for unconditional generators")
        res, channels = self.G.img_resolution, self.G.img_channels
        self.split: dict[str, Any] = {}
        self.dataset: Any = None
        if config.task == "minutiae":
            from synthbio.inversion.encoder_data import minutiae_pairs

            self.dataset, self.split = minutiae_pairs(config.data or "", holdout=config.holdout_fingers,
                                                      resolution=res, channels=channels)
            in_channels = 3
        elif config.data:
            from synthbio.inversion.encoder_data import FolderPairs

            self.dataset = FolderPairs(config.data, resolution=res, channels=channels)
            in_channels = channels
        else:
            in_channels = channels
        self.encoder_config = EncoderConfig(
            in_channels=in_channels, resolution=res, num_ws=self.G.num_ws, w_dim=self.G.w_dim, mode=config.mode,
            channels=config.channels, blocks=config.blocks, head_channels=config.head_channels,
            fpn_channels=config.fpn_channels, norm=config.norm, input_scale=config.input_scale)
        with torch.random.fork_rng(devices=[]):  # initialise from the seed, leave the global RNG as it was
            torch.manual_seed(config.seed)
            self.E = Encoder(self.encoder_config, w_avg=self.G.mapping.w_avg)
        if config.init_from is not None:
            _warm_start(self.E, config.init_from)
        self.E = self.E.to(device).train()
        self.opt = torch.optim.Adam(self.E.parameters(), lr=config.lr, betas=(0.9, 0.999))
        self.losses = _build_losses(config, device)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(config.seed)
        self.step_idx = 0
        self.loader = self._make_loader(0)
        self._stats: dict[str, list[float]] = {}

    def _make_loader(self, start: int) -> Any:
        if self.dataset is None:
            return None
        from synthbio.training.data import infinite_loader

        return infinite_loader(self.dataset, batch_size=self.config.batch, seed=self.config.seed, start_batch=start)

    @torch.no_grad()
    def _sample_G(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z [N, z_dim] -> (images [N, C, R, R], ws [N, num_ws, w_dim]) with const noise."""
        ws = self.G.mapping(z, None, truncation_psi=self.config.truncation_psi)
        return _first_branch(self.G.synthesis(ws, noise_mode="const")), ws

    def next_batch(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """(inputs, targets, known ws or None) of the next training batch."""
        if self.loader is None:
            z = torch.randn([self.config.batch, self.G.z_dim], generator=self.gen, device=self.device)
            imgs, ws = self._sample_G(z)
            return imgs, imgs, ws
        items, _ = next(self.loader)
        return items["input"].to(self.device), items["target"].to(self.device), None

    def grid_batch(self) -> tuple[Tensor, Tensor]:
        """Fixed (inputs, targets) shown in every sample grid: the first items, or G's seeds 0..grid-1."""
        n = self.config.grid
        if self.dataset is None:
            from synthbio.utils.seeds import z_from_seeds

            imgs, _ = self._sample_G(z_from_seeds(list(range(n)), self.G.z_dim, device=self.device))
            return imgs, imgs
        items = [self.dataset[i % len(self.dataset)][0] for i in range(n)]
        return (torch.stack([it["input"] for it in items]).to(self.device),
                torch.stack([it["target"] for it in items]).to(self.device))

    def reconstruct(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        ws = self.E(inputs)
        return _first_branch(self.G.synthesis(ws, noise_mode="const")), ws

    def step(self) -> None:
        cfg = self.config
        inputs, targets, ws_true = self.next_batch()
        self.opt.zero_grad(set_to_none=True)
        images, ws = self.reconstruct(inputs)
        terms: dict[str, Tensor] = {}
        if cfg.l2_weight > 0:
            terms["l2"] = cfg.l2_weight * l2_loss(images, targets).mean()
        for name, (weight, module) in self.losses.items():
            terms[name] = weight * module(images, module.prepare(targets)).mean()
        if cfg.w_norm_weight > 0:
            terms["w_norm"] = cfg.w_norm_weight * w_norm_loss(ws, self.E.w_avg).mean()
        if cfg.latent_weight > 0 and ws_true is not None:
            terms["latent"] = cfg.latent_weight * (ws - ws_true).square().mean()
        loss = sum(terms.values(), torch.zeros([], device=self.device))
        loss.backward()
        self.opt.step()
        self.step_idx += 1
        for name, value in {"loss": loss, **terms}.items():
            self._stats.setdefault(f"Loss/{name}", []).append(float(value.detach()))
        self._stats.setdefault("Metric/l2", []).append(float(l2_loss(images.detach(), targets).mean()))

    def pop_stats(self) -> dict[str, float]:
        out = {k: sum(v) / len(v) for k, v in self._stats.items()}
        self._stats = {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"encoder": {k: v.detach().cpu().clone() for k, v in self.E.state_dict().items()},
                "optimizer": self.opt.state_dict(), "rng": {"gen": self.gen.get_state().cpu()},
                "loader": {"position": int(self.loader.position) if self.loader is not None else 0},
                "step": self.step_idx, "encoder_config": json.dumps(self.encoder_config.to_dict()),
                "train_config": json.dumps(self.config.to_dict())}

    def load_state_dict(self, state: dict[str, Any], *, where: Path) -> None:
        saved = json.loads(state["train_config"])
        mine = self.config.to_dict()
        diff = [k for k in _FIXED_FOR_RESUME if saved.get(k) != mine.get(k)]
        if diff or state["encoder_config"] != json.dumps(self.encoder_config.to_dict()):
            raise InputError(f"--resume {where}: the saved run differs in {diff or ['encoder architecture']}")
        self.E.load_state_dict(state["encoder"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["rng"]["gen"])
        self.step_idx = int(state["step"])
        self.loader = self._make_loader(int(state["loader"]["position"]))


# --------------------------------------------------------------------------- run


def _visible(x: Tensor, channels: int) -> Tensor:
    """Grid tile [N, channels, R, R] in [-1, 1]: minutiae maps (>= 0, ~1 at a point) clamp to [0, 1] first."""
    if x.min() >= 0 and x.shape[1] == 3:
        x = x.clamp(0, 1) * 2 - 1
    if x.shape[1] != channels:
        x = x[:, :1].expand(-1, channels, -1, -1)
    return x


@torch.no_grad()
def save_sample_grid(path: Path, inputs: Tensor, targets: Tensor, recons: Tensor) -> list[Path]:
    """One row per item: input | target | reconstruction (RGB when any of them has 3 channels)."""
    from synthbio.io.images import save_grid, to_uint8

    c = 3 if 3 in (inputs.shape[1], targets.shape[1], recons.shape[1]) else 1
    rows = torch.stack([_visible(inputs, c), _visible(targets, c), _visible(recons, c)], dim=1)  # [N, 3, C, R, R]
    tiles = list(to_uint8(rows.flatten(0, 1).clamp(-1, 1)))
    return save_grid(path, tiles, cols=3)


class _Progress:
    """Steps done / total and the loss on stderr (only when asked): `synthbio.utils.progress`."""

    def __init__(self, enabled: bool, total: int, start: int) -> None:
        self._bar = Progress(enabled).start()
        self._task = self._bar.add_task("train-encoder steps", total=total, completed=start)

    def update(self, step: int, loss: float | None) -> None:
        self._bar.update(self._task, completed=step, **({"loss": f"{loss:.4f}"} if loss is not None else {}))

    def close(self) -> None:
        self._bar.stop()


def _prepare_outdir(config: EncoderTrainConfig) -> Path:
    outdir = Path(config.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputDirError(f"--outdir {str(outdir)!r} exists and is not a directory")
    existing = outdir / LATEST_DIR / "training_state.pt"
    if config.resume is None and existing.is_file():
        raise OutputDirError(f"--outdir {str(outdir)!r} holds an encoder training run ({existing}); "
                             f"continue it with --resume {outdir} or choose another --outdir")
    outdir.mkdir(parents=True, exist_ok=True)
    return outdir


def train_encoder(config: EncoderTrainConfig, *, progress: bool = False) -> Path:
    """Train (or resume) an encoder as configured; returns OUTDIR/latest (a load_encoder folder)."""
    from synthbio.checkpoints.encoders import save_encoder
    from synthbio.training import snapshots as snaps
    from synthbio.utils.devices import resolve_device

    device = resolve_device(config.device)
    state = state_path = None
    if config.resume is not None:
        state_path = snaps.find_state_file(config.resume)
        state = snaps.load_training_state(state_path)
    outdir = _prepare_outdir(config)
    t = _EncoderTrainer(config, device)
    if state is not None:
        assert state_path is not None
        t.load_state_dict(state, where=state_path)
    snaps.write_json_atomic(outdir / "config.json", {"command": "train-encoder", "train": config.to_dict(),
                                                     "encoder": t.encoder_config.to_dict(), "split": t.split})
    stats = snaps.StatsLog(outdir / "stats.jsonl", keep_until_step=t.step_idx if state is not None else None)
    del state
    grid_inputs, grid_targets = t.grid_batch()
    bar = _Progress(progress, config.total_steps, t.step_idx)
    start = tick_start = time.time()
    tick_step = t.step_idx

    def snapshot() -> None:
        t.E.eval()
        with torch.no_grad():
            recons, _ = t.reconstruct(grid_inputs)
        t.E.train()
        save_sample_grid(outdir / f"samples-{t.step_idx:06d}.png", grid_inputs, grid_targets, recons)
        prov = {"source": "synthbio train-encoder", "step": t.step_idx, "images": t.step_idx * config.batch,
                "data": config.data, "split": t.split}
        save_encoder(t.E, outdir / f"encoder-{t.step_idx:06d}", task=config.task, generator=config.generator,
                     provenance=prov)
        save_encoder(t.E, outdir / LATEST_DIR, task=config.task, generator=config.generator, provenance=prov)
        snaps.save_training_state(outdir / LATEST_DIR / snaps.STATE_FILE, t.state_dict())

    try:
        done = t.step_idx >= config.total_steps
        while not done:
            t.step()
            done = t.step_idx >= config.total_steps
            if config.max_minutes is not None and time.time() - start > config.max_minutes * 60:
                done = True
            snap_now = done or t.step_idx % config.snapshot_steps == 0
            if snap_now or t.step_idx % config.log_every == 0:
                now = time.time()
                record = {"step": t.step_idx, "images": t.step_idx * config.batch,
                          "Timing/sec_per_step": (now - tick_start) / max(t.step_idx - tick_step, 1),
                          "Timing/total_sec": now - start, **t.pop_stats()}
                stats.write(record)  # before the snapshot, so a resume keeps it
                bar.update(t.step_idx, record.get("Loss/loss"))
                tick_start, tick_step = now, t.step_idx
            if snap_now:
                snapshot()
        if not (outdir / LATEST_DIR / snaps.STATE_FILE).is_file():
            snapshot()  # nothing left to train: still leave an encoder
    finally:
        bar.close()
        stats.close()
    return outdir / LATEST_DIR
