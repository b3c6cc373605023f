"""The latent editor's StyleGAN3 (translate / rotate) and EG3D (camera, outputs) backends through the API."""

from __future__ import annotations

import base64
import io
import shlex
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="starlette's test client needs httpx2 (test extra)")

from starlette.testclient import TestClient  # noqa: E402
from tiny_generators import tiny_eg3d, tiny_sg3  # noqa: E402

from synthbio.web.app import create_app  # noqa: E402
from synthbio.web.config import ServeConfig  # noqa: E402

SG3_FLAGS = ("--translate", "0.1,-0.05", "--rotate", "15")
EG3D_FLAGS = ("--yaw=20", "--pitch=-5", "--fov", "22")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Path]:
    """A served folder with tiny StyleGAN3 and EG3D models and what `generate` wrote with view flags."""
    import torch

    from synthbio.checkpoints import save_generator
    from synthbio.cli.main import main

    root = tmp_path_factory.mktemp("served3d") / "out3d"
    root.mkdir()
    save_generator(tiny_sg3(), root / "sg3")
    save_generator(tiny_eg3d(), root / "eg3d")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, flags in (("sg3", SG3_FLAGS), ("eg3d", EG3D_FLAGS)):
            args = ["generate", "-m", str(root / name), "--seeds", "2", "-o", str(root / f"{name}_gen"), *flags]
            with pytest.MonkeyPatch.context() as mp:  # the command line a user would type
                mp.setattr(sys, "argv", ["synthbio", *args])
                main()
    finally:
        torch.set_num_threads(threads)
    cache = tmp_path_factory.mktemp("cache3d")
    return TestClient(create_app(ServeConfig(roots=(str(root),), cache_dir=str(cache))),
                      base_url="http://127.0.0.1:8000"), root


def _png(data_url: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def _render(client: TestClient, model: str, extra: dict, rid: int, **state: object) -> dict:
    """One render; each model has its own client id (request ids must grow per client)."""
    r = client.post("/api/editor/render", json={"model": model, "client": Path(model).name, "rid": rid,
                                                "state": {"x": 2, "y": 0, **state, "extra": extra}})
    assert r.status_code == 200, r.text
    return r.json()


def test_stylegan3_backend_moves_the_image_as_generate_does(served) -> None:
    client, root = served
    model = str((root / "sg3").resolve())
    info = client.post("/api/editor/load", json={"model": model}).json()
    assert info["family"] == "stylegan3"
    assert [c["name"] for c in info["controls"]] == ["translate_x", "translate_y", "rotate"]
    extra = {"translate_x": 0.1, "translate_y": -0.05, "rotate": 15}
    moved = _png(_render(client, model, extra, 1)["images"]["img"])
    assert np.array_equal(moved, np.asarray(PIL.Image.open(root / "sg3_gen" / "seed0002.png")))
    still = _png(_render(client, model, {}, 2)["images"]["img"])
    assert not np.array_equal(moved, still)
    cmd = client.post("/api/editor/export", json={"model": model, "state": {"x": 2, "y": 0, "extra": extra}}
                      ).json()["commands"][0]["command"]
    assert shlex.split(cmd)[-6:-2] == list(SG3_FLAGS)  # the flags that wrote the file compared above
    bad = client.post("/api/editor/render", json={"model": model, "rid": 3, "client": "t3",
                                                  "state": {"extra": {"rotate": 400}}})
    assert bad.status_code == 400 and "control rotate must be in" in bad.json()["error"]


def test_eg3d_backend_renders_views_raw_images_and_depth(served) -> None:
    client, root = served
    model = str((root / "eg3d").resolve())
    info = client.post("/api/editor/load", json={"model": model}).json()
    assert info["family"] == "eg3d" and info["c_dim"] == 0 and info["camera_dim"] == 25  # no class input
    assert [c["name"] for c in info["controls"]] == ["yaw", "pitch", "fov", "output"]
    extra = {"yaw": 20, "pitch": -5, "fov": 22, "output": "image"}
    view = _png(_render(client, model, extra, 1)["images"]["image"])
    assert np.array_equal(view, np.asarray(PIL.Image.open(root / "eg3d_gen" / "seed0002.png")))
    front = _png(_render(client, model, {}, 2)["images"]["image"])
    assert front.shape == view.shape and not np.array_equal(front, view)
    raw = _png(_render(client, model, {**extra, "output": "image_raw"}, 3)["images"]["image_raw"])
    depth = _png(_render(client, model, {**extra, "output": "depth"}, 4)["images"]["depth"])
    assert raw.shape == (8, 8, 3) and depth.shape == (8, 8) and depth.dtype == np.uint8
    cmd = client.post("/api/editor/export", json={"model": model, "state": {"x": 2, "y": 0, "extra": extra}}
                      ).json()["commands"]
    assert shlex.split(cmd[0]["command"])[-6:-2] == list(EG3D_FLAGS)
    assert "default view" in cmd[-1]["note"]  # `edit --latents` has no camera flags
    for bad, field in (({"yaw": 200}, "control yaw"), ({"output": "normals"}, "control output"),
                       ({"fov": "wide"}, "control fov")):
        r = client.post("/api/editor/render", json={"model": model, "rid": 5, "client": "t4",
                                                    "state": {"extra": bad}})
        assert r.status_code == 400 and field in r.json()["error"], r.text
