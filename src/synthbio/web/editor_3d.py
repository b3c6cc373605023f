"""Latent-editor backends for StyleGAN3 (translate / rotate the image) and EG3D (camera and outputs).

Both reuse the StyleGAN2 backend's latents (pad blending, mixing, direction
edits) and render the way `synthbio generate` does with the same flags
(`synthbio.pipelines.images.views`): StyleGAN3 through its input transform
(`--translate x,y --rotate deg`), EG3D from a camera on the model's orbit
(`--yaw --pitch --fov`), with the depth samples drawn from the pad seed's
generator, so an image on a grid point is the file `generate` writes.
EG3D's `output` control shows the final image, the raw neural rendering or
the depth map (near = bright, drawn between the model's ray_start and
ray_end; `generate --save-depth` writes the metric values).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError
from synthbio.generation.sampling import is_camera_conditioned, synthesize, synthesize_outputs
from synthbio.io.images import to_uint8
from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG
from synthbio.pipelines.images.views import View, depth_range, is_stylegan3, transform_kwargs, view_kwargs
from synthbio.web.editor import Control, EditorState, StyleGAN2Backend, register_backend

EG3D_OUTPUTS = ("image", "image_raw", "depth")


def control_value(state: EditorState, control: Control) -> float:
    """A slider's value from the state (its default when absent); InputError naming it when out of range."""
    v = state.extra.get(control.name, control.default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"control {control.name} must be a finite number, got {v!r}")
    if not control.min <= v <= control.max:
        raise InputError(f"control {control.name} must be in {control.min:g}..{control.max:g}, got {v:g}")
    return float(v)


def _flag_number(v: float) -> str:
    return f"{v:g}"


def _image(x: torch.Tensor) -> np.ndarray:
    u8 = to_uint8(x)[0]
    return u8[:, :, 0] if u8.shape[2] == 1 else u8


class StyleGAN3Backend(StyleGAN2Backend):
    """StyleGAN3: the image translated (in image widths) and rotated (degrees) by the input layer."""

    family = "stylegan3"
    CONTROLS = (
        Control("translate_x", "translate x (widths)", min=-0.5, max=0.5, step=0.01, default=0.0),
        Control("translate_y", "translate y (widths)", min=-0.5, max=0.5, step=0.01, default=0.0),
        Control("rotate", "rotate (degrees)", min=-180.0, max=180.0, step=1.0, default=0.0),
    )

    def controls(self) -> list[Control]:
        return list(self.CONTROLS)

    def _transform(self, state: EditorState) -> tuple[tuple[float, float], float]:
        tx, ty, rot = (control_value(state, c) for c in self.CONTROLS)
        return (tx, ty), rot

    def render(self, state: EditorState, directions: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        translate, rotate = self._transform(state)
        _, ws = self.latents(state, directions)
        out = synthesize(self.G, ws, seeds=[state.pad_weights()[0][0]], noise_mode=state.noise_mode,
                         **transform_kwargs(self.G, translate=translate, rotate=rotate))
        return {branch: _image(x) for branch, x in out.items()}

    def command_options(self, state: EditorState) -> str:
        """`synthbio generate` flags that apply this state's controls ('' at their defaults)."""
        (tx, ty), rot = self._transform(state)
        if (tx, ty, rot) == (0.0, 0.0, 0.0):
            return ""
        return f" --translate {_flag_number(tx)},{_flag_number(ty)} --rotate {_flag_number(rot)}"


class EG3DBackend(StyleGAN2Backend):
    """EG3D: the latent rendered from a camera (yaw, pitch, field of view); image, raw image or depth."""

    family = "eg3d"
    CAMERA = (
        Control("yaw", "yaw (degrees)", min=-90.0, max=90.0, step=1.0, default=0.0),
        Control("pitch", "pitch (degrees)", min=-60.0, max=60.0, step=1.0, default=0.0),
        Control("fov", "field of view (degrees)", min=5.0, max=60.0, step=0.1, default=DEFAULT_FOV_DEG),
    )
    OUTPUT = Control("output", "output", kind="select", default="image", options=EG3D_OUTPUTS)

    def info(self) -> dict[str, Any]:
        # c is a camera, not a class label: the browser must not offer a class index.
        return {**super().info(), "c_dim": 0, "camera_dim": int(self.G.c_dim)}

    def controls(self) -> list[Control]:
        return [*self.CAMERA, self.OUTPUT]

    def _view(self, state: EditorState) -> tuple[View, float]:
        yaw, pitch, fov = (control_value(state, c) for c in self.CAMERA)
        return View(yaw, pitch), fov

    def render(self, state: EditorState, directions: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        output = state.extra.get("output", "image")
        if output not in EG3D_OUTPUTS:
            raise InputError(f"control output must be one of {', '.join(EG3D_OUTPUTS)}, got {output!r}")
        view, fov = self._view(state)
        _, ws = self.latents(state, directions)
        out = synthesize_outputs(self.G, ws, seeds=[state.pad_weights()[0][0]], noise_mode=state.noise_mode,
                                 **view_kwargs(self.G, view, fov=fov, n=1, device=ws.device))
        if output != "depth":
            return {output: _image(out[output])}
        near, far = depth_range(self.G)
        depth = out["image_depth"][0, 0].float().cpu().numpy()
        shade = np.clip((far - depth) / (far - near), 0.0, 1.0)  # near = bright
        return {"depth": np.rint(shade * 255).astype(np.uint8)}

    def command_options(self, state: EditorState) -> str:
        """`synthbio generate` flags that render this state's view ('' for the default front view)."""
        view, fov = self._view(state)
        if (view.yaw, view.pitch, fov) == (0.0, 0.0, DEFAULT_FOV_DEG):
            return ""
        return (f" --yaw={_flag_number(view.yaw)} --pitch={_flag_number(view.pitch)}"
                + ("" if fov == DEFAULT_FOV_DEG else f" --fov {_flag_number(fov)}"))


def register() -> None:
    """Put the StyleGAN3 and EG3D backends before the StyleGAN2 one (which takes any generator)."""
    register_backend("stylegan3", is_stylegan3, StyleGAN3Backend)
    register_backend("eg3d", is_camera_conditioned, EG3DBackend)


__all__ = ["EG3DBackend", "StyleGAN3Backend", "control_value", "register"]
