"""pSp-style encoder: shapes in both modes, w_avg start, batch invariance, checkpoint round trip and errors."""

from __future__ import annotations

import json

import pytest
import torch

from synthbio.checkpoints.encoders import load_encoder, save_encoder
from synthbio.errors import CheckpointError, InputError, ModelNotFoundError
from synthbio.nn.encoders import Encoder, EncoderConfig

TINY = dict(resolution=16, num_ws=6, w_dim=8, channels=(4, 4, 8, 8), blocks=(1, 1, 1, 1), head_channels=8,
            se_reduction=2)


def _encoder(seed: int = 0, **kw: object) -> Encoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(**{**TINY, **kw})  # type: ignore[arg-type]
    return Encoder(cfg, w_avg=torch.linspace(-1, 1, cfg.w_dim)).eval()


@pytest.mark.parametrize("mode", ["wplus", "w"])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_output_shape_and_modes(mode: str, in_channels: int) -> None:
    enc = _encoder(mode=mode, in_channels=in_channels)
    ws = enc(torch.randn(3, in_channels, 16, 16))
    assert ws.shape == (3, 6, 8)
    if mode == "w":  # one W broadcast to every layer
        assert torch.equal(ws, ws[:, :1].expand_as(ws))
    else:
        assert not torch.allclose(ws[:, 0], ws[:, -1])


def test_heads_follow_pyramid_levels() -> None:
    cfg = EncoderConfig(**{**TINY, "num_ws": 12, "resolution": 32})  # type: ignore[arg-type]
    assert [cfg.head_level(i) for i in range(12)] == [3] * 3 + [2] * 4 + [1] * 5
    enc = Encoder(cfg)
    assert len(enc.heads) == 12 and enc.lat1 is not None and enc.lat2 is not None
    # A head on the fine level p1 (R/4 = 8) needs log2(8) = 3 strided convs; coarse p3 (R/16 = 2) one.
    assert len(enc.heads[11].convs) == 6 and len(enc.heads[0].convs) == 2
    w_only = Encoder(EncoderConfig(**{**TINY, "mode": "w"}))  # type: ignore[arg-type]
    assert len(w_only.heads) == 1 and w_only.lat1 is None and w_only.lat2 is None


def test_starts_near_w_avg_and_offsets_are_learnable() -> None:
    enc = _encoder()
    ws = enc(torch.randn(2, 3, 16, 16))
    assert (ws - enc.w_avg).abs().max() < 1.0
    enc.train()
    enc(torch.randn(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    assert enc.w_avg.grad is None and "w_avg" in dict(enc.named_buffers())


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_batch_invariant_in_eval(norm: str) -> None:
    enc = _encoder(norm=norm)
    x = torch.randn(4, 3, 16, 16)
    full = enc(x)
    single = torch.cat([enc(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # inference on CPU: bit-identical rows whatever the batch (images written from them)
        assert torch.equal(enc(torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(1)))[2:3],
                           enc(torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))[2:3]))


def test_bad_config_and_input() -> None:
    with pytest.raises(InputError, match="resolution"):
        EncoderConfig(resolution=24)
    with pytest.raises(InputError, match="mode"):
        EncoderConfig(mode="z")
    with pytest.raises(InputError, match="unknown encoder config keys"):
        EncoderConfig.from_dict({"nope": 1})
    with pytest.raises(InputError, match=r"\[N, 3, 16, 16\]"):
        _encoder()(torch.randn(1, 3, 32, 32))


def test_save_load_round_trip_bit_exact(tmp_path) -> None:
    enc = _encoder(seed=3, mode="wplus", norm="batch")
    enc.train()
    enc(torch.randn(4, 3, 16, 16))  # move the batch-norm running statistics off their defaults
    enc.eval()
    out = save_encoder(enc, tmp_path / "enc", task="minutiae", generator="tiny-G", provenance={"step": 7})
    loaded, meta = load_encoder(out)
    assert meta["kind"] == "encoder" and meta["task"] == "minutiae" and meta["generator"] == "tiny-G"
    assert meta["provenance"] == {"step": 7} and meta["encoder"] == enc.config.to_dict()
    assert loaded.config == enc.config and not loaded.training
    a, b = enc.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(enc(x), loaded(x))
    # A file inside the folder names the folder too.
    assert load_encoder(out / "config.json")[0].config == enc.config


def test_corrupt_or_foreign_checkpoint(tmp_path) -> None:
    out = save_encoder(_encoder(), tmp_path / "enc", task="invert", generator="g", provenance={})
    weights = out / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_encoder(out)
    weights.write_bytes(data)
    meta = json.loads((out / "config.json").read_text())
    meta.pop("weights_sha256")
    (out / "config.json").write_text(json.dumps(meta))
    weights.write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_encoder(out)
    (out / "config.json").write_text(json.dumps({**meta, "format": "synthbio.generator"}))
    with pytest.raises(CheckpointError, match="not a synthbio encoder"):
        load_encoder(out)
    (out / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        load_encoder(out)
    with pytest.raises(ModelNotFoundError):
        load_encoder("no-such-encoder-name")
    with pytest.raises(InputError, match="task"):
        save_encoder(_encoder(), tmp_path / "x", task="nope", generator="g")
