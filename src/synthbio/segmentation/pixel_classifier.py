"""The pixel classifier: an ensemble of small MLPs on DatasetGAN pixel features.

Each member is the reference architecture (DatasetGAN / BiFaceGAN SMG):
Linear(D, 128) - ReLU - BatchNorm - Linear(128, 32) - ReLU - BatchNorm -
Linear(32, K) (widths: `hidden`). The members are stored stacked
([M, out, in] per layer), so training runs all of them in the same matrix
products, and each member has its own weights, batch-norm statistics and
(elementwise) Adam state, exactly as if trained apart.

Features are standardised per channel with the training pixels' mean and std
(buffers). At inference the standardisation folds into the first layer, and
each batch norm (an affine map after a ReLU) into the next linear layer.

Two ways in:
- `logits(x)`: pixel features x [B, D] -> [B, M, K] (training, sampled pixels);
- `predict_maps(maps)`: the tapped feature maps of one image -> mean class
  probabilities, per-pixel ensemble disagreement and labels at the output
  size. The first layer runs as a 1x1 convolution on every map at its own
  resolution, then only its 128-channel output (per member) is resized and
  summed: bilinear resizing acts per channel and the layer mixes channels per
  pixel, so the two commute and this equals the reference's
  upsample-concatenate-then-linear, without the D-channel per-pixel feature.

Saved as a folder: `model.safetensors` + `config.json` ({"format":
"synthbio.pixel_classifier", "config": ..., plus what the caller adds}).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
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

from synthbio.errors import CheckpointError, InputError
from synthbio.segmentation.features import FeatureLayer
from synthbio.segmentation.uncertainty import entropy
from synthbio.utils.hashing import atomic_write, atomic_write_json

FORMAT = "synthbio.pixel_classifier"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOTES = ("mean", "majority")
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
# Members whose first-layer output at the image size fits this many bytes run together at inference.
CHUNK_BYTES = 512 * 2**20


@dataclass(frozen=True)
class PixelClassifierConfig:
    """Architecture of one ensemble.

    layers: the tapped feature maps, in feature order (their channels sum to D).
    height, width: the output image size the maps are resized to.
    num_classes: K. members: M MLPs. hidden: widths of the hidden layers.
    """

    layers: tuple[FeatureLayer, ...]
    height: int
    width: int
    num_classes: int
    members: int = 10
    hidden: tuple[int, ...] = (128, 32)

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

    @property
    def in_features(self) -> int:
        """D: the channels of every tapped map together."""
        return sum(x.channels for x in self.layers)

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
    """M stacked MLPs, D -> hidden... -> K (see module docstring)."""

    def __init__(self, config: PixelClassifierConfig) -> None:
        super().__init__()
        self.config = config
        m, d = config.members, config.in_features
        widths = [d, *config.hidden]
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("feature_inv_std", torch.ones(d))
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

    def logits(self, x: Tensor) -> Tensor:
        """Pixel features x [B, D] (raw, any float dtype) -> logits [B, M, K] (float32)."""
        cfg = self.config
        if x.ndim != 2 or x.shape[1] != cfg.in_features:
            raise InputError(f"pixel features must be [B, {cfg.in_features}], got {list(x.shape)}")
        x = (x.float() - self.feature_mean) * self.feature_inv_std
        b, m = x.shape[0], cfg.members
        w0 = self.weight0.reshape(m * cfg.hidden[0], -1)
        h = torch.addmm(self.bias0.reshape(-1), x, w0.t()).view(b, m, cfg.hidden[0])  # one GEMM for all members
        h = self._batch_norm(F.relu(h), 0)
        for i in range(1, self.num_hidden):
            h = torch.einsum("bmi,moi->bmo", h, getattr(self, f"weight{i}")) + getattr(self, f"bias{i}")
            h = self._batch_norm(F.relu(h), i)
        return torch.einsum("bmi,moi->bmo", h, self.weight_out) + self.bias_out

    # --- whole images from feature maps -------------------------------------------------------------

    def _folded(self) -> tuple[Tensor, Tensor, list[tuple[Tensor, Tensor]]]:
        """Inference weights: first layer with the standardisation folded in, the later layers with
        the preceding batch norm folded in: (W0 [M, H0, D], b0 [M, H0], [(W [M, O, I], b [M, O]), ...])."""
        w0 = self.weight0 * self.feature_inv_std
        b0 = self.bias0 - torch.einsum("mod,d->mo", w0, self.feature_mean)
        later = []
        weights = [getattr(self, f"weight{i}") for i in range(1, self.num_hidden)] + [self.weight_out]
        biases = [getattr(self, f"bias{i}") for i in range(1, self.num_hidden)] + [self.bias_out]
        for i, (w, b) in enumerate(zip(weights, biases)):
            scale = getattr(self, f"bn_weight{i}") * (getattr(self, f"bn_var{i}") + BN_EPS).rsqrt()  # [M, I]
            shift = getattr(self, f"bn_bias{i}") - getattr(self, f"bn_mean{i}") * scale
            later.append((w * scale[:, None, :], b + torch.einsum("moi,mi->mo", w, shift)))
        return w0, b0, later

    def _first_layer(self, maps: Sequence[Tensor], w0: Tensor, b0: Tensor) -> Tensor:
        """First layer of some members at the output size: maps [C_l, h_l, w_l] -> [M'*H0, H, W].

        Maps of one size go through one 1x1 convolution, then one resize.
        """
        cfg = self.config
        mh = w0.shape[0] * w0.shape[1]
        w0 = w0.reshape(mh, -1)
        out = b0.reshape(mh, 1, 1).expand(mh, cfg.height, cfg.width).clone()
        groups: dict[tuple[int, int], list[int]] = {}
        for k, t in enumerate(maps):
            groups.setdefault((t.shape[1], t.shape[2]), []).append(k)
        offsets = [0]
        for layer in cfg.layers:
            offsets.append(offsets[-1] + layer.channels)
        for (h, w), ks in groups.items():
            cols = torch.cat([torch.arange(offsets[k], offsets[k + 1]) for k in ks])
            feats = torch.cat([maps[k].reshape(maps[k].shape[0], h * w) for k in ks])  # [C_g, h*w]
            z = (w0[:, cols] @ feats).reshape(1, mh, h, w)
            if (h, w) != (cfg.height, cfg.width):
                z = F.interpolate(z, size=(cfg.height, cfg.width), mode="bilinear", align_corners=False)
            out += z[0]
        return out

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
        w0_all, b0_all, later_all = self._folded()
        k, hw = cfg.num_classes, (cfg.height, cfg.width)
        prob_sum = maps[0].new_zeros(k, *hw)
        ent_sum = maps[0].new_zeros(*hw)
        votes = maps[0].new_zeros(k, *hw) if vote == "majority" else None
        per_member = cfg.hidden[0] * cfg.height * cfg.width * 4
        chunk = max(1, min(cfg.members, CHUNK_BYTES // max(per_member, 1)))
        for start in range(0, cfg.members, chunk):
            sl = slice(start, min(start + chunk, cfg.members))
            c = sl.stop - sl.start
            h = F.relu_(self._first_layer(maps, w0_all[sl], b0_all[sl])).unsqueeze(0)  # [1, c*H0, H, W]
            for j, (w, b) in enumerate(later_all):
                w, b = w[sl], b[sl]
                h = F.conv2d(h, w.reshape(-1, w.shape[2], 1, 1), b.reshape(-1), groups=c)
                if j < len(later_all) - 1:
                    F.relu_(h)
            p = torch.softmax(h.view(c, k, *hw), dim=1)  # [c, K, H, W]
            prob_sum += p.sum(0)
            ent_sum += entropy(p, dim=1).sum(0)
            if votes is not None:
                votes += F.one_hot(p.argmax(1), k).permute(0, 3, 1, 2).sum(0).to(votes.dtype)
        probs = prob_sum / cfg.members
        js = (entropy(probs, dim=0) - ent_sum / cfg.members).clamp_min(0)
        labels = (votes if votes is not None else probs).argmax(0)
        return MaskPrediction(probs=probs, js=js, labels=labels)


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
        meta = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no {CONFIG_FILE}, not a pixel classifier folder (`synthbio masks train`)"
                              ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{name}: cannot read {CONFIG_FILE}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{name}: not a pixel classifier folder (format {got!r})")
    try:
        model = PixelEnsemble(PixelClassifierConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
    except (KeyError, TypeError, InputError, RuntimeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"{name}: cannot load the pixel classifier: {exc}") from None
    return model.to(device).eval().requires_grad_(False), meta
