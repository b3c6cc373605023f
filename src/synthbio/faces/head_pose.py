"""The EG3D camera of a real face from its landmarks: a mean 3D face and a PnP solve.

EG3D renders a face from a camera given as 25 numbers (cam2world, normalised
intrinsics; `synthbio.nn.eg3d.camera`). For a photo, the camera is found
without a 3D face reconstruction network:

1. the mean 3D face of the model: its average latent (w_avg) rendered from
   the front camera, the face's 5 landmarks detected on that image and lifted
   to 3D with the rendered depth (`model_face_points`), so the points live in
   the model's own world frame and scale;
2. the same 5 landmarks detected on the photo (aligned to the model's crop);
3. `solve_camera`: the rigid pose that maps the 3D points onto the photo's
   landmarks through the model's intrinsics (OpenCV's solvePnP: EPnP, then
   Levenberg-Marquardt refinement), inverted to a cam2world.

Pixel coordinates: landmark detectors put pixel i's centre at i; EG3D's rays
put it at i + 0.5 (of R); both conventions are converted here. OpenCV (the
`fingerprints` extra, opencv-python-headless) is imported when a camera is solved.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError, ModelNotFoundError
from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG, fov_to_intrinsics, split_camera

#: landmarks_fn(image_uint8 [H, W, 3]) -> points [K, 2] (x, y) in detector pixels, or None when no face.
LandmarksFn = Callable[[np.ndarray], "np.ndarray | None"]


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError:
        raise ModelNotFoundError("estimating a camera from landmarks needs OpenCV: "
                                 "pip install 'synthbio[fingerprints]' (opencv-python-headless)") from None
    return cv2


def pixel_matrix(intrinsics: Tensor, image_size: int) -> np.ndarray:
    """Normalised intrinsics [3, 3] -> the pixel camera matrix of an image_size x image_size image
    (pixel i's centre at i + 0.5, as EG3D's rays)."""
    k = intrinsics.detach().double().cpu().numpy().copy()
    k[:2] *= image_size
    return k


def solve_camera(points_2d: np.ndarray, points_3d: np.ndarray, *, image_size: int,
                 fov_deg: float = DEFAULT_FOV_DEG) -> Tensor:
    """The camera [25] under which the world points [K, 3] project onto the landmarks [K, 2].

    points_2d: detector pixel coordinates (pixel i's centre at i) in an image_size
    square image; K >= 4 points, not all on one line.
    """
    p2 = np.asarray(points_2d, dtype=np.float64).reshape(-1, 2) + 0.5  # to EG3D's pixel-centre convention
    p3 = np.asarray(points_3d, dtype=np.float64).reshape(-1, 3)
    if p2.shape[0] != p3.shape[0] or p2.shape[0] < 4:
        raise InputError(f"a camera needs the same 4 or more points in 2D and 3D, got {p2.shape[0]} and {p3.shape[0]}")
    if not (np.isfinite(p2).all() and np.isfinite(p3).all()):
        raise InputError("landmarks or face points hold NaN or inf values")
    cv2 = _cv2()
    intrinsics = fov_to_intrinsics(fov_deg)
    k = pixel_matrix(intrinsics, image_size)
    ok, rvec, tvec = cv2.solvePnP(p3, p2, k, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        raise InputError("no camera fits these landmarks (degenerate point layout)")
    ok, rvec, tvec = cv2.solvePnP(p3, p2, k, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    rot, _ = cv2.Rodrigues(rvec)  # world -> camera (OpenCV axes, as EG3D's cameras)
    cam2world = np.eye(4)
    cam2world[:3, :3] = rot.T
    cam2world[:3, 3] = (-rot.T @ tvec).reshape(3)
    return torch.cat([torch.from_numpy(cam2world).float().reshape(16), intrinsics.reshape(9)])


def rays_through(points_2d: np.ndarray, c: Tensor, image_size: int) -> tuple[Tensor, Tensor]:
    """Camera origin [3] and unit ray directions [K, 3] through detector pixel coordinates [K, 2]."""
    cam2world, intrinsics = split_camera(c.reshape(1, 25).double())
    p = torch.as_tensor(np.asarray(points_2d, dtype=np.float64).reshape(-1, 2)) + 0.5
    uv = p / image_size
    fx, fy, cx, cy = intrinsics[0, 0, 0], intrinsics[0, 1, 1], intrinsics[0, 0, 2], intrinsics[0, 1, 2]
    cam = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones(len(uv), dtype=torch.float64)], 1)
    dirs = F.normalize(cam @ cam2world[0, :3, :3].T, dim=1)
    return cam2world[0, :3, 3], dirs


def back_project(points_2d: np.ndarray, depth: Tensor, c: Tensor, *, image_size: int) -> np.ndarray:
    """World points [K, 3] of detector pixel coordinates [K, 2] of an image_size image, from an EG3D
    depth map [r, r] (distance along each pixel's ray, any r) rendered from camera c [25]."""
    origin, dirs = rays_through(points_2d, c, image_size)
    p = torch.as_tensor(np.asarray(points_2d, dtype=np.float64).reshape(-1, 2)) + 0.5
    grid = (p / image_size * 2 - 1).reshape(1, 1, -1, 2)  # align_corners=False: pixel centres at (i + 0.5) / r
    d = F.grid_sample(depth.double().reshape(1, 1, *depth.shape[-2:]), grid, mode="bilinear",
                      padding_mode="border", align_corners=False).reshape(-1, 1)
    return (origin + d * dirs).numpy()


def model_face_points(G: torch.nn.Module, landmarks_fn: LandmarksFn, *, fov_deg: float = DEFAULT_FOV_DEG
                      ) -> np.ndarray:
    """The mean face's landmarks in G's world [K, 3]: w_avg rendered from the front, detected, lifted by depth."""
    from synthbio.io.images import to_uint8

    device = next(G.parameters()).device
    c = G.default_camera(1, device=device, fov_deg=fov_deg)
    ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1)
    with torch.no_grad():
        out = G.synthesis(ws, c, deterministic=True, noise_mode="const")
    image = to_uint8(out["image"])[0]
    points = landmarks_fn(image)
    if points is None:
        raise InputError("no face found on the model's mean face (w_avg) to place the 3D landmarks")
    return back_project(points, out["image_depth"][0, 0].cpu(), c[0].cpu(), image_size=image.shape[0])
