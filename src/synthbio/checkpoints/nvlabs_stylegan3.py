"""Official StyleGAN3 (alias-free) generators from NVlabs network pickles.

The pickle is read by the restricted unpickler of `synthbio.checkpoints.nvlabs`
(nothing in it runs). The network is rebuilt from the init kwargs the official
`persistence` module recorded (`z_dim`, `channel_base`, `conv_kernel`,
`use_radial_filters`, `magnitude_ema_beta`, ... : the FFHQ-U 256 models, for
one, use half the default channel_base), the derived layer names and the
input layer's sampling rate and bandwidth are checked against the record, and
the state (the random Fourier `freqs` and `phases`, the designed filters,
`magnitude_ema`, `w_avg`) is copied key for key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from synthbio.checkpoints.nvlabs import (
    PersistentRecord,
    load_state_strict,
    record_state_dict,
)
from synthbio.errors import CheckpointError, InputError
from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator, layer_schedule

# Official constructor arguments -> StyleGAN3Config fields (same names unless listed).
_SYNTHESIS_KEYS = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                   "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel", "filter_size",
                   "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta")
_MAPPING_KEYS = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_multiplier", "w_avg_beta": "w_avg_beta"}
# The official networks_stylegan3 classes a Generator is made of: class -> {child name: class of the child}
# ("*": any other name, as the synthesis layers L0_36_512 ...).
_PARTS = {"Generator": {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork"},
          "MappingNetwork": {"embed": "FullyConnectedLayer", "*": "FullyConnectedLayer"},
          "SynthesisNetwork": {"input": "SynthesisInput", "*": "SynthesisLayer"},
          "SynthesisInput": {"affine": "FullyConnectedLayer"},
          "SynthesisLayer": {"affine": "FullyConnectedLayer"},
          "FullyConnectedLayer": {}}
# Options of the official code that only matter for training, or have one meaning here.
_IGNORED_KEYS = {"fused_modconv_default"}


def is_stylegan3_record(rec: PersistentRecord) -> bool:
    """An official Generator whose synthesis network starts with a Fourier-feature input layer."""
    synthesis = rec.child("synthesis")
    return synthesis is not None and isinstance(synthesis.child("input"), PersistentRecord) \
        and synthesis.child("input").class_name == "SynthesisInput"  # type: ignore[union-attr]


def stylegan3_config_from_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> StyleGAN3Config:
    """Official `networks_stylegan3.Generator` record -> StyleGAN3Config (from its recorded init kwargs)."""
    if rec.class_name != "Generator":
        raise CheckpointError(f"{path}: '{which}' is a {rec.class_name!r}, not a Generator")
    kw = dict(rec.init_kwargs)
    mapping_kw = dict(kw.pop("mapping_kwargs", None) or {})
    values: dict[str, Any] = {}
    for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        value = kw.pop(key, rec.state.get(key))
        if value is None:
            raise CheckpointError(f"{path}: '{which}' records no {key}")
        values[key] = int(value)
    for key in _SYNTHESIS_KEYS:
        if key in kw:
            values[key] = kw.pop(key)
    for key, field in _MAPPING_KEYS.items():
        if key in mapping_kw:
            values[field] = mapping_kw.pop(key)
    unknown = sorted((set(kw) - _IGNORED_KEYS) | {f"mapping_kwargs.{k}" for k in mapping_kw})
    if unknown:
        raise CheckpointError(f"{path}: '{which}' uses StyleGAN3 options synthbio does not implement: "
                              f"{', '.join(unknown)}")
    if "conv_clamp" in values and values["conv_clamp"] is not None:
        values["conv_clamp"] = float(values["conv_clamp"])
    try:
        config = StyleGAN3Config(**values)
    except (InputError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the StyleGAN3 configuration of '{which}': {exc}") from None
    _check_geometry(config, rec, path=path, which=which)
    return config


def _check_geometry(config: StyleGAN3Config, rec: PersistentRecord, *, path: Path, which: str) -> None:
    """The layer names and input-layer numbers the config implies must be those the pickle holds."""
    synthesis = rec.child("synthesis")
    assert synthesis is not None
    input_spec, specs = layer_schedule(config)
    held = [n for n in synthesis.children() if n != "input"]
    expected = [s.name for s in specs]
    if held != expected:
        raise CheckpointError(f"{path}: '{which}' has synthesis layers {held}, but its recorded options imply "
                              f"{expected}")
    _check_classes(rec, path=path, name=which)
    inp = synthesis.child("input")
    assert inp is not None
    for attr, ours in (("sampling_rate", input_spec.sampling_rate), ("bandwidth", input_spec.bandwidth)):
        theirs = inp.state.get(attr)
        if theirs is not None and not math.isclose(float(theirs), ours, rel_tol=1e-9):
            raise CheckpointError(f"{path}: '{which}' input layer has {attr} {float(theirs)}, expected {ours}")


def _check_classes(rec: PersistentRecord, *, path: Path, name: str) -> None:
    """Every part must be the official class for its place: a fork's layer with the same weights but
    another forward would otherwise load and render something else without a word."""
    parts = _PARTS[rec.class_name]
    for key, sub in rec.children().items():
        if sub is None:
            continue
        expected = parts.get(key, parts.get("*"))
        got = sub.class_name if isinstance(sub, PersistentRecord) else type(sub).__name__
        if expected is None or got != expected:
            what = f"not the official StyleGAN3 {expected}" if expected else \
                f"not a part of an official {rec.class_name}"
            raise CheckpointError(f"{path}: '{name}.{key}' is a {got!r}, {what}")
        _check_classes(sub, path=path, name=f"{name}.{key}")  # type: ignore[arg-type]


def load_stylegan3_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> StyleGAN3Generator:
    """A StyleGAN3 Generator record -> StyleGAN3Generator with its exact state (CPU, eval mode)."""
    G = StyleGAN3Generator(stylegan3_config_from_record(rec, path=path, which=which))
    load_state_strict(G, record_state_dict(rec), path=path, what=f"'{which}'")
    return G.eval()
