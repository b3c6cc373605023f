"""Minutiae maps: a template rendered as 3 channels for reconstruction networks.

Recipe of the reconstruction-from-minutiae framework (see FACTS.md), drawn
on a `canvas` x `canvas` square (512) and resized to the output size:

- channel 0 = bifurcations, 1 = ridge endings, 2 = cores and deltas;
- each minutia is a unit impulse blurred by a Gaussian of sigma 3 px times
  gain 60, i.e. gain / (2 pi sigma^2) * exp(-r^2 / (2 sigma^2)), plus a
  15 px line that starts at the minutia and runs along its direction
  (unit intensity per pixel of length), blurred with sigma sqrt(3), gain 3;
- cores and deltas use sigma 5 and triple gains (180 for the point, 9 for
  the line, which is drawn only when the singularity has an angle);
- minutiae of kind "other" (e.g. read from an .xyt file, which has no type)
  are drawn in both minutia channels by default (`other_as`).

Blurring is linear, so the map is evaluated analytically: every impulse
and every line sample (1 px apart, trapezoid weights) is a separable
Gaussian, and a channel is one matrix product Gy^T @ Gx over all points
(no per-pixel or per-minutia Python loops in the rendering).

Frame mapping (template pixels -> canvas): the template's image
(width x height) is centre-padded to a square of side S = max(width,
height) and scaled by canvas / S, pixel centres to pixel centres:
    u = (x + (S - width) / 2 + 0.5) * canvas / S - 0.5
    v = (y + (S - height) / 2 + 0.5) * canvas / S - 0.5
A width or height of 0 (unknown) is replaced by the extent of the points
(largest coordinate + 1). Sigmas and the line length are canvas pixels.
Angles follow synthbio's convention: the line direction is (cos a, -sin a)
in (x, y) image coordinates (counter-clockwise as seen, y down).
The canvas is resized with area averaging when the output size divides it,
else bilinear with antialiasing; values are per canvas pixel (no rescaling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.fingerprints.minutiae import validate_template
from synthbio.fingerprints.validation import check_drawable, drawn_size
from synthbio.fingerprints.types import MinutiaeTemplate

CHANNELS = ("bifurcation", "ending", "singularity")


@dataclass(frozen=True)
class MinutiaeMapConfig:
    """Rendering constants (defaults: the published recipe).

    canvas: side of the square the points are drawn on before resizing.
    sigma, gain: Gaussian blur and gain of a minutia's impulse.
    line_length, line_sigma, line_gain: the direction line of a minutia.
    singularity_sigma: blur of core/delta impulses; singularity_gain_factor
        multiplies both gains for cores/deltas.
    other_as: channel(s) for minutiae of kind "other" ("both" = channels 0
        and 1, "skip" = not drawn).
    """

    canvas: int = 512
    sigma: float = 3.0
    gain: float = 60.0
    line_length: float = 15.0
    line_sigma: float = math.sqrt(3.0)
    line_gain: float = 3.0
    singularity_sigma: float = 5.0
    singularity_gain_factor: float = 3.0
    other_as: Literal["both", "ending", "bifurcation", "skip"] = "both"

    def __post_init__(self) -> None:
        if self.canvas < 1:
            raise InputError(f"canvas must be >= 1, got {self.canvas}")
        for name in ("sigma", "line_sigma", "singularity_sigma"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.line_length < 0:
            raise InputError(f"line_length must be >= 0, got {self.line_length}")
        if self.other_as not in ("both", "ending", "bifurcation", "skip"):
            raise InputError(f"other_as must be both/ending/bifurcation/skip, got {self.other_as!r}")


def template_to_canvas(
    template: MinutiaeTemplate, canvas: int
) -> tuple[float, float, float]:
    """(scale, offset_x, offset_y) with u = x * scale + offset_x (see module doc)."""
    points = [(m.x, m.y) for m in template.minutiae] + [(s.x, s.y) for s in template.singularities]
    width = template.width or (int(max((p[0] for p in points), default=0.0)) + 1)
    height = template.height or (int(max((p[1] for p in points), default=0.0)) + 1)
    side = max(width, height)
    scale = canvas / side
    off_x = ((side - width) / 2 + 0.5) * scale - 0.5
    off_y = ((side - height) / 2 + 0.5) * scale - 0.5
    return scale, off_x, off_y


def _line_samples(length: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions 0..length, 1 px apart, with trapezoid weights summing to length."""
    n = max(int(math.ceil(length)), 1)
    t = np.linspace(0.0, length, n + 1)
    w = np.full(n + 1, length / n)
    w[0] *= 0.5
    w[-1] *= 0.5
    return t, w


def template_points(
    template: MinutiaeTemplate, config: MinutiaeMapConfig = MinutiaeMapConfig()
) -> np.ndarray:
    """Gaussian points of a template on the canvas: float64 [K, 6].

    Columns: u, v (canvas pixels), sigma, and the amplitude (gain / (2 pi
    sigma^2) times the line-sample weight) in channels 0, 1, 2.
    """
    validate_template(template)
    scale, off_x, off_y = template_to_canvas(template, config.canvas)
    t, w = _line_samples(config.line_length)

    rows: list[np.ndarray] = []
    channel_sets = {
        "bifurcation": (0,),
        "ending": (1,),
        "other": {"both": (0, 1), "ending": (1,), "bifurcation": (0,), "skip": ()}[config.other_as],
    }
    features = [
        (m.x, m.y, m.angle, channel_sets[m.kind], config.sigma, config.gain, config.line_gain)
        for m in template.minutiae
    ]
    factor = config.singularity_gain_factor
    features += [
        (s.x, s.y, s.angle, (2,), config.singularity_sigma, config.gain * factor, config.line_gain * factor)
        for s in template.singularities
    ]
    if not features:
        return np.zeros((0, 6))
    xs = np.array([f[0] for f in features]) * scale + off_x
    ys = np.array([f[1] for f in features]) * scale + off_y
    has_angle = np.array([f[2] is not None for f in features])
    angles = np.array([f[2] if f[2] is not None else 0.0 for f in features])
    sig = np.array([f[4] for f in features])
    gains = np.array([f[5] for f in features])
    line_gains = np.array([f[6] for f in features]) * has_angle
    masks = np.zeros((len(features), 3))
    for i, f in enumerate(features):
        masks[i, list(f[3])] = 1.0

    # Impulses: one point per feature.
    amp = gains / (2.0 * math.pi * sig**2)
    rows.append(np.column_stack([xs, ys, sig, masks * amp[:, None]]))
    # Lines: n_line samples per feature along (cos a, -sin a).
    lu = xs[:, None] + t[None, :] * np.cos(angles)[:, None]
    lv = ys[:, None] - t[None, :] * np.sin(angles)[:, None]
    lsig = np.full_like(lu, config.line_sigma)
    lamp = (line_gains / (2.0 * math.pi * config.line_sigma**2))[:, None] * w[None, :]
    lmask = masks[:, None, :] * lamp[:, :, None]  # [F, n_line, 3]
    rows.append(
        np.column_stack([lu.ravel(), lv.ravel(), lsig.ravel(), lmask.reshape(-1, 3)])
    )
    out = np.concatenate(rows, axis=0)
    return out[np.abs(out[:, 3:]).sum(axis=1) > 0]  # drop points drawn in no channel


def _render_points(points: torch.Tensor, canvas: int) -> torch.Tensor:
    """points [N, K, 6] (padding rows have zero amplitude) -> maps [N, 3, canvas, canvas]."""
    grid = torch.arange(canvas, dtype=points.dtype, device=points.device)
    u, v, sig = points[..., 0:1], points[..., 1:2], points[..., 2:3]
    gx = torch.exp(-((grid - u) ** 2) / (2.0 * sig**2))  # [N, K, W]
    gy = torch.exp(-((grid - v) ** 2) / (2.0 * sig**2))  # [N, K, H]
    amps = points[..., 3:6]  # [N, K, 3]
    # map[n, c, i, j] = sum_k amps[n, k, c] * gy[n, k, i] * gx[n, k, j]
    return torch.einsum("nkc,nki,nkj->ncij", amps, gy, gx)


def _resize(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = maps.shape[-2:]
    if (h, w) == size:
        return maps
    if h % size[0] == 0 and w % size[1] == 0:
        return F.interpolate(maps, size=size, mode="area")
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False, antialias=True)


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or min(pair) < 1:
        raise InputError(f"size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def render_minutiae_maps(
    templates: Sequence[MinutiaeTemplate],
    *,
    size: int | tuple[int, int] = 256,
    config: MinutiaeMapConfig = MinutiaeMapConfig(),
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Minutiae maps of a batch of templates: float32 [N, 3, H, W].

    Channels: 0 bifurcations, 1 endings, 2 cores/deltas (see module doc).
    Each map depends only on its own template (padding has zero amplitude).
    """
    out_size = _as_size(size)
    per_template = [template_points(t, config) for t in templates]
    n_max = max((p.shape[0] for p in per_template), default=0)
    batch = np.zeros((len(per_template), max(n_max, 1), 6))
    batch[:, :, 2] = 1.0  # sigma of padding rows (amplitude stays 0)
    for i, p in enumerate(per_template):
        batch[i, : p.shape[0]] = p
    points = torch.as_tensor(batch, dtype=torch.float32, device=device)
    maps = _render_points(points, config.canvas).to(torch.float32)
    return _resize(maps, out_size)


def render_minutiae_map(
    template: MinutiaeTemplate,
    *,
    size: int | tuple[int, int] = 256,
    config: MinutiaeMapConfig = MinutiaeMapConfig(),
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Minutiae map of one template: float32 [3, H, W] (see module doc)."""
    return render_minutiae_maps([template], size=size, config=config, device=device)[0]


# --- back to the template's frame -----------------------------------------------------------------------------


def output_size(template: MinutiaeTemplate, *, dpi_out: int | None = None) -> tuple[int, int]:
    """(height, width) in pixels of a template's image written at dpi_out (None = its own dpi).

    TemplateError when that image is outside the drawing limits
    (`synthbio.fingerprints.validation.check_drawable`): every drawing asks
    for its size here before it allocates a pixel.
    """
    if dpi_out is not None and dpi_out <= 0:
        raise InputError(f"dpi_out must be positive, got {dpi_out}")
    check_drawable(template, dpi_out=dpi_out)
    return drawn_size(template, dpi_out=dpi_out)


def to_template_geometry(image: torch.Tensor, template: MinutiaeTemplate, *,
                         dpi_out: int | None = None) -> torch.Tensor:
    """A canvas image [C, R, R] resampled onto the template's frame: [C, H, W] (module docstring).

    The point drawn at template pixel (x, y) on the minutiae map lands at
    output pixel (x, y) * dpi_out / dpi. Values stay in the input's range.
    """
    if image.ndim != 3 or image.shape[1] != image.shape[2]:
        raise InputError(f"expected a square canvas image [C, R, R], got {tuple(image.shape)}")
    res = image.shape[-1]
    h_out, w_out = output_size(template, dpi_out=dpi_out)
    f = 1.0 if dpi_out is None else dpi_out / template.dpi
    s, ox, oy = template_to_canvas(template, res)
    canvas = image[None].float()
    step = s / f  # canvas pixels per output pixel
    if step > 1.0:  # shrinking: low-pass first so the bicubic taps do not alias
        small = max(1, round(res / step))
        canvas = F.interpolate(canvas, size=(small, small), mode="bilinear", align_corners=False, antialias=True)
        r = small / res  # pixel centres to pixel centres: u' = (u + 0.5) r - 0.5
        s, ox, oy, res = s * r, (ox + 0.5) * r - 0.5, (oy + 0.5) * r - 0.5, small
    xs = (torch.arange(w_out, dtype=torch.float64) + 0.5) / f - 0.5
    ys = (torch.arange(h_out, dtype=torch.float64) + 0.5) / f - 0.5
    u = xs * s + ox
    v = ys * s + oy
    # grid_sample (align_corners=False): normalised -1/+1 are the outer edges of the canvas.
    gx = ((u + 0.5) / res * 2 - 1).to(torch.float32)
    gy = ((v + 0.5) / res * 2 - 1).to(torch.float32)
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]  # [1, H, W, 2] as (x, y)
    out = F.grid_sample(canvas, grid.to(canvas.device), mode="bicubic", padding_mode="border", align_corners=False)
    lo, hi = float(image.min()), float(image.max())
    return out[0].clamp(lo, hi)  # bicubic overshoot stays within the input's range


def images_to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 1, H, W] in [-1, 1] -> [N, H, W] uint8 (synthbio's PNG rounding, x * 127.5 + 128)."""
    return (images[:, 0].float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def fingerprint_uint8(image: torch.Tensor, template: MinutiaeTemplate, *, dpi_out: int | None = None) -> np.ndarray:
    """One reconstruction [1, R, R] in [-1, 1] -> uint8 [H, W] in the template's frame."""
    return images_to_uint8(to_template_geometry(image, template, dpi_out=dpi_out)[None])[0]


def minutiae_map_preview(template: MinutiaeTemplate, *, size: int, dpi_out: int | None = None) -> np.ndarray:
    """The minutiae map the encoder sees, in the template's frame: uint8 RGB [H, W, 3].

    Channels as rendered (red bifurcations, green endings, blue cores/deltas),
    scaled so the brightest half of the strongest point saturates.
    """
    maps = render_minutiae_maps([template], size=size)[0]  # [3, R, R]
    peak = float(maps.max())
    scaled = maps / (0.5 * peak) if peak > 0 else maps
    framed = to_template_geometry(scaled.clamp(0, 1), template, dpi_out=dpi_out)
    return (framed.permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
