"""Fuzzing native config.json: the strict JSON reader and every network config built from a dict.

A config.json either parses and gives a config inside the documented bounds
(at most MAX_PARAMETERS weights) or is refused with ValueError (JSON) /
InputError (values): no ZeroDivisionError, TypeError or RecursionError.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import strategies as st

from fuzzing import JSON_VALUES, fuzz, mutate_text
from synthbio.errors import InputError
from synthbio.nn.config import MAX_PARAMETERS, DiscriminatorConfig, GeneratorConfig
from synthbio.nn.encoders import EncoderConfig
from synthbio.utils.jsonio import loads_strict

BASES: dict[str, dict[str, Any]] = {
    "generator": GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, channel_base=128, channel_max=16,
                                 mapping_layers=2).to_dict(),
    "discriminator": DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=16).to_dict(),
    "encoder": EncoderConfig(resolution=16, num_ws=6, w_dim=8, channels=(4, 4, 4, 4), blocks=(1, 1, 1, 1),
                             head_channels=4).to_dict(),
}
CLASSES = {"generator": GeneratorConfig, "discriminator": DiscriminatorConfig, "encoder": EncoderConfig}

_FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 3, 4096, 2**20, 2**31, 10**18, 0.5, 8.0, -0.0, True, False, None, "8", [], {},
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
    if kind != "encoder":
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


@fuzz("native config.json", CONFIG_TEXT, examples=150, mutations=3000)
def test_fuzz_strict_json(text: str) -> None:
    for data in (text, text.encode("utf-8", "surrogatepass")):
        try:
            loads_strict(data)
        except ValueError:
            pass
