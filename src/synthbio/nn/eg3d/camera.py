"""EG3D cameras: the 25-number label (cam2world 4x4, then normalised intrinsics 3x3).

Conventions of the official code (`camera_utils.py`): OpenCV camera axes
(x right, y down, z forward); world y up; the camera sits on a sphere
around the world origin and looks at a pivot point, with yaw 0 and pitch 0 facing the subject from the front (+z).
Intrinsics are normalised by the image size: focal = 1 / (tan(fov / 2) *
1.414), principal point (0.5, 0.5). The official helpers write pi as 3.14159
and sqrt(2) as 1.414; they are kept so that a camera made here has the exact
numbers the official tools (and the released models' sample scripts) use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from synthbio.errors import InputError

# Official FFHQ defaults (EG3D gen_samples.py and rendering_kwargs).
DEFAULT_FOV_DEG = 18.837
DEFAULT_RADIUS = 2.7
DEFAULT_PIVOT = (0.0, 0.0, 0.2)

_OFFICIAL_PI = 3.14159
_OFFICIAL_SQRT2 = 1.414


def fov_to_intrinsics(fov_deg: float) -> Tensor:
    """Normalised intrinsics [3, 3] for a vertical field of view in degrees (principal point centred)."""
    if not 0 < fov_deg < 180:
        raise InputError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = float(1 / (math.tan(fov_deg * _OFFICIAL_PI / 360) * _OFFICIAL_SQRT2))
    return torch.tensor([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]], dtype=torch.float32)


def _normalize(v: Tensor) -> Tensor:
    return v / torch.norm(v, dim=-1, keepdim=True)


def look_at(forward: Tensor, origin: Tensor) -> Tensor:
    """cam2world [N, 4, 4] for cameras at `origin` [N, 3] looking along `forward` [N, 3], no roll."""
    forward = _normalize(forward)
    up = torch.tensor([0, 1, 0], dtype=torch.float32).expand_as(forward)
    right = -_normalize(torch.cross(up, forward, dim=-1))
    up = _normalize(torch.cross(forward, right, dim=-1))
    rotation = torch.eye(4).unsqueeze(0).repeat(forward.shape[0], 1, 1)
    rotation[:, :3, :3] = torch.stack((right, up, forward), dim=-1)
    translation = torch.eye(4).unsqueeze(0).repeat(forward.shape[0], 1, 1)
    translation[:, :3, 3] = origin
    return translation @ rotation


def orbit_cam2world(yaw: float, pitch: float, *, radius: float = DEFAULT_RADIUS,
                    pivot: Sequence[float] = DEFAULT_PIVOT) -> Tensor:
    """cam2world [4, 4] on the official orbit (LookAtPoseSampler): yaw and pitch in radians.

    The official sampler takes horizontal = pi/2 + yaw and vertical = pi/2 + pitch,
    maps the vertical angle v to the polar angle arccos(1 - 2 v / pi), and places
    the camera on the sphere of that radius around the world origin, looking at
    the pivot (so the pivot shifts the view, not the orbit).
    """
    h = torch.tensor([[math.pi / 2 + yaw]], dtype=torch.float32)
    v = torch.tensor([[math.pi / 2 + pitch]], dtype=torch.float32).clamp(1e-5, math.pi - 1e-5)
    phi = torch.arccos(1 - 2 * (v / math.pi))
    origin = torch.zeros([1, 3])
    origin[:, 0:1] = radius * torch.sin(phi) * torch.cos(math.pi - h)
    origin[:, 2:3] = radius * torch.sin(phi) * torch.sin(math.pi - h)
    origin[:, 1:2] = radius * torch.cos(phi)
    target = torch.tensor([float(p) for p in pivot], dtype=torch.float32)
    return look_at(_normalize(target - origin), origin)[0]


def camera(yaw: float = 0.0, pitch: float = 0.0, fov_deg: float = DEFAULT_FOV_DEG, radius: float = DEFAULT_RADIUS,
           *, pivot: Sequence[float] = DEFAULT_PIVOT) -> Tensor:
    """The 25-number EG3D camera label [25] for a view of the subject.

    yaw: degrees around the vertical axis (the official gen_samples.py `angle_y`;
    positive yaw moves the camera towards world +x); pitch: degrees, the official
    `angle_p` (positive moves the camera down, looking up); fov_deg: field of
    view; radius: distance of the camera from the world origin (the orbit the
    official sampler uses); pivot: the point looked at.
    """
    if radius <= 0:
        raise InputError(f"camera radius must be > 0, got {radius}")
    if len(pivot) != 3:
        raise InputError(f"camera pivot must have 3 coordinates, got {list(pivot)}")
    cam2world = orbit_cam2world(math.radians(yaw), math.radians(pitch), radius=radius, pivot=pivot)
    return torch.cat([cam2world.reshape(16), fov_to_intrinsics(fov_deg).reshape(9)])


def split_camera(c: Tensor) -> tuple[Tensor, Tensor]:
    """c [N, 25] -> (cam2world [N, 4, 4], intrinsics [N, 3, 3])."""
    if c.ndim != 2 or c.shape[1] != 25:
        raise InputError(f"EG3D cameras must have shape [N, 25], got {list(c.shape)}")
    return c[:, :16].reshape(-1, 4, 4), c[:, 16:25].reshape(-1, 3, 3)
