"""The template-inversion audit: finger selection, thresholds from impostors, protocol counts, files, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.checkpoints.encoders import save_encoder
from synthbio.checkpoints.native import save_generator
from synthbio.errors import InputError
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.nn.generator import Generator
from synthbio.pipelines.fingerprints import attack as A
from synthbio.pipelines.fingerprints.attack import (
    FingerprintAttackConfig,
    impostor_pairs,
    operating_point,
    run_attack,
    select_fingers,
    training_split,
)
from synthbio.pipelines.fingerprints.attack_data import parse_finger_range
from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset

# --- pure parts ---------------------------------------------------------------------------


def test_finger_ranges_and_splits() -> None:
    assert parse_finger_range("2:5") == (2, 5) and parse_finger_range(":3") == (None, 3)
    assert parse_finger_range("7:") == (7, None)
    for bad in ("5", "a:b", "5:2", "-1:3"):
        with pytest.raises(InputError, match="finger range"):
            parse_finger_range(bad)
    fingers = list(range(10))
    assert select_fingers(fingers, fingers="3:6", split=None) == [3, 4, 5]
    assert training_split({"provenance": {"train_fingers": "0:8"}}, source="e") == ("train", set(range(8)))
    assert training_split({"holdout_fingers": [8, 9]}, source="e") == ("holdout", {8, 9})
    split = training_split({"provenance": {"train_fingers": [0, 1, 2, 3, 4, 5, 6, 7]}}, source="e")
    assert select_fingers(fingers, fingers="5:", split=split) == [8, 9]
    with pytest.raises(InputError, match="records no finger split.*--fingers"):
        training_split({"provenance": {}}, source="enc")
    with pytest.raises(InputError, match="no finger of the dataset"):
        select_fingers(fingers, fingers="20:30", split=None)


def test_impostor_protocols() -> None:
    per = {0: [0, 1], 1: [0, 1], 2: [0, 1]}
    assert impostor_pairs(per, "fvc") == [((0, 0), (1, 0)), ((0, 0), (2, 0)), ((1, 0), (2, 0))]
    assert len(impostor_pairs(per, "all")) == 3 * 4


def test_thresholds_come_from_impostors_and_need_enough_of_them() -> None:
    impostor = np.arange(1000, dtype=np.float64)  # each score once: FMR(t) = #{imp >= t} / 1000
    scores = {"type1": np.array([998.5, 1200.0, 10.0]), "type2": np.array([999.0, 5.0])}
    op = operating_point(0.001, impostor, scores)
    # at most 1 of 1000 impostors may reach the threshold: 998.5 (the 999 impostor only)
    assert op["supported"] and op["threshold"] == 998.5 and op["observed_fmr"] == pytest.approx(0.001)
    assert op["type1_success"] == pytest.approx(2 / 3) and op["type2_success"] == 0.5
    op = operating_point(0.0001, impostor, scores)
    assert not op["supported"] and op["threshold"] is None and "needs at least 10000" in op["note"]
    op = operating_point(0.0, impostor, scores)  # no impostor accepted
    assert op["threshold"] == 1200.0 and op["type1_success"] == pytest.approx(1 / 3) and op["type2_success"] == 0
    assert not operating_point(0.001, impostor[:999], scores)["supported"]


# --- the whole job on a tiny dataset ------------------------------------------------------


def _tiny_models(res: int = 32) -> tuple[Encoder, Generator]:
    torch.manual_seed(0)  # weight init only
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=res, branches=(("img", 1),), channel_base=64,
                                  channel_max=8, mapping_layers=2)).eval()
    enc = Encoder(EncoderConfig(in_channels=3, resolution=res, num_ws=G.num_ws, w_dim=8, channels=(4, 4, 8, 8),
                                blocks=(1, 1, 1, 1), head_channels=8, offset_gain=1.0), w_avg=G.mapping.w_avg)
    return enc.eval(), G


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("attack")
    generate_dataset(FingerprintDatasetConfig(outdir=str(root / "ds"), fingers=4, impressions=3, width=256,
                                              height=320, seed=3), progress=False)
    enc, G = _tiny_models()
    gdir = save_generator(G, root / "G")
    edir = save_encoder(enc, root / "enc", task="minutiae", generator=str(gdir),
                        provenance={"train_fingers": "0:2"})
    return root / "ds", edir


@pytest.fixture(scope="module")
def first_run(setup: tuple[Path, Path]) -> tuple[FingerprintAttackConfig, A.AttackReport]:
    ds, edir = setup
    config = FingerprintAttackConfig(dataset=str(ds), method="encoder", encoder=str(edir), fingers="2:", device="cpu", batch_size=4,
                                     baseline="all")
    return config, run_attack(config, progress=False)


def test_protocol_counts_and_files(first_run: tuple[FingerprintAttackConfig, A.AttackReport]) -> None:
    config, rep = first_run
    out = config.out_dir
    r = json.loads(rep.results_json.read_text())
    assert r["attacked_finger_ids"] == [2, 3]
    # 2 fingers x 3 impressions: 6 type-I, 6 x 2 type-II; real baseline over all 4 fingers
    assert r["counts"] == {"impressions": 6, "type1": 6, "type2": 12, "genuine": 4 * 3, "impostor": 6}
    ops = {op["target_fmr"]: op for op in r["operating_points"]}
    assert not ops[0.001]["supported"] and not ops[0.0001]["supported"]  # 6 impostors cannot support them
    assert ops[0.0]["supported"] and ops[0.0]["threshold"] > max(
        json.loads((out / "cache" / "baseline.json").read_text())["impostor"])
    for name in ("index.html", "results.json", "config.json", "scores.png", "examples/00002_00.png",
                 "reconstructions/00003/02.png", "cache/fingers/00002.json"):
        assert (out / name).is_file(), name
    html = rep.html.read_text()
    assert "not evaluated" in html and "needs at least 1000" in html and 'src="scores.png"' in html
    assert json.loads((out / "config.json").read_text())["attacked_fingers"] == [2, 3]
    assert "not evaluated" in rep.summary_text()


def test_resume_uses_the_cache(first_run: tuple[FingerprintAttackConfig, A.AttackReport],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    config, rep = first_run

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finger was recomputed")

    monkeypatch.setattr(A, "_attack_group", boom)
    again = run_attack(config, progress=False)
    assert again.results["per_finger"] == rep.results["per_finger"]
    assert again.results["operating_points"] == rep.results["operating_points"]
    # a finger whose cache is lost (killed run) is redone, the others kept
    monkeypatch.undo()
    (config.out_dir / "cache" / "fingers" / "00003.json").unlink()
    calls: list[list[int]] = []
    real = A._attack_group

    def spy(config: FingerprintAttackConfig, fingers: list[int], *args: object) -> list:
        calls.append(list(fingers))
        return real(config, fingers, *args)

    monkeypatch.setattr(A, "_attack_group", spy)
    third = run_attack(config, progress=False)
    assert calls == [[3]] and third.results["per_finger"] == rep.results["per_finger"]


def test_deterministic_across_batch_sizes(setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          first_run: tuple[FingerprintAttackConfig, A.AttackReport]) -> None:
    ds, edir = setup
    monkeypatch.setattr(A, "_CHUNK", 4)  # several chunks, so the 2 worker processes really start
    config, rep = first_run
    other = FingerprintAttackConfig(dataset=str(ds), method="encoder", encoder=str(edir), fingers="2:4", device="cpu", batch_size=1,
                                    baseline="all", workers=2, outdir=str(tmp_path / "b"))
    rep2 = run_attack(other, progress=False)
    assert rep2.results["per_finger"] == rep.results["per_finger"]  # 1 sample per pass, Bozorth3 in 2 processes
    assert rep2.results["operating_points"] == rep.results["operating_points"]
    a = (config.out_dir / "reconstructions" / "00002" / "01.png").read_bytes()
    assert (tmp_path / "b" / "reconstructions" / "00002" / "01.png").read_bytes() == a


def test_mindtct_source_all_impostors_and_training_split(setup: tuple[Path, Path], tmp_path: Path) -> None:
    ds, edir = setup
    config = FingerprintAttackConfig(dataset=str(ds), method="encoder", encoder=str(edir), exclude_training=str(edir), device="cpu",
                                     template_source="mindtct", impostors="all", outdir=str(tmp_path / "m"),
                                     examples=0)
    r = run_attack(config, progress=False).results
    assert r["attacked_finger_ids"] == [2, 3]  # the encoder trained on 0:2
    # baseline over the attacked fingers 2 and 3 only: 3 x 3 impostor pairs, 2 x 3 genuine pairs
    assert r["counts"]["impostor"] == 9 and r["counts"]["genuine"] == 6 and r["counts"]["type2"] == 12
    assert r["minutiae"]["source"] == r["minutiae"]["real"]  # templates are the real impressions' MINDTCT
    assert not (tmp_path / "m" / "examples").exists()


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="template-source"):
        FingerprintAttackConfig(dataset="d", template_source="leader")
    with pytest.raises(InputError, match="impostors"):
        FingerprintAttackConfig(dataset="d", impostors="some")
    with pytest.raises(InputError, match="baseline"):
        FingerprintAttackConfig(dataset="d", baseline="training")
    with pytest.raises(InputError, match="--fingers"):  # ids and ranges as --seeds spells them: 0-9,20 or 900-
        FingerprintAttackConfig(dataset="d", fingers="x")
    with pytest.raises(InputError, match="--fingers"):
        FingerprintAttackConfig(dataset="d", fingers="9-3")


def test_gabor_method_reconstructs_identity(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """Ridge growth needs no model; its reconstructions beat every real impostor score, the random encoder's do not."""
    ds, _ = setup
    config = FingerprintAttackConfig(dataset=str(ds), fingers="0:4", template_source="mindtct", baseline="all",
                                     impostors="all", outdir=str(tmp_path / "g"), examples=1)
    rep = run_attack(config, progress=False)
    r = rep.results
    assert r["method"] == "gabor" and r["encoder"] is None and r["reconstruction_settings"]["ridge_period_px"] > 0
    strict = next(op for op in r["operating_points"] if op["target_fmr"] == 0.0)  # above every impostor score
    assert strict["supported"] and strict["type1_success"] >= 0.9, strict
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    assert cfg["reconstructor"]["method"] == "gabor" and "method" in rep.html.read_text()
    # the cache key names the method: an encoder run in the same folder redoes every finger
    calls: list[int] = []
    real = A._attack_group

    def spy(config: FingerprintAttackConfig, fingers: list[int], *args: object) -> list:
        calls.extend(fingers)
        return real(config, fingers, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "_attack_group", spy)
        run_attack(FingerprintAttackConfig(dataset=str(ds), fingers="0:4", template_source="mindtct",
                                           method="encoder", encoder=str(setup[1]), device="cpu",
                                           outdir=str(tmp_path / "g"), examples=0), progress=False)
    assert sorted(calls) == [0, 1, 2, 3]


def test_unknown_method() -> None:
    with pytest.raises(InputError, match="unknown reconstruction method 'gan'"):
        FingerprintAttackConfig(dataset="d", method="gan")


def test_type1_ceiling_is_the_template_itself(first_run: tuple[FingerprintAttackConfig, A.AttackReport]) -> None:
    """With MINDTCT templates, the ceiling pairs are a template against itself: accepted at every threshold."""
    config, _ = first_run
    ds = Path(config.dataset)
    r = run_attack(FingerprintAttackConfig(dataset=str(ds), fingers="0:4", template_source="mindtct",
                                           baseline="all", outdir=str(ds / "ceiling"), examples=0),
                   progress=False).results
    strict = next(op for op in r["operating_points"] if op["target_fmr"] == 0.0)
    assert strict["source_success"] == 1.0  # no impostor of these prints scores like a self-match
    assert strict["type1_success"] <= strict["source_success"]


# --- issue #13: uneven fingers, the split train-encoder really records ----------------------


def _uneven(ds: Path, out: Path, counts: dict[int, int]) -> Path:
    """A copy of the dataset whose manifest keeps only the first counts[f] impressions of finger f."""
    import shutil

    from synthbio.io.manifest import read_manifest, rewrite_manifest

    shutil.copytree(ds, out)
    records = read_manifest(out / "manifest.jsonl").records
    for rec in records:
        rec["impressions"] = rec["impressions"][: counts.get(rec["finger"], len(rec["impressions"]))]
    rewrite_manifest(out / "manifest.jsonl", records)
    return out


@pytest.mark.parametrize("counts", [{2: 3, 3: 1}, {2: 1, 3: 3}], ids=["short-finger-last", "short-finger-first"])
def test_fingers_with_different_impression_counts(setup: tuple[Path, Path], tmp_path: Path,
                                                  counts: dict[int, int]) -> None:
    """Each finger keeps its own impressions (a stale loop variable gave every finger the last one's)."""
    ds, edir = setup
    data = _uneven(ds, tmp_path / "uneven", counts)
    config = FingerprintAttackConfig(dataset=str(data), method="encoder", encoder=str(edir), fingers="2:",
                                     device="cpu", batch_size=8, outdir=str(tmp_path / "a"), examples=0)
    r = run_attack(config, progress=False).results
    assert r["counts"]["impressions"] == 4 and r["counts"]["type1"] == 4 and r["counts"]["type2"] == 6
    per_finger = {p["finger"]: len(p["type1"]) for p in r["per_finger"]}
    assert per_finger == counts
    strict = next(op for op in r["operating_points"] if op["target_fmr"] == 0.0)
    assert strict["type2_any_n"] == 3  # the one-impression finger has no type-II comparison: not a failure


def test_exclude_training_reads_the_split_train_encoder_writes(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """The README's `attack --method encoder --exclude-training ENC/latest` with an encoder `train-encoder` made."""
    from synthbio.inversion.encoder_training import EncoderTrainConfig, train_encoder

    ds, edir = setup
    generator = edir.parent / "G"
    latest = train_encoder(EncoderTrainConfig(generator=str(generator), outdir=str(tmp_path / "menc"),
                                              task="minutiae", data=str(ds), holdout_fingers=2, batch=2, images=2,
                                              snapshot_images=2, channels=(4, 4, 8, 8), blocks=(1, 1, 1, 1),
                                              head_channels=8, device="cpu"))
    config = FingerprintAttackConfig(dataset=str(ds), method="encoder", encoder=str(latest),
                                     exclude_training=str(latest), device="cpu", outdir=str(tmp_path / "a"),
                                     examples=0)
    r = run_attack(config, progress=False).results
    assert r["attacked_finger_ids"] == [2, 3] and r["split"] == {"kind": "train", "fingers": 2}
    assert training_split(json.loads((latest / "config.json").read_text()), source="e") == ("train", {0, 1})
