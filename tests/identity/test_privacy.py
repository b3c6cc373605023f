"""Privacy filter: nearest real identity (chunked, memmap), threshold, folder embedding."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from test_references import TinyEmbedder, TinyMatcher

from synthbio.errors import InputError
from synthbio.identity.privacy import (
    derive_threshold,
    embed_folder,
    genuine_similarities,
    load_image,
    nearest_real,
    nearest_real_templates,
    privacy_filter,
)


def brute_force(syn: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = syn / np.linalg.norm(syn, axis=1, keepdims=True)
    r = real.astype(np.float64) / np.linalg.norm(real.astype(np.float64), axis=1, keepdims=True)
    sims = s @ r.T
    return sims.max(axis=1), sims.argmax(axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_nearest_real_equals_brute_force_on_memmap_chunks(tmp_path, dtype):
    rng = np.random.default_rng(0)
    syn = rng.standard_normal((37, 12))
    path = tmp_path / "real.npy"
    real = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(1000, 12))
    real[:] = rng.standard_normal((1000, 12))
    real.flush()
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    want_sim, want_idx = brute_force(syn, np.asarray(mm))
    for chunk, syn_chunk in [(65536, 1024), (97, 10), (7, 37)]:
        sim, idx = nearest_real(torch.from_numpy(syn), mm, chunk=chunk, synthetic_chunk=syn_chunk)
        assert sim.dtype == torch.float32 and idx.dtype == torch.int64
        assert idx.numpy().tolist() == want_idx.tolist()
        np.testing.assert_allclose(sim.numpy(), want_sim, rtol=1e-5, atol=1e-6)


def test_nearest_real_ties_go_to_the_lowest_index_across_chunks():
    real = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    sim, idx = nearest_real(np.array([[3.0, 0.0]]), real, chunk=2)
    assert idx.tolist() == [0] and sim.tolist() == pytest.approx([1.0])


def test_nearest_real_errors():
    with pytest.raises(InputError, match="same D"):
        nearest_real(np.zeros((2, 3)), np.ones((4, 5)))
    with pytest.raises(InputError, match="empty"):
        nearest_real(np.zeros((2, 3)), np.zeros((0, 3)))


def test_derive_threshold_is_mean_minus_two_std():
    g = np.random.default_rng(1).normal(0.8, 0.05, size=500)
    assert derive_threshold(g) == pytest.approx(g.mean() - 2 * g.std())
    assert derive_threshold(torch.from_numpy(g), ddof=1) == pytest.approx(g.mean() - 2 * g.std(ddof=1))
    with pytest.raises(InputError, match="genuine scores"):
        derive_threshold([])
    with pytest.raises(InputError, match="genuine scores"):
        derive_threshold([0.5, float("nan")])


def test_genuine_similarities_pairs_within_labels():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    g = genuine_similarities(e, ["a", "b", "a", "a"])  # pairs (0,2), (0,3), (2,3)
    assert g.tolist() == pytest.approx([2 ** -0.5, 1.0, 2 ** -0.5])
    with pytest.raises(InputError, match="pairs"):
        genuine_similarities(e, ["a", "b", "c", "d"])


def test_privacy_filter_keep_mask_and_figure_data():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((200, 64)).astype(np.float32)
    syn = np.concatenate([real[:5] + 0.01 * rng.standard_normal((5, 64)),
                          rng.standard_normal((15, 64))]).astype(np.float32)
    genuine = rng.normal(0.9, 0.02, size=100)
    res = privacy_filter(syn, real, genuine_scores=genuine, chunk=64)
    assert res.threshold == pytest.approx(genuine.mean() - 2 * genuine.std())
    want_sim, want_idx = brute_force(syn.astype(np.float64), real)
    assert res.nearest_index[:5].tolist() == [0, 1, 2, 3, 4] == want_idx[:5].tolist()
    assert res.keep.tolist() == (want_sim <= res.threshold).tolist()
    assert not bool(res.keep[:5].any()) and bool(res.keep[5:].all())
    fig = res.figure_data(bins=10)
    assert fig["rejected"] == 5 and fig["kept"] == 15 and len(fig["edges"]) == 11
    assert sum(fig["kept_counts"]) == 15 and sum(fig["rejected_counts"]) == 5 and sum(fig["genuine_counts"]) == 100
    fixed = privacy_filter(syn, real, threshold=0.5)
    assert fixed.genuine_scores is None and fixed.keep.tolist() == (want_sim <= 0.5).tolist()
    with pytest.raises(InputError, match="threshold"):
        privacy_filter(syn, real)


def test_nearest_real_templates_equals_brute_force():
    matcher = TinyMatcher()
    rng = np.random.default_rng(3)
    syn = [tuple(r) for r in rng.standard_normal((9, 4)).tolist()]
    real = [tuple(r) for r in rng.standard_normal((23, 4)).tolist()]
    full = matcher.similarity(syn, real)
    score, idx = nearest_real_templates(matcher, syn, real, chunk=5)
    assert idx.tolist() == full.argmax(dim=1).tolist()
    torch.testing.assert_close(score, full.max(dim=1).values)
    res = privacy_filter(syn, real, threshold=90.0, model=matcher)
    assert res.keep.tolist() == (full.max(dim=1).values <= 90.0).tolist()


def _write_images(folder, sizes):
    rng = np.random.default_rng(4)
    paths = []
    for i, s in enumerate(sizes):
        p = folder / f"{i}.png"
        PIL.Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_embed_folder_streams_to_memmap(tmp_path):
    model = TinyEmbedder()
    paths = _write_images(tmp_path, [16, 16, 24, 16, 16])
    direct = np.concatenate([model.embed(load_image(p)[None]).numpy() for p in paths])
    mem = embed_folder(model, paths, batch_size=2)
    np.testing.assert_allclose(mem, direct, rtol=1e-5, atol=1e-6)
    out = tmp_path / "real.npy"
    mm = embed_folder(model, paths, batch_size=3, out=out, dtype="float16")
    assert isinstance(mm, np.memmap) and mm.dtype == np.float16 and mm.shape == (5, 16)
    assert not (tmp_path / "real.npy.partial").exists()
    np.testing.assert_allclose(mm.astype(np.float32), direct, rtol=2e-3, atol=2e-3)
    resized = embed_folder(model, paths, size=8, transform=lambda x: -x)
    want = model.embed(-torch.stack([load_image(p, size=8) for p in paths])).numpy()
    np.testing.assert_allclose(resized, want, rtol=1e-5, atol=1e-6)
    templates = embed_folder(TinyMatcher(), paths, batch_size=2)
    assert len(templates) == 5
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    _write_images(tmp_path / "sub", [16])
    folder = embed_folder(model, tmp_path, batch_size=4)  # 0..4.png, then sub/0.png (same pixels as 0.png)
    np.testing.assert_allclose(folder, np.concatenate([direct, direct[:1]]), rtol=1e-5, atol=1e-6)


def test_embed_folder_errors(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="bad.png"):
        embed_folder(TinyEmbedder(), [bad])
    with pytest.raises(InputError, match="dtype"):
        embed_folder(TinyEmbedder(), [bad], dtype="int8")
    with pytest.raises(InputError, match="no image"):
        embed_folder(TinyEmbedder(), [])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        embed_folder(TinyEmbedder(), tmp_path / "empty")
    with pytest.raises(InputError, match="not a directory"):
        embed_folder(TinyEmbedder(), tmp_path / "missing")
    with pytest.raises(InputError, match="templates"):
        embed_folder(TinyMatcher(), [bad], out=tmp_path / "x.npy")
