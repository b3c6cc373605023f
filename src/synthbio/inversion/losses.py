"""Reconstruction losses for projection and encoder training: pluggable, per sample.

Every loss is a `ReconstructionLoss`: `prepare(targets)` computes once what
depends only on the targets (VGG features, identity embeddings, orientation
fields), and `forward(images, prepared)` returns one differentiable value per
sample, shape [N]. A sample's loss depends only on that sample, whatever the
batch holds. Images are [N, C, H, W] in [-1, 1].

- `PixelLoss("l2" | "l1")`: mean squared / absolute difference per sample.
- `MSSSIMLoss()`: 1 - MS-SSIM (Wang, Simoncelli & Bovik 2003).
- `VGGPerceptualLoss(vgg, heads=None)`: LPIPS distance (Zhang et al. 2018) on
  VGG16 relu1_2..relu5_3; without learned heads every channel weighs 1.
- `IdentityLoss(model)`: 1 - cosine similarity of identity embeddings.
- `OrientationFieldLoss()`: fingerprints; disagreement of the ridge
  orientation fields, weighted by the target's coherence.
- `WeightedSum([(w, loss), ...])`.

`build_reconstruction_loss("l2+0.8*vgg")` builds a sum from a spec string.
"""

from __future__ import annotations

import abc
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from synthbio.errors import InputError
from synthbio.fingerprints.ridge_maps import orientation_field
from synthbio.nn.vgg import LPIPSHeads, VGG16Features

# MS-SSIM constants of Wang et al. 2003: per-scale exponents, window, stabilisers.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 2.0  # images in [-1, 1]
_MS_SSIM_FLOOR = 1e-8  # negative cs / SSIM are clamped here before fractional powers
_LPIPS_EPS = 1e-10  # lpips' normalize_tensor epsilon


def _check_pair(images: torch.Tensor, targets: torch.Tensor, what: str) -> None:
    if images.ndim != 4:
        raise InputError(f"{what}: images must be [N, C, H, W], got shape {tuple(images.shape)}")
    if images.shape != targets.shape:
        raise InputError(f"{what}: images {tuple(images.shape)} and targets {tuple(targets.shape)} differ in shape")


class ReconstructionLoss(nn.Module, abc.ABC):
    """Base class: `prepare(targets) -> prepared`, `forward(images, prepared) -> [N]`."""

    def prepare(self, targets: torch.Tensor) -> Any:
        """Targets [N, C, H, W] in [-1, 1] -> whatever `forward` compares against (default: targets)."""
        return targets.detach()

    @abc.abstractmethod
    def forward(self, images: torch.Tensor, prepared: Any) -> torch.Tensor:
        """Images [N, C, H, W] in [-1, 1] and `prepare(targets)` -> per-sample loss [N]."""

    def distance(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """forward(images, prepare(targets)) -> [N]."""
        return self(images, self.prepare(targets))


# --- pixels ---------------------------------------------------------------------------------


class PixelLoss(ReconstructionLoss):
    """Mean over C, H, W of (x - y)^2 ('l2') or |x - y| ('l1')."""

    def __init__(self, kind: str = "l2") -> None:
        super().__init__()
        if kind not in ("l2", "l1"):
            raise InputError(f"pixel loss kind must be 'l2' or 'l1', got {kind!r}")
        self.kind = kind

    def extra_repr(self) -> str:
        return f"kind={self.kind}"

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        _check_pair(images, prepared, f"{self.kind} loss")
        diff = images - prepared
        per_pixel = diff.square() if self.kind == "l2" else diff.abs()
        return per_pixel.flatten(1).mean(dim=1)


# --- MS-SSIM --------------------------------------------------------------------------------


def _gaussian_taps(size: int, sigma: float, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Normalised 1-D Gaussian of `size` (odd) taps [size]."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _no_autocast(x: torch.Tensor) -> torch.autocast:
    """Keeps filtering and distances in the inputs' precision under a caller's autocast
    (bf16 projection): local variances as E[x^2] - mu^2 lose every digit in bf16."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def _filter_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of each channel: [N, C, H, W] -> [N, C, H-k+1, W-k+1]."""
    c = x.shape[1]
    k = taps.numel()
    with _no_autocast(x):
        x = F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
        return F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _window_size(height: int, width: int) -> int:
    """SSIM window: 11 taps, or the largest odd size that fits smaller images."""
    side = min(height, width, SSIM_WINDOW)
    return side if side % 2 else side - 1


def ssim_components(x: torch.Tensor, y: torch.Tensor, *, data_range: float = DATA_RANGE
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and mean contrast-structure term cs, each [N, C].

    SSIM = l * cs with l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) and
    cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2) (Wang et al. 2004,
    eq. 13 with C3 = C2/2), local statistics under a Gaussian window
    (11 taps, sigma 1.5) over the 'valid' region. Images smaller than 11
    pixels use the largest odd window that fits.
    """
    if min(x.shape[2:]) < 1:
        raise InputError(f"SSIM needs non-empty images, got shape {tuple(x.shape)}")
    taps = _gaussian_taps(_window_size(*x.shape[2:]), SSIM_SIGMA, device=x.device, dtype=x.dtype)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, taps), _filter_valid(y, taps)
    var_x = _filter_valid(x * x, taps) - mu_x**2
    var_y = _filter_valid(y * y, taps) - mu_y**2
    cov = _filter_valid(x * y, taps) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    lum_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum_map * cs_map).mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Single-scale SSIM [N] (mean over channels) of images [N, C, H, W]."""
    _check_pair(x, y, "SSIM")
    return ssim_components(x, y, data_range=data_range)[0].mean(dim=1)


def ms_ssim_scales(height: int, width: int) -> int:
    """Scales used for an H x W image: 5, or fewer while the coarsest would be under 11 pixels."""
    scales = 1
    side = min(height, width)
    while scales < len(MS_SSIM_WEIGHTS) and side // 2 >= SSIM_WINDOW:
        side //= 2
        scales += 1
    return scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = DATA_RANGE) -> torch.Tensor:
    """MS-SSIM [N] of images [N, C, H, W] (Wang, Simoncelli & Bovik 2003, eq. 7).

    MS-SSIM = l_M^w_M * prod_j cs_j^w_j over M scales, each scale halving the
    image by 2x2 averaging (an odd last row or column is dropped). Negative
    cs / SSIM values are clamped to ~0 (1e-8) before the fractional powers (as
    common implementations do). The five published
    weights need images of at least 176 pixels (11 at the coarsest scale); smaller
    images use the scales that fit (`ms_ssim_scales`) with the first weights
    renormalised to sum to 1, down to single-scale SSIM (under 22 pixels; under
    11 pixels the window shrinks to the largest odd size that fits).
    Computed per channel, then averaged over channels.
    """
    _check_pair(x, y, "MS-SSIM")
    scales = ms_ssim_scales(*x.shape[2:])
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=x.device, dtype=x.dtype)
    if scales < len(MS_SSIM_WEIGHTS):  # the published five sum to 1.0001 and are used as published
        weights = weights / weights.sum()
    factors = []
    for j in range(scales):
        full, cs = ssim_components(x, y, data_range=data_range)
        factors.append(full if j == scales - 1 else cs)
        if j < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    # clamp to a tiny positive floor, not 0: d(x^w)/dx is infinite at 0 (NaN gradients)
    stacked = torch.stack(factors, dim=-1).clamp_min(_MS_SSIM_FLOOR)  # [N, C, scales]
    return (stacked ** weights).prod(dim=-1).mean(dim=1)


class MSSSIMLoss(ReconstructionLoss):
    """1 - MS-SSIM per sample (see `ms_ssim`), data range 2 for [-1, 1] images."""

    def __init__(self, *, data_range: float = DATA_RANGE) -> None:
        super().__init__()
        self.data_range = float(data_range)

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        return 1 - ms_ssim(images, prepared, data_range=self.data_range)


# --- VGG / LPIPS ----------------------------------------------------------------------------


def _unit_channels(f: torch.Tensor) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit length (LPIPS eq. 1): [N, C, H, W]."""
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + _LPIPS_EPS)


class VGGPerceptualLoss(ReconstructionLoss):
    """LPIPS-style distance: sum over the 5 VGG16 taps of the spatial mean of
    sum_c w_c (f_x - f_y)_c^2, with f unit-normalised along channels.

    heads: learned LPIPS v0.1 weights w (`synthbio.checkpoints.vgg.load_lpips_heads`);
        None weighs every channel 1 (the lpips package's `lpips=False` baseline,
        each layer's term then lies in [0, 4]).
    resize: images larger than this many pixels (along H or W) are
        area-downsampled so that side is `resize`, as the StyleGAN2-ADA projector
        does at 256; None keeps the size.
    The VGG weights stay frozen; gradients flow to the images.
    """

    def __init__(self, vgg: VGG16Features, *, heads: LPIPSHeads | None = None, resize: int | None = 256) -> None:
        super().__init__()
        if heads is not None and heads.widths != vgg.widths:
            raise InputError(f"LPIPS heads of widths {heads.widths} do not fit VGG widths {vgg.widths}")
        if resize is not None and resize < 16:
            raise InputError(f"VGG resize must be at least 16 pixels, got {resize}")
        self.vgg = vgg.requires_grad_(False).eval()
        self.heads = heads
        self.resize = resize

    def extra_repr(self) -> str:
        return f"learned_heads={self.heads is not None}, resize={self.resize}"

    def train(self, mode: bool = True) -> VGGPerceptualLoss:  # the VGG has no train-time behaviour to switch
        super().train(mode)
        self.vgg.eval()
        return self

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        if self.resize is not None and max(images.shape[2:]) > self.resize:
            scale = self.resize / max(images.shape[2:])
            size = (max(1, round(images.shape[2] * scale)), max(1, round(images.shape[3] * scale)))
            images = F.interpolate(images, size=size, mode="area")
        # float(): under bf16 autocast (bf16 projection) only the VGG convs run in bf16
        return [_unit_channels(f.float()) for f in self.vgg(images)]

    def prepare(self, targets: torch.Tensor) -> list[torch.Tensor]:
        """Targets -> their unit-normalised VGG features (5 tensors, no grad)."""
        with torch.no_grad():
            return [f.detach() for f in self._features(targets)]

    def forward(self, images: torch.Tensor, prepared: list[torch.Tensor]) -> torch.Tensor:
        feats = self._features(images)
        weights = self.heads.layer_weights() if self.heads is not None else [None] * len(feats)
        total = images.new_zeros(images.shape[0])
        for f, t, w in zip(feats, prepared, weights):
            if f.shape != t.shape:
                raise InputError(f"VGG loss: image features {tuple(f.shape)} and prepared target features "
                                 f"{tuple(t.shape)} differ (images and targets must have the same shape)")
            d = (f - t).square()  # [N, C, h, w]
            with _no_autocast(d):
                d = d.sum(dim=1) if w is None else torch.einsum("nchw,c->nhw", d, w.to(d.dtype))
            total = total + d.mean(dim=(1, 2))
        return total


# --- identity -------------------------------------------------------------------------------


class IdentityLoss(ReconstructionLoss):
    """1 - cosine(model.embed(images), model.embed(targets)) per sample.

    model: any object with a differentiable `embed(images [N,C,H,W] in [-1,1]) -> [N, D]`
        (a synthbio.identity IdentityModel of vector kind); it is not trained here.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        if not callable(getattr(model, "embed", None)):
            raise InputError(f"identity loss needs a model with .embed(images), got {type(model).__name__}")
        if getattr(model, "differentiable", True) is False or getattr(model, "kind", "vector") != "vector":
            raise InputError(f"identity model {getattr(model, 'name', type(model).__name__)!r} is not a "
                             "differentiable embedding model")
        self.model = model  # an nn.Module is registered as a submodule, so .to(device) moves it

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        emb = self.model.embed(images)
        if not isinstance(emb, torch.Tensor) or emb.ndim != 2 or emb.shape[0] != images.shape[0]:
            got = tuple(emb.shape) if isinstance(emb, torch.Tensor) else type(emb).__name__
            raise InputError(f"identity model must embed {images.shape[0]} images to [N, D], got {got}")
        return F.normalize(emb.float(), dim=1)

    def prepare(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets -> unit embeddings [N, D] (no grad)."""
        with torch.no_grad():
            return self._embed(targets).detach()

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        emb = self._embed(images)
        if emb.shape != prepared.shape:
            raise InputError(f"identity loss: embeddings {tuple(emb.shape)} and prepared {tuple(prepared.shape)} "
                             "differ")
        return 1 - (emb * prepared).sum(dim=1)


# --- fingerprint orientation ----------------------------------------------------------------
# `orientation_field` (the doubled-angle structure-tensor field) lives in
# synthbio.fingerprints.ridge_maps, shared with the translation identity model.


def ridge_orientation(images: torch.Tensor, *, sigma: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge orientation [N, H, W] in [0, pi) and coherence [N, H, W] of images [N, C, H, W].

    Angles follow synthbio.fingerprints.types (ISO: counter-clockwise from +x
    with image y pointing down). `orientation_field` gives the doubled gradient
    angle 2*phi in image axes; ridges run at phi + pi/2, and flipping y negates
    the angle: 2*theta = -(2*phi + pi).
    """
    u, coherence = orientation_field(images, sigma=sigma)
    theta = torch.remainder(-(torch.atan2(u[:, 1], u[:, 0]) + math.pi) / 2, math.pi)
    return theta, coherence[:, 0]


class OrientationFieldLoss(ReconstructionLoss):
    """Ridge-orientation disagreement, weighted by the target's coherence.

    Per pixel (1 - cos(2 (theta_x - theta_y))) / 2 = (1 - u_x . u_y) / 2 with u
    the doubled-angle vectors of `orientation_field` (0 where the orientations
    agree, 1 where they are perpendicular); the loss is the coherence-weighted
    mean over pixels, the weight being the target's coherence (where the
    target has a clear ridge flow). Where the image is flat, u_x ~ 0 and the
    pixel costs 1/2.

    sigma: smoothing of the structure tensor in pixels (about one ridge period
        at the working resolution: 4 suits ~9 px ridge periods, 500 dpi at 256 px).
    """

    def __init__(self, *, sigma: float = 4.0, eps: float = 1e-4) -> None:
        super().__init__()
        if not sigma > 0 or not eps > 0:
            raise InputError(f"orientation loss needs sigma > 0 and eps > 0, got sigma={sigma}, eps={eps}")
        self.sigma = float(sigma)
        self.eps = float(eps)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, eps={self.eps}"

    def prepare(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets -> (unit doubled-angle field [N, 2, H, W], weights [N, 1, H, W])."""
        with torch.no_grad():
            u, coherence = orientation_field(targets, sigma=self.sigma, eps=self.eps)
        return u.detach(), coherence.detach()

    def forward(self, images: torch.Tensor, prepared: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        u_t, weight = prepared
        u, _ = orientation_field(images, sigma=self.sigma, eps=self.eps)
        if u.shape != u_t.shape:
            raise InputError(f"orientation loss: images {tuple(images.shape)} do not match the prepared "
                             f"targets' size {tuple(u_t.shape[2:])}")
        per_pixel = (1 - (u * u_t).sum(dim=1, keepdim=True)) / 2
        total = weight.sum(dim=(1, 2, 3))
        # a target without any ridge structure: plain mean (weights all ~0)
        safe = torch.where(total > 1e-6, total, torch.ones_like(total))
        weighted = (per_pixel * weight).sum(dim=(1, 2, 3)) / safe
        return torch.where(total > 1e-6, weighted, per_pixel.mean(dim=(1, 2, 3)))


# --- sums and specs -------------------------------------------------------------------------


class WeightedSum(ReconstructionLoss):
    """sum_k w_k * loss_k per sample; `prepare` prepares every term."""

    def __init__(self, terms: Sequence[tuple[float, ReconstructionLoss]]) -> None:
        super().__init__()
        if not terms:
            raise InputError("a weighted sum of losses needs at least one term")
        self.weights = [float(w) for w, _ in terms]
        self.terms = nn.ModuleList([loss for _, loss in terms])

    def extra_repr(self) -> str:
        return f"weights={self.weights}"

    def prepare(self, targets: torch.Tensor) -> list[Any]:
        return [loss.prepare(targets) for loss in self.terms]

    def forward(self, images: torch.Tensor, prepared: list[Any]) -> torch.Tensor:
        total = images.new_zeros(images.shape[0])
        for w, loss, p in zip(self.weights, self.terms, prepared):
            total = total + w * loss(images, p)
        return total


#: spec name -> canonical term (aliases accepted by build_reconstruction_loss)
LOSS_NAMES = {"l2": "l2", "mse": "l2", "l1": "l1", "msssim": "msssim", "ms-ssim": "msssim",
              "vgg": "vgg", "lpips": "lpips", "identity": "identity", "id": "identity",
              "orientation": "orientation"}
_TERM = re.compile(r"^\s*(?:(?P<w>[0-9.eE+-]+)\s*\*\s*)?(?P<name>[A-Za-z][A-Za-z0-9_-]*)\s*$")


def parse_loss_spec(spec: str) -> list[tuple[float, str]]:
    """'l2+0.8*vgg' -> [(1.0, 'l2'), (0.8, 'vgg')]. Raises InputError naming a bad or unknown term."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"empty reconstruction loss spec {spec!r}; e.g. 'l2+0.8*vgg'")
    terms: list[tuple[float, str]] = []
    # split on '+' except inside a number's exponent (1e+3; but 'mse+l1' splits)
    for raw in re.split(r"(?<![0-9][eE])\+", spec):
        m = _TERM.match(raw)
        if m is None:
            raise InputError(f"cannot parse loss term {raw.strip()!r} in {spec!r}; expected NAME or WEIGHT*NAME")
        name = m["name"].lower()
        if name not in LOSS_NAMES:
            raise InputError(f"unknown reconstruction loss {m['name']!r} in {spec!r}; known: "
                             f"{', '.join(sorted(LOSS_NAMES))}")
        try:
            weight = 1.0 if m["w"] is None else float(m["w"])
        except ValueError:
            raise InputError(f"bad weight {m['w']!r} in loss term {raw.strip()!r} of {spec!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise InputError(f"loss weight must be finite and >= 0, got {weight} in {spec!r}")
        terms.append((weight, LOSS_NAMES[name]))
    return terms


def build_reconstruction_loss(spec: str, *, device: str | torch.device = "cpu",
                              vgg_weights: str | os.PathLike[str] | VGG16Features | None = None,
                              lpips_weights: str | os.PathLike[str] | LPIPSHeads | None = None,
                              identity_model: Any = None) -> ReconstructionLoss:
    """A loss from a spec such as 'l2', 'vgg', 'l2+0.8*vgg', 'l2+0.1*orientation'.

    Terms: l2 (alias mse), l1, msssim (ms-ssim), vgg, lpips, identity (id),
    orientation; optional weight as 'W*name'. A single unweighted term is
    returned as is, anything else as a WeightedSum.
    vgg_weights: VGG16 weights (file, registry name, or a loaded VGG16Features);
        None = registry 'vgg16-imagenet' (ModelNotFoundError offline naming URL and path).
    lpips_weights: LPIPS heads (file, registry name, or LPIPSHeads). 'vgg' uses
        them when given, equal channel weights otherwise; 'lpips' needs them and
        falls back to registry 'lpips-vgg-v0.1'.
    identity_model: required by 'identity' (an object with a differentiable `.embed`).
    Raises InputError for unknown terms, bad weights or a missing identity model.
    """
    from synthbio.checkpoints.vgg import load_lpips_heads, load_vgg16
    from synthbio.nn.vgg import LPIPS_WEIGHTS_NAME

    terms = parse_loss_spec(spec)
    device = torch.device(device)
    vgg: VGG16Features | None = None

    def get_vgg() -> VGG16Features:
        nonlocal vgg
        if vgg is None:
            vgg = vgg_weights if isinstance(vgg_weights, VGG16Features) else load_vgg16(
                "vgg16-imagenet" if vgg_weights is None else vgg_weights, device=device)
        return vgg

    def get_heads(required: bool) -> LPIPSHeads | None:
        if isinstance(lpips_weights, LPIPSHeads):
            return lpips_weights
        if lpips_weights is None and not required:
            return None
        return load_lpips_heads(LPIPS_WEIGHTS_NAME if lpips_weights is None else lpips_weights,
                                device=device, widths=get_vgg().widths)

    built: list[tuple[float, ReconstructionLoss]] = []
    for weight, name in terms:
        loss: ReconstructionLoss
        if name in ("l2", "l1"):
            loss = PixelLoss(name)
        elif name == "msssim":
            loss = MSSSIMLoss()
        elif name in ("vgg", "lpips"):
            loss = VGGPerceptualLoss(get_vgg(), heads=get_heads(required=name == "lpips"))
        elif name == "identity":
            if identity_model is None:
                raise InputError(f"loss spec {spec!r} has an identity term but no identity model was given")
            loss = IdentityLoss(identity_model)
        else:
            loss = OrientationFieldLoss()
        built.append((weight, loss))
    result = built[0][1] if len(built) == 1 and built[0][0] == 1.0 else WeightedSum(built)
    return result.to(device)
