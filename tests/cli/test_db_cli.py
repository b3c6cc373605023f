"""`synthbio db build|info|samples|list` as a user runs them, and the shared database flags of other commands."""

import json

import numpy as np
import PIL.Image

from synthbio.io.databases.multipie import MultiPieImage, relative_path


def _fake_multipie(root):
    for subj in (1, 2):
        for sess, rec in ((1, 1), (2, 1), (3, 2)):
            for cam in ("05_1", "14_0"):
                for shot in (0, 7):
                    p = root / relative_path(MultiPieImage(subj, sess, rec, cam, shot))
                    p.parent.mkdir(parents=True, exist_ok=True)
                    PIL.Image.fromarray(np.full((8, 8, 3), 30 * shot, np.uint8)).save(p)


def test_db_build_info_samples(tmp_path, run_cli):
    _fake_multipie(tmp_path / "mp")
    index = tmp_path / "mp.sqlite"
    code, out, err = run_cli("db", "build", "multipie", str(tmp_path / "mp"), "-o", str(index))
    assert code == 0, err
    assert "multipie database, 24 samples, 2 identities" in out and "protocol P_center_lit:" in out
    code, out, err = run_cli("db", "build", "multipie", str(tmp_path / "mp"), "-o", str(index))
    assert code == 2 and "exists; use --overwrite" in err
    code, out, _ = run_cli("db", "info", str(index), "--json")
    info = json.loads(out)
    assert info["samples"] == 24 and info["protocols"]["P_center_lit"]["dev/probe"] == 2  # subject 2: session 2 recording 1, 2 cameras, shot 7
    code, out, _ = run_cli("db", "samples", str(index), "--protocol", "P_center_lit", "--group", "dev/probe",
                           "--where", "camera=14_0", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["key"] for r in rows] == ["002_02_01_140_07"] and rows[0]["attributes"]["yaw"] == -15
    code, out, _ = run_cli("db", "list")
    assert code == 0 and "multipie" in out and "fvc" in out


def test_db_errors_are_one_line(tmp_path, run_cli):
    code, _, err = run_cli("db", "info", str(tmp_path / "none.sqlite"))
    assert code == 2 and "does not exist (build one with `synthbio db build`)" in err and "Traceback" not in err
    (tmp_path / "bad.sqlite").write_text("x")
    code, _, err = run_cli("db", "info", str(tmp_path / "bad.sqlite"))
    assert code == 2 and "not an SQLite file" in err
    code, _, err = run_cli("db", "build", "mpie", str(tmp_path), "-o", str(tmp_path / "x.sqlite"))
    assert code == 2 and "unknown database kind 'mpie'" in err
    _fake_multipie(tmp_path / "mp")
    run_cli("db", "build", "multipie", str(tmp_path / "mp"), "-o", str(tmp_path / "mp.sqlite"))
    code, _, err = run_cli("db", "samples", str(tmp_path / "mp.sqlite"), "--protocol", "Q")
    assert code == 2 and "no protocol 'Q'" in err
    code, _, err = run_cli("db", "samples", str(tmp_path / "mp.sqlite"), "--protocol", "U", "--group", "dev/enrol")
    assert code == 2 and "must be 'enroll' or 'probe'" in err


def test_real_image_commands_take_a_database(tmp_path, run_cli):
    """project, faces embed: the same --protocol / --group / --where flags select from an index or a folder."""
    _fake_multipie(tmp_path / "mp")
    index = str(tmp_path / "mp.sqlite")
    run_cli("db", "build", "multipie", str(tmp_path / "mp"), "-o", index)
    code, out, err = run_cli("project", index, "--protocol", "E_lit", "--group", "dev/probe", "--model", "m",
                             "-o", str(tmp_path / "p"), "--dry-run")
    assert code == 0, err
    targets = json.loads(out)["targets"]
    assert [t.rsplit("/", 1)[1] for t in targets] == ["002_02_01_051_07.png", "002_03_02_051_07.png"]
    code, out, err = run_cli("faces", "embed", index, "--protocol", "U", "--group", "dev", "--where", "shot=7",
                             "--aligned", "-m", "pixel-random", "-o", str(tmp_path / "e.json"))
    assert code == 0, err
    emb = json.loads((tmp_path / "e.json").read_text())
    assert emb["identities"] == ["002"] and len(emb["embeddings"]) == 1  # the probe of session 2 under flash 7
    # a folder works the same way (ImageFolder protocols), and a missing group is one clear line
    code, _, err = run_cli("project", str(tmp_path / "mp"), "--protocol", "default", "--group", "dev", "--model",
                           "m", "-o", str(tmp_path / "q"), "--dry-run")
    assert code == 2 and "has no group 'dev'; groups: all" in err
    code, _, err = run_cli("project", str(tmp_path / "mp" / "x.png"), "--protocol", "U", "--model", "m",
                           "-o", str(tmp_path / "q"), "--dry-run")
    assert code == 2 and "does not exist" in err
    # dataset generate: the privacy reference is selected the same way (seen in the resolved config)
    code, out, err = run_cli("dataset", "generate", "-o", str(tmp_path / "ds"), "--identities", "2", "--model", "G",
                             "--privacy-reference", index, "--protocol", "U", "--group", "dev", "--where", "shot=7",
                             "--dry-run")
    assert code == 0, err
    cfg = json.loads(out)
    cfg = cfg.get("config", cfg)
    assert (cfg["privacy_protocol"], cfg["privacy_group"], cfg["privacy_where"]) == ("U", "dev", ["shot=7"])
    code, _, err = run_cli("dataset", "generate", "-o", str(tmp_path / "ds"), "--identities", "2", "--model", "G",
                           "--protocol", "U",
                           "--dry-run")
    assert code == 2 and "give it" in err
