import numpy as np
import pytest
import torch

from synthbio.editing.apply import edit_latents, parse_strengths, read_latents
from synthbio.editing.directions import (
    format_layer_range,
    load_direction,
    parse_layer_range,
    resolve_direction,
    save_direction,
)
from synthbio.errors import InputError


def _ws(n=3, num_ws=6, w_dim=8, seed=0):
    return torch.randn([n, num_ws, w_dim], generator=torch.Generator().manual_seed(seed))


def test_strength_zero_is_identity_and_input_untouched():
    ws = _ws()
    copy = ws.clone()
    d = torch.nn.functional.normalize(torch.randn(8), dim=0)
    out = edit_latents(ws, d, [0.0, 1.5], range(1, 4))
    assert out.shape == (3, 2, 6, 8)
    torch.testing.assert_close(out[:, 0], ws, rtol=0, atol=0)
    torch.testing.assert_close(ws, copy, rtol=0, atol=0)


def test_only_the_layer_range_moves():
    ws = _ws()
    d = torch.nn.functional.normalize(torch.randn(8), dim=0)
    out = edit_latents(ws, d, [-2.0, 3.0], range(2, 5))
    delta = out - ws.unsqueeze(1)
    untouched = [0, 1, 5]
    assert float(delta[:, :, untouched].abs().max()) == 0
    torch.testing.assert_close(delta[:, 1, 2:5], (3.0 * d).expand(3, 3, 8))
    torch.testing.assert_close(delta[:, 0, 3].norm(dim=-1), torch.full([3], 2.0))


def test_per_layer_direction_rows():
    ws = _ws()
    d = torch.zeros(6, 8)
    d[1, 0] = 1
    d[4, 3] = 1
    out = edit_latents(ws, d, [1.0], None)[:, 0]
    torch.testing.assert_close(out - ws, d.expand(3, 6, 8))
    out = edit_latents(ws, d, [1.0], [4])[:, 0]  # row 1 lies outside the chosen layers
    assert float((out - ws)[:, 1].abs().max()) == 0 and float((out - ws)[:, 4, 3].min()) == 1


def test_edit_latents_bad_input():
    ws = _ws()
    with pytest.raises(InputError, match="does not fit"):
        edit_latents(ws, torch.ones(7), [1.0])
    with pytest.raises(InputError, match="out of bounds"):
        edit_latents(ws, torch.ones(8), [1.0], range(4, 7))
    with pytest.raises(InputError, match="ws must be"):
        edit_latents(ws[0], torch.ones(8), [1.0])


@pytest.mark.parametrize("spec,expected", [("-3:3:7", [-3, -2, -1, 0, 1, 2, 3]), ("0:1:3", [0, 0.5, 1]),
                                           ("-2,0,1.5", [-2, 0, 1.5]), ("2", [2.0]), ("1e-1:2e-1:2", [0.1, 0.2])])
def test_parse_strengths(spec, expected):
    assert parse_strengths(spec) == pytest.approx(expected)


@pytest.mark.parametrize("spec", ["", "a:b:3", "-3:3", "1:2:0", "1,,2", "1:2:x", "nan"])
def test_parse_strengths_rejects(spec):
    with pytest.raises(InputError, match="strengths"):
        parse_strengths(spec)


def test_layer_ranges():
    assert parse_layer_range("2-5", 6) == range(2, 6)
    assert parse_layer_range("3", 6) == range(3, 4)
    assert format_layer_range(range(2, 6)) == "2-5"
    for bad, msg in [("0-6", "out of bounds"), ("5-2", "backwards"), ("a-b", "is not"), ("-1", "is not")]:
        with pytest.raises(InputError, match=msg):
            parse_layer_range(bad, 6)


def test_direction_file_round_trip(tmp_path):
    v = torch.tensor([3.0, 4.0, 0.0])
    path = save_direction(tmp_path / "smile", v, method="svm", layers=range(0, 4), generator="g", label="smile",
                          accuracy=0.93, extra={"num_train": 10})
    assert path.name == "smile.direction.safetensors"
    d = load_direction(path)
    torch.testing.assert_close(d.vector, torch.tensor([0.6, 0.8, 0.0]))
    assert d.metadata == {"method": "svm", "layers": "0-3", "generator": "g", "label": "smile",
                          "accuracy": "0.930000", "num_train": "10"}
    assert d.layer_range(6) == range(0, 4)
    rows = torch.zeros(6, 3)
    rows[2] = torch.tensor([0.0, 2.0, 0.0])
    rows[3] = torch.tensor([1.0, 1.0, 1.0])
    d2 = load_direction(save_direction(tmp_path / "rows", rows, method="manual"))
    torch.testing.assert_close(d2.vector.norm(dim=1), torch.tensor([0, 0, 1, 1, 0, 0.0]))
    assert resolve_direction("smile", search_dirs=[tmp_path]).label == "smile"
    assert resolve_direction(str(path)).label == "smile"


def test_direction_file_errors(tmp_path):
    with pytest.raises(InputError, match="all zeros"):
        save_direction(tmp_path / "z", torch.zeros(4), method="x")
    with pytest.raises(InputError, match="NaN"):
        save_direction(tmp_path / "n", torch.tensor([1.0, float("nan")]), method="x")
    bad = tmp_path / "bad.direction.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="bad.direction.safetensors"):
        load_direction(bad)
    save_direction(tmp_path / "known", torch.ones(4), method="x")
    with pytest.raises(InputError, match="unknown direction 'nope'.*known"):
        resolve_direction("nope", search_dirs=[tmp_path])
    from safetensors.torch import save_file

    save_file({"direction": torch.ones(4)}, str(tmp_path / "long.direction.safetensors"))
    with pytest.raises(InputError, match="not unit norm"):
        load_direction(tmp_path / "long.direction.safetensors")


def test_read_latents_npy_npz(tmp_path):
    w = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    lat = read_latents(tmp_path / "w.npy", num_ws=6)
    assert lat.ws.shape == (4, 6, 8) and lat.keys == ["0", "1", "2", "3"] and lat.z is None
    torch.testing.assert_close(lat.ws[:, 5], torch.from_numpy(w))
    np.savez(tmp_path / "ws.npz", ws=np.stack([w] * 6, axis=1))
    assert read_latents(tmp_path / "ws.npz", num_ws=6).ws.shape == (4, 6, 8)
    with pytest.raises(InputError, match="expected"):
        read_latents(tmp_path / "ws.npz", num_ws=5)
    with pytest.raises(InputError, match="does not exist"):
        read_latents(tmp_path / "missing.npy", num_ws=6)
