"""Fréchet distance, KID, streamed statistics, image sources, the FID job and `synthbio metrics fid`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError
from synthbio.io.images import to_uint8, write_png
from synthbio.metrics.fid import (
    FeatureStats,
    FidConfig,
    compute_fid,
    folder_batches,
    frechet_distance,
    generator_batches,
    kernel_distance,
    list_images,
    listing_hash,
    mmd2_unbiased,
    polynomial_kernel,
)
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

METHODS = ("sqrtm", "eigh")


def _random_cov(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    a = rng.normal(size=(n or 3 * d, d)) * rng.uniform(0.2, 2.0, size=d)
    return np.cov(a, rowvar=False)


# --- Fréchet distance against independent references ---------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_fd_diagonal_closed_form(method: str) -> None:
    # Diagonal covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_fd_commuting_covariances_closed_form(method: str) -> None:
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute, so sqrt(S1 S2) = Q diag(sqrt(a b)) Q^T.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    a, b = rng.uniform(0.1, 3, 12), rng.uniform(0.1, 3, 12)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu = rng.normal(size=12)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu, s1, mu, s2, method=method) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_fd_matches_direct_scipy_on_full_covariances(method: str) -> None:
    rng = np.random.default_rng(2)
    s1, s2 = _random_cov(rng, 20), _random_cov(rng, 20)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    # Reference: the Gaussian W2 form Tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), all by scipy.
    r2 = np.real(scipy.linalg.sqrtm(s2))
    cross = np.real(scipy.linalg.sqrtm(r2 @ s1 @ r2))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross)
    assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_fd_properties_identity_symmetry_translation(method: str) -> None:
    rng = np.random.default_rng(3)
    s1, s2 = _random_cov(rng, 10), _random_cov(rng, 10)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    assert abs(frechet_distance(mu1, s1, mu1, s1, method=method)) < 1e-9
    d12 = frechet_distance(mu1, s1, mu2, s2, method=method)
    assert d12 > 0
    assert frechet_distance(mu2, s2, mu1, s1, method=method) == pytest.approx(d12, rel=1e-10)
    t = rng.normal(size=10)
    # Moving both sets leaves FD unchanged; moving one set of equal-mean pairs adds exactly |t|^2.
    assert frechet_distance(mu1 + t, s1, mu2 + t, s2, method=method) == pytest.approx(d12, rel=1e-10)
    d_same_mean = frechet_distance(mu1, s1, mu1, s2, method=method)
    assert frechet_distance(mu1 + t, s1, mu1, s2, method=method) == pytest.approx(d_same_mean + t @ t, rel=1e-10)


def test_fd_singular_covariances_agree_and_vanish_on_equal_sets() -> None:
    # Fewer samples than dimensions: rank-deficient covariances, as FID with < 2048 images.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 40)), rng.normal(size=(15, 40)) * 1.5
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    by_sqrtm = frechet_distance(x.mean(0), s1, y.mean(0), s2, method="sqrtm")
    by_eigh = frechet_distance(x.mean(0), s1, y.mean(0), s2, method="eigh")
    assert np.isfinite(by_sqrtm) and by_sqrtm == pytest.approx(by_eigh, rel=1e-6)
    assert abs(frechet_distance(x.mean(0), s1, x.mean(0), s1, method="eigh")) < 1e-8


def test_fd_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(InputError, match="dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(InputError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(InputError, match="unknown Fréchet method"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


# --- KID ---------------------------------------------------------------------------------------


def _mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 written out as explicit double sums over pairs."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((np.dot(a, b) / d + 1) ** 3)

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_direct_pair_sums() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(9, 4)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-12)
    assert polynomial_kernel(x, y)[2, 3] == pytest.approx((x[2] @ y[3] / 4 + 1) ** 3)


def test_kid_full_subsets_equal_mmd_and_is_reproducible() -> None:
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(10, 5)), rng.normal(size=(10, 5)) + 0.5
    # Subsets as large as both sets are the sets themselves (permuted): every estimate is the same.
    kid = kernel_distance(real, fake, num_subsets=4, subset_size=50)
    assert kid.subset_size == 10 and kid.num_subsets == 4
    assert kid.mean == pytest.approx(_mmd2_loops(fake, real), rel=1e-10) and kid.std < 1e-12
    a = kernel_distance(real, fake, num_subsets=5, subset_size=6, seed=3)
    assert a == kernel_distance(real, fake, num_subsets=5, subset_size=6, seed=3) and a.std > 0


def test_kid_separates_distributions() -> None:
    rng = np.random.default_rng(7)
    real = rng.normal(size=(300, 8))
    same = kernel_distance(real, rng.normal(size=(300, 8)), num_subsets=20, subset_size=100)
    shifted = kernel_distance(real, rng.normal(size=(300, 8)) + 0.5, num_subsets=20, subset_size=100)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert shifted.mean > 10 * max(same.std, abs(same.mean))
    with pytest.raises(InputError, match="at least 2"):
        kernel_distance(real[:1], real, num_subsets=1)


# --- streamed statistics -----------------------------------------------------------------------


def test_feature_stats_streaming_equals_numpy_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(103, 6)) * [1, 2, 3, 4, 5, 6] + 1e6  # large mean: naive sums lose digits
    stats = FeatureStats(6, keep_features=True)
    for lo, hi in [(0, 1), (1, 40), (40, 40), (40, 103)]:
        stats.update(torch.from_numpy(x[lo:hi]) if lo == 1 else x[lo:hi])
    mu, sigma = stats.mean_cov()
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.mean_cov(ddof=0)[1], np.cov(x, rowvar=False, ddof=0), rtol=1e-9, atol=1e-9)
    assert stats.count == 103 and stats.features().shape == (103, 6)
    stats.save(tmp_path / "s.npz", meta={"k": 1})
    loaded, meta = FeatureStats.load(tmp_path / "s.npz")
    assert meta["k"] == 1 and loaded.count == 103
    np.testing.assert_array_equal(loaded.mean_cov()[1], sigma)
    np.testing.assert_array_equal(loaded.features(), stats.features())


def test_feature_stats_rejects_bad_batches() -> None:
    stats = FeatureStats(3)
    with pytest.raises(InputError, match=r"\[B, 3\]"):
        stats.update(np.zeros((2, 4)))
    with pytest.raises(InputError, match="NaN"):
        stats.update(np.full((2, 3), np.nan))
    stats.update(np.zeros((1, 3)))
    with pytest.raises(InputError, match="more than 1"):
        stats.mean_cov()
    with pytest.raises(InputError, match="without keeping"):
        stats.features()


# --- image sources -----------------------------------------------------------------------------


def _write_images(folder: Path, arrays: list[np.ndarray], *, sub: str = "") -> None:
    (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        write_png(folder / sub / f"img{i:03d}.png", a)


def test_list_images_recursive_sorted_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    imgs = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(2)]
    _write_images(tmp_path, imgs, sub="b")
    _write_images(tmp_path, imgs, sub="a")
    _write_images(tmp_path, imgs[:1], sub=".hidden")
    write_png(tmp_path / "grid.png", imgs[0])
    write_png(tmp_path / "a" / "img000_mask.png", imgs[0])  # a mask job's masks beside the images
    write_png(tmp_path / "b" / "img001_mask_color.png", imgs[0])
    (tmp_path / "notes.txt").write_text("x")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["a/img000.png", "a/img001.png", "b/img000.png", "b/img001.png"]
    h = listing_hash(tmp_path, list_images(tmp_path))
    write_png(tmp_path / "a" / "img002.png", imgs[1])
    assert listing_hash(tmp_path, list_images(tmp_path)) != h
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_folder_batches_split_by_shape_and_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    small = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(3)]
    rgb = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2)]
    _write_images(tmp_path / "a", small)
    _write_images(tmp_path / "b", rgb)
    batches = list(folder_batches(list_images(tmp_path), batch_size=2))
    assert [tuple(b.shape) for b in batches] == [(2, 1, 8, 8), (1, 1, 8, 8), (2, 3, 8, 8)]
    np.testing.assert_allclose(batches[0][0, 0].numpy(), small[0] / 127.5 - 1, atol=1e-6)


TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "G"
    save_generator(build_demo_generator(GeneratorConfig(**TINY), noise_strength=0.1), path)
    return path


class PixelStats:
    """A tiny extractor for tests: grey mean, std and corner pixel (protocol: name, dim, resolution)."""

    name = "pixel-stats"
    dim = 3
    resolution = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().mean(1)
        return torch.stack([x.mean((1, 2)), x.std((1, 2)), x[:, 0, 0]], 1)


def test_generator_batches_are_quantised_and_batch_independent(tiny_model: Path) -> None:
    from synthbio.checkpoints.loading import load_generator
    from synthbio.generation.sampling import map_seeds, synthesize

    G = load_generator(tiny_model)
    a = torch.cat(list(generator_batches(G, num=5, batch_size=2)))
    b = torch.cat(list(generator_batches(G, num=5, batch_size=8)))
    assert a.shape == (5, 3, 16, 16) and torch.equal(a, b)
    _, ws = map_seeds(G, [3])
    png = to_uint8(synthesize(G, ws, seeds=[3], noise_mode="random")["img"])  # what `generate` writes
    np.testing.assert_array_equal(((a[3].permute(1, 2, 0) + 1) * 127.5).round().numpy().astype(np.uint8), png[0])


def test_model_scores_zero_against_its_own_pngs_and_cache(tiny_model: Path, tmp_path: Path) -> None:
    from synthbio.checkpoints.loading import load_generator

    G = load_generator(tiny_model)
    images = torch.cat(list(generator_batches(G, num=12, batch_size=12)))
    real = tmp_path / "real"
    _write_images(real, list(((images.permute(0, 2, 3, 1) + 1) * 127.5).round().numpy().astype(np.uint8)))
    config = FidConfig(real=str(real), model=str(tiny_model), num=12, batch_size=5, device="cpu",
                       cache_dir=str(tmp_path / "cache"), kid=True, kid_subsets=3)
    first = compute_fid(config, extractor=PixelStats())
    assert abs(first.fd) < 1e-9  # same seeds, same bytes, same features
    # Identical sets: every subset is the whole set, and the unbiased estimate of MMD(X, X) is that of X vs X.
    feats = PixelStats()(images).double().numpy()
    assert first.kid.mean == pytest.approx(mmd2_unbiased(feats, feats), rel=1e-6) and first.kid.std < 1e-12
    assert not first.real_stats_cached and Path(first.real_stats_path).is_file()
    other = compute_fid(dataclasses.replace(config, num=6, truncation_psi=0.3), extractor=PixelStats())
    assert other.real_stats_cached and other.num_fake == 6 and other.fd > 1e-4
    # A changed real folder is a different cache key.
    write_png(real / "extra.png", np.zeros((16, 16, 3), np.uint8))
    assert not compute_fid(config, extractor=PixelStats()).real_stats_cached


def test_fd_between_folders_and_config_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    _write_images(tmp_path / "r", [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(6)])
    _write_images(tmp_path / "f", [rng.integers(0, 128, (16, 16), dtype=np.uint8) for _ in range(5)])
    res = compute_fid(FidConfig(real=str(tmp_path / "r"), fake=str(tmp_path / "f"), cache=False, device="cpu"),
                      extractor=PixelStats())
    assert res.num_real == 6 and res.num_fake == 5 and res.fd > 0.1 and res.real_stats_path is None
    with pytest.raises(InputError, match="exactly one"):
        compute_fid(FidConfig(real=str(tmp_path / "r"), device="cpu"), extractor=PixelStats())
    with pytest.raises(InputError, match="exactly one"):
        compute_fid(FidConfig(real="r", model="m", fake="f", device="cpu"), extractor=PixelStats())


# --- CLI ---------------------------------------------------------------------------------------




def test_cli_fingerprint_fd_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], run_cli) -> None:
    from synthbio.fingerprints.master import MasterConfig, generate_master

    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "home"))
    prints = [((1 - generate_master(s, MasterConfig(width=96, height=96)).ridges) * 255).astype(np.uint8)
              for s in range(4)]
    _write_images(tmp_path / "real", prints)
    _write_images(tmp_path / "fake", [np.flipud(p).copy() for p in prints])
    out = tmp_path / "res" / "fd.json"
    code, stdout, err = run_cli("metrics", "fid", "--real", str(tmp_path / "real"),
                                "--fake", str(tmp_path / "fake"), "--extractor", "fingerprint", "--kid",
                                "--kid-subsets", "3", "--device", "cpu", "--out", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    assert stdout.startswith("FD (fingerprint-v1") and f"{result['fd']:.4f}" in stdout and "KID:" in stdout
    assert result["num_real"] == 4 and result["kid"]["num_subsets"] == 3 and result["fd"] > 0


def test_cli_errors_exit_2(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str], run_cli) -> None:
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    _write_images(tmp_path / "real", [np.zeros((16, 16), np.uint8)] * 3)
    code, _, err = run_cli("metrics", "fid", "--real", str(tmp_path / "real"),
                           "--model", str(tiny_model), "--device", "cpu")
    assert code == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "github.com/mseitzer/pytorch-fid" in err
    assert str(tmp_path / "home" / "models" / "fid-inception-v3" / "pt_inception") in err.replace(" ", "")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("metrics", "fid", "--real", str(tmp_path / "empty"),
                           "--model", str(tiny_model), "--extractor", "fingerprint", "--device", "cpu")
    assert code == 2 and "holds no images" in err
    code, _, err = run_cli("metrics", "fid", "--real", str(tmp_path / "real"),
                           "--extractor", "fingerprint", "--device", "cpu")
    assert code == 2 and "exactly one" in err
