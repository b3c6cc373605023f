"""EG3D (efficient geometry-aware 3D GAN) in plain PyTorch: tri-planes, volume rendering, super-resolution.

Module and parameter names follow the official NVlabs `TriPlaneGenerator`,
so its state dicts load key for key.
"""

from synthbio.nn.eg3d.camera import (
    camera,
    fov_to_intrinsics,
    look_at,
    orbit_cam2world,
    split_camera,
)
from synthbio.nn.eg3d.config import SR_KINDS, EG3DConfig, default_sr_kind
from synthbio.nn.eg3d.generator import EG3DGenerator

__all__ = [
    "SR_KINDS",
    "EG3DConfig",
    "EG3DGenerator",
    "camera",
    "default_sr_kind",
    "fov_to_intrinsics",
    "look_at",
    "orbit_cam2world",
    "split_camera",
]
