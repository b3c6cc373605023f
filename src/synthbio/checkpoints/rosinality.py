"""rosinality/stylegan2-pytorch `.pt` checkpoints <-> synthbio generators.

A rosinality training checkpoint is `torch.save({'g': ..., 'd': ..., 'g_ema':
state_dict, 'latent_avg': [style_dim], 'args': ..., optimiser states})`. Its
generator computes the same function as the official StyleGAN2 one:

- EqualLinear stores weight / lr_mul and multiplies by lr_mul / sqrt(fan_in),
  exactly the official FullyConnectedLayer, so mapping and modulation weights
  copy unchanged (modulation bias is initialised to 1 in both).
- ModulatedConv2d multiplies the weight by 1 / sqrt(fan_in) before
  demodulation; demodulation divides that factor out again (up to the 1e-8
  epsilon), so the official unscaled weight is the same tensor.
- ToRGB's ModulatedConv2d (demodulate=False) keeps that 1 / sqrt(fan_in),
  which is the official ToRGBLayer's weight_gain: again the same tensor.
- Noise is added after the convolution and before bias + leaky ReLU in both.

So the mapping is a renaming plus squeezes of singleton axes:

    style.{i}.*                      -> mapping.fc{i-1}.*           (i = 1..n_mlp)
    input.input [1,C,4,4]            -> synthesis.b4.const [C,4,4]
    conv1 / to_rgb1                  -> synthesis.b4.conv1 / b4.torgb
    convs.{2k} / convs.{2k+1}        -> synthesis.b{2^(k+3)}.conv0 / conv1
    to_rgbs.{k}                      -> synthesis.b{2^(k+3)}.torgb
      conv.weight [1,O,I,k,k]        -> weight [O,I,k,k]
      conv.modulation.weight / bias  -> affine.weight / bias
      noise.weight [1]               -> noise_strength []
      activate.bias [O]              -> bias [O]    (ToRGB: bias [1,C,1,1] -> [C])
    noises.noise_0 / noise_{2k+1} / noise_{2k+2} [1,1,r,r]
                                     -> b4.conv1 / b{r}.conv0 / b{r}.conv1 .noise_const [r,r]
    latent_avg [w_dim]               -> mapping.w_avg

Blur kernels (`*.kernel`) are architecture constants and are rebuilt, not copied.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

from synthbio.errors import CheckpointError, library_message
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator

#: rosinality's train.py default learning-rate multiplier of the mapping MLP.
DEFAULT_LR_MLP = 0.01
# Enough samples that the estimated mean of w is stable to ~1e-2 of its spread.
_W_AVG_SAMPLES = 10_000


def _torch_load(path: Path) -> Any:
    """Weights-only load; argparse.Namespace (rosinality stores its `args`) is plain data."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(f"{path}: not a readable weights-only torch checkpoint: {library_message(exc)}"
                              ) from None


def _block_resolution(k: int) -> int:
    return 2 ** (k + 3)


def _layer_names(num_blocks: int) -> dict[str, str]:
    """rosinality layer prefix -> synthbio prefix, for a generator with num_blocks upsampling blocks."""
    names = {"conv1": "synthesis.b4.conv1", "to_rgb1": "synthesis.b4.torgb"}
    for k in range(num_blocks):
        res = _block_resolution(k)
        names[f"convs.{2 * k}"] = f"synthesis.b{res}.conv0"
        names[f"convs.{2 * k + 1}"] = f"synthesis.b{res}.conv1"
        names[f"to_rgbs.{k}"] = f"synthesis.b{res}.torgb"
    return names


def _noise_names(num_blocks: int) -> dict[str, str]:
    names = {"noises.noise_0": "synthesis.b4.conv1.noise_const"}
    for k in range(num_blocks):
        res = _block_resolution(k)
        names[f"noises.noise_{2 * k + 1}"] = f"synthesis.b{res}.conv0.noise_const"
        names[f"noises.noise_{2 * k + 2}"] = f"synthesis.b{res}.conv1.noise_const"
    return names


def _infer_channel_base(channels: dict[int, int], hint_multiplier: int | None) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base // res, max) equal to every stored width."""
    channel_max = max(channels.values())
    candidates = ([16384 * hint_multiplier] if hint_multiplier else []) + [16384, 32768]
    candidates += sorted({c * r for r, c in channels.items()})
    for base in candidates:
        if all(min(base // r, channel_max) == c for r, c in channels.items()):
            return base, channel_max
    raise CheckpointError(f"channel widths {channels} follow no min(channel_base // res, channel_max) rule")


def rosinality_config(state: dict[str, torch.Tensor], *, lr_mlp: float = DEFAULT_LR_MLP,
                      channel_multiplier: int | None = None) -> GeneratorConfig:
    """Infer size, style_dim, n_mlp, channels and image channels from a g_ema state dict."""
    if "input.input" not in state or "style.1.weight" not in state:
        raise CheckpointError("not a rosinality generator state dict (no input.input / style.1.weight)")
    style_dim = int(state["style.1.weight"].shape[0])
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    num_blocks = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    channels = {4: int(state["input.input"].shape[1])}
    for k in range(num_blocks):
        channels[_block_resolution(k)] = int(state[f"convs.{2 * k}.conv.weight"].shape[1])
    base, cmax = _infer_channel_base(channels, channel_multiplier)
    img_channels = int(state["to_rgb1.conv.weight"].shape[1])
    return GeneratorConfig(
        z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=2 ** (num_blocks + 2),
        branches=(("img", img_channels),), channel_base=base, channel_max=cmax,
        mapping_layers=n_mlp, mapping_lr_multiplier=lr_mlp,
    )


def _convert_layer(src: str, dst: str, state: dict[str, torch.Tensor], out: dict[str, torch.Tensor],
                   used: set[str]) -> None:
    def take(key: str) -> torch.Tensor:
        used.add(f"{src}.{key}")
        return state[f"{src}.{key}"]

    out[f"{dst}.weight"] = take("conv.weight")[0]  # [1,O,I,k,k] -> [O,I,k,k]
    out[f"{dst}.affine.weight"] = take("conv.modulation.weight")
    out[f"{dst}.affine.bias"] = take("conv.modulation.bias")
    if src.startswith("to_rgb"):
        out[f"{dst}.bias"] = take("bias").reshape(-1)
    else:  # StyledConv
        out[f"{dst}.bias"] = take("activate.bias")
        out[f"{dst}.noise_strength"] = take("noise.weight").reshape([])


def rosinality_to_synthbio(state: dict[str, torch.Tensor], latent_avg: torch.Tensor | None,
                           config: GeneratorConfig) -> dict[str, torch.Tensor]:
    """Rename a rosinality g_ema state dict to synthbio keys (pure dict transform).

    Raises CheckpointError naming leftover keys that have no synthbio counterpart.
    """
    num_blocks = len(config.block_resolutions) - 1
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for i in range(1, config.mapping_layers + 1):
        for p in ("weight", "bias"):
            out[f"mapping.fc{i - 1}.{p}"] = state[f"style.{i}.{p}"]
            used.add(f"style.{i}.{p}")
    out["synthesis.b4.const"] = state["input.input"][0]
    used.add("input.input")
    for src, dst in _layer_names(num_blocks).items():
        _convert_layer(src, dst, state, out, used)
    for src, dst in _noise_names(num_blocks).items():
        if src in state:
            out[dst] = state[src][0, 0]
            used.add(src)
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape(-1)
    leftover = sorted(k for k in state if k not in used and not k.endswith(".kernel"))
    if leftover:
        raise CheckpointError(f"rosinality keys without a synthbio counterpart: {', '.join(leftover[:8])}")
    return out


def synthbio_to_rosinality(G: Generator) -> dict[str, Any]:
    """Inverse mapping: a synthbio generator as a rosinality checkpoint dict
    {'g_ema': state_dict, 'latent_avg': w_avg} (blur kernels included, scaled by
    up^2 = 4 as rosinality stores them)."""
    cfg = G.config
    if len(cfg.branches) != 1 or cfg.c_dim != 0 or cfg.z_dim != cfg.w_dim:
        raise CheckpointError("rosinality's generator has one output head, no labels and z_dim == w_dim")
    own = {k: v.detach().clone() for k, v in G.state_dict().items()}
    num_blocks = len(cfg.block_resolutions) - 1
    f = torch.as_tensor(cfg.resample_filter, dtype=torch.float32)
    kernel = torch.outer(f, f) / f.sum() ** 2 * 4
    state: dict[str, torch.Tensor] = {}
    for i in range(cfg.mapping_layers):
        for p in ("weight", "bias"):
            state[f"style.{i + 1}.{p}"] = own[f"mapping.fc{i}.{p}"]
    state["input.input"] = own["synthesis.b4.const"][None]
    for src, dst in _layer_names(num_blocks).items():
        state[f"{src}.conv.weight"] = own[f"{dst}.weight"][None]
        state[f"{src}.conv.modulation.weight"] = own[f"{dst}.affine.weight"]
        state[f"{src}.conv.modulation.bias"] = own[f"{dst}.affine.bias"]
        if src.startswith(("to_rgb1", "to_rgbs")):
            state[f"{src}.bias"] = own[f"{dst}.bias"].reshape(1, -1, 1, 1)
            if src != "to_rgb1":
                state[f"{src}.upsample.kernel"] = kernel.clone()
        else:
            state[f"{src}.noise.weight"] = own[f"{dst}.noise_strength"].reshape(1)
            state[f"{src}.activate.bias"] = own[f"{dst}.bias"]
            if src.startswith("convs.") and int(src.split(".")[1]) % 2 == 0:
                state[f"{src}.conv.blur.kernel"] = kernel.clone()
    for src, dst in _noise_names(num_blocks).items():
        state[src] = own[dst][None, None]
    return {"g_ema": state, "latent_avg": own["mapping.w_avg"]}


def _estimate_w_avg(G: Generator) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z = torch.randn(_W_AVG_SAMPLES, G.z_dim, generator=gen)
        return G.mapping(z, None)[:, 0].mean(dim=0)


def load_rosinality_generator(path: str | Path, *, which: str = "g_ema", lr_mlp: float | None = None) -> Generator:
    """rosinality `.pt` -> synthbio Generator (CPU, eval mode).

    which: 'g_ema' (default) or 'g'. lr_mlp: the mapping learning-rate multiplier
    the model was trained with; None reads `args.lr_mlp` from the checkpoint,
    else rosinality's default 0.01. Without `latent_avg`, w_avg is estimated from
    10k fixed-seed samples so truncation still works.
    """
    path = Path(path)
    ckpt = _torch_load(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: expected a dict, found {type(ckpt).__name__}")
    state = ckpt.get(which) if which in ckpt else (ckpt if "style.1.weight" in ckpt else None)
    if not isinstance(state, dict):
        held = ", ".join(str(k) for k in ckpt)
        raise CheckpointError(f"{path}: no '{which}' generator state in this rosinality checkpoint (keys: {held})")
    args = ckpt.get("args")
    get = args.get if isinstance(args, dict) else (lambda k, d=None: getattr(args, k, d))
    lr = float(lr_mlp if lr_mlp is not None else get("lr_mlp", DEFAULT_LR_MLP) or DEFAULT_LR_MLP)
    cm = get("channel_multiplier", None)
    try:
        config = rosinality_config(state, lr_mlp=lr, channel_multiplier=int(cm) if cm else None)
        converted = rosinality_to_synthbio(state, ckpt.get("latent_avg"), config)
    except KeyError as exc:
        raise CheckpointError(f"{path}: rosinality state dict lacks {exc}") from None
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    G = Generator(config)
    own = G.state_dict()
    for key, value in own.items():  # architecture constants: keep ours
        if key.endswith("resample_filter"):
            converted[key] = value
    estimated = "mapping.w_avg" not in converted
    if estimated:
        converted["mapping.w_avg"] = torch.zeros_like(own["mapping.w_avg"])
    from synthbio.checkpoints.nvlabs import load_state_strict

    load_state_strict(G, converted, path=path, what=f"'{which}'")
    if estimated:
        G.mapping.w_avg.copy_(_estimate_w_avg(G))
    return G.eval()
