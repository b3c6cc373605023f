"""Projection into StyleGAN3 (anchored input) and EG3D (per-target cameras) generators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_generators import tiny_eg3d, tiny_sg3

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError
from synthbio.inversion.losses import PixelLoss
from synthbio.inversion.projector import ProjectorConfig, noise_layers, project
from synthbio.nn.eg3d import camera
from synthbio.pipelines.projection.project import ProjectImagesConfig, project_images

FAST = dict(w_avg_samples=200, num_steps=12, initial_learning_rate=0.05)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_stylegan3_projection_keeps_the_input_anchored() -> None:
    G = tiny_sg3()
    assert noise_layers(G) == []
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(1)), None)
        targets = G.synthesis(ws)
    res = project(G, targets, config=ProjectorConfig(space="wplus", **FAST), loss=PixelLoss("l2"), progress=False)
    assert res.noise == {} and res.ws.shape == (2, G.num_ws, 8)
    w_avg = res.ws[0, 0]
    assert torch.equal(res.ws[:, 0], w_avg.expand(2, -1))  # ws[0] = w_avg for every target
    assert float(res.losses[-1].mean()) < float(res.losses[0].mean())
    free = project(G, targets[:1], config=ProjectorConfig(space="w", anchor_input=False, **{**FAST, "num_steps": 2}),
                   loss=PixelLoss("l2"), progress=False)
    assert torch.equal(free.ws[0, 0], free.ws[0, 1])  # unanchored W: one w everywhere


def test_eg3d_projection_renders_from_the_target_camera() -> None:
    G = tiny_eg3d()
    cams = torch.stack([camera(25, 0), camera(-15, 8)])
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(2)), None)
        targets = G.synthesis(ws, cams, deterministic=True)["image"]
    res = project(G, targets, config=ProjectorConfig(**FAST), loss=PixelLoss("l2"), progress=False, cameras=cams)
    assert float(res.losses[-1].mean()) < float(res.losses[0].mean())
    with pytest.raises(InputError, match=r"cameras must be \[2, 25\]"):
        project(G, targets, config=ProjectorConfig(**FAST), loss=PixelLoss("l2"), progress=False, cameras=cams[:1])
    with pytest.raises(InputError, match="camera-controlled"):
        project(tiny_sg3(), torch.zeros(1, 3, 16, 16), config=ProjectorConfig(**FAST), loss=PixelLoss("l2"),
                progress=False, cameras=cams[:1])


def test_project_job_writes_the_cameras_it_used(tmp_path: Path) -> None:
    model = save_generator(tiny_eg3d(), tmp_path / "eg3d")
    G = tiny_eg3d()
    with torch.no_grad():
        target = G.synthesis(G.mapping(torch.randn(1, 8), None), camera(20, 0)[None], deterministic=True)["image"]
    import numpy as np

    np.save(tmp_path / "t.npy", target[0].numpy())
    cams = [{"yaw": 20, "pitch": 0}]
    (tmp_path / "cams.json").write_text(json.dumps(cams))
    cfg = ProjectImagesConfig(model=str(model), targets=(str(tmp_path / "t.npy"),), outdir=str(tmp_path / "out"),
                              projector=ProjectorConfig(**{**FAST, "num_steps": 5}), loss="l2",
                              cameras_file=str(tmp_path / "cams.json"), device="cpu")
    project_images(cfg, progress=False)
    used = json.loads((tmp_path / "out" / "cameras.json").read_text())
    assert torch.allclose(torch.tensor(used[0]), camera(20, 0), atol=1e-6)
    assert (tmp_path / "out" / "proj_0000.png").is_file()
    with pytest.raises(InputError, match="entry 0"):
        (tmp_path / "bad.json").write_text(json.dumps([[1, 2, 3]]))
        project_images(ProjectImagesConfig(model=str(model), targets=(str(tmp_path / "t.npy"),),
                                           outdir=str(tmp_path / "out2"), loss="l2", device="cpu",
                                           cameras_file=str(tmp_path / "bad.json")), progress=False)
    with pytest.raises(InputError, match="one of --camera"):
        ProjectImagesConfig(model="m", targets=("t",), outdir="o", camera=(0, 0, 18), estimate_camera=True)


def test_estimated_camera_is_the_one_the_target_was_rendered_from(tmp_path: Path, monkeypatch) -> None:
    """--estimate-camera end to end: the mean face's landmarks lifted with the model's depth, the target's
    landmarks solved by PnP. The detector is a stand-in: on the mean face it returns five fixed points,
    on the target those points' 3D positions seen through the camera the target was rendered from."""
    pytest.importorskip("cv2", reason="solving a camera uses OpenCV (fingerprints extra)")
    import numpy as np

    import synthbio.faces.detection as detection
    from synthbio.faces.head_pose import model_face_points
    from synthbio.nn.eg3d.camera import split_camera

    G = tiny_eg3d()
    mean_face = np.array([[10.0, 12.0], [21.0, 12.5], [15.5, 17.0], [11.0, 23.0], [20.0, 23.5]])
    points3d = model_face_points(G, lambda image: mean_face)
    truth = camera(18, -6)
    cam2world, intrinsics = (t[0].double() for t in split_camera(truth[None]))
    p = torch.cat([torch.as_tensor(points3d), torch.ones(5, 1, dtype=torch.float64)], 1) @ torch.linalg.inv(cam2world).T
    seen = ((p[:, :3] / p[:, 2:3]) @ intrinsics.T)[:, :2].numpy() * G.img_resolution - 0.5

    class Face:
        def __init__(self, landmarks: np.ndarray) -> None:
            self.box, self.landmarks = (0.0, 0.0, 8.0, 8.0), landmarks

    calls: list[int] = []

    def fake_detect(image: np.ndarray) -> list[Face]:
        calls.append(1)
        return [Face(mean_face if len(calls) == 1 else seen)]

    monkeypatch.setattr(detection, "detect_faces", fake_detect)
    model = save_generator(G, tmp_path / "eg3d")
    np.save(tmp_path / "t.npy", np.zeros([3, 32, 32], dtype=np.float32))
    project_images(ProjectImagesConfig(model=str(model), targets=(str(tmp_path / "t.npy"),),
                                       outdir=str(tmp_path / "out"), loss="l2", device="cpu", estimate_camera=True,
                                       projector=ProjectorConfig(**{**FAST, "num_steps": 1})), progress=False)
    used = torch.tensor(json.loads((tmp_path / "out" / "cameras.json").read_text())[0])
    assert len(calls) == 2 and torch.allclose(used, truth, atol=1e-3)
