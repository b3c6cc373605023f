"""Database indexes: builders on small fake layouts, queries by protocol / group / identity / attribute, errors."""

import json
import sqlite3

import numpy as np
import PIL.Image
import pytest

from synthbio.errors import InputError
from synthbio.io.databases import (ImageSelection, build_database, open_database, parse_where, select_samples)
from synthbio.io.databases.multipie import (CENTER_CAMERAS, DEV_SUBJECTS, EVAL_SUBJECTS, MultiPieImage, parse_name,
                                            relative_path)



def _fake_ckplus(root):
    """Two subjects, three sequences; FACS and emotion for the first only (as in part of CK+)."""
    for subj, seq, n in (("S005", "001", 4), ("S010", "002", 3), ("S010", "006", 2)):
        for i in range(1, n + 1):
            _png(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{i:08d}.png")
    (root / "FACS/S005/001").mkdir(parents=True)
    (root / "FACS/S005/001/S005_001_00000004_facs.txt").write_text("9.0 0.0\n17.0 2.0\n")
    (root / "Emotion/S005/001").mkdir(parents=True)
    (root / "Emotion/S005/001/S005_001_00000004_emotion.txt").write_text("3.0\n")


def _png(path, value=0, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def _fake_multipie(root, subjects=(1, 2, 3)):
    """Every multiview name of a few subjects (sessions 1-4) for the cameras and shots the protocols use."""
    cams = ("05_1", "05_0", "14_0", "24_0", "19_1")
    made = []
    for subj in subjects:
        for sess, recs in ((1, (1, 2)), (2, (1, 2, 3)), (3, (1, 2, 3)), (4, (1, 2, 3))):
            for rec in recs:
                for cam in cams:
                    for shot in (0, 7, 12):
                        rel = relative_path(MultiPieImage(subj, sess, rec, cam, shot))
                        (root / rel).parent.mkdir(parents=True, exist_ok=True)
                        (root / rel).write_bytes(b"")  # indexing reads names only
                        made.append(rel)
    return made


def test_multipie_names_round_trip():
    img = parse_name("241_03_02_051_07")
    assert (img.subject, img.session, img.recording, img.camera, img.shot) == (241, 3, 2, "05_1", 7)
    assert img.expression == "smile"
    assert relative_path(img) == "session03/multiview/241/02/05_1/241_03_02_051_07.png"
    for bad in ("241_03_02_05_07", "241_03_02_999_07", "x"):
        with pytest.raises(InputError):
            parse_name(bad)


def test_multipie_protocols(tmp_path):
    # subject 2 is a dev subject, 3 an eval subject, 1 a train ("world") subject in bob's split
    assert 2 in DEV_SUBJECTS and 3 in EVAL_SUBJECTS and 1 not in DEV_SUBJECTS | EVAL_SUBJECTS
    _fake_multipie(tmp_path / "mp")
    build_database("multipie", tmp_path / "mp").write(tmp_path / "mp.sqlite")
    with open_database(tmp_path / "mp.sqlite") as db:
        assert {"U", "E_lit", "P_center_lit", "M", "P"} <= set(db.protocols())
        # P_center_lit dev probes: sessions 2-4 recording 1 (+ session 4 recording 2), centre cameras, shot 7.
        probes = db.samples(protocol="P_center_lit", group="dev/probe")
        assert probes and all(s.identity == "002" for s in probes)
        assert all(s.attributes["shot"] == 7 and s.attributes["camera"] in CENTER_CAMERAS for s in probes)
        assert {s.attributes["camera"] for s in probes} == {"05_1", "05_0", "14_0"}  # 24_0, 19_1 are not central
        assert all(s.attributes["expression"] == "neutral" for s in probes)
        assert len(probes) == 3 * 4  # (s2 r1, s3 r1, s4 r1, s4 r2) x 3 cameras
        enroll = db.samples(protocol="P_center_lit", group="dev", purpose="enroll")
        assert [s.key for s in enroll] == ["002_01_01_051_07"]
        # E_lit probes: every recording of sessions 2-4 on 05_1 under shot 7, all expressions.
        e = db.samples(protocol="E_lit", group="eval/probe")
        assert {s.attributes["expression"] for s in e} == {"neutral", "smile", "surprise", "squint", "disgust",
                                                         "scream"}
        assert all(s.attributes["camera"] == "05_1" and s.attributes["lit"] == 1 for s in e)
        # U: probes under every flash, enroll without flash.
        u = db.samples(protocol="U", group="dev/probe")
        assert {s.attributes["shot"] for s in u} == {0, 7, 12}
        assert {s.attributes["shot"] for s in db.samples(protocol="U", group="dev/enroll")} == {0}
        # train ("world") holds only the train subject; the alias works.
        world = db.samples(protocol="P", group="world")
        assert world and {s.identity for s in world} == {"001"}
        assert db.samples(protocol="P", group="train") == world
        # attribute queries, alone and combined with a group
        yaw = db.samples(where={"yaw": 90})
        assert yaw and {s.attributes["camera"] for s in yaw} == {"24_0"}
        assert db.samples(protocol="U", group="dev", where={"shot": 12}) == [
            s for s in u if s.attributes["shot"] == 12]
        assert db.samples(identity="003", where={"camera": "19_1", "session": 1, "shot": 0})[0].attributes["elevated"] == 1
        # identity indices number the sorted identities
        assert sorted({s.identity_index for s in db.samples()}) == [0, 1, 2]


def test_imagefolder_and_selection(tmp_path):
    for ident in ("alice", "bob"):
        for i in range(3):
            _png(tmp_path / "faces" / ident / f"{i}.png", value=i)
    content = build_database("imagefolder", tmp_path / "faces")
    content.write(tmp_path / "f.sqlite")
    with open_database(tmp_path / "f.sqlite") as db:
        assert db.num_samples() == 6 and db.identities() == ["alice", "bob"]
        assert [s.key for s in db.samples(protocol="enroll-probe", group="eval/enroll")] == ["alice/0", "bob/0"]
        assert len(db.samples(protocol="enroll-probe", group="eval/probe")) == 4
        assert [s.key for s in db.samples(identity="bob")] == ["bob/0", "bob/1", "bob/2"]
    # The same selection through an index and through the folder itself.
    via_index = select_samples(ImageSelection(str(tmp_path / "f.sqlite"), protocol="enroll-probe", group="eval/probe"))
    via_folder = select_samples(ImageSelection(str(tmp_path / "faces"), protocol="enroll-probe", group="eval/probe"))
    assert [(s.key, s.file, s.identity) for s in via_index] == [(s.key, s.file, s.identity) for s in via_folder]
    one = select_samples(ImageSelection(str(tmp_path / "faces" / "bob" / "1.png")))
    assert len(one) == 1 and one[0].file.name == "1.png"


def test_moved_root_and_missing_files(tmp_path):
    for i in range(2):
        _png(tmp_path / "a" / "x" / f"{i}.png")
    build_database("imagefolder", tmp_path / "a").write(tmp_path / "db.sqlite")
    (tmp_path / "a").rename(tmp_path / "b")
    with pytest.raises(InputError, match=r"2 of 2 sample files are missing.*pass the root"):
        select_samples(ImageSelection(str(tmp_path / "db.sqlite")))
    moved = select_samples(ImageSelection(str(tmp_path / "db.sqlite"), root=str(tmp_path / "b")))
    assert all(s.file.is_file() for s in moved)


def test_csv_builder(tmp_path):
    for i in range(4):
        _png(tmp_path / "img" / f"{i}.png")
    (tmp_path / "meta.csv").write_text(
        "path,identity,age,smile,protocol,group\n"
        "img/0.png,p1,30,0.5,exp,train\nimg/1.png,p1,31,,exp,dev/probe\n"
        "img/2.png,p2,40,1,exp,dev/enroll\nimg/3.png,p2,41,0,,\n")
    build_database("csv", tmp_path, metadata=tmp_path / "meta.csv").write(tmp_path / "c.sqlite")
    with open_database(tmp_path / "c.sqlite") as db:
        s = db.sample("img/1")
        assert s.identity == "p1" and s.attributes == {"age": 31}  # empty cells are absent, numbers are numbers
        assert [x.key for x in db.samples(protocol="exp", group="dev")] == ["img/1", "img/2"]
        assert [x.key for x in db.samples(protocol="exp", group="dev/enroll")] == ["img/2"]
        assert [x.key for x in db.samples(where={"smile": 1})] == ["img/2"]
    (tmp_path / "bad.csv").write_text("file,identity\na.png,1\n")
    with pytest.raises(InputError, match="needs a 'path' or 'filename' column"):
        build_database("csv", tmp_path, metadata=tmp_path / "bad.csv")


def test_ffhq_builder_with_metadata(tmp_path):
    root = tmp_path / "ffhq"
    for i in range(3):
        _png(root / "images1024x1024" / "00000" / f"{i:05d}.png")
    (root / "ffhq-dataset-v2.json").write_text(json.dumps({
        "0": {"category": "training", "metadata": {"license": "CC"}},
        "1": {"category": "training", "metadata": {}},
        "2": {"category": "validation", "metadata": {}}}))
    build_database("ffhq", root).write(tmp_path / "ffhq.sqlite")
    with open_database(tmp_path / "ffhq.sqlite") as db:
        assert [s.key for s in db.samples(protocol="default", group="train")] == ["00000", "00001"]
        assert [s.key for s in db.samples(protocol="default", group="dev")] == ["00002"]
        assert db.sample("00000").attributes == {"category": "training", "meta.license": "CC"}
    feats = tmp_path / "features"
    feats.mkdir()
    (feats / "00001.json").write_text(json.dumps([{"faceAttributes": {"age": 33.0, "gender": "female",
                                                                      "headPose": {"yaw": -12.5}}}]))
    build_database("ffhq", root, metadata=feats).write(tmp_path / "ffhq2.sqlite")
    with open_database(tmp_path / "ffhq2.sqlite") as db:
        assert db.sample("00001").attributes == {"age": 33.0, "gender": "female", "headPose.yaw": -12.5}
        assert [s.key for s in db.samples(where={"gender": "female"})] == ["00001"]


def test_ckplus_builder(tmp_path):
    _fake_ckplus(tmp_path / "ck")
    build_database("ckplus", tmp_path / "ck").write(tmp_path / "ck.sqlite")
    with open_database(tmp_path / "ck.sqlite") as db:
        peaks = db.samples(protocol="peak", group="all")
        assert len(peaks) == 3 and all(s.attributes["frame"] == "peak" for s in peaks)
        p = db.sample("cohn-kanade-images/S005/001/S005_001_00000004")
        assert p.identity == "S005" and p.attributes["emotion"] == "disgust" and p.attributes["AU17"] == 1
        onset = db.sample("cohn-kanade-images/S005/001/S005_001_00000001")
        assert onset.attributes["emotion"] == "neutral" and onset.attributes["AU17"] == 0


def test_lfw_pairs(tmp_path):
    root = tmp_path / "lfw"
    for name, n in (("Ann_A", 2), ("Bo_B", 1), ("Cy_C", 2)):
        for i in range(1, n + 1):
            _png(root / name / f"{name}_{i:04d}.jpg")
    (root / "pairs.txt").write_text("2\t1\nAnn_A\t1\t2\nAnn_A\t1\tBo_B\t1\nCy_C\t1\t2\nBo_B\t1\tCy_C\t2\n")
    build_database("lfw", root).write(tmp_path / "lfw.sqlite")
    with open_database(tmp_path / "lfw.sqlite") as db:
        assert db.protocols() == ["default", "enroll-probe", "view2"]
        fold1 = db.pairs(protocol="view2", group="fold01")
        assert [(p.enroll.key, p.probe.key, p.genuine) for p in fold1] == [
            ("Ann_A/Ann_A_0001", "Ann_A/Ann_A_0002", True), ("Ann_A/Ann_A_0001", "Bo_B/Bo_B_0001", False)]
        assert len(db.pairs(protocol="view2")) == 4
    (root / "pairs.txt").write_text("1\t1\nAnn_A\t1\t9\nAnn_A\t1\tBo_B\t1\n")
    with pytest.raises(InputError, match="no image Ann_A/Ann_A_0009"):
        build_database("lfw", root)


def test_fvc_builder(tmp_path):
    for f in (1, 2, 3):
        for i in (1, 2, 3):
            _png(tmp_path / "db1" / f"{f}_{i}.png")
    build_database("fvc", tmp_path / "db1").write(tmp_path / "fvc.sqlite")
    with open_database(tmp_path / "fvc.sqlite") as db:
        pairs = db.pairs(protocol="fvc")
        assert sum(p.genuine for p in pairs) == 3 * 3  # C(3,2) per finger
        assert sum(not p.genuine for p in pairs) == 3  # first impressions of fingers f < g
        assert all(p.enroll.identity == p.probe.identity for p in pairs if p.genuine)
        assert db.sample("2_3").attributes == {"finger": 2, "impression": 3}


def test_bad_indexes_and_queries(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_database(tmp_path / "none.sqlite")
    (tmp_path / "junk.sqlite").write_text("not a database")
    with pytest.raises(InputError, match="not an SQLite file"):
        open_database(tmp_path / "junk.sqlite")
    con = sqlite3.connect(tmp_path / "other.sqlite")
    con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="not a synthbio database index"):
        open_database(tmp_path / "other.sqlite")
    with pytest.raises(InputError, match="unknown database kind 'mpie'"):
        build_database("mpie", tmp_path)
    _png(tmp_path / "f" / "a" / "0.png")
    build_database("imagefolder", tmp_path / "f").write(tmp_path / "ok.sqlite")
    with open_database(tmp_path / "ok.sqlite") as db:
        with pytest.raises(InputError, match="no protocol 'U'; protocols: default$"):
            db.samples(protocol="U")
        with pytest.raises(InputError, match="no group 'dev'; groups: all"):
            db.samples(protocol="default", group="dev")
        with pytest.raises(InputError, match="needs a protocol"):
            db.samples(group="all")
        with pytest.raises(InputError, match="defines no pairs"):
            db.pairs(protocol="default")
    with pytest.raises(InputError, match="no samples in"):
        select_samples(ImageSelection(str(tmp_path / "ok.sqlite"), where={"camera": "05_1"}))
    with pytest.raises(InputError, match="not NAME=VALUE"):
        parse_where(["camera"])
    assert parse_where(["camera=05_1", "shot=7", "yaw=-1.5"]) == {"camera": "05_1", "shot": 7, "yaw": -1.5}
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        build_database("imagefolder", tmp_path / "empty")


def test_select_many(tmp_path):
    from synthbio.io.databases import select_many

    for ident in ("a", "b"):
        for i in range(2):
            _png(tmp_path / "faces" / ident / f"{i}.png")
    _png(tmp_path / "single.png")
    build_database("imagefolder", tmp_path / "faces").write(tmp_path / "db.sqlite")
    got = select_many([str(tmp_path / "single.png"), str(tmp_path / "db.sqlite")], protocol="enroll-probe",
                      group="eval/probe")
    assert [s.file.name for s in got] == ["single.png", "1.png", "1.png"]
    with pytest.raises(InputError, match="select from a database index or a folder"):
        select_many([str(tmp_path / "single.png")], protocol="default")
    with pytest.raises(InputError, match="does not exist"):
        select_many([str(tmp_path / "nope")])
