"""EG3D tri-plane generator (Chan et al. 2022): one latent, rendered from any camera.

mapping(z, c): the StyleGAN2 backbone's mapping, conditioned on a camera c
[N, 25] (scaled by c_scale, or zeroed). synthesis(ws, c): the backbone draws
three feature planes, rays from camera c sample them, a small decoder gives
density and features, volume rendering gives the raw image and depth, and
super-resolution the final image. Returns the official dict: `image`
[N,3,R,R] in about [-1, 1], `image_raw` [N,3,r,r], `image_depth` [N,1,r,r]
(depth along the ray, in the camera's units).

The same surface as the other generators (`mapping`, `synthesis`, `num_ws`,
`w_dim`, `img_resolution`, `branch_names`, `mapping.w_avg`); c may be omitted
(None): mapping then takes the front camera the official sample scripts
condition on, synthesis renders from it. State-dict keys equal the official
`TriPlaneGenerator`'s (`backbone.*`, `superresolution.*`, `decoder.net.*`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn._per_sample import runs_per_sample, sample_copy
from synthbio.nn.eg3d import rendering as rd
from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG, camera, split_camera
from synthbio.nn.eg3d.config import EG3DConfig
from synthbio.nn.eg3d.superresolution import SuperResolution
from synthbio.nn.generator import Generator
from synthbio.nn.layers import draw_noise
from synthbio.nn.mapping import check_finite

NOISE_MODES = ("random", "const", "none")


class _Mapping(torch.nn.Module):
    """Camera-conditioned mapping: c -> c * c_scale (or zeros), then the backbone's mapping network.

    Holds no parameters of its own (the backbone's are under `backbone.mapping`);
    exposes `w_avg`, `num_ws`, `z_dim`, `c_dim`, `w_dim` like a mapping network.
    """

    def __init__(self, owner: EG3DGenerator) -> None:
        super().__init__()
        self.__dict__["_owner"] = owner  # not a submodule: keeps the state dict official

    @property
    def _net(self) -> torch.nn.Module:
        return self.__dict__["_owner"].backbone.mapping

    @property
    def w_avg(self) -> Tensor:
        return self._net.w_avg

    def __getattr__(self, name: str):  # z_dim, c_dim, w_dim, num_ws, ... of the wrapped network
        if name in ("z_dim", "c_dim", "w_dim", "num_ws", "num_layers", "w_avg_beta"):
            return getattr(self._net, name)
        return super().__getattr__(name)

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> Tensor:
        owner: EG3DGenerator = self.__dict__["_owner"]
        cfg = owner.config
        if c is None:
            c = owner.conditioning_camera(z.shape[0], device=z.device)
        split_camera(c)  # shape check
        c = torch.zeros_like(c) if cfg.c_gen_conditioning_zero else c * cfg.c_scale
        return self._net(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                         update_emas=update_emas)


class EG3DGenerator(torch.nn.Module):
    """G(z, c) = synthesis(mapping(z, c), c) -> {'image', 'image_raw', 'image_depth'}."""

    architecture = "eg3d"
    #: c is a camera (the front camera when omitted), not a class label.
    camera_conditioned = True

    def __init__(self, config: EG3DConfig) -> None:
        super().__init__()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.branch_names = ("image",)  # the key of the final image in the official output dict
        self.branches = (("image", config.img_channels),)
        self.backbone = Generator(config.backbone_config())
        self.superresolution = SuperResolution(config)
        self.decoder = rd.TriPlaneDecoder(config.plane_channels, hidden=config.decoder_hidden,
                                          out_features=config.decoder_output_dim,
                                          lr_multiplier=config.decoder_lr_multiplier)
        self.num_ws = self.backbone.num_ws
        self.__dict__["mapping"] = _Mapping(self)  # a view on backbone.mapping, outside the state dict

    # -------------------------------------------------------------- cameras

    def default_camera(self, n: int = 1, *, device: torch.device | str = "cpu", yaw: float = 0.0,
                       pitch: float = 0.0, fov_deg: float = DEFAULT_FOV_DEG) -> Tensor:
        """[n, 25] camera on this model's orbit (avg_camera_radius around avg_camera_pivot), degrees."""
        cam = camera(yaw, pitch, fov_deg, self.config.avg_camera_radius, pivot=self.config.avg_camera_pivot)
        return cam.to(device).unsqueeze(0).repeat(n, 1)

    def conditioning_camera(self, n: int = 1, *, device: torch.device | str = "cpu") -> Tensor:
        """The front camera the official sample scripts feed to the mapping network."""
        return self.default_camera(n, device=device)

    # -------------------------------------------------------------- forward

    def synthesis(self, ws: Tensor, c: Tensor | None = None, *, neural_rendering_resolution: int | None = None,
                  noise_mode: str = "const", generator: rd.RandomSource = None, deterministic: bool = False,
                  force_fp32: bool = False) -> dict[str, Tensor]:
        """ws [N, num_ws, w_dim], camera c [N, 25] (None = the default front camera).

        generator: one torch.Generator, or one per sample, for the stochastic ray
        samples (and noise_mode 'random'); deterministic=True samples at fixed
        depths instead and needs no generator.
        """
        n = ws.shape[0]
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise InputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        check_finite(ws, "ws")
        if noise_mode not in NOISE_MODES:
            raise InputError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        c = self.default_camera(n, device=ws.device) if c is None else c.to(device=ws.device, dtype=torch.float32)
        if c.shape[0] != n:
            raise InputError(f"got {c.shape[0]} cameras for {n} latents")
        split_camera(c)
        check_finite(c, "c")
        res = neural_rendering_resolution or self.config.neural_rendering_resolution
        needs_random = not deterministic or noise_mode == "random" or self.config.superresolution_noise_mode == "random"
        if needs_random and generator is None:
            raise InputError("EG3D synthesis samples depths at random: pass generator= (one torch.Generator or one "
                             "per sample), or deterministic=True (and a noise_mode other than 'random')")
        gens = None if generator is None or isinstance(generator, torch.Generator) else list(generator)
        if gens is not None and len(gens) != n:
            raise InputError(f"generator must be one torch.Generator or {n} (one per sample), got {len(gens)}")
        if runs_per_sample(self, ws) and n > 1:  # batch-invariant CPU inference, see nn._per_sample
            outs = [self._run(sample_copy(ws, i), sample_copy(c, i), res=res, noise_mode=noise_mode,
                              generator=[gens[i]] if gens is not None else generator, deterministic=deterministic,
                              force_fp32=force_fp32) for i in range(n)]
            return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        return self._run(ws, c, res=res, noise_mode=noise_mode, generator=gens if gens is not None else generator,
                         deterministic=deterministic, force_fp32=force_fp32)

    def _run(self, ws: Tensor, c: Tensor, *, res: int, noise_mode: str, generator: rd.RandomSource,
             deterministic: bool, force_fp32: bool) -> dict[str, Tensor]:
        cfg = self.config
        n = ws.shape[0]
        cam2world, intrinsics = split_camera(c)
        origins, directions = rd.ray_bundle(cam2world, intrinsics, res)
        planes = self.backbone.synthesis(ws, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32)
        planes = planes.view(n, 3, cfg.plane_channels, planes.shape[-2], planes.shape[-1])
        features, depth = self.render(planes, origins, directions, deterministic=deterministic, generator=generator)
        feature_image = features.permute(0, 2, 1).reshape(n, features.shape[-1], res, res).contiguous()
        depth_image = depth.permute(0, 2, 1).reshape(n, 1, res, res)
        rgb_image = feature_image[:, :3]
        image = self.superresolution(rgb_image, feature_image, ws, noise_mode=cfg.superresolution_noise_mode,
                                     generator=generator, force_fp32=force_fp32)
        return {"image": image, "image_raw": rgb_image, "image_depth": depth_image}

    def render(self, planes: Tensor, origins: Tensor, directions: Tensor, *, deterministic: bool,
               generator: rd.RandomSource) -> tuple[Tensor, Tensor]:
        """Planes [N,3,C,H,W], rays [N,M,3] -> features [N,M,F], depth [N,M,1] (importance renderer)."""
        cfg = self.config
        n, m, _ = origins.shape
        depths = rd.stratified_depths(n, m, ray_start=cfg.ray_start, ray_end=cfg.ray_end, samples=cfg.depth_resolution,
                                      disparity=cfg.disparity_space_sampling, deterministic=deterministic,
                                      generator=generator, device=origins.device)
        colors, densities = self._query(planes, origins, directions, depths, deterministic=deterministic,
                                        generator=generator)
        k = cfg.depth_resolution_importance
        if k > 0:
            _, _, weights = rd.march(colors, densities, depths, white_back=cfg.white_back)
            fine = rd.importance_depths(depths, weights, k, deterministic=deterministic, generator=generator)
            colors_f, densities_f = self._query(planes, origins, directions, fine, deterministic=deterministic,
                                                generator=generator)
            depths, colors, densities = rd.merge_samples(depths, colors, densities, fine, colors_f, densities_f)
        features, depth, _ = rd.march(colors, densities, depths, white_back=cfg.white_back)
        return features, depth

    def _query(self, planes: Tensor, origins: Tensor, directions: Tensor, depths: Tensor, *, deterministic: bool,
               generator: rd.RandomSource) -> tuple[Tensor, Tensor]:
        """Decoder outputs at the sample points: colors [N,M,S,F], densities [N,M,S,1]."""
        n, m, s, _ = depths.shape
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, -1, 3)
        colors, sigma = self.decoder(rd.sample_planes(planes, points, box_warp=self.config.box_warp))
        if self.config.density_noise > 0 and not deterministic:  # a training regulariser
            sigma = sigma + draw_noise(generator, sigma.shape, device=sigma.device) * self.config.density_noise
        return colors.reshape(n, m, s, colors.shape[-1]), sigma.reshape(n, m, s, 1)

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, neural_rendering_resolution: int | None = None,
                noise_mode: str = "const", generator: rd.RandomSource = None, deterministic: bool = False,
                update_emas: bool = False, force_fp32: bool = False) -> dict[str, Tensor]:
        """z [N, z_dim], camera c [N, 25] (both for conditioning and rendering, as the official forward)."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, noise_mode=noise_mode,
                              generator=generator, deterministic=deterministic, force_fp32=force_fp32)

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, neural_rendering_resolution={cfg.neural_rendering_resolution}, "
                f"sr={cfg.sr_kind}")

