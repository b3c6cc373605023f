import numpy as np
import PIL.Image
import pytest

from synthbio.errors import InputError
from synthbio.io.labels import ckplus_au_matrix, load_ckplus, read_label_csv


def _write_frames(folder, stem, n):
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        PIL.Image.fromarray(np.full((6, 5), 10 * i, np.uint8), "L").save(folder / f"{stem}_{i:08d}.png")
    return f"{stem}_{n:08d}"


def _fake_ckplus(root):
    """Two subjects, three sequences; labels only where CK+ would have them."""
    peaks = {}
    for subj, seq, n in [("S005", "001", 4), ("S010", "002", 3), ("S010", "006", 2)]:
        peaks[(subj, seq)] = _write_frames(root / "cohn-kanade-images" / subj / seq, f"{subj}_{seq}", n)
    p = peaks[("S005", "001")]
    (root / "FACS/S005/001").mkdir(parents=True)
    (root / "FACS/S005/001" / f"{p}_facs.txt").write_text(
        "   9.0000000e+00   0.0000000e+00\n   1.7000000e+01   2.0000000e+00\n\n")
    (root / "Emotion/S005/001").mkdir(parents=True)
    (root / "Emotion/S005/001" / f"{p}_emotion.txt").write_text("   3.0000000e+00\n")
    (root / "Landmarks/S005/001").mkdir(parents=True)
    pts = np.stack([np.arange(68) * 2.5, 100 - np.arange(68)], axis=1)
    (root / "Landmarks/S005/001" / f"{p}_landmarks.txt").write_text(
        "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in pts))
    # Landmarks of a non-peak frame must not be taken for the peak.
    (root / "Landmarks/S005/001" / "S005_001_00000001_landmarks.txt").write_text("1 2\n" * 68)
    q = peaks[("S010", "002")]
    (root / "FACS/S010/002").mkdir(parents=True)
    (root / "FACS/S010/002" / f"{q}_facs.txt").write_text("   1.0000000e+00   3.0000000e+00\n   9.0 1.0\n")
    return pts


def test_load_fake_ckplus(tmp_path):
    pts = _fake_ckplus(tmp_path)
    seqs = load_ckplus(tmp_path)
    assert [(s.subject, s.sequence, len(s.frames)) for s in seqs] == [("S005", "001", 4), ("S010", "002", 3),
                                                                       ("S010", "006", 2)]
    s = seqs[0]
    assert s.peak.name == "S005_001_00000004.png"
    assert s.facs == {9: 0.0, 17: 2.0} and s.emotion == 3 and s.emotion_name == "disgust"
    np.testing.assert_allclose(s.landmarks, pts, rtol=1e-6)
    assert s.landmarks.shape == (68, 2) and s.landmarks.dtype == np.float32
    assert seqs[1].facs == {1: 3.0, 9: 1.0} and seqs[1].emotion is None and seqs[1].landmarks is None
    assert seqs[2].facs == {}
    aus, m = ckplus_au_matrix([q for q in seqs if q.facs])
    assert aus == [1, 9, 17]
    np.testing.assert_array_equal(m, [[0, 1, 1], [1, 1, 0]])


def test_ckplus_bad_files(tmp_path):
    _fake_ckplus(tmp_path)
    emo = next((tmp_path / "Emotion/S005/001").glob("*.txt"))
    emo.write_text("   9.0000000e+00\n")
    with pytest.raises(InputError, match="emotion 9.0 is not an integer code 0-7"):
        load_ckplus(tmp_path)
    emo.write_text("3.0\n")
    lm = next((tmp_path / "Landmarks/S005/001").glob("*00000004_landmarks.txt"))
    lm.write_text("1 2\n" * 67)
    with pytest.raises(InputError, match="expected 68 landmark rows"):
        load_ckplus(tmp_path)
    lm.write_text("1 x\n" * 68)
    with pytest.raises(InputError, match="not numbers"):
        load_ckplus(tmp_path)
    with pytest.raises(InputError, match="not a CK\\+ root"):
        load_ckplus(tmp_path / "FACS")


def test_read_label_csv(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("filename,smile,age\nseed0000.png,1,31.5\nseed0001.png,0,\n\nseed0002.png,1,40\n")
    t = read_label_csv(p)
    assert t.keys == ["seed0000.png", "seed0001.png", "seed0002.png"] and t.names == ["smile", "age"]
    np.testing.assert_array_equal(t.column("smile"), [1, 0, 1])
    assert np.isnan(t.column("age")[1])
    assert read_label_csv(p, columns=["age"]).names == ["age"]
    with pytest.raises(InputError, match="no label column 'gender'"):
        t.column("gender")


@pytest.mark.parametrize("text,msg", [
    ("name,smile\na,1\n", "no 'filename' column"),
    ("filename,smile\na,yes\n", "line 2: smile='yes' is not a number"),
    ("filename,smile\na,1,2\n", "3 fields"),
    ("filename,smile\na,1\na,0\n", "more than once"),
    ("", "empty"),
])
def test_read_label_csv_errors(tmp_path, text, msg):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=msg):
        read_label_csv(p)
