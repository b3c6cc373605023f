"""Views of a latent for the image jobs: EG3D cameras (yaw, pitch, field of view) and StyleGAN3 input transforms.

An EG3D sample is one w (mapped with the front conditioning camera, as the
official sample scripts do) rendered from every requested view; a StyleGAN3
sample can be translated and rotated through its input layer, as the
official gen_images.py does. Other generators take neither.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch

from synthbio.errors import InputError
from synthbio.generation.sampling import is_camera_conditioned
from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG, camera
from synthbio.nn.stylegan3.layers import input_transform

#: Metres are not known; EG3D depth is in the scene units its cameras use (FFHQ: camera 2.7 from the origin).
DEPTH_UNITS = "EG3D scene units, distance along each pixel's ray from the camera"


@dataclass(frozen=True)
class View:
    """A camera on the model's orbit: degrees, as `synthbio.nn.eg3d.camera`."""

    yaw: float
    pitch: float

    def suffix(self, *, many: bool) -> str:
        """File-name part of this view ('' when a sample has only one view)."""
        return f"_yaw{self.yaw:+g}_pitch{self.pitch:+g}" if many else ""

    def to_list(self) -> list[float]:
        return [self.yaw, self.pitch]


def views_of(yaws: tuple[float, ...], pitches: tuple[float, ...]) -> list[View]:
    """Every (yaw, pitch) pair, yaw-major: the order of the files and of the grid columns."""
    return [View(float(y), float(p)) for y, p in itertools.product(yaws, pitches)]


def is_stylegan3(G: Any) -> bool:
    return getattr(G, "architecture", "") == "stylegan3"


def check_view_options(G: Any, *, views: list[View], fov: float | None, save_depth: str | None,
                       translate: tuple[float, float], rotate: float) -> None:
    """InputError naming the option when it does not fit the generator's family."""
    eg3d = is_camera_conditioned(G)
    if not eg3d and (views != [View(0.0, 0.0)] or fov is not None or save_depth is not None):
        raise InputError("--yaw, --pitch, --fov and --save-depth need a camera-controlled (EG3D) model; "
                         f"this one is {_family(G)}")
    if not is_stylegan3(G) and (tuple(translate) != (0.0, 0.0) or rotate != 0.0):
        raise InputError("--translate and --rotate need a StyleGAN3 model (its input layer takes the transform); "
                         f"this one is {_family(G)}")


def _family(G: Any) -> str:
    """'a StyleGAN2 generator' / 'a StyleGAN3 generator' / 'an EG3D generator', for messages."""
    name = getattr(G, "architecture", "stylegan2")
    shown = {"stylegan2": "a StyleGAN2", "stylegan3": "a StyleGAN3", "eg3d": "an EG3D"}.get(name, f"a {name}")
    return f"{shown} generator"


def view_kwargs(G: Any, view: View, *, fov: float | None, n: int, device: torch.device) -> dict[str, Any]:
    """Synthesis keyword arguments that render n samples from `view` (EG3D: c [n, 25])."""
    if not is_camera_conditioned(G):
        return {}
    cfg = G.config
    cam = camera(view.yaw, view.pitch, DEFAULT_FOV_DEG if fov is None else fov, cfg.avg_camera_radius,
                 pivot=cfg.avg_camera_pivot)
    return {"c": cam.to(device).unsqueeze(0).repeat(n, 1)}


def transform_kwargs(G: Any, *, translate: tuple[float, float], rotate: float) -> dict[str, Any]:
    """StyleGAN3 input transform for the call (nothing when there is none to apply)."""
    if not is_stylegan3(G) or (tuple(translate) == (0.0, 0.0) and rotate == 0.0):
        return {}
    device = next(G.parameters()).device
    return {"transform": input_transform(translate=tuple(translate), rotate_deg=rotate).to(device)}


def depth_range(G: Any) -> tuple[float, float]:
    """(near, far) of an EG3D generator's depth samples, the range a 16-bit depth PNG spans."""
    return float(G.config.ray_start), float(G.config.ray_end)
