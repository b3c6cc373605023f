"""The translation page's API: translators found under the served folders, what it draws equals `translate apply`."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="starlette's test client needs httpx2 (test extra)")

from starlette.testclient import TestClient  # noqa: E402

from synthbio.io.images import encode_png, read_png  # noqa: E402
from synthbio.pipelines.translation.apply import TranslateConfig, translate_folder  # noqa: E402
from synthbio.web.app import create_app  # noqa: E402
from synthbio.web.config import ServeConfig  # noqa: E402

URL = "/api/tools/translate"
PRINT = "fingerprints/00000/00.png"  # under the served folder demo_out


def _png(data_url: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def _digest(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def client(web_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    before = _digest(web_root)
    app = create_app(ServeConfig(roots=(str(web_root),), cache_dir=str(tmp_path_factory.mktemp("tcache"))))
    yield TestClient(app, base_url="http://127.0.0.1:8000")
    assert _digest(web_root) == before, "the translation page changed a served folder"


def test_the_page_is_listed_and_finds_the_translator(client: TestClient) -> None:
    tools = {t["name"]: t for t in client.get("/api/tools").json()["tools"]}
    assert tools["translate"]["accepts"] == "image" and tools["translate"]["route"] == URL
    found = client.get(f"{URL}/models").json()["translators"]
    assert found == [{"ref": "demo_out/translator/latest", "domains": {"a": "grey", "b": "colour"},
                      "channels": {"a": 1, "b": 3}}]


def test_upload_and_pick_give_what_translate_apply_writes(client: TestClient, web_root: Path, tmp_path: Path) -> None:
    params = {"model": "demo_out/translator", "direction": "a2b", "styles": 2, "style_seed": 5}
    upload = (web_root / PRINT).read_bytes()
    r = client.post(URL, params=params, content=upload, headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["model"] == "demo_out/translator/latest" and d["domains"] == {"source": "grey", "target": "colour"}
    assert d["style_seeds"] == [5, 6] and (d["height"], d["width"]) == (224, 192)
    assert np.array_equal(_png(d["source"]), read_png(web_root / PRINT))
    out = tmp_path / "applied"
    translate_folder(TranslateConfig(input=str(web_root / PRINT), model=str(web_root / "translator"), outdir=str(out),
                                     styles=2, style_seed=5, device="cpu"))
    for k, url in enumerate(d["outputs"]):
        assert np.array_equal(_png(url), read_png(out / f"00_s{k:02d}.png"))
    picked = client.post(URL, params={**params, "f": f"demo_out/{PRINT}"}).json()
    assert picked["outputs"] == d["outputs"]
    # B (colour) to A: the grey print is made RGB first, the output is grey.
    back = client.post(URL, params={**params, "direction": "b2a", "f": f"demo_out/{PRINT}"}).json()
    assert _png(back["source"]).shape == (224, 192, 3) and _png(back["outputs"][0]).shape == (224, 192)


def test_bad_requests_are_refused_with_one_line(client: TestClient) -> None:
    upload = encode_png(np.full((32, 32), 128, np.uint8))
    png = {"content-type": "image/png"}

    def status(params: dict, content: bytes | None = upload, headers: dict | None = png) -> tuple[int, str]:
        r = client.post(URL, params=params, content=content, headers=headers or {})
        return r.status_code, r.json()["error"]

    ok = {"model": "demo_out/translator"}
    assert status({"model": "demo_out/../../etc"})[0] == 403
    assert status({})[0] == 400
    code, err = status({"model": "demo_out/fingerprints"})
    assert code == 400 and "latest/model.safetensors" in err
    assert status(ok, headers={"content-type": "text/html"})[0] == 415
    assert status(ok, content=b"GIF89a....")[0] == 400
    code, err = status(ok, content=encode_png(np.zeros((8, 1100), np.uint8)))
    assert code == 413 and "1024 px" in err
    code, err = status(ok, content=encode_png(np.zeros((6, 6), np.uint8)))
    assert code == 400 and "minimum" in err
    assert "styles must be in 1..8" in status({**ok, "styles": 0})[1]
    assert "direction" in status({**ok, "direction": "sideways"})[1]
    assert status({**ok, "f": "demo_out/fingerprints/00000/00.json"})[0] == 400
