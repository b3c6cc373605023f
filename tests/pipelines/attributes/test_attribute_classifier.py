"""Labelled faces -> cached latents -> attribute classifier -> directions, on a tiny CK+ tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints import load_generator
from synthbio.checkpoints.encoders import save_encoder
from synthbio.editing.attributes import load_attribute_classifier
from synthbio.errors import InputError, OutputDirError
from synthbio.faces.alignment import DLIB_5PT_TEMPLATE
from synthbio.io.images import to_uint8
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.pipelines.attributes import classifier as ac

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "inversion"))
from encoder_helpers import tiny_generator  # noqa: E402

NUM_SEQ = 24  # 6 subjects x 4 sequences


def _landmarks68() -> np.ndarray:
    """68 points of a face filling a 16x16 frame; dlib's 5 points at the indices CK+ uses for them."""
    lm = np.tile([[8.0, 8.0]], (68, 1))
    pts = 2 + 12 * DLIB_5PT_TEMPLATE
    for k, i in enumerate((45, 42, 36, 39, 33)):
        lm[i] = pts[k]
    return lm


def make_ckplus(root: Path, G_dir: Path) -> Path:
    """CK+ layout with NUM_SEQ sequences of 2 frames rendered by the tiny G.

    AU12 = the peak frame is brighter than the median (something an encoder can see),
    AU6 = every third sequence; emotion 'happy' (5) with AU12 else 'surprise' (7) on
    all but sequences 0 and 5; sequence 1 has no FACS file.
    """
    G = load_generator(G_dir)
    g = torch.Generator().manual_seed(7)
    z = torch.randn([NUM_SEQ * 2, G.z_dim], generator=g)
    with torch.no_grad():
        imgs = to_uint8(G.synthesis(G.mapping(z, None), noise_mode="const"))[:, :, :, 0]
    bright = np.array([imgs[2 * i + 1].mean() for i in range(NUM_SEQ)])
    au12 = bright > np.median(bright)
    for i in range(NUM_SEQ):
        subj, seq = f"S{i // 4 + 1:03d}", f"{i % 4 + 1:03d}"
        folder = root / "cohn-kanade-images" / subj / seq
        folder.mkdir(parents=True)
        for f in range(2):
            PIL.Image.fromarray(imgs[2 * i + f]).save(folder / f"{subj}_{seq}_{f + 1:08d}.png")
        peak = f"{subj}_{seq}_{2:08d}"
        lm_dir = root / "Landmarks" / subj / seq
        lm_dir.mkdir(parents=True)
        np.savetxt(lm_dir / f"{peak}_landmarks.txt", _landmarks68(), fmt="%.7e")
        if i != 1:
            facs = [(12, 3.0)] * bool(au12[i]) + [(6, 0.0)] * (i % 3 == 0) + [(25, 2.0)]
            (root / "FACS" / subj / seq).mkdir(parents=True)
            (root / "FACS" / subj / seq / f"{peak}_facs.txt").write_text(
                "".join(f"   {a:.7e}   {b:.7e}\n" for a, b in facs))
        if i not in (0, 5):
            (root / "Emotion" / subj / seq).mkdir(parents=True)
            (root / "Emotion" / subj / seq / f"{peak}_emotion.txt").write_text(f"   {5.0 if au12[i] else 7.0:.7e}\n")
    return root


def make_encoder(path: Path, G_dir: Path, *, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    cfg = EncoderConfig(in_channels=1, resolution=16, num_ws=6, w_dim=8, channels=(4, 4, 8, 8), blocks=(1, 1, 1, 1),
                        head_channels=8, se_reduction=2)
    enc = Encoder(cfg, w_avg=load_generator(G_dir).mapping.w_avg.clone())
    return save_encoder(enc.eval(), path, task="invert", generator=str(G_dir))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ac")
    G_dir = tiny_generator(root / "G", channels=1)
    return {"G": G_dir, "ckplus": make_ckplus(root / "ckplus", G_dir), "encoder": make_encoder(root / "E", G_dir)}


def _config(world: dict[str, Path], out: Path, **kw: object) -> ac.TrainClassifierConfig:
    base = dict(outdir=str(out), source="ckplus", labels=str(world["ckplus"]), encoder=str(world["encoder"]),
                label_names=("AU12", "AU6", "happy"), hidden=(16,), epochs=30, batch_size=5)
    return ac.TrainClassifierConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_ckplus_labels_peak_frames_and_unknown_names(world: dict[str, Path]) -> None:
    data = ac.read_ckplus_labels(str(world["ckplus"]), ("au12", "6", "happy"))
    assert data.names == ["AU12", "AU6", "happy"] and len(data.keys) == NUM_SEQ
    assert data.keys[0] == "S001/001" and data.paths[0].name == "S001_001_00000002.png"
    assert np.isnan(data.values[1, :2]).all() and np.isfinite(data.values[1, 2])  # no FACS, has emotion
    assert np.isnan(data.values[0, 2]) and np.isnan(data.values[5, 2])  # no emotion file
    np.testing.assert_array_equal(data.values[[2, 3, 4], 0], data.values[[2, 3, 4], 2])  # happy <=> AU12 here
    assert ac.read_ckplus_labels(str(world["ckplus"])).names == ["AU6", "AU12"]  # AU25 is everywhere: no negatives
    with pytest.raises(InputError, match=r"'AU99' never occurs.*AU6, AU12, AU25"):
        ac.read_ckplus_labels(str(world["ckplus"]), ("AU99",))
    with pytest.raises(InputError, match="unknown CK\\+ label 'grumpy'"):
        ac.read_ckplus_labels(str(world["ckplus"]), ("grumpy",))


def test_job_caches_latents_resumes_and_reports(world: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ac.invert_chunk

    def counting(inv, images, indices):  # type: ignore[no-untyped-def]
        calls.append(len(indices))
        if len(calls) == 3 and fail[0]:
            raise KeyboardInterrupt  # a kill in the middle of the third chunk
        return real(inv, images, indices)

    fail = [True]
    monkeypatch.setattr(ac, "invert_chunk", counting)
    cfg = _config(world, tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        ac.train_classifier_job(cfg)
    with np.load(tmp_path / "out" / ac.CACHE_NAME) as d:
        assert d["ws"].shape == (10, 6, 8) and d["keys"].tolist()[:2] == ["S001/001", "S001/002"]
    assert not (tmp_path / "out" / "classifier").exists()
    fail[0], calls[:] = False, []
    res = ac.train_classifier_job(cfg)
    assert calls == [5, 5, 4] and res.num_inverted == 14  # only what the cache lacked
    # The cached latents are the encoder's output on the peak frames, whatever the chunking.
    from synthbio.checkpoints.encoders import load_encoder
    enc, _ = load_encoder(world["encoder"])
    data = ac.read_ckplus_labels(str(world["ckplus"]), cfg.label_names)
    x = torch.stack([ac.load_face(p, resolution=16, channels=1) for p in data.paths])
    with torch.no_grad(), np.load(tmp_path / "out" / ac.CACHE_NAME) as d:
        cached = dict(zip(d["keys"].tolist(), d["ws"]))
        np.testing.assert_allclose(np.stack([cached[k] for k in data.keys]), enc(x).numpy(), atol=1e-5)
    model, meta = load_attribute_classifier(res.classifier)
    assert model.config.label_names == ("AU12", "AU6", "happy") and meta["provenance"]["inverter"] == "encoder"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["name"] for r in report["labels"]] == ["AU12", "AU6", "happy"]
    assert report["num_rows"] == NUM_SEQ and report["labels"][2]["known"] == NUM_SEQ - 2
    assert all(r["f1"] is None or 0 <= r["f1"] <= 1 for r in report["labels"])
    assert report["num_train"] + report["num_val"] == NUM_SEQ
    assert (tmp_path / "out" / "f1.png").is_file()
    assert json.loads((tmp_path / "out" / "config.json").read_text())["label_names"] == ["AU12", "AU6", "happy"]
    # Classifier deleted: retrained from the cache alone, to the same weights.
    import shutil
    shutil.rmtree(res.classifier)
    calls[:] = []
    again = ac.train_classifier_job(cfg)
    assert calls == [] and again.num_inverted == 0
    m2, _ = load_attribute_classifier(again.classifier)
    for (k, a), b in zip(model.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    # Another encoder may not reuse the cache.
    other = make_encoder(tmp_path / "E2", world["G"], seed=1)
    with pytest.raises(OutputDirError, match="another inverter"):
        ac.train_classifier_job(_config(world, tmp_path / "out", encoder=str(other)))


def test_latents_file_rows_follow_label_rows(world: dict[str, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "bad.npy", rng.standard_normal((5, 8)).astype(np.float32))
    with pytest.raises(InputError, match="bad.npy.*5 rows, the labels have 24"):
        ac.train_classifier_job(_config(world, tmp_path / "a", encoder=None, latents=str(tmp_path / "bad.npy")))
    data = ac.read_ckplus_labels(str(world["ckplus"]), ("AU12",))
    w = np.zeros((NUM_SEQ, 8), np.float32)  # AU12 written into coordinate 2, nothing else varies
    w[:, 2] = 3 * np.nan_to_num(data.values[:, 0]) + 0.3 * rng.standard_normal(NUM_SEQ)
    np.save(tmp_path / "w.npy", w)
    res = ac.train_classifier_job(_config(world, tmp_path / "b", encoder=None, latents=str(tmp_path / "w.npy"),
                                          label_names=("AU12",), hidden=(), epochs=200, lr=0.05, val_fraction=0.25))
    assert res.num_inverted == 0 and not (tmp_path / "b" / ac.CACHE_NAME).exists()
    assert res.report["labels"][0]["f1"] == 1.0


def test_csv_source_and_bad_images_name_the_file(world: dict[str, Path], tmp_path: Path) -> None:
    src = sorted((world["ckplus"] / "cohn-kanade-images").rglob("*00000002.png"))[:12]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rows = []
    for i, p in enumerate(src):
        (imgs / f"f{i}.png").write_bytes(p.read_bytes())
        rows.append(f"f{i}.png,{1 if i % 2 else -1},{i % 3 == 0:d}\n")
    (tmp_path / "l.csv").write_text("filename,smile,glasses\n" + "".join(rows))
    cfg = ac.TrainClassifierConfig(outdir=str(tmp_path / "o"), source="csv", labels=str(tmp_path / "l.csv"),
                                   images=str(imgs), encoder=str(world["encoder"]), hidden=(), epochs=5,
                                   val_fraction=0.25)
    res = ac.train_classifier_job(cfg)
    assert [r["name"] for r in res.report["labels"]] == ["smile", "glasses"]
    assert res.report["labels"][0]["positives"] == 6 and res.num_inverted == 12  # -1 read as 0
    (imgs / "f3.png").write_text("not a png")
    with pytest.raises(InputError, match=r"cannot read image .*f3\.png"):
        ac.train_classifier_job(ac.TrainClassifierConfig(**{**cfg.to_dict(), "outdir": str(tmp_path / "o2")}))
    (imgs / "f3.png").unlink()
    with pytest.raises(InputError, match=r"f3\.png"):
        ac.train_classifier_job(ac.TrainClassifierConfig(**{**cfg.to_dict(), "outdir": str(tmp_path / "o3")}))
    with pytest.raises(InputError, match="images folder .*nowhere"):
        ac.train_classifier_job(ac.TrainClassifierConfig(**{**cfg.to_dict(), "images": str(tmp_path / "nowhere")}))
    with pytest.raises(InputError, match="exactly one way"):
        ac.TrainClassifierConfig(outdir="o", source="csv", labels="l.csv", images="i")
    with pytest.raises(InputError, match="no landmarks"):
        ac.TrainClassifierConfig(outdir="o", source="csv", labels="l.csv", images="i", encoder="e", align=True)


def test_align_crops_from_the_ckplus_landmarks(world: dict[str, Path], tmp_path: Path) -> None:
    peak = sorted((world["ckplus"] / "cohn-kanade-images").rglob("*00000002.png"))[0]
    plain = ac.load_face(peak, resolution=16, channels=1)
    aligned = ac.load_face(peak, resolution=16, channels=1, landmarks=_landmarks68())
    assert aligned.shape == plain.shape == (1, 16, 16) and not torch.allclose(aligned, plain)
    res = ac.train_classifier_job(_config(world, tmp_path / "al", align=True, epochs=5))
    assert res.num_inverted == NUM_SEQ


def test_directions_from_classifier_are_seeded(world: dict[str, Path], tmp_path: Path) -> None:
    res = ac.train_classifier_job(_config(world, tmp_path / "c", hidden=(), epochs=20))
    G = load_generator(world["G"])
    clf, _ = load_attribute_classifier(res.classifier)
    ws = ac.sample_ws(G, 50, seed=3, truncation_psi=0.5)
    z = torch.randn([50, G.z_dim], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(ws, G.mapping(z, None, truncation_psi=0.5), atol=1e-6, rtol=1e-5)
    assert torch.equal(ac.sample_ws(G, 50, seed=3), ac.sample_ws(G, 50, seed=3)) and ws.shape == (50, 6, 8)
    fits = ac.classifier_directions(G, clf, labels=("AU12",), num_samples=400, fraction=0.05, seed=3)
    assert list(fits) == ["AU12"] and fits["AU12"].num_positive == 20
    assert abs(float(fits["AU12"].direction.norm()) - 1) < 1e-5
    with pytest.raises(InputError, match="no label \\['AU1'\\]"):
        ac.classifier_directions(G, clf, labels=("AU1",), num_samples=100)


def test_projection_inverts_once_and_does_not_depend_on_chunking(world: dict[str, Path], tmp_path: Path) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, p in enumerate(sorted((world["ckplus"] / "cohn-kanade-images").rglob("*00000002.png"))[:8]):
        (imgs / f"f{i}.png").write_bytes(p.read_bytes())
    (tmp_path / "l.csv").write_text("filename,smile\n" + "".join(f"f{i}.png,{i % 2}\n" for i in range(8)))

    def config(out: str, batch_size: int) -> ac.TrainClassifierConfig:
        return ac.TrainClassifierConfig(outdir=str(tmp_path / out), source="csv", labels=str(tmp_path / "l.csv"),
                                        images=str(imgs), project=True, generator=str(world["G"]), steps=3,
                                        input_mode="wplus_mean", hidden=(), epochs=5, batch_size=batch_size)

    a, b = ac.train_classifier_job(config("a", 8)), ac.train_classifier_job(config("b", 3))
    assert a.num_inverted == b.num_inverted == 8
    with np.load(tmp_path / "a" / ac.CACHE_NAME) as da, np.load(tmp_path / "b" / ac.CACHE_NAME) as db:
        assert da["ws"].shape == (8, 6, 8) and '"project"' in str(da["fingerprint"])
        np.testing.assert_allclose(da["ws"], db["ws"], atol=1e-6)  # row i draws from seed + i
        assert not np.allclose(da["ws"][:, 0], da["ws"][:, -1])  # W+: one w per layer
    assert ac.train_classifier_job(config("a", 8)).num_inverted == 0
    with pytest.raises(InputError, match="--model"):
        _config(world, tmp_path / "c", encoder=None, project=True)
