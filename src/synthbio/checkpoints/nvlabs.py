"""Official StyleGAN2-ADA network pickles -> synthbio StyleGAN2 generators and discriminators.

The pickle itself is read without its code by `nvlabs_pickle` (restricted
unpickler, checked tensors); this module turns the records it gives into
synthbio configs and modules, key for key. StyleGAN3 and EG3D records:
`nvlabs_stylegan3`, `nvlabs_eg3d`; any family: `checkpoints.load_generator`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synthbio.checkpoints.nvlabs_pickle import (  # noqa: F401 - the reader's names, also public here
    NETWORK_KEYS, PersistentRecord, read_network_pickle, record_state_dict)
from synthbio.errors import CheckpointError, library_message
from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator


# --------------------------------------------------------------------------
# Records -> synthbio configs and modules.


def _attr(record: PersistentRecord | None, name: str, default: Any = None) -> Any:
    return default if record is None else record.state.get(name, default)


def _first_layer(record: PersistentRecord, names: tuple[str, ...]) -> PersistentRecord | None:
    for name in names:
        sub = record.child(name)
        if sub is not None:
            return sub
    return None


def _check_generator_record(rec: PersistentRecord, path: Path, which: str) -> PersistentRecord:
    if rec.class_name != "Generator":
        raise CheckpointError(f"{path}: '{which}' is a {rec.class_name!r}, not a Generator")
    synthesis = rec.child("synthesis")
    mapping = rec.child("mapping")
    if synthesis is None or mapping is None:
        raise CheckpointError(f"{path}: '{which}' has no mapping/synthesis networks")
    children = synthesis.children()
    alias_free = any(isinstance(c, PersistentRecord) and c.class_name == "SynthesisInput" for c in children.values())
    if alias_free:
        raise CheckpointError(f"{path}: '{which}' is a StyleGAN3 (alias-free) generator, not a StyleGAN2 one; "
                              "load it with synthbio.checkpoints.load_generator")
    if not all(name.startswith("b") and name[1:].isdigit() for name in children):
        raise CheckpointError(f"{path}: '{which}' has synthesis layers {sorted(children)} of no architecture "
                              "synthbio knows (StyleGAN2, StyleGAN3, EG3D)")
    return synthesis


def generator_config_from_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> GeneratorConfig:
    """Official Generator record -> GeneratorConfig.

    Values come from `init_kwargs` (stylegan2-ada nests synthesis options under
    `synthesis_kwargs`, stylegan3's networks_stylegan2 passes them flat), and
    from layer attributes where the two repositories' defaults differ
    (`conv_clamp`, fp16 blocks) so a missing kwarg cannot pick the wrong default.
    """
    synthesis = _check_generator_record(rec, path, which)
    mapping = rec.child("mapping")
    assert mapping is not None
    kw = rec.init_kwargs
    syn_kw = {**kw, **dict(kw.get("synthesis_kwargs") or {}), **synthesis.init_kwargs}
    map_kw = {**dict(kw.get("mapping_kwargs") or {}), **mapping.init_kwargs}
    blocks = [b for b in synthesis.children().values() if isinstance(b, PersistentRecord)]
    first_block = blocks[0]
    layer = _first_layer(first_block, ("conv1", "conv0"))
    architecture = _attr(first_block, "architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(f"{path}: generator architecture {architecture!r} is not supported (only 'skip')")
    activation = _attr(mapping.child("fc0"), "activation", "lrelu")
    if activation != "lrelu" or _attr(layer, "activation", "lrelu") != "lrelu":
        raise CheckpointError(f"{path}: activation {activation!r} is not supported (only 'lrelu')")

    z_dim = int(kw.get("z_dim", _attr(rec, "z_dim")))
    c_dim = int(kw.get("c_dim", _attr(rec, "c_dim", 0)))
    w_dim = int(kw.get("w_dim", _attr(rec, "w_dim")))
    params = record_state_dict(mapping)
    embed_features = int(params["embed.weight"].shape[0]) if c_dim > 0 and "embed.weight" in params else None
    num_layers = int(_attr(mapping, "num_layers", map_kw.get("num_layers", 8)))
    layer_features = int(params["fc0.weight"].shape[0]) if num_layers > 1 else None
    num_fp16 = syn_kw.get("num_fp16_res")
    if num_fp16 is None:
        num_fp16 = sum(bool(_attr(b, "use_fp16", False)) for b in blocks)
    conv_clamp = _attr(layer, "conv_clamp", syn_kw.get("conv_clamp"))
    try:
        return GeneratorConfig(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
            img_resolution=int(kw.get("img_resolution", _attr(rec, "img_resolution"))),
            branches=(("img", int(kw.get("img_channels", _attr(rec, "img_channels")))),),
            channel_base=int(syn_kw.get("channel_base", 32768)),
            channel_max=int(syn_kw.get("channel_max", 512)),
            num_fp16_res=int(num_fp16),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            architecture="skip",
            mapping_layers=num_layers,
            mapping_lr_multiplier=float(map_kw.get("lr_multiplier", 0.01)),
            mapping_embed_features=None if embed_features in (None, w_dim) else embed_features,
            mapping_layer_features=None if layer_features in (None, w_dim) else layer_features,
            w_avg_beta=float(_attr(mapping, "w_avg_beta", 0.995)),
            resample_filter=tuple(syn_kw.get("resample_filter", (1, 3, 3, 1))),
            use_noise=bool(_attr(layer, "use_noise", True)),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the generator configuration of '{which}': {exc}") from None


def discriminator_config_from_record(rec: PersistentRecord, *, path: Path) -> DiscriminatorConfig:
    """Official Discriminator record -> DiscriminatorConfig (see generator_config_from_record)."""
    if rec.class_name != "Discriminator":
        raise CheckpointError(f"{path}: 'D' is a {rec.class_name!r}, not a Discriminator")
    kw = rec.init_kwargs
    epilogue = rec.child("b4")
    if epilogue is None:
        raise CheckpointError(f"{path}: 'D' has no b4 epilogue")
    blocks = [b for n, b in rec.children().items() if n != "b4" and n.startswith("b") and b is not None]
    mbstd = epilogue.child("mbstd")
    mapping = rec.child("mapping")
    c_dim = int(kw.get("c_dim", _attr(rec, "c_dim", 0)))
    num_fp16 = kw.get("num_fp16_res")
    if num_fp16 is None:
        num_fp16 = sum(bool(_attr(b, "use_fp16", False)) for b in blocks)
    conv_layer = epilogue.child("conv")
    conv_clamp = _attr(conv_layer, "conv_clamp", kw.get("conv_clamp"))
    map_kw = {**dict(kw.get("mapping_kwargs") or {}), **(mapping.init_kwargs if mapping else {})}
    channel_base, channel_max = int(kw.get("channel_base", 32768)), int(kw.get("channel_max", 512))
    cmap_dim = _attr(epilogue, "cmap_dim") if c_dim > 0 else None
    if cmap_dim is not None and int(cmap_dim) == min(channel_base // 4, channel_max):
        cmap_dim = None  # the default: channels at 4x4
    try:
        return DiscriminatorConfig(
            c_dim=c_dim,
            img_resolution=int(kw.get("img_resolution", _attr(rec, "img_resolution"))),
            img_channels=int(kw.get("img_channels", _attr(rec, "img_channels"))),
            architecture=str(_attr(epilogue, "architecture", kw.get("architecture", "resnet"))),
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=int(num_fp16),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            cmap_dim=None if cmap_dim is None else int(cmap_dim),
            mbstd_group_size=_attr(mbstd, "group_size", None),
            mbstd_num_channels=int(_attr(mbstd, "num_channels", 0)),
            mapping_layers=int(_attr(mapping, "num_layers", map_kw.get("num_layers", 8))),
            mapping_lr_multiplier=float(map_kw.get("lr_multiplier", 0.01)),
            resample_filter=tuple(kw.get("block_kwargs", {}).get("resample_filter", (1, 3, 3, 1))),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the discriminator configuration: {exc}") from None


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], *, path: Path, what: str) -> None:
    """load_state_dict(strict=True), with a CheckpointError naming the keys that differ."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        parts = [f"missing {show(missing)}" if missing else "", f"unexpected {show(unexpected)}" if unexpected else "",
                 "shape mismatch " + show([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shapes])
                 if shapes else ""]
        raise CheckpointError(f"{path}: {what} does not fit the architecture: " + "; ".join(p for p in parts if p))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def check_record_tree(rec: PersistentRecord, *, path: Path, which: str, prefix: str = "") -> None:
    """CheckpointError unless a module record and its children are shaped as nn.Module pickles are.

    `_parameters` / `_buffers` map names to tensors (or None), `_modules` to
    records (or None), `_init_kwargs` is a dict; a network has at least one
    sub-network. Architecture-specific parts are checked when the config is read.
    """
    state = rec.state
    where = f"'{which}'" + (f" module '{prefix[:-1]}'" if prefix else "")
    for key in ("_parameters", "_buffers", "_modules"):
        part = state.get(key)
        if part is not None and not isinstance(part, dict):
            raise CheckpointError(f"{path}: {where} has a {key} of type {type(part).__name__}, not a dict")
        for name, value in (part or {}).items():
            if not isinstance(name, str):
                raise CheckpointError(f"{path}: {where} has a {key} entry named by a {type(name).__name__}")
            if value is None:
                continue
            if key == "_modules":
                if not isinstance(value, PersistentRecord):
                    raise CheckpointError(f"{path}: {where} child '{name}' is a {type(value).__name__}, "
                                          "not a network record")
                check_record_tree(value, path=path, which=which, prefix=f"{prefix}{name}.")
            elif not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{path}: {where} {key[1:-1]} '{name}' is a {type(value).__name__}, "
                                      "not a tensor")
    if not isinstance(state.get("_init_kwargs", {}), dict):
        raise CheckpointError(f"{path}: {where} has _init_kwargs of type {type(state['_init_kwargs']).__name__}")
    if not isinstance(state.get("_non_persistent_buffers_set", set()), (set, frozenset, list, tuple)):
        raise CheckpointError(f"{path}: {where} has a malformed _non_persistent_buffers_set")
    if not prefix and rec.class_name in ("Generator", "Discriminator"):
        subs = [c for c in (state.get("_modules") or {}).values() if isinstance(c, PersistentRecord)]
        synthesis = rec.child("synthesis")
        if not subs or (synthesis is not None and not synthesis.children()):
            raise CheckpointError(f"{path}: {where} has no {'synthesis ' if synthesis is not None else ''}"
                                  "blocks (an empty or damaged network)")


def _pick(data: dict[str, Any], which: str, path: Path) -> PersistentRecord:
    rec = data.get(which)
    if not isinstance(rec, PersistentRecord):
        held = ", ".join(k for k, v in data.items() if isinstance(v, PersistentRecord)) or "no networks"
        raise CheckpointError(f"{path}: network pickle has no '{which}' (it holds: {held})")
    check_record_tree(rec, path=path, which=which)
    return rec


# What reading a config out of a record raises when an expected part is missing or of the wrong kind.
RECORD_ERRORS = (KeyError, IndexError, AttributeError, TypeError, ValueError, ZeroDivisionError, OverflowError)


def generator_record(path: str | Path, *, which: str = "G_ema") -> PersistentRecord:
    """The record of generator `which` ('G_ema' or 'G') of an official network pickle."""
    if which not in ("G", "G_ema"):
        raise CheckpointError(f"{path}: which must be 'G' or 'G_ema' for a generator, got {which!r}")
    path = Path(path)
    return _pick(read_network_pickle(path), which, path)


def generator_kind(rec: PersistentRecord) -> str:
    """'stylegan2', 'stylegan3' or 'eg3d': which official network family a generator record is."""
    if rec.class_name == "TriPlaneGenerator":
        return "eg3d"
    synthesis = rec.child("synthesis")
    if synthesis is not None and any(isinstance(c, PersistentRecord) and c.class_name == "SynthesisInput"
                                     for c in synthesis.children().values()):
        return "stylegan3"
    return "stylegan2"


def load_nvlabs_generator(path: str | Path, *, which: str = "G_ema") -> Generator:
    """Official StyleGAN2-ADA / StyleGAN3-StyleGAN2 pickle -> synthbio Generator (CPU, eval mode).

    which: 'G_ema' (the network to sample from) or 'G' (the raw training weights).
    StyleGAN3 and EG3D pickles: `synthbio.checkpoints.load_generator`.
    """
    path = Path(path)
    return load_stylegan2_record(generator_record(path, which=which), path=path, which=which)


def load_stylegan2_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> Generator:
    """A StyleGAN2 Generator record -> synthbio Generator with its exact state (CPU, eval mode)."""
    try:
        config = generator_config_from_record(rec, path=path, which=which)
    except RECORD_ERRORS as exc:
        raise CheckpointError(f"{path}: '{which}' lacks a part of a StyleGAN2 generator ({library_message(exc)})"
                              ) from None
    G = Generator(config)
    load_state_strict(G, record_state_dict(rec), path=path, what=f"'{which}'")
    return G.eval()


def load_nvlabs_discriminator(path: str | Path) -> Discriminator:
    """Official network pickle -> synthbio Discriminator from its 'D' entry."""
    path = Path(path)
    rec = _pick(read_network_pickle(path), "D", path)
    try:
        config = discriminator_config_from_record(rec, path=path)
    except RECORD_ERRORS as exc:
        raise CheckpointError(f"{path}: 'D' lacks a part of a StyleGAN2 discriminator ({library_message(exc)})"
                              ) from None
    D = Discriminator(config)
    load_state_strict(D, record_state_dict(rec), path=path, what="'D'")
    return D.eval()
