"""The identity dataset job: layout, samples.h5, manifest, determinism, resume, shards + merge, Ray, fingerprints, report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.checkpoints import load_generator, save_generator
from synthbio.errors import InputError, OutputDirError
from synthbio.io.manifest import read_manifest, rewrite_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.dataset.config import DatasetConfig, shard_identities
from synthbio.pipelines.dataset.generate import generate_dataset
from synthbio.pipelines.dataset.merge import merge_datasets
from synthbio.pipelines.dataset.report import DatasetReportConfig, evaluate_dataset
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.utils.hashing import sha256_file
from synthbio.utils.seeds import z_from_seed

N, M = 4, 3
LABELS = ["reference", "variation_0", "variation_1"]


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
    path = tmp_path_factory.mktemp("model") / "g"
    save_generator(build_demo_generator(cfg, noise_strength=0.3), path)
    return path


def _config(model: Path, outdir: Path, **kw: object) -> DatasetConfig:
    # pixel-random embeds 16px random textures with cosines ~0.5-0.99, so the ICT is lowered to 0.3 rad.
    base = dict(outdir=str(outdir), model=str(model), identity_model="pixel-random", identities=N,
                samples_per_identity=M, inter_threshold=0.3, device="cpu", seed=7)
    base.update(kw)
    return DatasetConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def face_dataset(face_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faces") / "ds"
    generate_dataset(_config(face_model, out))
    return out


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a dataset except config.json (which records the outdir and shard)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "config.json"}


def test_layout_manifest_and_samples(face_dataset: Path, face_model: Path) -> None:
    root = face_dataset
    for i in range(N):
        names = sorted(p.name for p in (root / f"{i:05d}").iterdir())
        assert names == sorted([f"{label}.png" for label in LABELS] + ["latents.safetensors"])
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["config"]["identities"] == N and cfg["model_sha256"]
    records = read_manifest(root / "manifest.jsonl").records
    assert [(r["identity"], r["label"]) for r in records] == [(i, label) for i in range(N) for label in LABELS]
    for r in records:
        assert sha256_file(root / r["path"]) == r["sha256"]
        assert r["truncation_psi"] == 0.7 and r["model_sha256"] == cfg["model_sha256"]
        assert r["identity_model"] == "pixel-random" and isinstance(r["seed"], int)
    attrs, samples = read_samples(root / "samples.h5")
    assert attrs["generator"] == str(face_model) and attrs["embedding_model"] == "pixel-random"
    assert [(s.identity, s.label) for s in samples] == [(i, label) for i in range(N) for label in LABELS]
    G = load_generator(face_model)
    refs = [s for s in samples if s.label == "reference"]
    for s in samples:
        assert s.z.shape == (16,) and s.w.shape == (16,) and s.w_plus.shape == (G.num_ws, 16)
        assert s.embedding.shape == (128,)
        np.testing.assert_array_equal(s.w, s.w_plus[0])
    for s in refs:  # a rejection reference is its seed's truncated mapping output
        z = torch.from_numpy(z_from_seed(int(s.attrs["seed"]), 16)).float()
        np.testing.assert_array_equal(s.z, z[0].numpy())
        with torch.no_grad():
            ws = G.mapping(z, None, truncation_psi=0.7)
        np.testing.assert_allclose(s.w_plus, ws[0].numpy(), rtol=0, atol=1e-6)
    # Inter-class constraint: references are more than the 0.3 rad ICT apart.
    e = torch.nn.functional.normalize(torch.from_numpy(np.stack([s.embedding for s in refs])), dim=1)
    ang = torch.arccos((e @ e.T).clamp(-1, 1)) + 10 * torch.eye(N)
    assert float(ang.min()) > 0.3
    # Variations keep the coarse layers of the reference (style mixing) and pass the check.
    for i in range(N):
        ws = [s.w_plus for s in samples if s.identity == i]
        np.testing.assert_array_equal(ws[1][: G.num_ws // 2], ws[0][: G.num_ws // 2])
        assert not np.array_equal(ws[1], ws[0])


def test_deterministic_across_batch_sizes(face_dataset: Path, face_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    generate_dataset(_config(face_model, out, batch_size=1))
    assert _files(out) == _files(face_dataset)


def test_resume_redoes_partial_identity_and_keeps_the_rest(face_dataset: Path, face_model: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "resume"
    shutil.copytree(face_dataset, out)
    records = read_manifest(out / "manifest.jsonl").records
    rewrite_manifest(out / "manifest.jsonl", records[:-1])  # identity 3 lost its last line: partial
    (out / "00001" / "variation_0.png").write_bytes(b"garbage")  # identity 1: a file changed on disk
    (out / "samples.h5").unlink()
    (out / "00000" / ".reference.png.abc.tmp").write_bytes(b"half")  # a killed atomic write
    result = generate_dataset(_config(face_model, out))
    assert result.kept == [0, 2] and result.generated == [1, 3] and result.redone == [1, 3]
    assert _files(out) == _files(face_dataset)


def test_other_run_is_refused(face_dataset: Path, face_model: Path) -> None:
    with pytest.raises(OutputDirError, match="seed"):
        generate_dataset(_config(face_model, face_dataset, seed=8))
    with pytest.raises(OutputDirError, match="shard"):
        generate_dataset(_config(face_model, face_dataset, shard="0/2"))


def test_shards_merge_to_the_unsharded_dataset(face_dataset: Path, face_model: Path, tmp_path: Path) -> None:
    assert shard_identities(5, "1/2") == [1, 3]
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for k, d in enumerate(shards):
        generate_dataset(_config(face_model, d, shard=f"{k}/2"))
        ids = sorted({r["identity"] for r in read_manifest(d / "manifest.jsonl").records})
        assert ids == shard_identities(N, f"{k}/2")
    merged = merge_datasets([shards[1], shards[0]], tmp_path / "merged")
    assert merged.identities == N and merged.samples == N * M
    assert _files(tmp_path / "merged") == _files(face_dataset)
    _, a = read_samples(face_dataset / "samples.h5")
    _, b = read_samples(tmp_path / "merged" / "samples.h5")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.w_plus, y.w_plus)
        np.testing.assert_array_equal(x.embedding, y.embedding)

    with pytest.raises(InputError, match="missing shard"):
        merge_datasets([shards[0]], tmp_path / "m1")
    with pytest.raises(InputError, match="given twice"):
        merge_datasets([shards[0], shards[0]], tmp_path / "m2")
    with pytest.raises(InputError, match="is one of the shards"):
        merge_datasets(shards, shards[0])
    other = tmp_path / "other1"
    generate_dataset(_config(face_model, other, shard="1/2", samples_per_identity=2))
    with pytest.raises(InputError, match="different runs.*samples_per_identity"):
        merge_datasets([shards[0], other], tmp_path / "m3")
    lines = read_manifest(shards[1] / "manifest.jsonl").records
    rewrite_manifest(shards[1] / "manifest.jsonl", lines[:-2])
    with pytest.raises(InputError, match="incomplete: identities 3"):
        merge_datasets(shards, tmp_path / "m4")


def test_ray_backend_equals_local(face_dataset: Path, face_model: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="ray is not installed (optional extra synthbio[ray])")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = generate_dataset(_config(face_model, tmp_path / "ray", backend="ray", ray_shards=2))
    finally:
        ray.shutdown()
    assert result.generated == list(range(N))
    assert sorted(p.name for p in (tmp_path / "ray.shards").iterdir()) == ["0-of-2", "1-of-2"]
    assert _files(tmp_path / "ray") == _files(face_dataset)


def test_config_errors(face_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="modality"):
        _config(face_model, tmp_path, modality="iris")
    with pytest.raises(InputError, match="does not apply to faces"):
        _config(face_model, tmp_path, variation_method="procedural")
    with pytest.raises(InputError, match="shard '2/2'"):
        _config(face_model, tmp_path, shard="2/2")
    with pytest.raises(InputError, match="no generator"):
        DatasetConfig(outdir=str(tmp_path), model=None)
    with pytest.raises(InputError, match="backend 'spark'"):
        _config(face_model, tmp_path, backend="spark")


def test_procedural_fingerprints(tmp_path: Path) -> None:
    cfg = DatasetConfig(outdir=str(tmp_path / "fp"), modality="fingerprint", variation_method="procedural",
                        identity_model="nbis-bozorth3", identities=2, samples_per_identity=3, fp_width=96,
                        fp_height=128, seed=3)
    generate_dataset(cfg)
    attrs, samples = read_samples(tmp_path / "fp" / "samples.h5")
    assert attrs["generator"] == "procedural" and attrs["embedding_model"] == "nbis-bozorth3"
    assert len(samples) == 6 and all(s.z is None and s.w_plus is None for s in samples)
    assert [s.attrs["impression"] for s in samples] == [0, 1, 2] * 2
    from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
    from synthbio.fingerprints.master import MasterConfig, generate_master
    from synthbio.io.images import read_png

    seed = int(samples[3].attrs["seed"])  # identity 1 is the master of its seed; variation_1 = impression 2
    master = generate_master(seed, MasterConfig(width=160, height=208))
    imp = make_impression(master, seed, 2, ImpressionConfig(width=96, height=128))
    np.testing.assert_array_equal(read_png(tmp_path / "fp" / "00001" / "variation_1.png"), imp.image)


def test_fingerprint_generator_variations(tmp_path: Path) -> None:
    cfg = GeneratorConfig(img_resolution=64, z_dim=16, w_dim=16, channel_base=256, channel_max=8, mapping_layers=2,
                          branches=(("img", 1),))
    save_generator(build_demo_generator(cfg, noise_strength=0.3), tmp_path / "g")
    out = tmp_path / "fpg"
    generate_dataset(DatasetConfig(outdir=str(out), model=str(tmp_path / "g"), modality="fingerprint",
                                   identity_model="nbis-bozorth3", variation_method="generator", identities=2,
                                   samples_per_identity=2, max_attempts=1, device="cpu"))
    records = read_manifest(out / "manifest.jsonl").records
    assert len(records) == 4
    # The matcher checked each variation; a random 64px texture has no minutiae, so none can pass.
    assert [r["attrs"].get("passed") for r in records] == [None, False, None, False]
    _, samples = read_samples(out / "samples.h5")
    assert all(s.embedding is None and s.w_plus is not None for s in samples)


def test_report(face_dataset: Path, tmp_path: Path) -> None:
    rep = evaluate_dataset(DatasetReportConfig(dataset=str(face_dataset), outdir=str(tmp_path / "rep")))
    m = rep.metrics
    assert m["genuine"]["n"] == N * math.comb(M, 2)
    assert m["impostor"]["n"] == math.comb(N * M, 2) - N * math.comb(M, 2)
    assert 0 <= m["verification"]["eer"] <= 1
    assert m["impostor_at_or_above_threshold"] == pytest.approx(float(m["verification"]["fmr_at_threshold"]))
    for name in ("index.html", "metrics.json", "similarity.png", "mosaic.png"):
        assert (tmp_path / "rep" / name).is_file()
    from synthbio.io.images import read_png

    mosaic = read_png(tmp_path / "rep" / "mosaic.png")
    assert mosaic.shape == (N * 16 + (N - 1) * 2, M * 16 + (M - 1) * 2, 3)
    assert "Synthetic identity dataset report" in (tmp_path / "rep" / "index.html").read_text()
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["identities"] == N


def test_privacy_filter_rejects_real_lookalikes(face_dataset: Path, face_model: Path, tmp_path: Path) -> None:
    from synthbio.generation.sampling import map_seeds, synthesize
    from synthbio.io.images import to_uint8, write_png
    from synthbio.pipelines.dataset.config import derived_seed

    G = load_generator(face_model)
    ref_seeds = [int(s.attrs["seed"]) for s in read_samples(face_dataset / "samples.h5")[1] if s.label == "reference"]
    # The "real" set: the first two references of the unfiltered run, as two identities of 2 images each.
    _, ws = map_seeds(G, ref_seeds[:2], truncation_psi=0.7)
    imgs = to_uint8(synthesize(G, ws, seeds=ref_seeds[:2])["img"])
    for k in range(2):
        for j in range(2):
            (tmp_path / "real" / f"person{k}").mkdir(parents=True, exist_ok=True)
            write_png(tmp_path / "real" / f"person{k}" / f"{j}.png", imgs[k])
    assert ref_seeds[0] == derived_seed(7) % 2**31  # candidate 0 is always accepted without the filter
    # The untrained G leaves [-1, 1], so its PNGs (clipped) are not exact copies: threshold just below them.
    from synthbio.identity.models import build_identity_model
    from synthbio.identity.privacy import embed_folder, nearest_real
    from synthbio.identity.references import embed_latents

    model = build_identity_model("pixel-random")
    real = embed_folder(model, tmp_path / "real")
    threshold = float(nearest_real(embed_latents(G, model, ws), real)[0].min()) - 1e-4
    out = tmp_path / "private"
    generate_dataset(_config(face_model, out, privacy_reference=str(tmp_path / "real"), privacy_threshold=threshold,
                             samples_per_identity=1, identities=2))
    records = read_manifest(out / "manifest.jsonl").records
    assert len(records) == 2 and not {r["seed"] for r in records} & set(ref_seeds[:2])
    assert all(r["attrs"]["nearest_real"] <= threshold for r in records)
    # The same real people as a database group (an outsider in another group is left out): same dataset.
    from synthbio.io.databases import build_database

    for k in range(2):
        for j in range(2):
            (tmp_path / "real_db" / f"person{k}").mkdir(parents=True, exist_ok=True)
            write_png(tmp_path / "real_db" / f"person{k}" / f"{j}.png", imgs[k])
    (tmp_path / "real_db" / "outsider").mkdir()
    write_png(tmp_path / "real_db" / "outsider" / "0.png", imgs[0])
    rows = ["path,identity,protocol,group"] + [f"person{k}/{j}.png,person{k},privacy,eval" for k in range(2)
                                               for j in range(2)] + ["outsider/0.png,outsider,privacy,train"]
    (tmp_path / "real_db" / "metadata.csv").write_text("\n".join(rows) + "\n")
    build_database("csv", tmp_path / "real_db").write(tmp_path / "real.sqlite")
    via_db = tmp_path / "private_db"
    generate_dataset(_config(face_model, via_db, privacy_reference=str(tmp_path / "real.sqlite"),
                             privacy_protocol="privacy", privacy_group="eval", privacy_threshold=threshold,
                             samples_per_identity=1, identities=2))
    assert [(r["seed"], r["attrs"]["nearest_real"]) for r in read_manifest(via_db / "manifest.jsonl").records] == \
        [(r["seed"], r["attrs"]["nearest_real"]) for r in records]
    with pytest.raises(InputError, match="give it"):
        _config(face_model, via_db, privacy_protocol="privacy")
    rep = evaluate_dataset(DatasetReportConfig(dataset=str(face_dataset), outdir=str(tmp_path / "rep"),
                                               privacy_reference=str(tmp_path / "real")))
    leak = rep.metrics["leakage"]
    assert leak["nearest_real"]["max"] > threshold and 0 < leak["threshold"] < 1
    assert (tmp_path / "rep" / "leakage.png").is_file()


def test_derived_privacy_threshold_never_below_the_model_threshold(face_model: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A matcher's genuine scores can put mean - 2 std below every impostor score; the derived
    threshold is then floored at the model's own decision threshold instead of rejecting all."""
    from synthbio.pipelines.dataset import engines as dataset_engines

    (tmp_path / "real" / "p0").mkdir(parents=True)
    engine = dataset_engines.GeneratorEngine(_config(face_model, tmp_path / "o", privacy_reference=str(tmp_path / "real")))
    monkeypatch.setattr(dataset_engines, "embed_real_folder", lambda *a, **k: ("features", -24.0))
    _, threshold = engine.real_features()
    assert threshold == pytest.approx(engine.model.threshold)
    engine2 = dataset_engines.GeneratorEngine(_config(face_model, tmp_path / "o2", privacy_reference=str(tmp_path / "real")))
    high = engine2.model.threshold + 0.05
    monkeypatch.setattr(dataset_engines, "embed_real_folder", lambda *a, **k: ("features", high))
    assert engine2.real_features()[1] == pytest.approx(high)


def test_procedural_fingerprints_from_a_named_sensor(tmp_path: Path) -> None:
    cfg = DatasetConfig(outdir=str(tmp_path / "fp"), modality="fingerprint", variation_method="procedural",
                        identity_model="nbis-bozorth3", identities=1, samples_per_identity=2, fp_width=96,
                        fp_height=128, seed=3, fp_sensor="capacitive")
    generate_dataset(cfg)
    _, samples = read_samples(tmp_path / "fp" / "samples.h5")
    assert [s.attrs["sensor"] for s in samples] == ["capacitive", "capacitive"]
    from synthbio.fingerprints.impressions import make_impression, sensor_preset
    from synthbio.fingerprints.master import MasterConfig, generate_master
    from synthbio.io.images import read_png

    seed = int(samples[0].attrs["seed"])
    imp = make_impression(generate_master(seed, MasterConfig(width=160, height=208)), seed, 1,
                          sensor_preset("capacitive", width=96, height=128))
    np.testing.assert_array_equal(read_png(tmp_path / "fp" / "00000" / "variation_0.png"), imp.image)
    with pytest.raises(InputError, match="--sensor"):
        DatasetConfig(outdir=str(tmp_path / "x"), modality="fingerprint", variation_method="procedural",
                      identity_model="nbis-bozorth3", fp_sensor="sonar")


# --- defaults, every branch, every ground-truth file (issue #13) ---------------------------


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator `synthbio demo` builds: 64 px, RGB + NIR."""
    path = tmp_path_factory.mktemp("demo") / "model"
    save_generator(build_demo_generator(), path)
    return path


def test_defaults_succeed_on_the_demo_model_and_write_every_branch(demo_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate_dataset(DatasetConfig(outdir=str(out), model=str(demo_model), identities=3))  # nothing else set
    labels = ["reference", "variation_0", "variation_1", "variation_2"]
    for branch, channels in (("rgb", 3), ("nir", 1)):
        from synthbio.io.images import read_png

        for ident in range(3):
            for label in labels:
                img = read_png(out / branch / f"{ident:05d}" / f"{label}.png")
                assert img.shape[:2] == (64, 64) and (img.ndim == 3) == (channels == 3)
    records = read_manifest(out / "manifest.jsonl").records
    assert len(records) == 12 and all(sorted(r["files"]) == ["nir", "rgb"] for r in records)
    assert all(r["path"] == r["files"]["rgb"]["path"] for r in records)  # the branch the identity model saw
    # the NIR image is the NIR branch of the very sample whose RGB branch was checked
    G = load_generator(str(demo_model))
    from synthbio.generation.sampling import synthesize
    from synthbio.io.images import to_uint8

    ws = torch.from_numpy(read_samples(out / "samples.h5")[1][5].w_plus)[None]
    rec = records[5]
    nir = to_uint8(synthesize(G, ws, seeds=[int(rec["seed"])], noise_mode="const")["nir"])[0]
    np.testing.assert_array_equal(read_png(out / rec["files"]["nir"]["path"]), nir[:, :, 0])


def test_merge_carries_every_branch(demo_model: Path, tmp_path: Path) -> None:
    parts = []
    for k in range(2):
        parts.append(tmp_path / f"part{k}")
        generate_dataset(DatasetConfig(outdir=str(parts[-1]), model=str(demo_model), identities=2,
                                       samples_per_identity=2, shard=f"{k}/2"))
    merge_datasets(parts, tmp_path / "merged")
    whole = tmp_path / "whole"
    generate_dataset(DatasetConfig(outdir=str(whole), model=str(demo_model), identities=2, samples_per_identity=2))
    assert _files(tmp_path / "merged") == _files(whole) and (whole / "nir" / "00001" / "variation_0.png").is_file()


@pytest.mark.slow(reason="renders 12 samples of the shipped 128 px fingerprint generator")
def test_defaults_succeed_on_the_shipped_fingerprint_model(tmp_path: Path) -> None:
    res = generate_dataset(DatasetConfig(outdir=str(tmp_path / "ds"), model="fingerprint-default", identities=3))
    assert res.generated == [0, 1, 2]


def test_exhausted_references_name_the_flags(face_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--inter-threshold \(now 3.1 rad\).*--reference-attempts \(now 2 "):
        generate_dataset(_config(face_model, tmp_path / "x", inter_threshold=3.1, reference_attempts=2))


def test_overwrite_replaces_a_failed_run(face_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    with pytest.raises(InputError):
        generate_dataset(_config(face_model, out, inter_threshold=3.1, reference_attempts=2))
    with pytest.raises(OutputDirError, match="--overwrite"):  # its config.json holds the other settings
        generate_dataset(_config(face_model, out))
    res = generate_dataset(_config(face_model, out, overwrite=True))
    assert res.generated == list(range(N))


def test_procedural_fingerprints_carry_their_ground_truth(tmp_path: Path) -> None:
    from synthbio.fingerprints.impressions import make_impression, sensor_preset
    from synthbio.fingerprints.master import MasterConfig, generate_master
    from synthbio.fingerprints.minutiae import read_json, read_template, read_xyt
    from synthbio.pipelines.dataset.layout import decode_arrays

    out = tmp_path / "fp"
    generate_dataset(DatasetConfig(outdir=str(out), modality="fingerprint", variation_method="procedural",
                                   identity_model="nbis-bozorth3", identities=2, samples_per_identity=2,
                                   fp_width=96, fp_height=128, seed=3))
    records = read_manifest(out / "manifest.jsonl").records
    assert all(sorted(r["files"]) == ["iso", "json", "png", "xyt"] for r in records)
    rec = records[3]  # identity 1, impression 1
    seed = int(rec["seed"])
    truth = make_impression(generate_master(seed, MasterConfig(width=160, height=208)), seed, 1,
                            sensor_preset("optical", width=96, height=128)).template()
    got = read_json(out / "00001" / "variation_0.json")
    assert [(m.x, m.y, m.kind) for m in got.minutiae] == [(m.x, m.y, m.kind) for m in truth.minutiae]
    assert len(read_xyt(out / "00001" / "variation_0.xyt", height=128).minutiae) == len(truth.minutiae)
    assert len(read_template(out / "00001" / "variation_0.iso").minutiae) == min(255, len(truth.minutiae))
    arrays = decode_arrays(out / "00001" / "latents.safetensors")
    assert arrays["finger_seed"].tolist() == [seed, seed] and arrays["impression"].tolist() == [0, 1]


def test_privacy_reference_without_identities_names_the_flags(tmp_path: Path) -> None:
    """A flat folder of real images gives no genuine pairs: the error names the folder and the flags to change."""
    from synthbio.identity.models import build_identity_model
    from synthbio.io.images import write_png
    from synthbio.pipelines.dataset.engines import embed_real_folder

    (tmp_path / "flat").mkdir()
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    model = build_identity_model("pixel-random")
    with pytest.raises(InputError, match=r"--privacy-reference .*flat.*subfolder per identity.*--privacy-threshold"):
        embed_real_folder(model, tmp_path / "flat", batch_size=2, device="cpu", derive=True)
    real, threshold = embed_real_folder(model, tmp_path / "flat", batch_size=2, device="cpu", derive=False)
    assert len(real) == 3 and threshold is None  # with --privacy-threshold no pairs are needed
