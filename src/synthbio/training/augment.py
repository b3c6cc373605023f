"""Adaptive discriminator augmentation (ADA, Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"), the 'bgc' pipeline, in plain PyTorch.

Every op is applied to each sample with probability p * multiplier, where p is
the overall strength that `AdaController` tunes during training.

Geometry (section 2.3 and appendix B of the paper). Per sample, the inverse
transforms (output pixel -> input pixel, in pixel units about the image centre)
are composed into 3x3 homogeneous matrices in two groups:
- pixel blitting: x-flip, 90-degree rotation, integer translation. Their
  matrices have entries in {-1, 0, 1} and integer offsets, so they run as an
  exact gather of pixels, with reflect padding where the translation uncovers
  the border (exact for square images);
- general: isotropic scale, pre-rotation, anisotropic scale, post-rotation,
  fractional translation. Samples whose general matrix is not the identity are
  resampled once, as in the official code: reflect padding, 2x up-sampling
  with an orthogonal wavelet low-pass (symlet 6, computed here from
  Daubechies' construction), bilinear `grid_sample` on the 2x image, and 2x
  down-sampling with the mirrored low-pass. Orthogonality makes up- then
  down-sampling an exact identity, so only off-grid sampling blurs.
Colour: one 4x4 matrix per sample acting on (r, g, b, 1): brightness (add b),
contrast (scale about 0), luma flip (Householder reflection about the luma
axis (1,1,1)/sqrt(3)), hue rotation about the luma axis, saturation (scale
away from the luma axis). Three-channel images use the full matrix; any other
channel count gets its luma part (the mean over output rows of the gain and
offset), i.e. brightness, contrast and luma flip.

When every matrix of a batch is the identity (p = 0, or nothing drawn) that
stage is skipped, so p = 0 returns the input unchanged. Randomness comes only
from the `generator` passed to `forward` (or the pipe's own seeded one); the
global RNG is never touched. All steps are differentiable in the images, to
second order (R1 through augmented reals).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn._resample import FilterTaps
from synthbio.nn.layers import downsample2d, upsample2d
from synthbio.training._grid_sample import grid_sample_twice


@dataclass(frozen=True)
class AugmentConfig:
    """Probability multipliers (0 = op off) and ranges of the 'bgc' pipeline.

    Pixel blitting: xflip, rotate90, xint (integer translation up to xint_max of
    the image size). General geometry: scale (log2 std scale_std), rotate (up to
    rotate_max of a full turn, split into a pre- and post-rotation), aniso
    (log2 std aniso_std), xfrac (std xfrac_std of the image size). Colour:
    brightness (std brightness_std, in [-1, 1] image units), contrast (log2 std
    contrast_std), lumaflip, hue (up to hue_max of a full turn), saturation
    (log2 std saturation_std).
    """

    xflip: float = 1
    rotate90: float = 1
    xint: float = 1
    xint_max: float = 0.125
    scale: float = 1
    rotate: float = 1
    aniso: float = 1
    xfrac: float = 1
    scale_std: float = 0.2
    rotate_max: float = 1
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness: float = 1
    contrast: float = 1
    lumaflip: float = 1
    hue: float = 1
    saturation: float = 1
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1
    saturation_std: float = 1

    def __post_init__(self) -> None:
        bad = [f.name for f in fields(self) if not (math.isfinite(getattr(self, f.name)) and getattr(self, f.name) >= 0)]
        if bad:
            raise InputError(f"augmentation settings must be finite and >= 0: {', '.join(bad)}")


# ---------------------------------------------------------------------------
# Matrices: [N] parameter tensors -> [N, 3, 3] or [N, 4, 4].


def _stack_matrix(rows: list[list[Tensor | float]], ref: Tensor) -> Tensor:
    """Per-sample matrices from nested rows of [N] tensors or Python numbers."""
    elems = [e if isinstance(e, Tensor) else torch.full_like(ref, float(e)) for row in rows for e in row]
    return torch.stack(elems, dim=-1).reshape(ref.shape[0], len(rows), len(rows[0]))


def translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    return _stack_matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    return _stack_matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(cos: Tensor, sin: Tensor) -> Tensor:
    """Counter-clockwise rotation (in x-right, y-down pixel axes: clockwise on screen)."""
    return _stack_matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], cos)


def _luma_axis(ref: Tensor) -> Tensor:
    return torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=ref.dtype, device=ref.device) / math.sqrt(3)


def rotate_about_luma(theta: Tensor) -> Tensor:
    """[N, 4, 4] rotation by theta about the axis (1,1,1)/sqrt(3) (Rodrigues' formula)."""
    # Cross-product matrix [v]_x of v = (1, 1, 1) / sqrt(3).
    k = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=theta.dtype,
                     device=theta.device) / math.sqrt(3)
    s, c = theta.sin()[:, None, None], theta.cos()[:, None, None]
    r3 = torch.eye(3, dtype=theta.dtype, device=theta.device) + s * k + (1 - c) * (k @ k)
    out = torch.eye(4, dtype=theta.dtype, device=theta.device).repeat(theta.shape[0], 1, 1)
    out[:, :3, :3] = r3
    return out


# ---------------------------------------------------------------------------
# Parameter sampling.


class _Draw:
    """Uniform and normal draws from one generator, moved to the working device."""

    def __init__(self, generator: torch.Generator, device: torch.device) -> None:
        self.generator, self.device = generator, device

    def rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, generator=self.generator, device=self.generator.device).to(self.device)

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.generator.device).to(self.device)

    def gate(self, n: int, prob: Tensor, value: Tensor, off: float) -> Tensor:
        """value where a uniform draw is below prob (per sample, broadcast over trailing dims), else off."""
        keep = self.rand(n).reshape([n] + [1] * (value.ndim - 1)) < prob
        return torch.where(keep, value, torch.full_like(value, off))


def sample_geometry(n: int, *, config: AugmentConfig, p: Tensor, width: int, height: int,
                    generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
    """Inverse geometric transforms (output -> input pixel, centred coordinates).

    Returns (blit_inv, general_inv), both float32 [n, 3, 3]; the full inverse is
    blit_inv @ general_inv, i.e. the blit acts on the image first.
    """
    d = _Draw(generator, device)
    p = p.to(device=device, dtype=torch.float32)
    eye = torch.eye(3, device=device).repeat(n, 1, 1)
    blit, general = eye, eye.clone()
    if config.xflip > 0:
        i = d.gate(n, config.xflip * p, torch.floor(d.rand(n) * 2), 0.0)
        blit = blit @ scale2d(1 - 2 * i, torch.ones_like(i))
    if config.rotate90 > 0:
        k = d.gate(n, config.rotate90 * p, torch.floor(d.rand(n) * 4), 0.0).long()
        # Exact cos/sin of k * 90 degrees, so the blit matrix stays integer.
        cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=device)[k]
        sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=device)[k]
        blit = blit @ rotate2d(cos, sin)
    if config.xint > 0:
        t = d.gate(n, config.xint * p, (d.rand(n, 2) * 2 - 1) * config.xint_max, 0.0)
        blit = blit @ translate2d(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height))
    if config.scale > 0:
        s = d.gate(n, config.scale * p, torch.exp2(d.randn(n) * config.scale_std), 1.0)
        general = general @ scale2d(1 / s, 1 / s)
    # Pre- and post-rotation each with p_rot, so that P(at least one) = rotate * p.
    p_rot = 1 - torch.sqrt((1 - config.rotate * p).clamp(0, 1))
    if config.rotate > 0:
        theta = d.gate(n, p_rot, (d.rand(n) * 2 - 1) * math.pi * config.rotate_max, 0.0)
        general = general @ rotate2d(torch.cos(-theta), torch.sin(-theta))
    if config.aniso > 0:
        s = d.gate(n, config.aniso * p, torch.exp2(d.randn(n) * config.aniso_std), 1.0)
        general = general @ scale2d(1 / s, s)
    if config.rotate > 0:
        theta = d.gate(n, p_rot, (d.rand(n) * 2 - 1) * math.pi * config.rotate_max, 0.0)
        general = general @ rotate2d(torch.cos(-theta), torch.sin(-theta))
    if config.xfrac > 0:
        t = d.gate(n, config.xfrac * p, d.randn(n, 2) * config.xfrac_std, 0.0)
        general = general @ translate2d(-t[:, 0] * width, -t[:, 1] * height)
    return blit, general


def sample_color(n: int, *, config: AugmentConfig, p: Tensor, rgb: bool,
                 generator: torch.Generator, device: torch.device) -> Tensor:
    """[n, 4, 4] colour matrices acting on (r, g, b, 1); hue and saturation only when rgb."""
    d = _Draw(generator, device)
    p = p.to(device=device, dtype=torch.float32)
    eye = torch.eye(4, device=device)
    c = eye.repeat(n, 1, 1)
    v = _luma_axis(eye)
    vv = torch.outer(v, v)
    if config.brightness > 0:
        b = d.gate(n, config.brightness * p, d.randn(n) * config.brightness_std, 0.0)
        shift = eye.repeat(n, 1, 1)
        shift[:, :3, 3] = b[:, None]
        c = shift @ c
    if config.contrast > 0:
        k = d.gate(n, config.contrast * p, torch.exp2(d.randn(n) * config.contrast_std), 1.0)
        c = torch.diag_embed(torch.stack([k, k, k, torch.ones_like(k)], dim=-1)) @ c
    if config.lumaflip > 0:
        i = d.gate(n, config.lumaflip * p, torch.floor(d.rand(n) * 2), 0.0)
        c = (eye - 2 * vv * i[:, None, None]) @ c  # Householder reflection when i = 1
    if config.hue > 0 and rgb:
        theta = d.gate(n, config.hue * p, (d.rand(n) * 2 - 1) * math.pi * config.hue_max, 0.0)
        c = rotate_about_luma(theta) @ c
    if config.saturation > 0 and rgb:
        s = d.gate(n, config.saturation * p, torch.exp2(d.randn(n) * config.saturation_std), 1.0)
        c = (vv + (eye - vv) * s[:, None, None]) @ c
    return c


def is_identity(m: Tensor) -> Tensor:
    """[N] bool: which of the [N, K, K] matrices are exactly the identity."""
    eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
    return (m == eye).flatten(1).all(dim=1)


# ---------------------------------------------------------------------------
# Applying the transforms.


def _reflect_index(i: Tensor, size: int) -> Tensor:
    """Integer coordinates folded into [0, size) by mirror reflection without edge repeat
    (..., 2, 1, 0, 1, 2, ..., size-1, size-2, ...), the 'reflect' padding of F.pad."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)


def apply_blit(images: Tensor, blit_inv: Tensor) -> Tensor:
    """Exact pixel blit: out[n, :, y, x] = images[n, :, y', x'] with (x', y') = blit_inv @ (x, y)
    in centred coordinates, reflected into the image. [N, C, H, W] -> [N, C, H, W]."""
    n, c, h, w = images.shape
    dev = images.device
    m = blit_inv.to(device=dev, dtype=torch.float64)
    v, u = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float64) - (h - 1) / 2,
                          torch.arange(w, device=dev, dtype=torch.float64) - (w - 1) / 2, indexing="ij")
    uv1 = torch.stack([u.flatten(), v.flatten(), torch.ones_like(u.flatten())])  # [3, H*W]
    src = m @ uv1  # [N, 3, H*W]
    ix = _reflect_index(torch.round(src[:, 0] + (w - 1) / 2).long(), w)
    iy = _reflect_index(torch.round(src[:, 1] + (h - 1) / 2).long(), h)
    flat = (iy * w + ix)[:, None, :].expand(n, c, h * w)
    return torch.gather(images.reshape(n, c, h * w), 2, flat).reshape(n, c, h, w)


@functools.lru_cache(maxsize=None)
def orthogonal_lowpass(order: int = 6) -> tuple[float, ...]:
    """Least-asymmetric orthogonal Daubechies low-pass of `order` vanishing moments (2*order taps;
    order 6 is the 'symlet 6' wavelet), normalised to unit DC gain.

    Daubechies' construction: |H(w)|^2 = cos^(2N)(w/2) P(sin^2(w/2)) with
    P(y) = sum_k C(N-1+k, k) y^k; each root y_k of P gives a reciprocal pair of
    zeros z + 1/z = 2 - 4 y_k, and one zero of every pair goes into H. Among the
    real-coefficient choices, the one whose phase is closest to linear is kept.
    Orthogonality (sum_k h[k] h[k+2m] = 0 for m != 0) makes 2x up-sampling with h
    followed by 2x down-sampling with the mirrored h an exact identity, so a
    transform that lands on the pixel grid (a pure integer shift, a quarter turn)
    loses nothing in the resampler.
    """
    n = order
    y_roots = np.roots([math.comb(n - 1 + k, k) for k in range(n)][::-1])
    pairs = [np.roots([1.0, -(2 - 4 * y), 1.0]) for y in y_roots]
    w = np.linspace(0, np.pi, 512)[1:-1]
    best: tuple[float, np.ndarray] | None = None
    for choice in itertools.product((0, 1), repeat=len(pairs)):
        q = np.poly([pair[c] for pair, c in zip(pairs, choice)])
        if np.abs(q.imag).max() > 1e-8:
            continue  # complex zeros must come with their conjugates
        h = np.real(np.convolve(np.poly([-1.0] * n), q))  # (1 + z^-1)^N Q(z)
        phase = np.unwrap(np.angle(np.polyval(h[::-1], np.exp(-1j * w))))
        deviation = float(np.abs(phase - np.polyval(np.polyfit(w, phase, 1), w)).max())
        if best is None or deviation < best[0] - 1e-9:
            best = (deviation, h)
    assert best is not None
    h = best[1] / best[1].sum()
    # The mirrored filter is equally asymmetric; fix the orientation (energy centroid before the middle).
    centroid = float((np.arange(h.size) * h**2).sum() / (h**2).sum())
    if centroid > (h.size - 1) / 2:
        h = h[::-1]
    return tuple(float(v) for v in h)


def upsampling_delay(taps: tuple[float, ...]) -> float:
    """Where 2x pixel j of `upsample2d(x, taps)` sits, relative to the centred position
    (j + 0.5) / 2 - 0.5, in input pixels: the filter's DC delay (mid - centroid) / 2 (about
    0.20 for symlet 6), rounded to a multiple of 1/4 so on-grid transforms sample 2x pixel
    centres exactly. The mirrored down-sampling filter undoes it."""
    h = np.asarray(taps)
    centroid = float((np.arange(h.size) * h).sum() / h.sum())
    return round(2 * ((h.size - 1) / 2 - centroid)) / 4


_OUT_MARGIN = 3  # output pixels computed beyond each border so the down-sampling filter sees no zeros
_IN_SUPPORT = 4  # input pixels read around a sampled point (up-sampling filter 3 + bilinear 0.5, rounded up)


def apply_resample(images: Tensor, general_inv: Tensor) -> Tensor:
    """Resample [N, C, H, W] images with per-sample inverse affine matrices [N, 3, 3]
    (output -> input, centred pixel coordinates); reflect padding outside the image."""
    n, c, h, w = images.shape
    dev, dt = images.device, images.dtype
    m = general_inv.to(device=dev, dtype=torch.float64)
    cx, cy, q = (w - 1) / 2, (h - 1) / 2, _OUT_MARGIN
    # Input area read: where the corners of the (margin-extended) output land.
    ex, ey = cx + q + 0.25, cy + q + 0.25
    corners = torch.tensor([[-ex, -ey, 1], [ex, -ey, 1], [ex, ey, 1], [-ex, ey, 1]], dtype=torch.float64, device=dev)
    reach = (m @ corners.t())[:, :2]  # [N, 2, 4]
    lo = reach.amin(dim=(0, 2)).tolist()
    hi = reach.amax(dim=(0, 2)).tolist()
    mx0, my0 = (min(max(math.ceil(-(lo[k] + cc) + _IN_SUPPORT), 0), s - 1) for k, cc, s in ((0, cx, w), (1, cy, h)))
    mx1, my1 = (min(max(math.ceil(hi[k] - cc + _IN_SUPPORT), 0), s - 1) for k, cc, s in ((0, cx, w), (1, cy, h)))
    x = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
    hp, wp = h + my0 + my1, w + mx0 + mx1
    taps = orthogonal_lowpass()
    f = FilterTaps(taps, taps)
    delay = upsampling_delay(taps)
    x = upsample2d(x, f, up=2)  # [N, C, 2Hp, 2Wp]; 2x pixel j holds input coordinate (j + 0.5) / 2 - 0.5 + delay
    # Output samples on the 2x grid of the extended output area (same delay: the down-sampling
    # filter is the mirror image), in centred coordinates.
    ju = (torch.arange(2 * (w + 2 * q), device=dev, dtype=torch.float64) + 0.5) / 2 - 0.5 + delay - q - cx
    jv = (torch.arange(2 * (h + 2 * q), device=dev, dtype=torch.float64) + 0.5) / 2 - 0.5 + delay - q - cy
    v, u = torch.meshgrid(jv, ju, indexing="ij")
    src = torch.einsum("nij,jhw->nhwi", m[:, :2, :], torch.stack([u, v, torch.ones_like(u)]))  # [N, h2, w2, 2]
    # align_corners=False: 2x pixel j is at normalised (j + 0.5) / (2 Wp) * 2 - 1, which for the
    # padded input coordinate x_p is (x_p - delay + 0.5) / Wp * 2 - 1.
    gx = (src[..., 0] + cx + mx0 - delay + 0.5) / wp * 2 - 1
    gy = (src[..., 1] + cy + my0 - delay + 0.5) / hp * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).to(dt)
    x = grid_sample_twice(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    x = downsample2d(x, f, down=2, flip_filter=True)  # mirrored h: the adjoint of the up-sampling, [N, C, H+2q, W+2q]
    return x[:, :, q : q + h, q : q + w]


def apply_color(images: Tensor, color: Tensor) -> Tensor:
    """Apply [N, 4, 4] colour matrices to [N, C, H, W] images: the full matrix when C = 3,
    else its luma part (mean gain and offset of the three output rows) to every channel."""
    m = color.to(device=images.device, dtype=images.dtype)
    if images.shape[1] == 3:
        return torch.einsum("nij,njhw->nihw", m[:, :3, :3], images) + m[:, :3, 3, None, None]
    gain = m[:, :3, :3].sum(dim=2).mean(dim=1)
    offset = m[:, :3, 3].mean(dim=1)
    return images * gain[:, None, None, None] + offset[:, None, None, None]


# ---------------------------------------------------------------------------
# Module.


class AugmentPipe(torch.nn.Module):
    """ADA augmentation of [N, C, H, W] float images, or of a dict of aligned branches.

    p (buffer, scalar): overall probability multiplier, tuned by AdaController and
    saved with the training state. seed: seed of the pipe's own generator, used
    when forward gets none (pass one explicitly for an exactly resumable run).
    """

    p: Tensor

    def __init__(self, config: AugmentConfig = AugmentConfig(), *, p: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("p", torch.tensor(float(p)))
        self._generator = torch.Generator().manual_seed(seed)

    def extra_repr(self) -> str:
        on = [k for k, val in asdict(self.config).items() if not k.endswith(("_std", "_max")) and val > 0]
        return f"p={float(self.p):.4f}, ops=[{', '.join(on)}]"

    def forward(self, images: Tensor | dict[str, Tensor], *,
                generator: torch.Generator | None = None) -> Tensor | dict[str, Tensor]:
        """Augment; a dict gets the same geometry in every branch and per-sample shared colour
        parameters (full colour matrix on 3-channel branches, its luma part on others)."""
        single = isinstance(images, Tensor)
        branches = {"img": images} if single else dict(images)  # type: ignore[arg-type]
        if not branches:
            raise InputError("AugmentPipe got an empty dict of images")
        shapes = {k: tuple(v.shape) for k, v in branches.items()}
        first = next(iter(branches.values()))
        if any(len(s) != 4 for s in shapes.values()) or len({(s[0], s[2], s[3]) for s in shapes.values()}) != 1:
            raise InputError(f"AugmentPipe needs [N, C, H, W] images of one batch and size, got {shapes}")
        if not all(v.is_floating_point() for v in branches.values()):
            raise InputError("AugmentPipe needs float images (use to_float on uint8 batches)")
        n, _, h, w = first.shape
        gen = generator if generator is not None else self._generator
        dev = first.device
        blit, general = sample_geometry(n, config=self.config, p=self.p, width=w, height=h, generator=gen, device=dev)
        color = sample_color(n, config=self.config, p=self.p, rgb=any(s[1] == 3 for s in shapes.values()),
                             generator=gen, device=dev)
        names = list(branches)
        do_blit = not bool(is_identity(blit).all())
        moved = ~is_identity(general)
        if do_blit or bool(moved.any()):
            x = torch.cat([branches[k] for k in names], dim=1)
            if do_blit:
                x = apply_blit(x, blit)
            if bool(moved.any()):
                idx = moved.nonzero().flatten()
                x = x.index_copy(0, idx, apply_resample(x.index_select(0, idx), general.index_select(0, idx)))
            parts = x.split([branches[k].shape[1] for k in names], dim=1)
            branches = dict(zip(names, parts))
        if not bool(is_identity(color).all()):
            branches = {k: apply_color(v, color) for k, v in branches.items()}
        return branches["img"] if single else branches


# ---------------------------------------------------------------------------
# Adaptive strength.


AllReduce = Callable[[Tensor], Tensor]


class AdaController:
    """Tunes AugmentPipe.p from the discriminator's overfitting heuristic r_t = E[sign(D(real))].

    Call `accumulate(real_logits)` every step and `update(pipe)` once per step
    after it; every `interval`-th update sets
        p <- max(0, p + sign(r_t - target) * batch_size * interval / (adjust_kimg * 1000)),
    so p can move by 1 in adjust_kimg thousand images (paper section 3). batch_size
    is the images per step over all ranks. With torch.distributed initialised
    (or an `all_reduce` callable that sums a tensor in place across ranks and
    returns it), r_t is taken over every rank's logits, so p stays equal on all.
    """

    def __init__(self, *, target: float = 0.6, interval: int = 4, adjust_kimg: float = 500, batch_size: int,
                 all_reduce: AllReduce | None = None) -> None:
        if interval < 1 or batch_size < 1 or not adjust_kimg > 0:
            raise InputError("ADA interval and batch_size must be >= 1 and adjust_kimg > 0")
        self.target, self.interval, self.adjust_kimg, self.batch_size = float(target), int(interval), float(adjust_kimg), int(batch_size)
        self.all_reduce = all_reduce
        self.step = 0
        self.last_rt: float | None = None
        self._sum: Tensor | float = 0.0
        self._count = 0

    @property
    def step_size(self) -> float:
        """Change of p at one adjustment."""
        return self.batch_size * self.interval / (self.adjust_kimg * 1000)

    def accumulate(self, real_logits: Tensor) -> None:
        """Add sign(D(real)) of one batch (any shape) to the running mean; no device sync."""
        s = real_logits.detach().sign().sum().to(torch.float64)
        self._sum = s + self._sum
        self._count += real_logits.numel()

    def _reduce(self, stats: Tensor) -> Tensor:
        if self.all_reduce is not None:
            return self.all_reduce(stats)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(stats)
        return stats

    def update(self, pipe: AugmentPipe) -> float | None:
        """Count one step; on every interval-th step adjust pipe.p and return r_t (else None)."""
        self.step += 1
        if self.step % self.interval != 0:
            return None
        total = self._sum if isinstance(self._sum, Tensor) else torch.tensor(self._sum, dtype=torch.float64)
        stats = torch.stack([total.to(torch.float64), torch.tensor(float(self._count), dtype=torch.float64, device=total.device)])
        stats = self._reduce(stats)
        self._sum, self._count = 0.0, 0
        total_sum, count = stats.tolist()
        if count == 0:
            return None
        rt = total_sum / count
        direction = (rt > self.target) - (rt < self.target)
        with torch.no_grad():
            pipe.p.copy_((pipe.p + direction * self.step_size).clamp(min=0))
        self.last_rt = rt
        return rt

    def state_dict(self) -> dict[str, Any]:
        s = self._sum
        return {"step": self.step, "sum": float(s) if not isinstance(s, Tensor) else float(s.item()),
                "count": self._count, "last_rt": self.last_rt, "target": self.target,
                "interval": self.interval, "adjust_kimg": self.adjust_kimg, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters and pending statistics (settings stay those of this controller)."""
        self.step = int(state["step"])
        self._sum = float(state["sum"])
        self._count = int(state["count"])
        self.last_rt = None if state.get("last_rt") is None else float(state["last_rt"])
