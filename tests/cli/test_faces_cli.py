"""`synthbio faces detect|crop|embed|compare` on the astronaut photo (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest

dlib = pytest.importorskip("dlib", reason="dlib is not importable (pip install dlib-bin, in the 'faces' extra)")
skdata = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("faces")
    img = skdata.astronaut()
    Image.fromarray(img).save(d / "astro.png")
    Image.fromarray(np.ascontiguousarray(img[:, ::-1])).save(d / "flip.png")
    Image.fromarray(skdata.chelsea()).save(d / "cat.png")
    return d


def test_detect_json(run_cli, photos) -> None:
    code, out, _ = run_cli("faces", "detect", "--json", str(photos / "astro.png"))
    assert code == 0
    rec = json.loads(out.splitlines()[0])
    assert rec["faces"][0]["box"] == [175, 76, 265, 166]
    assert len(rec["faces"][0]["landmarks"]) == 5


def test_crop_styles(run_cli, photos, tmp_path) -> None:
    from PIL import Image

    for style, size, expect in (("arcface", None, 112), ("dlib", None, 150), ("ffhq", 128, 128)):
        out = tmp_path / f"{style}.png"
        args = ["faces", "crop", str(photos / "astro.png"), "--out", str(out), "--style", style]
        code, _, err = run_cli(*args, *(["--size", str(size)] if size else []))
        assert code == 0, err
        with Image.open(out) as im:
            assert im.size == (expect, expect) and im.mode == "RGB"


def test_embed_and_compare(run_cli, photos, tmp_path) -> None:
    out = tmp_path / "e.json"
    code, _, err = run_cli("faces", "embed", str(photos / "astro.png"), "--out", str(out))
    assert code == 0, err
    rec = json.loads(out.read_text())
    assert rec["model"] == "dlib-resnet" and np.asarray(rec["embeddings"]).shape == (1, 128)
    code, text, err = run_cli("faces", "compare", str(photos / "astro.png"), str(photos / "flip.png"), "--json")
    assert code == 0, err
    res = json.loads(text)
    assert res["same_identity"] is True and res["euclidean"] < 0.6  # dlib's own rule agrees
    assert abs(np.cos(res["angle_rad"]) - res["cosine"]) < 1e-5
    # generated (already aligned) faces: no detector, .npy output
    npy = tmp_path / "e.npy"
    code, _, err = run_cli("faces", "embed", str(photos / "astro.png"), "--aligned", "-m", "pixel-random", "--out", str(npy))
    assert code == 0, err
    assert np.load(npy).shape == (1, 128)


def test_errors_exit_2(run_cli, photos, tmp_path) -> None:
    code, _, err = run_cli("faces", "compare", str(photos / "astro.png"), str(tmp_path / "nope.png"))
    assert code == 2 and "nope.png" in err
    code, _, err = run_cli("faces", "crop", str(photos / "cat.png"), "--out", str(tmp_path / "c.png"), "--upsample", "0")
    assert code == 2 and "no face" in err
    code, _, err = run_cli("faces", "crop", str(photos / "astro.png"), "--out", str(tmp_path / "c.png"), "--style", "square")
    assert code == 2 and "square" in err
    code, _, err = run_cli("faces", "embed", str(photos / "astro.png"), "--out", str(tmp_path / "e.txt"))
    assert code == 2 and "e.txt" in err
    code, _, err = run_cli("faces", "compare", str(photos / "astro.png"), str(photos / "astro.png"), "-m", "nbis-bozorth3")
    assert code == 2 and "template" in err
    code, _, err = run_cli("faces", "compare", str(photos / "astro.png"), str(photos / "astro.png"), "-m", "arcface-r100")
    assert code == 2 and "weights" in err
