"""The pixel classifier: an ensemble of small MLPs on DatasetGAN pixel features.

Each member is the reference architecture (DatasetGAN / BiFaceGAN SMG):
Linear(D, 128) - ReLU - BatchNorm - Linear(128, 32) - ReLU - BatchNorm -
Linear(32, K) (widths: `hidden`). The members are stored stacked
([M, out, in] per layer), so training runs all of them in the same matrix
products, and each member has its own weights, batch-norm statistics and
(elementwise) Adam state, exactly as if trained apart.

Features are standardised per channel with the training pixels' mean and std
(buffers). With `rank` r > 0 each member's first layer is stored factored,
W0 = A B with B [r, D] and A [128, r] (no nonlinearity between): the
reference's layer constrained to rank r, learnt like it. Its first factor is
the linear map that runs per feature map (below), so inference resizes M x r
channels instead of M x 128 and runs 128 x r instead of 128 x D products per
pixel after it; training is 128 / r times cheaper in its largest product.

Two ways in:
- `logits(x)`: pixel features x [B, D] -> [B, M, K] (training, sampled pixels);
- `predict_maps(maps)`: the tapped feature maps of one image -> mean class
  probabilities, per-pixel ensemble disagreement and labels at the output
  size. The first linear map (the members' first layer, or its first factor
  with a rank) runs as a 1x1 convolution on every map at its own resolution,
  then only its output is resized bilinearly and summed: resizing acts per
  channel and the map mixes channels per pixel, so the two commute and this
  equals the reference's upsample-concatenate-then-linear, without the
  D-channel per-pixel feature. The rest runs on blocks of pixels.

Saved as a folder: `model.safetensors` + `config.json` ({"format":
"synthbio.pixel_classifier", "config": ..., plus what the caller adds}).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from synthbio.errors import CheckpointError, InputError, library_message
from synthbio.segmentation.features import FeatureLayer
from synthbio.segmentation.uncertainty import entropy
from synthbio.utils.hashing import atomic_write, atomic_write_json
from synthbio.utils.jsonio import read_json_file

FORMAT = "synthbio.pixel_classifier"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOTES = ("mean", "majority")
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
# Inference at full rank: members whose first layer at the image size fits this many bytes run together.
CHUNK_BYTES = 512 * 2**20
PIXEL_BLOCK = 2048  # pixels per step of the per-pixel part at inference


@dataclass(frozen=True)
class PixelClassifierConfig:
    """Architecture of one ensemble.

    layers: the tapped feature maps, in feature order (their channels sum to D).
    height, width: the output image size the maps are resized to.
    num_classes: K. members: M MLPs. hidden: widths of the hidden layers.
    rank: r > 0 factors each member's first layer through r dimensions
        (W0 = A B, B [r, D]); 0 = a full [128, D] first layer (the reference).
    """

    layers: tuple[FeatureLayer, ...]
    height: int
    width: int
    num_classes: int
    members: int = 10
    hidden: tuple[int, ...] = (128, 32)
    rank: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(
            x if isinstance(x, FeatureLayer) else FeatureLayer.from_dict(x) for x in self.layers))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.layers:
            raise InputError("a pixel classifier needs at least one feature layer")
        if self.num_classes < 2 or self.members < 1 or not self.hidden or min(self.hidden) < 1:
            raise InputError("a pixel classifier needs >= 2 classes, >= 1 member and hidden widths >= 1")
        if self.height < 1 or self.width < 1:
            raise InputError(f"output size {self.width}x{self.height} is empty")
        if self.rank < 0:
            raise InputError(f"rank must be >= 0 (0 = full), got {self.rank}")

    @property
    def in_features(self) -> int:
        """D: the channels of every tapped map together."""
        return sum(x.channels for x in self.layers)

    @property
    def member_inputs(self) -> int:
        """What weight0 reads: r (after the first factor), or all D features."""
        return self.rank or self.in_features

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = [x.to_dict() for x in self.layers]
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PixelClassifierConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown pixel classifier config keys: {sorted(unknown)}")
        return cls(**{**d, "layers": tuple(FeatureLayer.from_dict(x) for x in d["layers"]),
                      "hidden": tuple(d.get("hidden", (128, 32)))})


@dataclass(frozen=True)
class MaskPrediction:
    """One image's prediction at the output size.

    probs [K, H, W]: the members' mean softmax; js [H, W]: per-pixel
    Jensen-Shannon divergence of the members (nats); labels [H, W] int64.
    """

    probs: Tensor
    js: Tensor
    labels: Tensor


class PixelEnsemble(torch.nn.Module):
    """M stacked MLPs, D -> (r ->) hidden... -> K (see module docstring)."""

    def __init__(self, config: PixelClassifierConfig) -> None:
        super().__init__()
        self.config = config
        m, d = config.members, config.in_features
        widths = [config.member_inputs, *config.hidden]
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("feature_inv_std", torch.ones(d))
        if config.rank:
            self.bottleneck = torch.nn.Parameter(torch.zeros(m, config.rank, d))  # B of W0 = A B
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            setattr(self, f"weight{i}", torch.nn.Parameter(torch.zeros(m, fan_out, fan_in)))
            setattr(self, f"bias{i}", torch.nn.Parameter(torch.zeros(m, fan_out)))
            setattr(self, f"bn_weight{i}", torch.nn.Parameter(torch.ones(m, fan_out)))
            setattr(self, f"bn_bias{i}", torch.nn.Parameter(torch.zeros(m, fan_out)))
            self.register_buffer(f"bn_mean{i}", torch.zeros(m, fan_out))
            self.register_buffer(f"bn_var{i}", torch.ones(m, fan_out))
        self.weight_out = torch.nn.Parameter(torch.zeros(m, config.num_classes, widths[-1]))
        self.bias_out = torch.nn.Parameter(torch.zeros(m, config.num_classes))

    @property
    def num_hidden(self) -> int:
        return len(self.config.hidden)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's Linear initialisation (uniform +-1/sqrt(fan_in)), drawn from `generator`."""
        with torch.no_grad():
            if self.config.rank:
                bound = self.config.in_features ** -0.5
                self.bottleneck.copy_(torch.rand(self.bottleneck.shape, generator=generator) * 2 * bound - bound)
            for i in range(self.num_hidden):
                for p in (getattr(self, f"weight{i}"), getattr(self, f"bias{i}")):
                    bound = getattr(self, f"weight{i}").shape[2] ** -0.5
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
                getattr(self, f"bn_weight{i}").fill_(1)
                getattr(self, f"bn_bias{i}").zero_()
                getattr(self, f"bn_mean{i}").zero_()
                getattr(self, f"bn_var{i}").fill_(1)
            bound = self.weight_out.shape[2] ** -0.5
            for p in (self.weight_out, self.bias_out):
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)

    def set_feature_stats(self, mean: Tensor, std: Tensor) -> None:
        """Standardisation of the features: mean and std [D]."""
        with torch.no_grad():
            self.feature_mean.copy_(mean)
            self.feature_inv_std.copy_(1 / std.clamp_min(1e-6))

    # --- per pixel ------------------------------------------------------------------------------

    def _batch_norm(self, h: Tensor, i: int) -> Tensor:
        """h [B, M, C] -> batch-normalised per (member, channel); running stats update in training."""
        b, m, c = h.shape
        out = F.batch_norm(h.reshape(b, m * c), getattr(self, f"bn_mean{i}").view(-1),
                           getattr(self, f"bn_var{i}").view(-1), getattr(self, f"bn_weight{i}").reshape(-1),
                           getattr(self, f"bn_bias{i}").reshape(-1), training=self.training,
                           momentum=BN_MOMENTUM, eps=BN_EPS)
        return out.view(b, m, c)

    def standardise(self, x: Tensor) -> Tensor:
        """Raw pixel features [B, D] (any float dtype) -> standardised float32 [B, D]."""
        cfg = self.config
        if x.ndim != 2 or x.shape[1] != cfg.in_features:
            raise InputError(f"pixel features must be [B, {cfg.in_features}], got {list(x.shape)}")
        return (x.float() - self.feature_mean) * self.feature_inv_std

    def member_logits(self, u: Tensor) -> Tensor:
        """Standardised pixel features u [B, D] -> logits [B, M, K]."""
        cfg = self.config
        b, m = u.shape[0], cfg.members
        if cfg.rank:
            z = (u @ self.bottleneck.reshape(m * cfg.rank, -1).t()).view(b, m, cfg.rank)  # one GEMM for all members
            h = torch.einsum("bmr,mor->bmo", z, self.weight0) + self.bias0
        else:
            w0 = self.weight0.reshape(m * cfg.hidden[0], -1)
            h = torch.addmm(self.bias0.reshape(-1), u, w0.t()).view(b, m, cfg.hidden[0])  # one GEMM for all members
        h = self._batch_norm(F.relu(h), 0)
        for i in range(1, self.num_hidden):
            h = torch.einsum("bmi,moi->bmo", h, getattr(self, f"weight{i}")) + getattr(self, f"bias{i}")
            h = self._batch_norm(F.relu(h), i)
        return torch.einsum("bmi,moi->bmo", h, self.weight_out) + self.bias_out

    def logits(self, x: Tensor) -> Tensor:
        """Pixel features x [B, D] (raw, any float dtype) -> logits [B, M, K] (float32)."""
        return self.member_logits(self.standardise(x))

    # --- whole images from feature maps -------------------------------------------------------------

    def _folded_tail(self) -> list[tuple[Tensor, Tensor]]:
        """The layers after the first, each with the preceding batch norm folded in: [(W [M, O, I], b [M, O])]."""
        later = []
        weights = [getattr(self, f"weight{i}") for i in range(1, self.num_hidden)] + [self.weight_out]
        biases = [getattr(self, f"bias{i}") for i in range(1, self.num_hidden)] + [self.bias_out]
        for i, (w, b) in enumerate(zip(weights, biases)):
            scale = getattr(self, f"bn_weight{i}") * (getattr(self, f"bn_var{i}") + BN_EPS).rsqrt()  # [M, I]
            shift = getattr(self, f"bn_bias{i}") - getattr(self, f"bn_mean{i}") * scale
            later.append((w * scale[:, None, :], b + torch.einsum("moi,mi->mo", w, shift)))
        return later

    def _linear_stage(self, members: slice) -> tuple[Tensor, Tensor]:
        """The linear map run per feature map, with the standardisation folded in: (T [R, D], b [R]).

        With a rank: the first factors B of every member, R = M x r, b = -T mean (the
        layer's bias comes after the second factor). Without: the first layer of
        `members`, R = M' x H0.
        """
        d = self.config.in_features
        if self.config.rank:
            t = (self.bottleneck * self.feature_inv_std).reshape(-1, d)
            return t, -(t @ self.feature_mean)
        w = (self.weight0[members] * self.feature_inv_std).reshape(-1, d)
        return w, self.bias0[members].reshape(-1) - w @ self.feature_mean

    def _resized_sum(self, maps: Sequence[Tensor], t: Tensor, b: Tensor) -> Tensor:
        """sum_l resize(T_l F_l) + b at the output size, pixel-major [H * W, R].

        Every map goes through a 1x1 convolution with its columns of T in its own
        (channels-last) layout; maps of one size are summed before their one resize.
        """
        cfg = self.config
        r = t.shape[0]
        offsets = [0, *itertools.accumulate(x.channels for x in cfg.layers)]
        groups: dict[tuple[int, int], Tensor] = {}
        for k, m in enumerate(maps):
            w = t[:, offsets[k]:offsets[k + 1]].reshape(r, -1, 1, 1).contiguous(memory_format=torch.channels_last)
            x = m[None] if m[None].is_contiguous(memory_format=torch.channels_last) else \
                m[None].contiguous(memory_format=torch.channels_last)
            z = F.conv2d(x, w)
            size = (m.shape[1], m.shape[2])
            groups[size] = groups[size].add_(z) if size in groups else z
        out: Tensor | None = None
        for (h, w), z in groups.items():
            if (h, w) != (cfg.height, cfg.width):
                z = F.interpolate(z, size=(cfg.height, cfg.width), mode="bilinear", align_corners=False)
            z = z.permute(0, 2, 3, 1).reshape(cfg.height * cfg.width, r)  # a view of channels-last memory
            out = z if out is None else out.add_(z)
        assert out is not None
        return out.add_(b)

    @torch.no_grad()
    def predict_maps(self, maps: Sequence[Tensor], *, vote: str = "mean") -> MaskPrediction:
        """Tapped maps of ONE image ([C_l, h_l, w_l] each, the config's layers in order) -> MaskPrediction.

        vote: 'mean' = argmax of the mean probabilities; 'majority' = the class
        most members pick (the reference; ties to the lower index).
        """
        cfg = self.config
        if vote not in VOTES:
            raise InputError(f"vote {vote!r} is not one of {', '.join(VOTES)}")
        if len(maps) != len(cfg.layers):
            raise InputError(f"{len(maps)} feature maps for a classifier of {len(cfg.layers)} layers")
        for t, layer in zip(maps, cfg.layers):
            if t.ndim != 3 or t.shape[0] != layer.channels:
                raise InputError(f"feature map {layer.name} is {list(t.shape)}, the classifier expects "
                                 f"[{layer.channels}, h, w]")
        maps = [t.float() for t in maps]
        k, n = cfg.num_classes, cfg.height * cfg.width
        tail = self._folded_tail()
        prob_sum = maps[0].new_zeros(n, k)
        ent_sum = maps[0].new_zeros(n)
        votes = maps[0].new_zeros(n, k) if vote == "majority" else None
        if cfg.rank:
            chunks = [slice(0, cfg.members)]
        else:
            per_member = cfg.hidden[0] * n * 4
            size = max(1, min(cfg.members, CHUNK_BYTES // max(per_member, 1)))
            chunks = [slice(s, min(s + size, cfg.members)) for s in range(0, cfg.members, size)]
        for sl in chunks:
            c = sl.stop - sl.start
            t, b = self._linear_stage(sl)
            u = self._resized_sum(maps, t, b)  # [N, R]
            # Member by member on blocks of pixels: plain matrix products on contiguous weights run
            # faster here than batched ones over the members.
            tail_t = [(w[sl].transpose(1, 2).contiguous(), bias[sl]) for w, bias in tail]
            first_t = self.weight0.transpose(1, 2).contiguous() if cfg.rank else None
            for start in range(0, n, PIXEL_BLOCK):
                rows = slice(start, min(start + PIXEL_BLOCK, n))
                block = u[rows]
                for i in range(c):
                    if first_t is not None:  # the second factor A of member i: [B, r] -> [B, H0]
                        h = F.relu_(torch.addmm(self.bias0[i], block[:, i * cfg.rank:(i + 1) * cfg.rank], first_t[i]))
                    else:
                        h = F.relu(block[:, i * cfg.hidden[0]:(i + 1) * cfg.hidden[0]])
                    for j, (w, bias) in enumerate(tail_t):
                        h = torch.addmm(bias[i], h, w[i])
                        if j < len(tail_t) - 1:
                            F.relu_(h)
                    p = torch.softmax(h, dim=1)  # [B, K]
                    prob_sum[rows] += p
                    ent_sum[rows] += entropy(p, dim=1)
                    if votes is not None:
                        votes[rows] += F.one_hot(p.argmax(1), k).to(votes.dtype)
        probs = prob_sum / cfg.members
        js = (entropy(probs, dim=1) - ent_sum / cfg.members).clamp_min(0)
        labels = (votes if votes is not None else probs).argmax(1)
        hw = (cfg.height, cfg.width)
        return MaskPrediction(probs=probs.t().reshape(k, *hw), js=js.reshape(hw), labels=labels.reshape(hw))


# --- files --------------------------------------------------------------------------------------


def save_pixel_classifier(model: PixelEnsemble, directory: str | os.PathLike[str], *,
                          extra: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors`, then `config.json` ({format, config, **extra}); atomic each."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(d / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp), metadata={"format": FORMAT}))
    atomic_write_json(d / CONFIG_FILE, {"format": FORMAT, "config": model.config.to_dict(), **(extra or {})})
    return d


def load_pixel_classifier(directory: str | os.PathLike[str], *, device: str | torch.device = "cpu"
                          ) -> tuple[PixelEnsemble, dict[str, Any]]:
    """(ensemble in eval mode, its config.json) from a folder; CheckpointError naming it when unusable."""
    d = Path(directory)
    name = os.fspath(d)
    try:
        meta = read_json_file(d / CONFIG_FILE)
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no {CONFIG_FILE}, not a pixel classifier folder (`synthbio masks train`)"
                              ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{name}: cannot read {CONFIG_FILE}: {library_message(exc)}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{name}: not a pixel classifier folder (format {got!r})")
    try:
        model = PixelEnsemble(PixelClassifierConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
    except (KeyError, TypeError, InputError, RuntimeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"{name}: cannot load the pixel classifier: {exc}") from None
    return model.to(device).eval().requires_grad_(False), meta
