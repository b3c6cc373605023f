"""StyleGAN2-ADA training loop: phases, lazy regularisation, G_ema, ADA, snapshots, exact resume.

One step (one minibatch of `batch` real images) runs the official phases:

    Gmain  every step   non-saturating loss of G (weighted sum over branches)
    Greg   every 4      path-length penalty on a batch/2 (all branches' Jacobian)
    Dmain  every step   logistic loss of every branch's D on fakes and reals
    Dreg   every 16     R1 on reals, gamma/2, per D

Each phase draws its own latents; regularisation losses are multiplied by
their interval (lazy regularisation) and Adam's lr and betas are corrected by
interval / (interval + 1). Then G_ema moves towards G and the ADA controller
adjusts p from the sign of D's real logits.

Determinism: every random number comes from two explicit generators (tensor
draws on the training device, scalar draws on the CPU) and the data order is a
pure function of (seed, batch position). Their states, the optimisers, ADA and
the path-length mean are saved in `training_state.pt`, so a run killed and
resumed from a snapshot reaches bit-identical weights on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn import conv_gradfix
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator
from synthbio.training import distributed as dist_utils
from synthbio.training import losses
from synthbio.training import snapshots as snaps
from synthbio.training import speed
from synthbio.training.configs import TrainConfig, TrainPlan, differing_keys, lazy_regularization_adam, resolve_plan
from synthbio.training.distributed import DistInfo
from synthbio.training.ema import ema_beta, update_ema
from synthbio.utils.devices import resolve_device
from synthbio.utils.progress import Progress

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    """What a finished (or time-limited) run leaves: counters, folders and the networks in memory."""

    outdir: Path
    cur_nimg: int
    step: int
    stopped_early: bool
    snapshots: list[Path] = field(default_factory=list)
    G: Generator | None = None
    D: torch.nn.ModuleDict | None = None
    G_ema: Generator | None = None
    G_opt: torch.optim.Optimizer | None = None
    D_opt: torch.optim.Optimizer | None = None
    pl_mean: Tensor | None = None
    augment_p: float = 0.0


# --------------------------------------------------------------------------- setup


def open_dataset(config: TrainConfig) -> Any:
    """The ImageDataset the config names (InputError for a missing or malformed folder)."""
    from pathlib import Path as _P

    from synthbio.training.data import DatasetConfig, ImageDataset

    if not _P(config.data).exists():
        raise InputError(f"--data {config.data!r}: no such folder or archive")
    labels = config.labels or ("dataset.json" if config.cond else None)
    ds_cfg = DatasetConfig(path=config.data, resolution=config.resolution, resize_mode=config.resize_mode,
                           branches=config.branches, labels=labels, xflip=config.mirror, max_size=config.max_size)
    dataset = ImageDataset(ds_cfg)
    if config.cond and dataset.c_dim == 0:
        raise InputError(f"--cond: the data set {config.data!r} has no labels")
    return dataset


def plan_for(config: TrainConfig, dataset: Any, *, world_size: int = 1, device_type: str = "cpu") -> TrainPlan:
    return resolve_plan(config, resolution=int(dataset.resolution), branches=tuple(dataset.branches),
                        c_dim=int(dataset.c_dim), world_size=world_size, device_type=device_type)


def describe(config: TrainConfig) -> dict[str, Any]:
    """The fully resolved run (what --dry-run prints): config, plan and data set summary."""
    dataset = open_dataset(config)
    info = dist_utils.env_world()
    device = resolve_device(config.device)
    plan = plan_for(config, dataset, world_size=info.world_size, device_type=device.type)
    return {"train": config.to_dict(), "plan": plan.to_dict(), "device": str(device),
            "dataset": {"path": config.data, "name": dataset.name, "size": len(dataset),
                        "resolution": dataset.resolution, "branches": [list(b) for b in dataset.branches],
                        "c_dim": dataset.c_dim}}


def build_networks(plan: TrainPlan, *, seed: int, device: torch.device
                   ) -> tuple[Generator, torch.nn.ModuleDict, Generator]:
    """G, D (one per branch) and G_ema, initialised from `seed` without leaving global RNG changed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(plan.G)
        D = torch.nn.ModuleDict({name: Discriminator(cfg) for name, cfg in plan.D.items()})
    G = G.train().requires_grad_(False).to(device)
    D = D.train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    return G, D, G_ema


def build_optimizers(plan: TrainPlan, config: TrainConfig, G: torch.nn.Module, D: torch.nn.Module
                     ) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam(lr, betas (0, 0.99), eps 1e-8) per network with the lazy-regularisation correction."""
    out = []
    for module, interval in ((G, config.g_reg_interval), (D, config.d_reg_interval)):
        lr, betas = lazy_regularization_adam(lr=plan.lr, betas=plan.betas, interval=interval)
        out.append(torch.optim.Adam(module.parameters(), lr=lr, betas=betas, eps=1e-8))
    return out[0], out[1]


def _rank_seed(seed: int, rank: int, stream: int) -> int:
    """Distinct, reproducible seeds per (run seed, rank, stream)."""
    return (seed * 7919 + rank * 104729 + stream * 1299709) % (2**63 - 1)


def _build_augment(config: TrainConfig, device: torch.device) -> Any:
    """The AugmentPipe for --aug ada|fixed (p starts at 0, or at --p), None for noaug."""
    if config.aug == "noaug":
        return None
    from synthbio.training.augment import AugmentConfig, AugmentPipe

    pipe = AugmentPipe(AugmentConfig()).train().requires_grad_(False).to(device)
    pipe.p.copy_(torch.as_tensor(config.p if config.aug == "fixed" else 0.0))
    return pipe


# --------------------------------------------------------------------------- trainer


class _Trainer:
    """State of one run on one rank; `step()` advances one minibatch."""

    def __init__(self, config: TrainConfig, dataset: Any, info: DistInfo, device: torch.device) -> None:
        self.config, self.dataset, self.info, self.device = config, dataset, info, device
        self.plan = plan_for(config, dataset, world_size=info.world_size, device_type=device.type)
        self.branch_names = self.plan.G.branch_names
        self.G, self.D, self.G_ema = build_networks(self.plan, seed=config.seed, device=device)
        self.gradfix = speed.use_gradfix(config.gradfix, device)
        self.synthesis_main, self.D_main = speed.main_phase_modules(self.G, self.D, compile=config.compile,
                                                                    device=device)
        self.G_opt, self.D_opt = build_optimizers(self.plan, config, self.G, self.D)
        self.augment_pipe = _build_augment(config, device)
        self.ada = None
        if config.aug == "ada":
            from synthbio.training.augment import AdaController

            self.ada = AdaController(target=config.target, interval=config.ada_interval,
                                     adjust_kimg=config.ada_kimg, batch_size=self.plan.batch)
        self.pl_mean = torch.zeros([], device=device)
        self.gen = torch.Generator(device=device)  # tensor draws: z, noise, pl noise, augmentation
        self.gen.manual_seed(_rank_seed(config.seed, info.rank, 1))
        self.host_gen = torch.Generator()  # scalar draws: style-mixing cutoffs, fake labels
        self.host_gen.manual_seed(_rank_seed(config.seed, info.rank, 2))
        amp = _AMP_DTYPES.get(self.plan.precision)
        self.amp_dtype = amp
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.plan.precision == "fp16")
        self.step_idx = 0
        self.cur_nimg = 0
        self.tick = 0
        self.last_rt: float | None = None
        self._stats: dict[str, list[Tensor]] = {}
        self.loader = self._make_loader(0)
        dist_utils.broadcast_module(self.G, info)
        dist_utils.broadcast_module(self.D, info)
        dist_utils.broadcast_module(self.G_ema, info)

    def _make_loader(self, start_batch: int) -> Any:
        from synthbio.training.data import infinite_loader

        return infinite_loader(self.dataset, batch_size=self.plan.batch_per_rank, seed=self.config.seed,
                               rank=self.info.rank, world_size=self.info.world_size,
                               num_workers=self.config.workers, start_batch=start_batch)

    # -- helpers ---------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _record(self, name: str, value: Tensor) -> None:
        self._stats.setdefault(name, []).append(value.detach().float().mean())

    def _c_or_none(self, c: Tensor) -> Tensor | None:
        return c if self.plan.G.c_dim > 0 else None

    def _randn(self, shape: list[int]) -> Tensor:
        return torch.randn(shape, generator=self.gen, device=self.device)

    def _fake_c(self, real_c: Tensor) -> Tensor:
        """Labels for fakes: data-set labels drawn at random (as the official loop)."""
        n = real_c.shape[0]
        if self.plan.G.c_dim == 0:
            return real_c.new_zeros([n, 0])
        idx = torch.randint(len(self.dataset), [n], generator=self.host_gen).tolist()
        return torch.stack([self.dataset.get_label(i) for i in idx]).to(self.device)

    def _run_G(self, z: Tensor, c: Tensor, *, main: bool = True) -> tuple[dict[str, Tensor], Tensor]:
        """Latents -> ({branch: image}, ws), with style mixing and random noise."""
        cc = self._c_or_none(c)
        # The mapping network stays in float32 (as the official mixed-precision setup): it is
        # cheap, and the tracked w_avg must not be updated from half-precision activations.
        with torch.autocast(device_type=self.device.type, enabled=False):
            ws = self.G.mapping(z, cc, update_emas=True)
            if self.config.style_mixing_prob > 0:
                cutoff = losses.style_mixing_cutoff(ws.shape[1], prob=self.config.style_mixing_prob,
                                                    generator=self.host_gen)
                if cutoff < ws.shape[1]:
                    ws2 = self.G.mapping(self._randn(list(z.shape)), cc, update_emas=False)
                    ws = losses.mix_styles(ws, ws2, cutoff)
        imgs = (self.synthesis_main if main else self.G.synthesis)(ws, noise_mode="random", generator=self.gen)
        return losses.as_branch_dict(imgs, self.branch_names), ws

    def _run_D(self, imgs: dict[str, Tensor], c: Tensor, *, main: bool = True) -> dict[str, Tensor]:
        """Augment all branches with one shared transform, then each branch's D -> {branch: logits [N,1]}."""
        if self.augment_pipe is not None:
            aug = self.augment_pipe(imgs, generator=self.gen)
            imgs = aug if isinstance(aug, dict) else {self.branch_names[0]: aug}
        cc = self._c_or_none(c)
        return {name: (self.D_main if main else self.D)[name](imgs[name], cc) for name in self.branch_names}

    def _backward(self, loss: Tensor) -> None:
        self.scaler.scale(loss).backward()

    def _opt_step(self, module: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        """All-reduce gradients, sanitise them (fp32/bf16) and step; GradScaler handles fp16 overflow."""
        params = list(module.parameters())
        dist_utils.all_reduce_grads(params, self.info)
        if self.scaler.is_enabled():
            self.scaler.step(opt)
            self.scaler.update()
            return
        for p in params:
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def _grad_scale(self) -> float:
        return float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0

    # -- phases ----------------------------------------------------------------

    def _phase_G_main(self, real_c: Tensor) -> None:
        n = real_c.shape[0]
        gen_c = self._fake_c(real_c)
        with self._autocast():
            imgs, _ = self._run_G(self._randn([n, self.plan.G.z_dim]), gen_c)
            logits = self._run_D(imgs, gen_c)
        loss = real_c.new_zeros([], dtype=torch.float32)
        for name, lg in logits.items():
            term = losses.g_nonsaturating_loss(lg.float())
            self._record(f"Loss/G/loss/{name}", term)
            self._record(f"Loss/scores/fake/{name}", lg)
            loss = loss + self.plan.branch_weights[name] * term.mean()
        self._record("Loss/G/loss", loss)
        self._backward(loss)

    def _phase_G_reg(self, real_c: Tensor) -> None:
        n = max(real_c.shape[0] // self.config.pl_batch_shrink, 1)
        with self._autocast():
            imgs, ws = self._run_G(self._randn([n, self.plan.G.z_dim]), self._fake_c(real_c[:n]), main=False)
        noise = losses.path_length_noise(imgs, generator=self.gen)
        lengths = losses.path_lengths(imgs, ws, noise, grad_scale=self._grad_scale())
        penalty, self.pl_mean = losses.g_path_length_penalty(lengths, self.pl_mean, decay=self.config.pl_decay)
        self._record("Loss/pl_penalty", penalty)
        loss = (penalty * self.config.pl_weight).mean()
        self._record("Loss/G/reg", loss)
        self._backward(loss * self.config.g_reg_interval)

    def _phase_D_main(self, reals: dict[str, Tensor], real_c: Tensor) -> Tensor:
        n = real_c.shape[0]
        gen_c = self._fake_c(real_c)
        with torch.no_grad(), self._autocast():
            fakes, _ = self._run_G(self._randn([n, self.plan.G.z_dim]), gen_c)
        with self._autocast():
            fake_logits = self._run_D({k: v.detach() for k, v in fakes.items()}, gen_c)
            real_logits = self._run_D(reals, real_c)
        loss = real_c.new_zeros([], dtype=torch.float32)
        for name in self.branch_names:
            term = losses.d_logistic_loss(real_logits[name].float(), fake_logits[name].float())
            self._record(f"Loss/D/loss/{name}", term)
            self._record(f"Loss/scores/real/{name}", real_logits[name])
            loss = loss + term.mean()
        self._record("Loss/D/loss", loss)
        self._backward(loss)
        return torch.cat([real_logits[name].detach().float() for name in self.branch_names])

    def _phase_D_reg(self, reals: dict[str, Tensor], real_c: Tensor) -> None:
        inputs = {k: v.detach().requires_grad_(True) for k, v in reals.items()}
        with self._autocast():
            logits = self._run_D(inputs, real_c, main=False)
        loss = real_c.new_zeros([], dtype=torch.float32)
        for name in self.branch_names:
            r1 = losses.d_r1_penalty(logits[name], inputs[name], grad_scale=self._grad_scale())
            self._record(f"Loss/r1_penalty/{name}", r1)
            loss = loss + (r1 * (self.plan.gamma / 2)).mean()
        self._record("Loss/D/reg", loss)
        self._backward(loss * self.config.d_reg_interval)

    # -- one step --------------------------------------------------------------

    def _next_batch(self) -> tuple[dict[str, Tensor], Tensor]:
        from synthbio.training.data import to_float

        images, c = next(self.loader)
        reals = {name: to_float(images[name]).to(self.device) for name in self.branch_names}
        return reals, c.to(self.device)

    def _phase(self, module: torch.nn.Module, opt: torch.optim.Optimizer, run: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        with conv_gradfix.enabled(self.gradfix):
            out = run()
        module.requires_grad_(False)
        self._opt_step(module, opt)
        return out

    def step(self) -> None:
        reals, real_c = self._next_batch()
        cfg = self.config
        self._phase(self.G, self.G_opt, lambda: self._phase_G_main(real_c))
        if cfg.pl_weight > 0 and self.step_idx % cfg.g_reg_interval == 0:
            self._phase(self.G, self.G_opt, lambda: self._phase_G_reg(real_c))
        real_logits = self._phase(self.D, self.D_opt, lambda: self._phase_D_main(reals, real_c))
        if self.plan.gamma > 0 and self.step_idx % cfg.d_reg_interval == 0:
            self._phase(self.D, self.D_opt, lambda: self._phase_D_reg(reals, real_c))

        # Keep the tracked w_avg equal on every rank, then move G_ema towards G.
        dist_utils.average_tensor_(self.G.mapping.w_avg, self.info)
        beta = ema_beta(batch_size=self.plan.batch, ema_kimg=self.plan.ema_kimg, cur_nimg=self.cur_nimg,
                        ema_rampup=self.plan.ema_rampup)
        update_ema(self.G_ema, self.G, beta)
        self.cur_nimg += self.plan.batch
        self.step_idx += 1

        if self.ada is not None:
            self.ada.accumulate(real_logits)  # the controller sums the statistics over ranks itself
            r_t = self.ada.update(self.augment_pipe)
            if r_t is not None:
                self.last_rt = float(r_t)

    # -- state -----------------------------------------------------------------

    @property
    def augment_p(self) -> float:
        return float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0

    def pop_stats(self) -> dict[str, float]:
        out = {k: float(torch.stack(v).mean()) for k, v in self._stats.items()}
        self._stats = {}
        return out

    def rng_state(self) -> dict[str, Any]:
        """States of the only two generators training draws from (global RNGs are never used;
        the data order is a pure function of seed and position, saved as `loader`)."""
        return {"device": self.gen.get_state(), "host": self.host_gen.get_state()}

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (plain tensors and containers only)."""
        rng_all = dist_utils.gather_objects({k: v.cpu() for k, v in self.rng_state().items()}, self.info)
        ada = self.ada.state_dict() if self.ada is not None else {}
        return {
            "plan": json.dumps(self.plan.to_dict()), "architecture": json.dumps(self.plan.architecture()),
            "train_config": json.dumps(self.config.to_dict()),
            "G": _cpu(self.G.state_dict()), "D": _cpu(self.D.state_dict()), "G_ema": _cpu(self.G_ema.state_dict()),
            "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(), "scaler": self.scaler.state_dict(),
            "augment_p": torch.tensor(self.augment_p), "ada": ada, "pl_mean": self.pl_mean.detach().cpu(),
            "rng": rng_all, "loader": {"position": int(self.loader.position)},
            "counters": {"step": self.step_idx, "cur_nimg": self.cur_nimg, "tick": self.tick,
                         "world_size": self.info.world_size,
                         "last_rt": self.last_rt},
        }

    def load_state_dict(self, state: dict[str, Any], *, where: Path) -> None:
        if state["architecture"] != json.dumps(self.plan.architecture()):
            diffs = differing_keys(json.loads(state["architecture"]), self.plan.architecture())
            raise InputError(f"--resume {where}: the saved run has another architecture (differs in "
                             f"{', '.join(diffs[:6])}{' ...' if len(diffs) > 6 else ''}); resume with the run's "
                             "own settings (`synthbio train --resume RUN` reads them from RUN/config.json)")
        counters = state["counters"]
        if int(counters["world_size"]) != self.info.world_size:
            raise InputError(f"--resume {where}: saved with {counters['world_size']} processes; resume with the "
                             f"same number (this run has {self.info.world_size})")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.augment_pipe is not None:
            self.augment_pipe.p.copy_(state["augment_p"])
        if self.ada is not None and state.get("ada"):
            self.ada.load_state_dict(state["ada"])
        self.pl_mean = state["pl_mean"].to(self.device)
        rng = state["rng"][self.info.rank]
        self.gen.set_state(rng["device"])
        self.host_gen.set_state(rng["host"])
        self.step_idx = int(counters["step"])
        self.cur_nimg = int(counters["cur_nimg"])
        self.tick = int(counters["tick"])
        self.last_rt = counters.get("last_rt")
        self.loader = self._make_loader(int(state["loader"]["position"]))


def _cpu(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


# --------------------------------------------------------------------------- run


def _check_tensorboard() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError("--tensorboard needs the tensorboard package (pip install tensorboard); "
                         "stats.jsonl is written either way") from None
    return SummaryWriter


def _prepare_outdir(config: TrainConfig, info: DistInfo) -> Path:
    return snaps.prepare_run_outdir(config.outdir, resume=config.resume, is_main=info.is_main)


class _Progress:
    """kimg done / total and s/kimg on stderr (rank 0, only when asked): `synthbio.utils.progress`."""

    def __init__(self, enabled: bool, total_kimg: float, start_kimg: float) -> None:
        self._bar = Progress(enabled).start()
        self._task = self._bar.add_task("train", total=total_kimg, completed=start_kimg, unit="kimg")

    def update(self, kimg: float, sec_per_kimg: float | None) -> None:
        self._bar.update(self._task, completed=round(kimg, 3),
                         **({"s_per_kimg": f"{sec_per_kimg:.1f}"} if sec_per_kimg is not None else {}))

    def close(self) -> None:
        self._bar.stop()


def _interval_crossed(prev: int, cur: int, every: int) -> bool:
    return every > 0 and cur // every > prev // every


def train(config: TrainConfig, *, progress: bool = False, dataset: Any = None,
          device: torch.device | None = None) -> TrainResult:
    """Train (or resume) a StyleGAN2-ADA model as configured; returns counters and the networks.

    Under torchrun (WORLD_SIZE > 1) every process calls this; the process group
    is joined here and left at the end. Only rank 0 writes files.
    """
    info = dist_utils.env_world()
    if device is None:
        device = resolve_device(config.device)
        if device.type == "cuda":  # an explicit index: set_device and DDP need one
            device = torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    SummaryWriter = _check_tensorboard() if config.tensorboard else None
    state = None
    state_path = None
    if config.resume is not None:
        state_path = snaps.find_state_file(config.resume)
        state = snaps.load_training_state(state_path)
    if dataset is None:
        dataset = open_dataset(config)
    outdir = _prepare_outdir(config, info)
    dist_utils.init_process_group(info, device)
    try:
        trainer = _Trainer(config, dataset, info, device)
        if config.init_from is not None and state is None:
            snaps.warm_start_generator(trainer.G, trainer.G_ema, config.init_from)
        if state is not None:
            assert state_path is not None
            trainer.load_state_dict(state, where=state_path)
            del state
        return _run(trainer, outdir, progress=progress and info.is_main, summary_writer=SummaryWriter)
    finally:
        dist_utils.shutdown()


def _run(t: _Trainer, outdir: Path, *, progress: bool, summary_writer: Any) -> TrainResult:
    config, plan, info = t.config, t.plan, t.info
    main = info.is_main
    total_nimg = int(round(plan.kimg * 1000))
    snap_nimg = max(int(round(config.snapshot_kimg * 1000)), 1)
    tick_nimg = max(int(round(plan.kimg_per_tick * 1000)), 1)
    start_step, start_nimg = t.step_idx, t.cur_nimg
    resumed = config.resume is not None
    grid_z = snaps.grid_latents(config.grid, plan.G.z_dim, device=t.device)
    grid_c = (torch.stack([t.dataset.get_label(i % len(t.dataset)) for i in range(config.grid)]).to(t.device)
              if plan.G.c_dim > 0 else torch.zeros([config.grid, 0], device=t.device))
    stats = tb = None
    if main:
        snaps.write_json_atomic(outdir / "config.json", {"command": "train", "train": config.to_dict(),
                                                         "plan": plan.to_dict()})
        stats = snaps.StatsLog(outdir / "stats.jsonl", keep_until_step=start_step if resumed else None)
        if not resumed:
            n = min(config.grid, len(t.dataset))
            snaps.save_reals_grid(outdir / "reals", [t.dataset[i][0] for i in range(n)])
        if summary_writer is not None:
            tb = summary_writer(str(outdir))
    bar = _Progress(progress and main, plan.kimg, t.cur_nimg / 1000)
    written: list[Path] = []
    start_time = time.time()
    tick_start_time, tick_start_nimg, maintenance = start_time, t.cur_nimg, 0.0
    stopped_early = False
    done = t.cur_nimg >= total_nimg

    def snapshot() -> None:
        if not main:
            t.state_dict()  # every rank joins the gather of RNG states
            return
        provenance = {"source": "synthbio train", "kimg": t.cur_nimg / 1000, "step": t.step_idx,
                      "config": config.config, "data": config.data}
        name = snaps.snapshot_name(t.cur_nimg)
        snaps.save_fakes_grid(t.G_ema, outdir / f"fakes{t.cur_nimg // 1000:06d}", z=grid_z, c=grid_c)
        snaps.save_networks(outdir / name, t.G_ema, {k: t.D[k] for k in t.branch_names}, provenance=provenance)
        latest = outdir / snaps.LATEST_DIR
        state = t.state_dict()
        snaps.save_networks(latest, t.G_ema, {k: t.D[k] for k in t.branch_names}, provenance=provenance)
        snaps.save_training_state(latest / snaps.STATE_FILE, state)
        written.append(outdir / name)

    try:
        while not done:
            prev_nimg = t.cur_nimg
            t.step()
            done = t.cur_nimg >= total_nimg
            if config.max_minutes is not None and not done:
                over = time.time() - start_time > config.max_minutes * 60
                if dist_utils.any_rank(over, info, t.device):
                    done = stopped_early = True
            snap_now = done or _interval_crossed(prev_nimg, t.cur_nimg, snap_nimg)
            tick_now = snap_now or t.cur_nimg >= tick_start_nimg + tick_nimg
            if not tick_now:
                continue
            now = time.time()
            sec_per_kimg = (now - tick_start_time) / max(t.cur_nimg - tick_start_nimg, 1) * 1000
            record = {"tick": t.tick, "step": t.step_idx, "kimg": t.cur_nimg / 1000,
                      "Progress/augment": t.augment_p, "Progress/ada_rt": t.last_rt,
                      "Loss/pl_mean": float(t.pl_mean), "Timing/sec_per_tick": now - tick_start_time,
                      "Timing/sec_per_kimg": sec_per_kimg, "Timing/total_sec": now - start_time,
                      "Timing/maintenance_sec": maintenance, **t.pop_stats()}
            t.tick += 1
            # The stats line goes out before the snapshot, so a run killed after the snapshot
            # has it; a resume drops lines past the snapshot's step.
            if main:
                assert stats is not None
                stats.write(record)
                if tb is not None:
                    for key, value in record.items():
                        if isinstance(value, (int, float)):
                            tb.add_scalar(key, value, global_step=int(t.cur_nimg / 1000), walltime=now)
                    tb.flush()
            bar.update(t.cur_nimg / 1000, sec_per_kimg)
            maint_start = time.time()
            if snap_now:
                snapshot()
            maintenance = time.time() - maint_start
            tick_start_time, tick_start_nimg = time.time(), t.cur_nimg
        if t.cur_nimg == start_nimg and (not (outdir / snaps.LATEST_DIR / snaps.STATE_FILE).is_file()):
            snapshot()  # nothing to train (kimg already reached): still leave a snapshot
    finally:
        bar.close()
        if stats is not None:
            stats.close()
        if tb is not None:
            tb.close()
    return TrainResult(outdir=outdir, cur_nimg=t.cur_nimg, step=t.step_idx, stopped_early=stopped_early,
                       snapshots=written, G=t.G, D=t.D, G_ema=t.G_ema, G_opt=t.G_opt, D_opt=t.D_opt,
                       pl_mean=t.pl_mean, augment_p=t.augment_p)
