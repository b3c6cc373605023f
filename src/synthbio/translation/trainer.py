"""One translator training step (MUNIT's updates, SATNet's options) and the state an exact resume needs.

A step draws one batch of each domain and one style code per image and
domain, s_a, s_b ~ N(0, I), then:

1. cross-domain translation with autograd on: c_a, s_a' = E_a(x_a),
   c_b, s_b' = E_b(x_b), x_ab = G_b(c_a, s_b), x_ba = G_a(c_b, s_a);
2. D update on the detached translations against the reals (each D sees
   fakes and reals in one batch);
3. G update: GAN loss under the updated D, image reconstruction
   |G_a(c_a, s_a') - x_a|, latent reconstruction of s and c from E(x_ab),
   E(x_ba), the explicit cycle |G_a(c_a~, s_a') - x_a|, and the identity
   loss of x_ab against x_a and x_ba against x_b.

That is MUNIT's `dis_update` then `gen_update` with one difference: both
updates see the same translations, so the generators run their
cross-domain pass once per step instead of twice (MUNIT draws new style
codes and translates again for D; the distributions are the same).

Determinism: style codes come from one generator on the training device,
batches are pure functions of their position (translation.data), and both
are saved with the networks and optimisers in `training_state.pt`.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import torch
from torch import Tensor, nn

from synthbio.errors import InputError
from synthbio.training import distributed as dist_utils
from synthbio.training.distributed import DistInfo
from synthbio.translation import losses
from synthbio.translation.data import DomainDataset, DomainStream
from synthbio.translation.losses import IdentityLoss
from synthbio.translation.networks import build_discriminators, build_generators
from synthbio.translation.train_config import TranslationPlan, TranslationTrainConfig

_AMP = {"bf16": torch.bfloat16}
# Settings that decide which batches a step draws: a resumed run must keep them.
_SAME_ON_RESUME = ("data_a", "data_b", "crop", "load_size", "mirror", "seed", "batch")


def rank_seed(seed: int, rank: int, stream: int) -> int:
    """Distinct, reproducible seeds per (run seed, rank, stream)."""
    return (seed * 7919 + rank * 104729 + stream * 1299709) % (2**63 - 1)


def learning_rate(base: float, step: int, *, every: int, gamma: float) -> float:
    """MUNIT's step decay: base * gamma ** (step // every)."""
    return base * gamma ** (step // every)


class TranslationTrainer:
    """State of one run on one rank; `step()` advances one batch of each domain."""

    def __init__(self, config: TranslationTrainConfig, plan: TranslationPlan, data: dict[str, DomainDataset],
                 info: DistInfo, device: torch.device, *, identity: IdentityLoss | None = None) -> None:
        self.config, self.plan, self.data, self.info, self.device = config, plan, data, info, device
        net = plan.network
        self.G = build_generators(net, seed=config.seed).train().to(device)
        self.D = build_discriminators(net, seed=config.seed).train().requires_grad_(False).to(device)
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=plan.lr_g, betas=plan.betas,
                                      weight_decay=config.weight_decay)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=plan.lr_d, betas=plan.betas,
                                      weight_decay=config.weight_decay)
        self.identity = identity
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(rank_seed(config.seed, info.rank, 1))
        self.amp_dtype = _AMP.get(plan.precision)
        self.step_idx = 0
        self.tick = 0
        self.streams = self._make_streams({"a": 0, "b": 0})
        self._stats: dict[str, list[Tensor]] = {}
        dist_utils.broadcast_module(self.G, info)
        dist_utils.broadcast_module(self.D, info)

    def _make_streams(self, positions: dict[str, int]) -> dict[str, DomainStream]:
        return {d: DomainStream(self.data[d], batch_size=self.plan.batch_per_rank, seed=self.config.seed,
                                domain=i, rank=self.info.rank, world_size=self.info.world_size,
                                start_batch=positions[d])
                for i, d in enumerate(("a", "b"))}

    # -- helpers ---------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _record(self, name: str, value: Tensor) -> None:
        self._stats.setdefault(name, []).append(value.detach().float().mean())

    def _styles(self, n: int) -> Tensor:
        return torch.randn([n, self.plan.network.style_dim], generator=self.gen, device=self.device)

    def _opt_step(self, module: nn.Module, opt: torch.optim.Optimizer) -> None:
        params = list(module.parameters())
        dist_utils.all_reduce_grads(params, self.info)
        for p in params:
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def _set_learning_rates(self) -> None:
        for opt, base in ((self.G_opt, self.plan.lr_g), (self.D_opt, self.plan.lr_d)):
            lr = learning_rate(base, self.step_idx, every=self.config.lr_step, gamma=self.config.lr_gamma)
            for group in opt.param_groups:
                group["lr"] = lr

    # -- one step --------------------------------------------------------------

    def step(self) -> None:
        cfg = self.config
        x_a = next(self.streams["a"]).to(self.device)
        x_b = next(self.streams["b"]).to(self.device)
        self._set_learning_rates()
        s_a, s_b = self._styles(x_a.shape[0]), self._styles(x_b.shape[0])
        G, D = self.G, self.D

        self.G_opt.zero_grad(set_to_none=True)
        with self._autocast():
            c_a, s_a_enc = G["a"].encode(x_a)
            c_b, s_b_enc = G["b"].encode(x_b)
            x_ba = G["a"].decode(c_b, s_a)
            x_ab = G["b"].decode(c_a, s_b)

        # D: fakes and reals in one batch per domain.
        self.D_opt.zero_grad(set_to_none=True)
        D.requires_grad_(True)
        with self._autocast():
            d_total = x_a.new_zeros([], dtype=torch.float32)
            for name, fake, real in (("a", x_ba, x_a), ("b", x_ab, x_b)):
                logits = D[name](torch.cat([fake.detach(), real]))
                n = fake.shape[0]
                term = losses.d_loss([lg[n:] for lg in logits], [lg[:n] for lg in logits], kind=self.plan.gan_loss)
                self._record(f"Loss/D/{name}", term)
                d_total = d_total + cfg.gan_weight * term
        d_total.backward()
        D.requires_grad_(False)
        self._opt_step(D, self.D_opt)

        # G: everything else, under the updated D.
        with self._autocast():
            terms: dict[str, Tensor] = {
                "gan_a": losses.g_loss(D["a"](x_ba), kind=self.plan.gan_loss),
                "gan_b": losses.g_loss(D["b"](x_ab), kind=self.plan.gan_loss),
                "recon_x_a": losses.recon_l1(G["a"].decode(c_a, s_a_enc), x_a),
                "recon_x_b": losses.recon_l1(G["b"].decode(c_b, s_b_enc), x_b),
            }
            c_b_rec, s_a_rec = G["a"].encode(x_ba)
            c_a_rec, s_b_rec = G["b"].encode(x_ab)
            terms.update(recon_s_a=losses.recon_l1(s_a_rec, s_a), recon_s_b=losses.recon_l1(s_b_rec, s_b),
                         recon_c_a=losses.recon_l1(c_a_rec, c_a), recon_c_b=losses.recon_l1(c_b_rec, c_b))
            if cfg.cycle_weight > 0:
                terms["cycle_a"] = losses.recon_l1(G["a"].decode(c_a_rec, s_a_enc), x_a)
                terms["cycle_b"] = losses.recon_l1(G["b"].decode(c_b_rec, s_b_enc), x_b)
        if self.identity is not None:
            pairs = {"a2b": (x_ab, x_a), "b2a": (x_ba, x_b)}
            for direction in cfg.identity_directions:
                translated, source = pairs[direction]
                sim = self.identity.similarity(translated.float(), source)
                self._record(f"Identity/similarity/{direction}", sim)
                terms[f"identity_{direction}"] = losses.identity_terms(
                    sim, form=self.identity.form, threshold=self.identity.threshold).mean()
        weights = {"gan": cfg.gan_weight, "recon_x": cfg.recon_x_weight, "recon_s": cfg.recon_s_weight,
                   "recon_c": cfg.recon_c_weight, "cycle": cfg.cycle_weight, "identity": cfg.identity_weight}
        g_total = x_a.new_zeros([], dtype=torch.float32)
        for name, value in terms.items():
            self._record(f"Loss/G/{name}", value)
            g_total = g_total + weights[name.rsplit("_", 1)[0]] * value.float()
        self._record("Loss/G/total", g_total)
        self._record("Loss/D/total", d_total)
        g_total.backward()
        self._opt_step(G, self.G_opt)
        self.step_idx += 1

    # -- stats and state -------------------------------------------------------

    def pop_stats(self) -> dict[str, float]:
        out = {k: float(torch.stack(v).mean()) for k, v in self._stats.items()}
        self._stats = {}
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (plain tensors and containers: weights_only loading)."""
        rng = dist_utils.gather_objects({"device": self.gen.get_state().cpu()}, self.info)
        return {
            "kind": "translation", "plan": json.dumps(self.plan.to_dict()),
            "train_config": json.dumps(self.config.to_dict()),
            "G": _cpu(self.G.state_dict()), "D": _cpu(self.D.state_dict()),
            "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(), "rng": rng,
            "loader": {d: int(s.position) for d, s in self.streams.items()},
            "counters": {"step": self.step_idx, "tick": self.tick, "world_size": self.info.world_size},
        }

    def load_state_dict(self, state: dict[str, Any], *, where: str) -> None:
        if state.get("kind") != "translation":
            raise InputError(f"--resume {where}: not a translator training state")
        saved_plan = json.loads(state["plan"])
        mine = self.plan.to_dict()
        if saved_plan != mine:
            diff = sorted(k for k in mine if saved_plan.get(k) != mine[k])
            raise InputError(f"--resume {where}: the saved run differs in {', '.join(diff)} "
                             f"(saved {json.dumps({k: saved_plan.get(k) for k in diff})})")
        saved_config = json.loads(state["train_config"])
        for key in _SAME_ON_RESUME:
            if saved_config.get(key) != getattr(self.config, key):
                raise InputError(f"--resume {where}: the run used {key} = {saved_config.get(key)!r}, this command "
                                 f"gives {getattr(self.config, key)!r}")
        counters = state["counters"]
        if int(counters["world_size"]) != self.info.world_size:
            raise InputError(f"--resume {where}: saved with {counters['world_size']} processes; resume with the "
                             f"same number (this run has {self.info.world_size})")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        self.gen.set_state(state["rng"][self.info.rank]["device"])
        self.step_idx = int(counters["step"])
        self.tick = int(counters["tick"])
        self.streams = self._make_streams({d: int(state["loader"][d]) for d in ("a", "b")})


def _cpu(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in sd.items()}
