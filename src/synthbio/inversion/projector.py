"""Projection: find the w (or W+) and noise maps whose image best matches a target.

The optimisation follows the schedule of the official StyleGAN2-ADA
`projector.py` (Karras et al. 2020), which `ProjectorConfig` takes as defaults:

- start from w_avg, the mean of `w_avg_samples` mapped latents; w_std is the
  root mean squared distance of those samples to w_avg (one scalar);
- Adam (betas 0.9, 0.999) on w and on every layer's noise map, learning rate
  lr(t) = lr0 * min(1, t / rampup) * (0.5 - 0.5 cos(pi * min(1, (1 - t) / rampdown)))
  with t = step / num_steps (a 5% ramp-up and a 25% cosine ramp-down);
- each step perturbs w by Gaussian noise of scale
  w_std * noise_factor * max(0, 1 - t / noise_ramp)^2 (0.05 over 75% of steps);
- loss = reconstruction(G(w + noise), target) + 1e5 * sum over noise maps and
  scales of (mean of n * roll(n, 1))^2 along x and y (the squared
  autocorrelation at lag 1, on the map halved by 2x2 average pooling until it
  is 8 px), which keeps the noise maps from carrying the image;
- after each step, every noise map is renormalised to zero mean, unit variance.

Unlike the official code (one target, noise buffers shared through G), a batch
of targets is optimised together with per-target noise maps, per-target random
streams and per-target losses summed into one scalar: the gradient of target i
depends on target i alone, and Adam acts per element, so a target's result
does not depend on which targets share its batch (up to float rounding of
batched kernels).

StyleGAN3 and EG3D: neither has per-pixel noise maps to optimise (EG3D's
backbone keeps its stored constant noise), so only w is optimised. A StyleGAN3
input layer turns ws[0] into the image's rotation and translation; with
`anchor_input` (default) ws[0] stays at w_avg, so the projection cannot drift
by rotating or shifting the image (its users' "anchor to w_avg"), and the
returned ws carry that row. EG3D renders each target from its own camera
(`cameras`, the 25-number labels; default the front camera) with deterministic
depth samples, so the objective has no sampling noise.

`project` takes tensors at G's resolution; the file job
(`synthbio.pipelines.projection.project`) center-crops other images to a square and
resizes them with Lanczos (as the official tool does), converting them to G's
channel count (grayscale for 1 channel, RGB for 3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import CheckpointError, InputError, library_message
from synthbio.utils.hashing import atomic_write_torch, module_sha256, sha256_bytes
from synthbio.utils.progress import Progress

SPACES = ("w", "wplus")
PRECISIONS = ("float32", "bfloat16")
CHECKPOINT_VERSION = 1


class ReconstructionLossLike(Protocol):
    """What `project` needs of a loss (synthbio.inversion.losses.ReconstructionLoss)."""

    def prepare(self, targets: Tensor) -> Any: ...

    def __call__(self, images: Tensor, prepared: Any) -> Tensor: ...


@dataclass(frozen=True)
class ProjectorConfig:
    """Optimisation settings; defaults are the official StyleGAN2-ADA projector's.

    space: 'w' (one w broadcast to all layers, as official) or 'wplus' (one w per layer).
    lr_rampup_length / lr_rampdown_length / noise_ramp_length: fractions of num_steps.
    w_avg_seed: seed of the latents that give w_avg and w_std (fixed, so every
        target and every run starts from the same point).
    optimize_noise: False keeps noise maps at their initial draw (and drops the regulariser).
    loss_resolution: images larger than this are area-downsampled before the loss
        (the official projector feeds VGG16 at most 256 px); None = never.
    checkpoint_every: with a checkpoint path, save the state every this many steps.
    branch: output branch of a multi-branch G to match (None = the first).
    class_idx: class of a conditional G (None for unconditional ones).
    batching: 'auto' (each target alone on CPU, bit-identical whatever the batch; one
        batched pass elsewhere), 'per-sample' or 'batched'.
    anchor_input: StyleGAN3 only: keep ws[0] (the input layer's rotation and translation)
        at w_avg and optimise the other rows.
    precision: 'float32', or 'bfloat16' to run the reconstruction loss's networks (VGG16,
        identity model) under bf16 autocast, target features included; G, the distances,
        w, the noise maps and Adam stay float32. Needs native bf16 (CPUs with AVX512-BF16
        or AMX, recent CUDA GPUs). A VGG16 pass at 256 px then takes ~0.6x the time;
        final losses match float32 within run-to-run noise (bench/RESULTS.md).
    """

    space: str = "w"
    num_steps: int = 1000
    initial_learning_rate: float = 0.1
    lr_rampup_length: float = 0.05
    lr_rampdown_length: float = 0.25
    initial_noise_factor: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    w_avg_samples: int = 10000
    w_avg_seed: int = 123
    betas: tuple[float, float] = (0.9, 0.999)
    optimize_noise: bool = True
    loss_resolution: int | None = 256
    checkpoint_every: int = 100
    branch: str | None = None
    class_idx: int | None = None
    batching: str = "auto"
    precision: str = "float32"
    anchor_input: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.space not in SPACES:
            raise InputError(f"projection space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if self.num_steps < 1:
            raise InputError(f"number of projection steps must be >= 1, got {self.num_steps}")
        if not (self.initial_learning_rate > 0 and math.isfinite(self.initial_learning_rate)):
            raise InputError(f"learning rate must be a positive number, got {self.initial_learning_rate}")
        for name in ("lr_rampup_length", "lr_rampdown_length", "noise_ramp_length"):
            if not 0 < getattr(self, name) <= 1:
                raise InputError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.initial_noise_factor < 0 or self.regularize_noise_weight < 0:
            raise InputError("noise factor and noise regularisation weight must be >= 0")
        if self.w_avg_samples < 2:
            raise InputError(f"w_avg_samples must be >= 2, got {self.w_avg_samples}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise InputError(f"Adam betas must be two numbers in [0, 1), got {self.betas}")
        if self.loss_resolution is not None and self.loss_resolution < 1:
            raise InputError(f"loss_resolution must be >= 1 or None, got {self.loss_resolution}")
        if self.batching not in ("auto", "per-sample", "batched"):
            raise InputError(f"batching must be auto, per-sample or batched, got {self.batching!r}")
        if self.checkpoint_every < 1:
            raise InputError(f"checkpoint interval must be >= 1 step, got {self.checkpoint_every}")
        if self.precision not in PRECISIONS:
            raise InputError(f"projection precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass(frozen=True)
class ProjectionResult:
    """ws: [N, num_ws, w_dim] (equal rows for space 'w'); noise: per noise layer [N, 1, R, R];
    losses / noise_reg: [num_steps, N], per step before its update; snapshots: {step: ws}."""

    ws: Tensor
    noise: dict[str, Tensor]
    losses: Tensor
    noise_reg: Tensor
    snapshots: dict[int, Tensor] = field(default_factory=dict)


# --- schedule (pure functions of the step) -------------------------------------------------


def learning_rate(step: int, config: ProjectorConfig) -> float:
    """Official schedule: linear ramp-up, cosine ramp-down, t = step / num_steps."""
    t = step / config.num_steps
    ramp = min(1.0, (1.0 - t) / config.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / config.lr_rampup_length)
    return config.initial_learning_rate * ramp


def w_noise_scale(step: int, config: ProjectorConfig, w_std: float) -> float:
    """Scale of the Gaussian perturbation of w: w_std * factor * max(0, 1 - t / ramp)^2."""
    t = step / config.num_steps
    return w_std * config.initial_noise_factor * max(0.0, 1.0 - t / config.noise_ramp_length) ** 2


# --- generator helpers ----------------------------------------------------------------------


def compute_w_stats(G: torch.nn.Module, *, num_samples: int = 10000, seed: int = 123,
                    c: Tensor | None = None, chunk: int = 2048) -> tuple[Tensor, float]:
    """w_avg [w_dim] and w_std (scalar): sqrt(sum over samples and dims of (w - w_avg)^2 / num_samples).

    c: conditioning [1, c_dim] repeated for every sample (None for unconditional G).
    Computed in float64 so the result does not depend on `chunk`.
    """
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([num_samples, G.z_dim], generator=gen)
    ws = []
    for part in z.split(chunk):
        cc = None if c is None else c.expand(part.shape[0], -1).to(device)
        # Batched kernels (grad mode on, results detached): CPU inference would map every
        # sample alone for batch invariance, which an average does not need.
        with torch.enable_grad():
            ws.append(G.mapping(part.to(device), cc)[:, 0].detach().double().cpu())
    w = torch.cat(ws)
    w_avg = w.mean(dim=0)
    w_std = float(((w - w_avg).square().sum() / num_samples).sqrt())
    return w_avg.float(), w_std


def noise_layers(G: torch.nn.Module) -> list[tuple[str, int]]:
    """(name, resolution) of every synthesis layer that adds noise, in forward order ('b8.conv0', ...).

    None for StyleGAN3 (no noise inputs) and EG3D (its backbone renders with its constant noise).
    """
    out: list[tuple[str, int]] = []
    if not hasattr(G.synthesis, "block_resolutions"):
        return out
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is not None and layer.use_noise:
                out.append((f"b{res}.{name}", layer.resolution))
    return out


def branch_index(G: torch.nn.Module, branch: str | None) -> int:
    names = tuple(getattr(G, "branch_names", ("img",)))
    if branch is None:
        return 0
    if branch not in names:
        raise InputError(f"generator has no output branch {branch!r} (branches: {', '.join(names)})")
    return names.index(branch)


def synthesize_with_noise(G: torch.nn.Module, ws: Tensor, noise: Sequence[Tensor], *, branch: int = 0,
                          cameras: Tensor | None = None) -> Tensor:
    """ws [N, num_ws, w_dim] and per-sample noise maps (one [N,1,R,R] per noise layer, in
    `noise_layers` order) -> images [N, C, R, R] of one branch. Differentiable in ws and noise.

    StyleGAN3: no noise maps. EG3D: rendered from `cameras` [N, 25] (None = the front camera)
    with deterministic depth samples and the backbone's constant noise.
    """
    if getattr(G, "camera_conditioned", False):
        return G.synthesis(ws, cameras, noise_mode="const", deterministic=True)[G.branch_names[branch]]
    synth = G.synthesis
    if not hasattr(synth, "block_resolutions"):  # StyleGAN3
        return synth(ws)
    x: Tensor | None = None
    imgs: list[Tensor] | None = None
    w_idx = k = 0
    for res in synth.block_resolutions:
        block = getattr(synth, f"b{res}")
        n_noise = sum(1 for name in ("conv0", "conv1")
                      if getattr(block, name, None) is not None and getattr(block, name).use_noise)
        cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
        w_idx += block.num_conv
        mode = "random" if n_noise else "none"  # 'random' with caller-drawn maps = our noise
        x, imgs = block(x, imgs, cur, noise_mode=mode, force_fp32=True,
                        noises=list(noise[k:k + n_noise]) if n_noise else None)
        k += n_noise
    assert imgs is not None
    return imgs[branch]


# --- loss pieces ----------------------------------------------------------------------------


def noise_regularization(noise: Sequence[Tensor]) -> Tensor:
    """Per-sample sum over maps and scales of squared lag-1 autocorrelations -> [N].

    Each map [N,1,H,W] is compared with itself shifted by one pixel (circularly)
    along x and y, then halved by 2x2 average pooling, until it is 8 px or less.
    """
    reg = noise[0].new_zeros(noise[0].shape[0])
    for n in noise:
        while True:
            reg = reg + (n * torch.roll(n, shifts=1, dims=3)).mean(dim=[1, 2, 3]).square()
            reg = reg + (n * torch.roll(n, shifts=1, dims=2)).mean(dim=[1, 2, 3]).square()
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, kernel_size=2)
    return reg


def _to_loss_resolution(images: Tensor, size: int | None, precision: str = "float32") -> Tensor:
    """Area-downsample to `size` if larger; on CPU in float32 hand the loss NHWC images, since
    oneDNN runs a VGG16 forward + backward ~15% faster on them (values equal to rounding).
    Under bf16 autocast NCHW input measured ~8% faster at 1 thread (equal at 2), so it stays."""
    if size is not None and images.shape[2] > size:
        images = F.interpolate(images, size=(size, size), mode="area")
    if images.device.type == "cpu" and precision == "float32":
        images = images.contiguous(memory_format=torch.channels_last)
    return images


@torch.no_grad()
def _normalize_noise_(noise: Sequence[Tensor]) -> None:
    """Zero mean, unit variance per sample and map (in place)."""
    for n in noise:
        n -= n.mean(dim=[1, 2, 3], keepdim=True)
        n *= n.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()


def check_targets(G: torch.nn.Module, targets: Tensor, *, branch: int = 0) -> None:
    names = tuple(getattr(G, "branch_names", ("img",)))
    channels = dict(G.branches)[names[branch]] if hasattr(G, "branches") else G.img_channels
    want = (channels, G.img_resolution, G.img_resolution)
    if not isinstance(targets, Tensor) or targets.ndim != 4 or tuple(targets.shape[1:]) != want:
        shape = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise InputError(f"targets must be [N, {want[0]}, {want[1]}, {want[2]}] for this generator "
                         f"(branch {names[branch]!r}), got {shape}")
    if targets.shape[0] == 0:
        raise InputError("no targets to project")
    if not torch.isfinite(targets).all():
        bad = sorted({int(i) for i in torch.nonzero(~torch.isfinite(targets))[:, 0]})
        raise InputError(f"targets {bad} contain NaN or infinite values")


def loss_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Context for the reconstruction-loss pass: bf16 autocast for 'bfloat16', nothing for 'float32'.

    Autocast runs convolutions and matrix products in bf16 (fp32 accumulation inside
    oneDNN / cuBLAS); the losses bring their features back to float32 before any
    distance. Raises InputError where the device has no native bf16 (emulated bf16
    would be slower than float32, defeating the option).
    """
    if precision == "float32":
        return contextlib.nullcontext()
    if device.type == "cpu":
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    elif device.type == "cuda":
        supported = torch.cuda.is_bf16_supported(including_emulation=False)
    else:
        supported = False
    if not supported:
        raise InputError(f"precision {precision!r} needs native bfloat16 support (a CPU with AVX512-BF16 or AMX, "
                         f"or a CUDA GPU with bf16); device {str(device)!r} has none: use precision 'float32'")
    return torch.autocast(device.type, dtype=torch.bfloat16)


# --- per-target randomness --------------------------------------------------------------------


def _per_target_generators(generator: torch.Generator | Sequence[torch.Generator] | None,
                           n: int) -> list[torch.Generator]:
    """One CPU generator per target. A single generator seeds them by successive draws, so
    target i's stream depends only on the generator and i, not on the batch size."""
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if isinstance(generator, torch.Generator):
        seeds = [int(torch.randint(0, 2**62, (1,), generator=generator)) for _ in range(n)]
        return [torch.Generator().manual_seed(s) for s in seeds]
    gens = list(generator)
    if len(gens) != n or not all(isinstance(g, torch.Generator) for g in gens):
        raise InputError(f"generator must be one torch.Generator or {n} (one per target), got {len(gens)}")
    return gens


# --- checkpoints ------------------------------------------------------------------------------


def _fingerprint(G: torch.nn.Module, targets: Tensor, config: ProjectorConfig, keep: list[int]) -> dict[str, Any]:
    """What must match for a checkpoint to continue this run (the save interval may change)."""
    # Defaults of options added later (float32, anchored input) are left out, so checkpoints written
    # before them still resume.
    settings = {k: v for k, v in config.to_dict().items()
                if k != "checkpoint_every" and not (k == "precision" and v == "float32")
                and not (k == "anchor_input" and v)}
    return {"version": CHECKPOINT_VERSION, "generator_sha256": module_sha256(G),
            "targets_sha256": sha256_bytes(targets.detach().float().cpu().contiguous().numpy().tobytes()),
            "config": repr(sorted(settings.items())), "keep_steps": repr(keep)}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write_torch(path, state)


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise CheckpointError(f"projection checkpoint {os.fspath(path)!r} is unreadable ({library_message(exc)}); "
                              "delete it to start over") from None
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        raise CheckpointError(f"projection checkpoint {os.fspath(path)!r} belongs to another run (other "
                              "targets, settings or generator); delete it or use another output folder")
    return state


# --- the optimisation -------------------------------------------------------------------------


StepCallback = Callable[[int, Tensor], None]


@dataclass
class _Leaves:
    """The optimised tensors, one set per target so that every target's Adam update sees
    tensors of the same shapes whatever the batch: w[i] [1, rows, w_dim], noise[i][l] [1,1,R,R]."""

    w: list[Tensor]
    noise: list[list[Tensor]]

    def params(self, i: int, optimize_noise: bool) -> list[Tensor]:
        return [self.w[i]] + (self.noise[i] if optimize_noise else [])

    def batch_noise(self, idx: Sequence[int]) -> list[Tensor]:
        """Per layer, the maps of targets `idx` as one [len(idx), 1, R, R] tensor."""
        return [torch.cat([self.noise[i][layer] for i in idx]) for layer in range(len(self.noise[0]))]


def _use_per_sample(batching: str, device: torch.device) -> bool:
    # On CPU every target runs alone: kernels then see the shapes of a batch of one,
    # so results are bit-identical whatever the batch (see synthbio.nn._per_sample);
    # a 256 px step already fills the cores for one sample.
    return batching == "per-sample" or (batching == "auto" and device.type == "cpu")


def _objective(G: torch.nn.Module, loss: ReconstructionLossLike, prepared: Any, ws: Tensor, noise: list[Tensor],
               *, config: ProjectorConfig, branch: int, cameras: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(reconstruction loss [N], noise regularisation [N]) of ws [N, num_ws, w_dim]."""
    images = synthesize_with_noise(G, ws, noise, branch=branch, cameras=cameras)  # float32 whatever the precision
    with loss_autocast(config.precision, images.device):
        dist = loss(_to_loss_resolution(images, config.loss_resolution, config.precision), prepared).float()
    reg = noise_regularization(noise) if noise and config.optimize_noise else torch.zeros_like(dist)
    return dist, reg


def project(G: torch.nn.Module, targets: Tensor, *, config: ProjectorConfig = ProjectorConfig(),
            loss: ReconstructionLossLike,
            generator: torch.Generator | Sequence[torch.Generator] | None = None, progress: bool = True,
            checkpoint_path: str | os.PathLike[str] | None = None, keep_steps: Sequence[int] = (),
            callback: StepCallback | None = None, w_stats: tuple[Tensor, float] | None = None,
            cameras: Tensor | None = None) -> ProjectionResult:
    """Project targets [N, C, R, R] in [-1, 1] (R = G.img_resolution) into W or W+.

    loss: per-sample reconstruction loss (`prepare(targets)`, `loss(images, prepared) -> [N]`).
    generator: one torch.Generator (target i gets the i-th seed it draws), or one per
        target; drives the initial noise maps and the w perturbations. None = seed 0.
    checkpoint_path: save the state there every `config.checkpoint_every` steps and at
        the end; an existing checkpoint of the same run is continued (a finished one
        returns at once), one of another run raises CheckpointError.
    keep_steps: steps (0 = start, num_steps = end) whose ws are returned in `snapshots`.
    callback: called as callback(step, losses [N]) after each step (progress, tests).
    w_stats: (w_avg [w_dim], w_std) from `compute_w_stats` with this config, to reuse
        across batches (None = compute them here).
    cameras: EG3D: the camera of each target [N, 25] (None = the front camera); others: None.
    G is not modified (its weights, buffers and requires_grad flags stay as they are).
    """
    device = next(G.parameters()).device
    b = branch_index(G, config.branch)
    check_targets(G, targets, branch=b)
    loss_autocast(config.precision, device)  # an unsupported precision fails before any work
    if getattr(G, "c_dim", 0):
        from synthbio.generation.sampling import conditioning
        c = conditioning(G, config.class_idx)
    elif config.class_idx is not None:
        raise InputError(f"class index {config.class_idx} given, but the model is unconditional")
    else:
        c = None
    camera_conditioned = bool(getattr(G, "camera_conditioned", False))
    if cameras is not None and not camera_conditioned:
        raise InputError("cameras are for camera-controlled (EG3D) generators; this one takes none")
    if camera_conditioned:
        cameras = G.default_camera(targets.shape[0]) if cameras is None else cameras
        if tuple(cameras.shape) != (targets.shape[0], 25):
            raise InputError(f"cameras must be [{targets.shape[0]}, 25] (one per target), got {list(cameras.shape)}")
        cameras = cameras.to(device=device, dtype=torch.float32)
    keep = sorted({int(s) for s in keep_steps})
    if any(not 0 <= s <= config.num_steps for s in keep):
        raise InputError(f"keep_steps must lie in 0-{config.num_steps}, got {keep}")
    n, num_ws = targets.shape[0], G.num_ws
    targets = targets.to(device=device, dtype=torch.float32)
    gens = _per_target_generators(generator, n)
    layers = noise_layers(G)
    fingerprint = _fingerprint(G, targets, config, keep) if checkpoint_path is not None else {}
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    per_sample = _use_per_sample(config.batching, device)

    if w_stats is None:
        w_stats = compute_w_stats(G, num_samples=config.w_avg_samples, seed=config.w_avg_seed, c=c)
    w_avg, w_std = w_stats
    rows = 1 if config.space == "w" else num_ws
    leaves = _Leaves(
        w=[w_avg.to(device).reshape(1, 1, -1).repeat(1, rows, 1).requires_grad_(True) for _ in range(n)],
        noise=[[torch.randn([1, 1, r, r], generator=g).to(device).requires_grad_(config.optimize_noise)
                for _, r in layers] for g in gens])
    params = [p for i in range(n) for p in leaves.params(i, config.optimize_noise)]
    opt = torch.optim.Adam(params, betas=config.betas, lr=config.initial_learning_rate)
    losses = torch.zeros([config.num_steps, n])
    regs = torch.zeros([config.num_steps, n])
    snapshots: dict[int, Tensor] = {}
    start = 0

    anchored = config.anchor_input and getattr(G, "architecture", "") == "stylegan3"
    w_avg_row = w_avg.to(device).reshape(1, 1, -1)

    def broadcast(w: Tensor) -> Tensor:
        ws = w.expand(-1, num_ws, -1) if config.space == "w" else w
        if anchored:  # the input layer's transform stays that of w_avg
            ws = torch.cat([w_avg_row.expand(ws.shape[0], 1, -1), ws[:, 1:]], dim=1)
        return ws

    def current_ws() -> Tensor:
        return broadcast(torch.cat([w.detach() for w in leaves.w])).cpu().clone()

    state = _load_checkpoint(ckpt, fingerprint) if ckpt is not None else None
    if state is not None:
        start = int(state["step"])
        with torch.no_grad():
            for i in range(n):
                leaves.w[i].copy_(state["w_opt"][i:i + 1])
                for layer, t in enumerate(leaves.noise[i]):
                    t.copy_(state["noise"][layer][i:i + 1])
        opt.load_state_dict(state["optimizer"])
        for g, s in zip(gens, state["rng"]):
            g.set_state(s)
        losses[:start], regs[:start] = state["losses"][:start], state["noise_reg"][:start]
        snapshots = {int(k): v for k, v in state["snapshots"].items()}

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        _save_checkpoint(ckpt, {
            "fingerprint": fingerprint, "step": step, "w_opt": torch.cat([w.detach() for w in leaves.w]).cpu(),
            "noise": [t.detach().cpu() for t in leaves.batch_noise(range(n))], "optimizer": opt.state_dict(),
            "rng": [g.get_state() for g in gens], "losses": losses, "noise_reg": regs,
            "snapshots": {str(k): v for k, v in snapshots.items()}})

    loss_targets = _to_loss_resolution(targets, config.loss_resolution, config.precision)
    # Target features in the loss's own precision: an image equal to the target is at distance 0.
    with loss_autocast(config.precision, device):
        if per_sample:
            prepared = [loss.prepare(loss_targets[i:i + 1].clone()) for i in range(n)]
        else:
            prepared = loss.prepare(loss_targets)
    bar = _ProgressBar(config.num_steps, start) if progress else None
    try:
        for step in range(start, config.num_steps):
            if step in keep:
                snapshots[step] = current_ws()
            lr = learning_rate(step, config)
            for group in opt.param_groups:
                group["lr"] = lr
            scale = w_noise_scale(step, config, w_std)
            w_noise = [(torch.randn([1, rows, G.w_dim], generator=g) * scale).to(device) for g in gens]
            groups = [[i] for i in range(n)] if per_sample else [list(range(n))]
            for idx in groups:
                ws = broadcast(torch.cat([leaves.w[i] + w_noise[i] for i in idx]))
                dist, reg = _objective(G, loss, prepared[idx[0]] if per_sample else prepared, ws,
                                       leaves.batch_noise(idx), config=config, branch=b,
                                       cameras=None if cameras is None else cameras[idx])
                total = (dist + config.regularize_noise_weight * reg).sum()  # per-target terms: own gradients
                group_params = [p for i in idx for p in leaves.params(i, config.optimize_noise)]
                # Gradients for our leaves only: weights of G and of the loss network get none computed.
                for p, g in zip(group_params, torch.autograd.grad(total, group_params)):
                    p.grad = g
                losses[step, idx], regs[step, idx] = dist.detach().cpu(), reg.detach().cpu()
            opt.step()
            if config.optimize_noise:
                _normalize_noise_([t for maps in leaves.noise for t in maps])
            if bar is not None:
                bar.advance(float(losses[step].mean()))
            if callback is not None:
                callback(step, losses[step])
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.num_steps:
                checkpoint(step + 1)
    finally:
        if bar is not None:
            bar.close()
    if config.num_steps in keep:
        snapshots[config.num_steps] = current_ws()
    if start < config.num_steps:
        checkpoint(config.num_steps)
    final_noise = leaves.batch_noise(range(n)) if layers else []
    return ProjectionResult(ws=current_ws().to(device),
                            noise={name: t.detach().clone() for (name, _), t in zip(layers, final_noise)},
                            losses=losses, noise_reg=regs, snapshots=snapshots)


class _ProgressBar:
    """Step count and mean loss on stderr: `synthbio.utils.progress`."""

    def __init__(self, total: int, start: int) -> None:
        self._p = Progress(transient=True).start()
        self._task = self._p.add_task("projecting steps", total=total, completed=start)

    def advance(self, mean_loss: float) -> None:
        self._p.update(self._task, advance=1, loss=f"{mean_loss:.4g}")

    def close(self) -> None:
        self._p.stop()
