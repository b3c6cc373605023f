"""Volume rendering of EG3D tri-planes: rays, plane sampling, decoder, sampling along rays, marching.

Follows the official `volumetric_rendering/` package step for step (same
order of operations, so outputs agree to float rounding), with two changes
that make a sample independent of its batch: random draws come from explicit
per-sample `torch.Generator`s, and the depth clamp uses each sample's own
depth range (the official code uses the whole batch's). `deterministic=True`
replaces the random draws: coarse depths at linspace(ray_start, ray_end, n)
without jitter, importance samples at u = linspace(0, 1, n).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn.layers import FullyConnectedLayer

RandomSource = torch.Generator | Sequence[torch.Generator] | None


def draw_uniform(generator: RandomSource, shape: Sequence[int], *, device: torch.device) -> Tensor:
    """U[0, 1) of `shape` [N, ...]; one generator draws the batch, a sequence draws row i from generator i."""
    if generator is None:
        raise ValueError("stochastic ray sampling needs generator= (or deterministic=True)")
    if isinstance(generator, torch.Generator):
        return torch.rand(list(shape), generator=generator, device=generator.device).to(device)
    if len(generator) != shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}")
    return torch.cat([torch.rand([1, *shape[1:]], generator=g, device=g.device).to(device) for g in generator])


# ------------------------------------------------------------------------ rays


def ray_bundle(cam2world: Tensor, intrinsics: Tensor, resolution: int) -> tuple[Tensor, Tensor]:
    """Rays through pixel centres: cam2world [N,4,4], normalised intrinsics [N,3,3] ->
    origins [N, R*R, 3], unit directions [N, R*R, 3] (row-major pixels, OpenCV camera axes)."""
    n, m = cam2world.shape[0], resolution**2
    device = cam2world.device
    cam_locs = cam2world[:, :3, 3]
    fx, fy = intrinsics[:, 0, 0], intrinsics[:, 1, 1]
    cx, cy, sk = intrinsics[:, 0, 2], intrinsics[:, 1, 2], intrinsics[:, 0, 1]
    idx = torch.arange(resolution, dtype=torch.float32, device=device)
    uv = torch.stack(torch.meshgrid(idx, idx, indexing="ij")) * (1.0 / resolution) + (0.5 / resolution)
    uv = uv.flip(0).reshape(2, -1).transpose(1, 0).unsqueeze(0).repeat(n, 1, 1)  # [N, M, (x, y)]
    x_cam, y_cam = uv[:, :, 0].view(n, -1), uv[:, :, 1].view(n, -1)
    z_cam = torch.ones((n, m), device=device)
    x_lift = (x_cam - cx.unsqueeze(-1) + cy.unsqueeze(-1) * sk.unsqueeze(-1) / fy.unsqueeze(-1)
              - sk.unsqueeze(-1) * y_cam / fy.unsqueeze(-1)) / fx.unsqueeze(-1) * z_cam
    y_lift = (y_cam - cy.unsqueeze(-1)) / fy.unsqueeze(-1) * z_cam
    points = torch.stack((x_lift, y_lift, z_cam, torch.ones_like(z_cam)), dim=-1)  # camera space, homogeneous
    world = torch.bmm(cam2world, points.permute(0, 2, 1)).permute(0, 2, 1)[:, :, :3]
    directions = F.normalize(world - cam_locs[:, None, :], dim=2)
    origins = cam_locs.unsqueeze(1).repeat(1, directions.shape[1], 1)
    return origins, directions


# ------------------------------------------------------------------------ tri-planes


def project_to_planes(coordinates: Tensor) -> Tensor:
    """Points [N, M, 3] -> plane coordinates [N, 3, M, 2] on the XY, XZ and ZX planes.

    ZX (not YZ) is the official code's plane for the third feature map (its
    axes matrix projects onto (z, x)); released weights were trained with it.
    """
    x, y, z = coordinates.unbind(-1)
    return torch.stack([torch.stack([x, y], -1), torch.stack([x, z], -1), torch.stack([z, x], -1)], dim=1)


def sample_planes(planes: Tensor, coordinates: Tensor, *, box_warp: float) -> Tensor:
    """Bilinear features of planes [N, 3, C, H, W] at points [N, M, 3] -> [N, 3, M, C].

    The planes span the cube [-box_warp/2, box_warp/2]^3; outside it features are 0.
    """
    n, n_planes, c, h, w = planes.shape
    m = coordinates.shape[1]
    grid = project_to_planes((2 / box_warp) * coordinates).reshape(n * n_planes, m, 2).unsqueeze(1)
    out = F.grid_sample(planes.reshape(n * n_planes, c, h, w), grid.float(), mode="bilinear", padding_mode="zeros",
                        align_corners=False)  # [N*3, C, 1, M]
    return out.permute(0, 3, 2, 1).reshape(n, n_planes, m, c)


class TriPlaneDecoder(torch.nn.Module):
    """Mean of the three plane features -> FC, softplus, FC -> density (channel 0) and features.

    Parameter names (`net.0`, `net.2`) are the official OSGDecoder's.
    """

    def __init__(self, in_features: int, *, hidden: int = 64, out_features: int = 32,
                 lr_multiplier: float = 1.0) -> None:
        super().__init__()
        self.hidden_dim = hidden
        self.net = torch.nn.Sequential(
            FullyConnectedLayer(in_features, hidden, lr_multiplier=lr_multiplier),
            torch.nn.Softplus(),
            FullyConnectedLayer(hidden, 1 + out_features, lr_multiplier=lr_multiplier))

    def forward(self, sampled: Tensor) -> tuple[Tensor, Tensor]:
        """sampled [N, 3, M, C] -> (features [N, M, out] in (-0.001, 1.001), sigma [N, M, 1])."""
        x = sampled.mean(1)
        n, m, c = x.shape
        x = self.net(x.view(n * m, c)).view(n, m, -1)
        rgb = torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001  # sigmoid clamping of Mip-NeRF
        return rgb, x[..., 0:1]


# ------------------------------------------------------------------------ sampling along rays


def stratified_depths(n: int, m: int, *, ray_start: float, ray_end: float, samples: int, disparity: bool,
                      deterministic: bool, generator: RandomSource, device: torch.device) -> Tensor:
    """Coarse depths [N, M, S, 1]: S bins between ray_start and ray_end, one jittered sample per bin."""
    if disparity:
        t = torch.linspace(0, 1, samples, device=device).reshape(1, 1, samples, 1).repeat(n, m, 1, 1)
        if not deterministic:
            t = t + draw_uniform(generator, t.shape, device=device) * (1 / (samples - 1))
        return 1.0 / (1.0 / ray_start * (1.0 - t) + 1.0 / ray_end * t)
    depths = torch.linspace(ray_start, ray_end, samples, device=device).reshape(1, 1, samples, 1).repeat(n, m, 1, 1)
    if not deterministic:
        depths = depths + draw_uniform(generator, depths.shape, device=device) * ((ray_end - ray_start) / (samples - 1))
    return depths


def sample_pdf(bins: Tensor, weights: Tensor, u: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Inverse-CDF samples: bins [R, B+1] edges, weights [R, B], u [R, K] in [0, 1] -> depths [R, K]."""
    n_rays, n_bins = weights.shape
    weights = weights + eps
    pdf = weights / torch.sum(weights, -1, keepdim=True)
    cdf = torch.cumsum(pdf, -1)
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], -1)  # [R, B+1], from 0 to 1
    k = u.shape[1]
    u = u.contiguous()
    inds = torch.searchsorted(cdf, u, right=True)
    below = torch.clamp_min(inds - 1, 0)
    above = torch.clamp_max(inds, n_bins)
    inds_sampled = torch.stack([below, above], -1).view(n_rays, 2 * k)
    cdf_g = torch.gather(cdf, 1, inds_sampled).view(n_rays, k, 2)
    bins_g = torch.gather(bins, 1, inds_sampled).view(n_rays, k, 2)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)  # empty bins are never picked
    return bins_g[..., 0] + (u - cdf_g[..., 0]) / denom * (bins_g[..., 1] - bins_g[..., 0])


def importance_depths(z_vals: Tensor, weights: Tensor, samples: int, *, deterministic: bool,
                      generator: RandomSource) -> Tensor:
    """Fine depths [N, M, K, 1] drawn where the coarse weights [N, M, S-1, 1] are large.

    The weights are smoothed (max-pool 2, average-pool 2) and floored at 0.01, as in the official code.
    """
    with torch.no_grad():
        n, m, s, _ = z_vals.shape
        z = z_vals.reshape(n * m, s)
        w = weights.reshape(n * m, -1)
        w = F.max_pool1d(w.unsqueeze(1).float(), 2, 1, padding=1)
        w = F.avg_pool1d(w, 2, 1).squeeze(1)
        w = w + 0.01
        z_mid = 0.5 * (z[:, :-1] + z[:, 1:])
        if deterministic:
            u = torch.linspace(0, 1, samples, device=z.device).expand(n * m, samples)
        else:
            u = draw_uniform(generator, [n, m * samples], device=z.device).reshape(n * m, samples)
        return sample_pdf(z_mid, w[:, 1:-1], u).detach().reshape(n, m, samples, 1)


# ------------------------------------------------------------------------ marching


def march(colors: Tensor, densities: Tensor, depths: Tensor, *, white_back: bool = False
          ) -> tuple[Tensor, Tensor, Tensor]:
    """Composite samples along rays (midpoint rule).

    colors [N, M, S, C], densities [N, M, S, 1], depths [N, M, S, 1] (sorted) ->
    features [N, M, C] in about [-1, 1], depth [N, M, 1], weights [N, M, S-1, 1].
    sigma = softplus(density - 1); alpha = 1 - exp(-sigma * delta).
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = (densities[:, :, :-1] + densities[:, :, 1:]) / 2
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    densities_mid = F.softplus(densities_mid - 1)  # the -1 bias helps at initialisation
    alpha = 1 - torch.exp(-(densities_mid * deltas))
    alpha_shifted = torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2)
    weights = alpha * torch.cumprod(alpha_shifted, -2)[:, :, :-1]
    composite_rgb = torch.sum(weights * colors_mid, -2)
    weight_total = weights.sum(2)
    composite_depth = torch.sum(weights * depths_mid, -2) / weight_total
    composite_depth = torch.nan_to_num(composite_depth, float("inf"))
    n = depths.shape[0]
    flat = depths.reshape(n, -1)
    lo = flat.amin(dim=1).reshape(n, 1, 1)  # per sample (the official code clamps to the batch's range)
    hi = flat.amax(dim=1).reshape(n, 1, 1)
    composite_depth = torch.minimum(torch.maximum(composite_depth, lo), hi)
    if white_back:
        composite_rgb = composite_rgb + 1 - weight_total
    return composite_rgb * 2 - 1, composite_depth, weights


def merge_samples(depths1: Tensor, colors1: Tensor, densities1: Tensor, depths2: Tensor, colors2: Tensor,
                  densities2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Coarse and fine samples together, sorted by depth along each ray."""
    depths = torch.cat([depths1, depths2], dim=-2)
    colors = torch.cat([colors1, colors2], dim=-2)
    densities = torch.cat([densities1, densities2], dim=-2)
    _, indices = torch.sort(depths, dim=-2)
    depths = torch.gather(depths, -2, indices)
    colors = torch.gather(colors, -2, indices.expand(-1, -1, -1, colors.shape[-1]))
    densities = torch.gather(densities, -2, indices.expand(-1, -1, -1, 1))
    return depths, colors, densities
