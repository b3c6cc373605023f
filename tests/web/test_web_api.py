"""`synthbio serve`'s API through Starlette's test client: browsing, overlays, editor, tools, and refusals."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="starlette's test client needs httpx2 (test extra)")

from starlette.testclient import TestClient  # noqa: E402

from synthbio.web.app import create_app  # noqa: E402
from synthbio.web.config import ServeConfig  # noqa: E402
from synthbio.web.editor import RenderGate, StaleRender  # noqa: E402


def tree_digest(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under root: a served folder must not change."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def served(web_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Path, dict]:
    cache = tmp_path_factory.mktemp("cache")
    before = tree_digest(web_root)
    client = TestClient(create_app(ServeConfig(roots=(str(web_root),), cache_dir=str(cache))), base_url=BASE)
    yield client, cache, before
    assert tree_digest(web_root) == before, "serving changed a served folder"


def _png(data_url: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_overview_finds_every_kind(served) -> None:
    client, _, _ = served
    o = client.get("/api/overview").json()
    kinds = {d["ref"]: d["kind"] for d in o["datasets"]}
    assert kinds == {"demo_out/fingerprints": "fingerprint-set", "demo_out/gan": "generated-images",
                     "demo_out/mix": "style-mix", "demo_out/mated": "image-folder", "demo_out/faces": "identity-dataset"}
    assert o["reports"] == ["demo_out/fingerprints/report/index.html"]
    assert any(m["spec"].endswith("demo_out/model") for m in o["models"])


def test_identity_list_pages_searches_and_sorts(served) -> None:
    client, _, _ = served
    pages = [client.get("/api/items", params={"ds": "demo_out/faces", "page": p, "size": 7}).json() for p in range(5)]
    keys = [it["key"] for pg in pages for it in pg["items"]]
    assert pages[0]["total"] == 30 and keys == [f"{i:05d}" for i in range(30)] and len(pages[4]["items"]) == 2
    assert [it["key"] for it in client.get("/api/items", params={"ds": "demo_out/faces", "q": "00012"}).json()["items"]] == ["00012"]
    weak = client.get("/api/items", params={"ds": "demo_out/faces", "sort": "weakest-variation", "size": 30}).json()
    means = [it["badges"]["mean_sim_ref"] for it in weak["items"]]
    assert means == sorted(means, reverse=True)
    close = client.get("/api/items", params={"ds": "demo_out/faces", "sort": "closest-other", "size": 30}).json()
    sims = [it["badges"]["closest_other"] for it in close["items"]]
    assert sims == sorted(sims, reverse=True) and len(sims) == 30
    assert client.get("/api/items", params={"ds": "demo_out/faces", "sort": "nope"}).status_code == 400
    assert client.get("/api/items", params={"ds": "demo_out/faces", "size": 100000}).status_code == 400


def test_identity_item_compare_and_histograms(served, web_root: Path) -> None:
    client, _, _ = served
    it = client.get("/api/item", params={"ds": "demo_out/faces", "key": "00003"}).json()
    assert [s["label"] for s in it["samples"]] == ["reference", "variation_0", "variation_1"]
    assert it["samples"][1]["meta"]["similarity_to_reference"] > 0
    near = it["facts"]["closest_other_key"]
    r = client.get("/api/compare", params={"ds": "demo_out/faces", "a": "00003/reference", "b": f"{near}/reference"}).json()
    import h5py

    with h5py.File(web_root / "faces" / "samples.h5") as f:
        ea, eb = f["00003/reference/embedding"][0], f[f"{near}/reference/embedding"][0]
    assert r["score"] == pytest.approx(float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb)), abs=1e-5)
    h = client.get("/api/histograms", params={"ds": "demo_out/faces"}).json()
    assert h["sets"]["genuine"]["n"] == 60 and h["sets"]["impostor"]["n"] == 30 * 29 // 2
    bad = client.get("/api/compare", params={"ds": "demo_out/faces", "a": "00003/../../x", "b": "00001/reference"})
    assert bad.status_code == 400


def test_fingerprints_truth_overlay_filter_and_compare(served, web_root: Path) -> None:
    client, _, _ = served
    it = client.get("/api/item", params={"ds": "demo_out/fingerprints", "key": "00001"}).json()
    s = it["samples"][0]
    assert s["truth"] == "demo_out/fingerprints/00001/00.json" and set(s["downloads"]) == {"iso", "json", "xyt"}
    truth = client.get("/api/minutiae", params={"f": s["truth"]}).json()
    on_disk = json.loads((web_root / "fingerprints" / "00001" / "00.json").read_text())
    assert len(truth["minutiae"]) == len(on_disk["minutiae"]) and truth["finger_class"] == on_disk["metadata"]["finger_class"]
    cls = on_disk["metadata"]["finger_class"]
    listed = client.get("/api/items", params={"ds": "demo_out/fingerprints", "filter.class": cls}).json()
    assert "00001" in [i["key"] for i in listed["items"]] and all(i["badges"]["class"] == cls for i in listed["items"])
    r = client.get("/api/compare", params={"ds": "demo_out/fingerprints", "a": "00001/00", "b": "00001/01"}).json()
    assert r["same_finger"] and len(r["pairs"]) > 3
    for i, j in r["pairs"]:
        assert 0 <= i < len(r["a"]["minutiae"]) and 0 <= j < len(r["b"]["minutiae"])


def test_generated_branches_mix_state_and_mask(served) -> None:
    client, _, _ = served
    it = client.get("/api/item", params={"ds": "demo_out/gan", "key": "0003"}).json()
    s = it["samples"][0]
    assert list(s["branches"]) == ["rgb", "nir"] and s["latents"]["w_plus_latent"]["shape"][1] == 16
    assert client.get("/api/dataset", params={"ds": "demo_out/gan"}).json()["editor"]["truncation_psi"] == 0.7
    mix = client.get("/api/item", params={"ds": "demo_out/mix", "key": "1-2"}).json()
    assert mix["samples"][0]["editor"] == {"seed": 1, "mix": {"seed": 2, "layers": [0, 1]}}
    mated = client.get("/api/item", params={"ds": "demo_out/mated", "key": "00"}).json()["samples"][0]
    assert mated["truth"] == "demo_out/mated/00.json" and mated["mask"] == "demo_out/mated/00_mask.png"
    m = client.get("/api/mask", params={"f": mated["mask"]})
    rgba = np.asarray(PIL.Image.open(io.BytesIO(m.content)))
    assert rgba.shape == (224, 192, 4) and rgba[0, 0, 3] == 0 and rgba[60, 60, 3] == 255


def test_thumbnails_go_to_the_cache(served, web_root: Path) -> None:
    client, cache, _ = served
    r = client.get("/api/thumb", params={"f": "demo_out/fingerprints/00000/00.png", "size": 96})
    img = PIL.Image.open(io.BytesIO(r.content))
    assert r.headers["content-type"] == "image/jpeg" and max(img.size) == 96
    assert list((cache / "thumbs").rglob("*.jpg"))
    assert client.get("/api/thumb", params={"f": "demo_out/fingerprints/00000/00.png", "size": 97}).status_code == 400


@pytest.mark.parametrize("path", ["/files/demo_out/%2e%2e/secret", "/files/demo_out/..%2f..%2fetc/passwd",
                                  "/files/%2fetc%2fpasswd", "/files/demo_out/fingerprints/00000/../../../x",
                                  "/api/thumb?f=/etc/passwd", "/api/minutiae?f=demo_out/..%2F..%2Fx",
                                  "/files/demo_out/fingerprints"])
def test_traversal_is_refused(served, path: str) -> None:
    client, _, _ = served
    r = client.get(path)
    assert r.status_code in (400, 403, 404) and r.headers["content-type"] == "application/json"


def test_symlink_out_of_a_root_is_refused(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", served / "leak.txt")
    (served / "ok.txt").write_text("fine")
    client = TestClient(create_app(ServeConfig(roots=(str(served),), cache_dir=str(tmp_path / "cache"))), base_url=BASE)
    assert client.get("/files/served/ok.txt").text == "fine"
    r = client.get("/files/served/leak.txt")
    assert r.status_code == 403 and "secret" not in r.text


def test_served_files_cannot_run_scripts(served) -> None:
    client, _, _ = served
    r = client.get("/files/demo_out/fingerprints/report/index.html")
    assert r.status_code == 200 and "sandbox" in r.headers["content-security-policy"]
    assert "script-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_uploads_are_limited_typed_and_checked(served, web_root: Path) -> None:
    client, _, _ = served
    url = "/api/tools/reconstruct"
    iso = (web_root / "fingerprints" / "00000" / "00.iso").read_bytes()
    ok = client.post(url, content=iso, headers={"content-type": "application/octet-stream", "x-filename": "00.iso"})
    assert ok.status_code == 200 and _png(ok.json()["image"]).shape == (224, 192)
    big = client.post(url, content=b"0" * (3 << 20), headers={"content-type": "application/octet-stream"})
    assert big.status_code == 413
    html = client.post(url, content=b"<html></html>", headers={"content-type": "text/html"})
    assert html.status_code == 415
    junk = client.post(url, content=b"<script>alert(1)</script>", headers={"content-type": "application/octet-stream"})
    assert junk.status_code == 400
    picked = client.post(url, params={"f": "demo_out/fingerprints/00000/00.json"})
    assert picked.status_code == 200 and len(picked.json()["template"]["minutiae"]) > 0


def test_token_and_host_checks(web_root: Path, tmp_path: Path) -> None:
    token = "t" * 24
    cfg = ServeConfig(roots=(str(web_root),), host="0.0.0.0", token=token, cache_dir=str(tmp_path))
    client = TestClient(create_app(cfg), base_url="http://192.0.2.1:8000")
    assert client.get("/api/overview").status_code == 401
    assert client.get("/api/overview", headers={"authorization": f"Bearer {'x' * 24}"}).status_code == 401
    assert client.get("/api/overview", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/", params={"token": token}).status_code == 200  # sets the cookie
    assert client.get("/api/overview").status_code == 200
    local = TestClient(create_app(ServeConfig(roots=(str(web_root),), cache_dir=str(tmp_path))),
                       base_url="http://attacker.example:8000")
    assert local.get("/api/overview").status_code == 421  # DNS rebinding: unknown Host
    with pytest.raises(Exception, match="inside the served folder"):
        create_app(ServeConfig(roots=(str(web_root),), cache_dir=str(web_root / "cache")))


def test_editor_renders_the_dataset_image_and_moves_with_sliders(served, web_root: Path) -> None:
    client, _, _ = served
    model = str((web_root / "model").resolve())
    info = client.post("/api/editor/load", json={"model": model}).json()
    assert info["num_ws"] > 0 and info["branches"] == ["rgb", "nir"] and info["directions"]
    state = {"x": 3, "y": 0, "truncation_psi": 0.7}
    r = client.post("/api/editor/render", json={"model": model, "state": state, "client": "t", "rid": 1}).json()
    on_disk = np.asarray(PIL.Image.open(web_root / "gan" / "rgb" / "seed0003.png"))
    assert np.array_equal(_png(r["images"]["rgb"]), on_disk)  # the editor draws what `generate` wrote
    moved = dict(state, directions=[{"id": info["directions"][0]["id"], "strength": 5.0, "layers": [0, info["num_ws"] - 1]}])
    r2 = client.post("/api/editor/render", json={"model": model, "state": moved, "client": "t", "rid": 2}).json()
    assert not np.array_equal(_png(r2["images"]["rgb"]), on_disk)
    blend = client.post("/api/editor/render", json={"model": model, "state": {"x": 3.5, "y": 0, "truncation_psi": 0.7},
                                                    "client": "t", "rid": 3}).json()
    assert blend["seed"] is None and not np.array_equal(_png(blend["images"]["rgb"]), on_disk)
    cmds = client.post("/api/editor/export", json={"model": model, "state": state}).json()["commands"]
    assert cmds[0]["command"].startswith(f"synthbio generate -m {model} --seeds 3 --truncation 0.7")
    npz = np.load(io.BytesIO(client.post("/api/editor/latents", json={"model": model, "state": moved}).content))
    assert npz["ws"].shape == (1, info["num_ws"], info["w_dim"]) and list(npz["seeds"]) == [3]
    bad = client.post("/api/editor/render", json={"model": model, "state": {"truncation_psi": "x"}, "rid": 4})
    assert bad.status_code == 400 and "truncation_psi" in bad.json()["error"]
    assert client.post("/api/editor/load", json={"model": "/etc"}).status_code == 403
    assert client.post("/api/editor/load", json={"model": "demo_out/../../etc"}).status_code == 403
    assert client.post("/api/editor/load", json={"model": "demo_out/model"}).json()["num_ws"] == info["num_ws"]


def test_render_gate_drops_superseded_requests() -> None:
    gate = RenderGate()
    assert gate.run("c", 1, lambda: "one") == "one"
    assert gate.run("c", 3, lambda: "three") == "three"
    with pytest.raises(StaleRender):
        gate.run("c", 2, lambda: "late")  # older than what the client already asked for
    assert gate.run("other", 1, lambda: "other client") == "other client"
