import pytest
import torch

from synthbio.errors import InputError
from synthbio.generation.sampling import (
    class_vector,
    map_seeds,
    mix_styles,
    parse_styles,
    synthesize,
)
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.utils.seeds import z_from_seeds

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


@pytest.fixture(scope="module")
def G():
    return build_demo_generator(GeneratorConfig(**TINY, branches=(("rgb", 3), ("nir", 1))), seed=1, noise_strength=0.5)


@pytest.fixture(scope="module")
def G_cond():
    return build_demo_generator(GeneratorConfig(**TINY, c_dim=3), seed=2)


def test_class_vector():
    assert class_vector(0, None, n=2).shape == (2, 0)
    c = class_vector(4, 2, n=2)
    assert c.tolist() == [[0, 0, 1, 0]] * 2
    with pytest.raises(InputError, match="--class-idx 4 is out of range"):
        class_vector(4, 4)
    with pytest.raises(InputError, match="conditional"):
        class_vector(4, None)
    with pytest.raises(InputError, match="unconditional"):
        class_vector(0, 1)


def test_map_seeds_equals_mapping_of_official_z(G):
    z, ws = map_seeds(G, [4, 9], truncation_psi=0.5)
    assert torch.equal(z, z_from_seeds([4, 9], G.z_dim))
    assert ws.shape == (2, G.num_ws, G.w_dim)
    with torch.no_grad():
        w = G.mapping(z, None)
    # truncation: w' = w_avg + psi (w - w_avg)
    torch.testing.assert_close(ws, G.mapping.w_avg.lerp(w, 0.5))
    _, ws0 = map_seeds(G, [4], truncation_psi=0.0)
    torch.testing.assert_close(ws0[0], G.mapping.w_avg.expand(G.num_ws, -1))
    _, ws_cut = map_seeds(G, [4], truncation_psi=0.0, truncation_cutoff=2)
    torch.testing.assert_close(ws_cut[0, 2:], w[0, 2:])


def test_latents_do_not_depend_on_batch(G):
    _, a = map_seeds(G, [1, 2, 3, 4, 5], truncation_psi=0.7)
    _, b = map_seeds(G, [3], truncation_psi=0.7)
    assert torch.equal(a[2], b[0])


def test_class_conditioning_changes_w(G_cond):
    _, w0 = map_seeds(G_cond, [0], class_idx=0)
    _, w1 = map_seeds(G_cond, [0], class_idx=1)
    assert not torch.allclose(w0, w1)
    with pytest.raises(InputError):
        map_seeds(G_cond, [0])


def test_random_noise_follows_the_seed(G):
    _, ws = map_seeds(G, [5, 6, 7])
    a = synthesize(G, ws, seeds=[5, 6, 7], noise_mode="random")
    b = synthesize(G, ws[1:2], seeds=[6], noise_mode="random")
    assert set(a) == {"rgb", "nir"} and a["nir"].shape == (3, 1, 16, 16)
    assert torch.equal(a["rgb"][1], b["rgb"][0]) and torch.equal(a["nir"][1], b["nir"][0])
    c = synthesize(G, ws[1:2], seeds=[60], noise_mode="random")  # other noise seed, other image
    assert not torch.equal(c["rgb"], b["rgb"])
    const = synthesize(G, ws[1:2], seeds=[60], noise_mode="const")
    assert torch.equal(const["rgb"], synthesize(G, ws[1:2], seeds=[6], noise_mode="const")["rgb"])
    with pytest.raises(InputError):
        synthesize(G, ws, seeds=[1], noise_mode="const")
    with pytest.raises(InputError, match="noise mode"):
        synthesize(G, ws, seeds=[5, 6, 7], noise_mode="fixed")


def test_mix_styles():
    a = torch.zeros(2, 6, 3)
    b = torch.ones(2, 6, 3)
    m = mix_styles(a, b, [0, 1, 5])
    assert m[:, [0, 1, 5]].eq(1).all() and m[:, 2:5].eq(0).all() and a.eq(0).all()
    assert parse_styles([0, 5], 6) == [0, 5]
    with pytest.raises(InputError, match="0-5"):
        parse_styles([0, 6], 6)
    with pytest.raises(InputError):
        parse_styles([], 6)


class _RowCounter:
    """Wraps a generator and records how many rows each mapping/synthesis pass gets."""

    def __init__(self, G):
        self.G, self.rows = G, []
        for k in ("z_dim", "c_dim", "w_dim", "num_ws", "img_resolution", "branch_names"):
            setattr(self, k, getattr(G, k))

    def parameters(self):
        return self.G.parameters()

    def mapping(self, z, c, **kw):
        self.rows.append(("mapping", z.shape[0]))
        return self.G.mapping(z, c, **kw)

    def synthesis(self, ws, **kw):
        self.rows.append(("synthesis", ws.shape[0]))
        return self.G.synthesis(ws, **kw)


def test_cpu_passes_are_not_padded_and_images_match_bigger_batches(G):
    counter = _RowCounter(G)
    _, ws = map_seeds(counter, [7], truncation_psi=0.7)
    one = synthesize(counter, ws, seeds=[7], noise_mode="random")
    assert counter.rows == [("mapping", 1), ("synthesis", 1)]  # batch size 1 costs one forward pass
    _, ws5 = map_seeds(G, [3, 9, 7, 1, 2], truncation_psi=0.7)
    five = synthesize(G, ws5, seeds=[3, 9, 7, 1, 2], noise_mode="random")
    assert torch.equal(ws5[2], ws[0])
    assert torch.equal(five["rgb"][2], one["rgb"][0]) and torch.equal(five["nir"][2], one["nir"][0])
    # An explicit row block still pads (what other devices do by default); the copies are dropped.
    counter.rows.clear()
    _, ws_pad = map_seeds(counter, [7], truncation_psi=0.7, row_block=8)
    assert counter.rows == [("mapping", 8)] and torch.equal(ws_pad, ws)
