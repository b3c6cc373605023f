"""Cameras of faces from landmarks: PnP against known cameras, back-projection through EG3D depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.faces.head_pose import back_project, rays_through, solve_camera
from synthbio.nn.eg3d.camera import camera, fov_to_intrinsics, split_camera

pytest.importorskip("cv2", reason="solving a camera uses OpenCV (fingerprints extra)")

# A face-sized point set around the EG3D FFHQ pivot: eyes, nose tip, mouth corners (not coplanar).
FACE = np.array([[-0.09, 0.08, 0.25], [0.09, 0.08, 0.25], [0.0, -0.02, 0.36], [-0.07, -0.12, 0.27],
                 [0.07, -0.12, 0.27]])


def project(points: np.ndarray, c: torch.Tensor, size: int) -> np.ndarray:
    """World points -> detector pixel coordinates (pixel centre at i) through camera c."""
    cam2world, intrinsics = (t[0].double() for t in split_camera(c[None]))
    world2cam = torch.linalg.inv(cam2world)
    p = torch.cat([torch.as_tensor(points), torch.ones(len(points), 1, dtype=torch.float64)], 1) @ world2cam.T
    uv = (p[:, :3] / p[:, 2:3]) @ intrinsics.T
    return (uv[:, :2] * size - 0.5).numpy()


@pytest.mark.parametrize("yaw, pitch, fov", [(0, 0, 18.837), (25, -8, 18.837), (-35, 12, 22.0)])
def test_solve_recovers_the_camera(yaw: float, pitch: float, fov: float) -> None:
    truth = camera(yaw, pitch, fov)
    c = solve_camera(project(FACE, truth, 512), FACE, image_size=512, fov_deg=fov)
    assert torch.allclose(c, truth, atol=2e-4)


def test_back_projection_inverts_projection() -> None:
    c = camera(15, 5)
    pts = project(FACE, c, 256)
    origin, dirs = rays_through(pts, c, 256)
    depth_true = torch.linalg.norm(torch.as_tensor(FACE) - origin, dim=1)
    assert torch.allclose(dirs.double(), (torch.as_tensor(FACE) - origin) / depth_true[:, None], atol=1e-9)
    # A constant depth map puts every point at that distance along its ray.
    lifted = back_project(pts, torch.full([64, 64], 2.5), c, image_size=256)
    assert np.allclose(np.linalg.norm(lifted - origin.numpy(), axis=1), 2.5)


def test_degenerate_input_is_refused() -> None:
    with pytest.raises(InputError, match="4 or more"):
        solve_camera(np.zeros((3, 2)), np.zeros((3, 3)), image_size=64)
    with pytest.raises(InputError, match="NaN"):
        solve_camera(np.full((5, 2), np.nan), FACE, image_size=64)
    assert fov_to_intrinsics(18.837).shape == (3, 3)


def test_model_face_points_lie_on_the_rendered_surface() -> None:
    from tiny_generators import tiny_eg3d

    from synthbio.faces.head_pose import model_face_points

    G = tiny_eg3d()
    pts2d = np.array([[10.0, 12.0], [20.0, 12.0], [15.0, 18.0], [11.0, 24.0], [19.0, 24.0]])
    pts3d = model_face_points(G, lambda image: pts2d)
    origin = split_camera(G.default_camera(1))[0][0, :3, 3].numpy()
    dist = np.linalg.norm(pts3d - origin, axis=1)
    assert pts3d.shape == (5, 3) and np.all((dist >= 2.25) & (dist <= 3.3))  # inside the rendered depth range
    # Reprojected through the front camera, the points land back on their landmarks.
    assert np.allclose(project(pts3d, G.default_camera(1)[0], 32), pts2d, atol=1e-4)
    with pytest.raises(InputError, match="no face found on the model's mean face"):
        model_face_points(G, lambda image: None)
