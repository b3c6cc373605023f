"""Fingerprint reconstruction from minutiae templates (template inversion).

Two methods sit behind one interface (`Reconstructor`, `load_reconstructor`):
'gabor' grows ridges from the minutiae themselves, no learned model
(`synthbio.fingerprints.ridge_reconstruction`; the default, since it is the
one that reproduces a finger's identity), and 'encoder', below, which draws
the print with a GAN from a trained minutiae encoder.

For 'encoder', a template is rendered as a minutiae map on the generator's square canvas
(`synthbio.fingerprints.minutiae_map.render_minutiae_maps`), a trained
encoder maps it to ws [N, num_ws, w_dim], and the frozen generator draws the
fingerprint (noise_mode='const', so a template always gives the same image):

    maps = render_minutiae_maps(templates, size=G.img_resolution)   # [N, 3, R, R]
    ws   = encoder(maps)                                             # [N, num_ws, w_dim]
    img  = G.synthesis(ws, noise_mode="const")                       # [N, 1, R, R]

Geometry back to the template (`to_template_geometry`): the map puts template
pixel (x, y) at canvas point
    u = x * s + ox,  v = y * s + oy      (s, ox, oy from `template_to_canvas`)
so the reconstruction is resampled at exactly those points for every output
pixel: the template's width x height at its dpi (or at `dpi_out`, scaled by
f = dpi_out / dpi around pixel centres, x = (x_out + 0.5) / f - 0.5). The
padding of the square canvas is cropped away, and the minutiae of the
template line up with the image written (bicubic resampling; when an
output pixel spans more than one canvas pixel the canvas is first resized
with antialiasing).

The geometry back to the template's frame lives in
`synthbio.fingerprints.minutiae_map`; the batch job over template files is
`synthbio.pipelines.fingerprints.reconstruct`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from synthbio.errors import CheckpointError, InputError
from synthbio.fingerprints.minutiae_map import fingerprint_uint8, render_minutiae_maps
from synthbio.fingerprints.ridge_reconstruction import RidgeReconstructor
from synthbio.fingerprints.types import MinutiaeTemplate

DEFAULT_ENCODER = "fingerprint-minutiae-encoder"
DEFAULT_GENERATOR = "fingerprint-default"
METHODS: tuple[str, ...] = ("gabor", "encoder")


# --- the networks -------------------------------------------------------------------------


def _primary_image(G: Any, out: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    if isinstance(out, dict):
        names = getattr(G, "branch_names", None) or list(out)
        return out[names[0]]
    return out


def check_compatible(encoder: torch.nn.Module, generator: Any, *, encoder_name: str = "encoder",
                     generator_name: str = "generator") -> None:
    """CheckpointError unless the encoder's ws and input size fit the generator."""
    cfg = getattr(encoder, "config", None)
    if cfg is None:
        return  # a bare module: shapes are checked when it runs
    want = {"num_ws": generator.num_ws, "w_dim": generator.w_dim, "resolution": generator.img_resolution,
            "in_channels": 3}
    have = {k: getattr(cfg, k, want[k]) for k in want}
    if have != want:
        bad = ", ".join(f"{k} {have[k]} (generator needs {want[k]})" for k in want if have[k] != want[k])
        raise CheckpointError(f"encoder {encoder_name} does not fit generator {generator_name}: {bad}")


def reconstruct(
    templates: Sequence[MinutiaeTemplate],
    *,
    encoder: torch.nn.Module,
    generator: Any,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Fingerprints drawn from templates: float32 [N, 1, R, R] in [-1, 1], on CPU.

    encoder: [N, 3, R, R] minutiae maps -> ws [N, num_ws, w_dim].
    generator: a synthbio Generator (R = G.img_resolution); a 3-channel
    output is averaged to grayscale. Both modules are moved to `device` and
    put in eval mode. Each template's image depends only on that template
    (the networks run in eval mode, noise_mode='const').
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    encoder.to(device).eval()
    generator.to(device).eval()
    check_compatible(encoder, generator)
    res = int(generator.img_resolution)
    out = []
    with torch.no_grad():
        for start in range(0, len(templates), batch_size):
            chunk = list(templates[start : start + batch_size])
            maps = render_minutiae_maps(chunk, size=res, device=device)  # [B, 3, R, R]
            ws = encoder(maps)  # [B, num_ws, w_dim]
            if ws.ndim != 3 or ws.shape[1:] != (generator.num_ws, generator.w_dim):
                raise CheckpointError(f"encoder gave ws of shape {tuple(ws.shape)}, the generator needs "
                                      f"[N, {generator.num_ws}, {generator.w_dim}]")
            img = _primary_image(generator, generator.synthesis(ws, noise_mode="const"))
            if img.shape[1] != 1:
                img = img.mean(dim=1, keepdim=True)
            out.append(img.float().clamp(-1, 1).cpu())
    if not out:
        return torch.zeros(0, 1, res, res)
    return torch.cat(out)


# --- loading ------------------------------------------------------------------------------


@dataclass
class ReconstructionModels:
    """An encoder, its generator, and where each came from."""

    encoder: torch.nn.Module
    generator: Any
    encoder_config: dict[str, Any]
    encoder_source: str
    generator_source: str


def generator_of_encoder(encoder_config: dict[str, Any], encoder_path: str | None = None) -> str:
    """The generator an encoder's config.json names (a path relative to the encoder folder is
    resolved there), else DEFAULT_GENERATOR."""
    name = encoder_config.get("generator")
    if not isinstance(name, str) or not name:
        return DEFAULT_GENERATOR
    if encoder_path is not None and not Path(name).is_absolute():
        beside = Path(encoder_path) / name
        if beside.exists() and not Path(name).exists():
            return str(beside)
    return name


def load_reconstruction_models(encoder: str = DEFAULT_ENCODER, *, model: str | None = None,
                               device: torch.device | str = "cpu") -> ReconstructionModels:
    """Encoder (path or registry name) and generator (`model`, default: the one the encoder names).

    Raises ModelNotFoundError / CheckpointError naming the bad input, and
    CheckpointError when the encoder was not trained for minutiae maps or does
    not fit the generator.
    """
    from synthbio.checkpoints.encoders import load_encoder
    from synthbio.checkpoints.loading import load_generator

    enc, cfg = load_encoder(encoder, device=device)
    task = cfg.get("task")
    if task is not None and task != "minutiae":
        raise CheckpointError(f"encoder {encoder} was trained for task {task!r}, not 'minutiae' (template inversion)")
    encoder_dir = str(encoder) if Path(encoder).exists() else None
    gen_source = model or generator_of_encoder(cfg, encoder_dir)
    G = load_generator(gen_source, device=device)
    check_compatible(enc, G, encoder_name=str(encoder), generator_name=gen_source)
    return ReconstructionModels(encoder=enc.eval(), generator=G, encoder_config=cfg,
                                encoder_source=str(encoder), generator_source=gen_source)


# --- one interface for both methods ---------------------------------------------------------


class Reconstructor(Protocol):
    """Templates -> fingerprint images in each template's frame (minutiae line up)."""

    method: str
    map_size: int  # size of the minutiae-map previews drawn in reports

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance: method, encoder, generator, settings."""
        ...

    def cache_key(self) -> dict[str, Any]:
        """What the images depend on besides the templates (for resumable jobs)."""
        ...

    def images_uint8(self, templates: Sequence[MinutiaeTemplate], *, dpi_out: int | None = None) -> list[np.ndarray]:
        """One uint8 [H, W] image per template (dark ridges), at dpi_out (None = the template's)."""
        ...


class EncoderReconstructor:
    """The 'encoder' method: `reconstruct` + `fingerprint_uint8` over loaded models."""

    method = "encoder"

    def __init__(self, models: ReconstructionModels, *, device: torch.device | str = "cpu",
                 batch_size: int = 16) -> None:
        self.models, self.device, self.batch_size = models, device, batch_size
        self.map_size = int(models.generator.img_resolution)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "encoder": self.models.encoder_source,
                "generator": self.models.generator_source, "settings": None}

    def cache_key(self) -> dict[str, Any]:
        from synthbio.utils.hashing import module_sha256

        return {"encoder": module_sha256(self.models.encoder), "generator": module_sha256(self.models.generator)}

    def images_uint8(self, templates: Sequence[MinutiaeTemplate], *, dpi_out: int | None = None) -> list[np.ndarray]:
        images = reconstruct(templates, encoder=self.models.encoder, generator=self.models.generator,
                             batch_size=self.batch_size, device=self.device)
        return [fingerprint_uint8(img, t, dpi_out=dpi_out) for img, t in zip(images, templates)]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InputError(f"unknown reconstruction method {method!r}: use one of {', '.join(METHODS)}")
    return method


def load_reconstructor(method: str = "gabor", *, encoder: str = DEFAULT_ENCODER, model: str | None = None,
                       device: torch.device | str = "cpu", batch_size: int = 16) -> Reconstructor:
    """The reconstructor of `method` ('gabor' needs no model; 'encoder' loads `encoder` and its generator)."""
    if check_method(method) == "gabor":
        return RidgeReconstructor()
    models = load_reconstruction_models(encoder, model=model, device=device)
    return EncoderReconstructor(models, device=device, batch_size=batch_size)
