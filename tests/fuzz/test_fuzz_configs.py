"""Fuzzing native config.json: the strict JSON reader and every network config built from a dict
(StyleGAN2 G and D, encoders, StyleGAN3, EG3D, translators).

A config.json either parses and gives a config inside the documented bounds
(at most MAX_PARAMETERS weights) or is refused with ValueError (JSON) /
InputError (values): no ZeroDivisionError, TypeError or RecursionError.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fuzzing import JSON_VALUES, fuzz, mutate_text
from hypothesis import strategies as st

from synthbio.errors import InputError
from synthbio.nn.config import MAX_PARAMETERS, DiscriminatorConfig, GeneratorConfig
from synthbio.nn.eg3d import EG3DConfig
from synthbio.nn.encoders import EncoderConfig
from synthbio.nn.stylegan3 import StyleGAN3Config
from synthbio.translation.config import TranslatorConfig
from synthbio.utils.jsonio import loads_strict

BASES: dict[str, dict[str, Any]] = {
    "generator": GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, channel_base=128, channel_max=16,
                                 mapping_layers=2).to_dict(),
    "discriminator": DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=16).to_dict(),
    "encoder": EncoderConfig(resolution=16, num_ws=6, w_dim=8, channels=(4, 4, 4, 4), blocks=(1, 1, 1, 1),
                             head_channels=4).to_dict(),
    "stylegan3": StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=16, channel_base=256, channel_max=16, num_layers=4,
                                 num_critical=1, margin_size=2).to_dict(),
    "eg3d": EG3DConfig(z_dim=8, w_dim=8, img_resolution=32, backbone_resolution=16, plane_channels=4, channel_base=128,
                       channel_max=16, decoder_hidden=8, decoder_output_dim=6, sr_kind="SuperresolutionHybrid4X",
                       sr_channels=(8, 4), neural_rendering_resolution=8, depth_resolution=6,
                       depth_resolution_importance=6).to_dict(),
    "translator": TranslatorConfig(dim=8, style_dim=4, n_res=1, mlp_dim=16, d_dim=8, d_layers=2, d_scales=2).to_dict(),
}
CLASSES = {"generator": GeneratorConfig, "discriminator": DiscriminatorConfig, "encoder": EncoderConfig,
           "stylegan3": StyleGAN3Config, "eg3d": EG3DConfig, "translator": TranslatorConfig}

_FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 3, 4096, 2**20, 2**31, 10**18, 0.5, 8.0, -0.0, 1e-300, 5e-324, 1e300, True, False,
                     None, "8", [], {}, ["content"], ["decoder", "decoder"], [8, 4], [0.0, 0.0, 0.2], "reflect",
                     [1, 3, 3, 1], [1, -1], [0], [["img", 3]], [["img", 3], ["img", 1]], [["2x", 1]], [[None, None]]]),
)


@st.composite
def config_dicts(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(BASES)))
    d = json.loads(json.dumps(BASES[kind]))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(BASES[kind]) + ["unknown"]))
        if draw(st.integers(0, 5)) == 0:
            d.pop(key, None)
        else:
            d[key] = draw(_FIELD_VALUES)
    return kind, d


def _mutate_config(value: tuple[str, dict[str, Any]], rng: random.Random, corpus: list[Any]) -> tuple[str, Any]:
    """Swap fields between corpus members, or edit the dict's JSON text and read it back loosely."""
    kind, d = value
    d = dict(d)
    other = rng.choice(corpus)[1]
    if isinstance(other, dict) and other and rng.random() < 0.7:
        key = rng.choice(sorted(other))
        d[key] = other[key]
        return kind, d
    try:
        return kind, json.loads(mutate_text(json.dumps(d), rng, []))
    except (ValueError, RecursionError):
        return kind, d


@fuzz("native config.json", config_dicts(), examples=250, mutations=3000, mutate=_mutate_config)
def test_fuzz_network_configs(case: tuple[str, Any]) -> None:
    kind, d = case
    try:
        config = CLASSES[kind].from_dict(d)
    except InputError:
        return
    if kind not in ("encoder", "eg3d"):
        assert config.parameter_count() <= MAX_PARAMETERS  # type: ignore[union-attr]
    assert CLASSES[kind].from_dict(config.to_dict()) == config  # what was accepted survives its own round trip


def _config_text(draw: st.DrawFn) -> str:
    return json.dumps({"format": "synthbio.generator", "format_version": 1, "config": draw(config_dicts())[1]},
                      allow_nan=True)


CONFIG_TEXT = st.one_of(
    st.composite(_config_text)(),
    st.text(max_size=50),
    st.integers(0, 5000).map(lambda n: '{"a": ' * n + "1" + "}" * n),
    st.integers(0, 5000).map(lambda n: "[" * n),
)


def test_overflowing_numbers_are_refused_like_infinity() -> None:
    """Found by the round-trip property below: 1e400 used to read as inf."""
    for text in ("1e400", '{"a": [-1e999]}', "Infinity", "NaN"):
        with pytest.raises(ValueError, match="too large for a float|not a valid JSON number"):
            loads_strict(text)
    assert loads_strict("1e308") == 1e308


@fuzz("native config.json", CONFIG_TEXT, examples=150, mutations=3000)
def test_fuzz_strict_json(text: str) -> None:
    for data in (text, text.encode("utf-8", "surrogatepass")):
        try:
            value = loads_strict(data)
        except ValueError:
            continue
        # what is accepted is plain JSON: it writes back without NaN/Infinity and reads back the same
        assert loads_strict(json.dumps(value, allow_nan=False)) == value
