"""Tiny network configs and format-faithful official pickles built without the official code.

`official_pickle` writes what stylegan2-ada-pytorch's training loop writes:
`pickle.dump(dict(G=, D=, G_ema=, augment_pipe=, training_set_kwargs=))` where
every network is a `torch_utils.persistence` object, i.e. a REDUCE of
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta =
dict(type='class', version=6, module_src, class_name, state=module.__dict__).
The fake `torch_utils.persistence` and `dnnlib.util` modules exist only while
pickling, so the loader runs without them (as it must without the real ones).

StyleGAN3 snapshots are the same records with `networks_stylegan3` class
names and init kwargs. EG3D snapshots (`eg3d_persistent`) add what the
official EG3D writer adds: plain modules pickled by module path (GLOBAL +
NEWOBJ + BUILD of their `__dict__`) for the decoder, the importance renderer,
the ray marcher and the ray sampler, with torch's own Sequential and
Softplus inside the decoder; fake `training.*` modules exist while pickling.
"""

from __future__ import annotations

import collections
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.eg3d import EG3DConfig, EG3DGenerator
from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator

_HOOK_DICTS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


def perturb(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights everywhere (noise strengths and w_avg included), filters untouched."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not name.endswith("resample_filter"):
                t.add_(0.2 * torch.randn(t.shape, generator=gen))
    return module.eval()


def tiny_g_config(**kw: Any) -> GeneratorConfig:
    base = dict(z_dim=8, w_dim=8, c_dim=0, img_resolution=16, channel_base=128, channel_max=16,
                mapping_layers=2)
    base.update(kw)
    return GeneratorConfig(**base)


def tiny_d_config(**kw: Any) -> DiscriminatorConfig:
    base = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=16, mapping_layers=2)
    base.update(kw)
    return DiscriminatorConfig(**base)


# ---------------------------------------------------------------- fake official modules


class _FakeModules:
    """Installs `torch_utils.persistence` and `dnnlib.util` stand-ins; `remove()` takes them out."""

    MODULE_SRC = ("import torch\n"
                  "open({marker!r}, 'w').write('module_src was executed')\n"
                  "class Generator(torch.nn.Module):\n    pass\n")

    PLAIN = {"training.triplane": "OSGDecoder", "training.volumetric_rendering.renderer": "ImportanceRenderer",
             "training.volumetric_rendering.ray_marcher": "MipRayMarcher2",
             "training.volumetric_rendering.ray_sampler": "RaySampler"}

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "training",
                      "training.volumetric_rendering", *self.PLAIN]
        pers = types.ModuleType("torch_utils.persistence")

        def _reconstruct_persistent_obj(meta: Any) -> Any:  # never called: we do not unpickle with these
            raise AssertionError("the real reconstructor must not run")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
        util = types.ModuleType("dnnlib.util")
        easydict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
        util.EasyDict = easydict
        self.EasyDict = easydict
        self.reconstruct = _reconstruct_persistent_obj
        mods = [("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", pers),
                ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util),
                ("training", types.ModuleType("training")),
                ("training.volumetric_rendering", types.ModuleType("training.volumetric_rendering"))]
        self.plain_classes: dict[str, type] = {}
        for module_name, class_name in self.PLAIN.items():
            mod = types.ModuleType(module_name)
            cls = type(class_name, (), {"__module__": module_name})
            setattr(mod, class_name, cls)
            self.plain_classes[class_name] = cls
            mods.append((module_name, mod))
        for name, mod in mods:
            assert name not in sys.modules
            sys.modules[name] = mod

    def remove(self) -> None:
        for name in self.names:
            sys.modules.pop(name, None)

    @staticmethod
    def _module_state(module: torch.nn.Module | None, keep: Callable[[str, Any], Any] | None = None
                      ) -> dict[str, Any]:
        """What an nn.Module's __dict__ holds, tensors copied (children left to the caller).

        keep(name, tensor): what to pickle for each parameter or buffer (default: the tensor).
        """
        keep = keep or (lambda name, value: value)
        state: dict[str, Any] = {"training": False}
        params = {} if module is None else module._parameters
        buffers = {} if module is None else module._buffers
        state["_parameters"] = collections.OrderedDict(
            (k, keep(k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))) for k, v in params.items())
        state["_buffers"] = collections.OrderedDict((k, keep(k, v.clone())) for k, v in buffers.items())
        state["_non_persistent_buffers_set"] = set()
        for hooks in _HOOK_DICTS:
            state[hooks] = collections.OrderedDict()
        state["_is_full_backward_hook"] = None
        return state

    def persistent(self, module: torch.nn.Module, init_kwargs: dict[str, Any] | None = None, *,
                   class_name: str | None = None, init_args: tuple = (), modules: dict[str, Any] | None = None,
                   attrs: dict[str, Any] | None = None, override: Callable[[str, torch.Tensor], Any] | None = None,
                   prefix: str = "") -> Any:
        """An object that pickles exactly like an official persistent module.

        modules: children to pickle instead of the module's own (EG3D's plain parts);
        attrs: extra attributes of the object's __dict__;
        override(name, tensor): what to pickle instead of the parameter or buffer
        `name` (state-dict key), e.g. a hostile tensor record; return the tensor to keep it.
        """
        def keep(name: str, value: Any) -> Any:
            return value if override is None or value is None else override(prefix + name, value)

        state = self._module_state(module, keep)
        state["_modules"] = collections.OrderedDict(
            (k, self.persistent(v, override=override, prefix=f"{prefix}{k}.")) for k, v in module._modules.items()) \
            if modules is None else collections.OrderedDict(modules)
        for key, value in module.__dict__.items():
            if key.startswith("_") or key in ("training", "config", "branches", "branch_names", "mapping"):
                continue
            if isinstance(value, (int, float, str, bool, list, type(None))):
                # the official code keeps numpy float64 gains (np.sqrt(2)) as attributes
                state[key] = np.float64(value) if key == "act_gain" else value
        state.update(attrs or {})
        state["_init_args"] = tuple(init_args)
        state["_init_kwargs"] = self.EasyDict(init_kwargs or {})
        meta = dict(type="class", version=6, module_src=self.MODULE_SRC.format(marker=str(self.marker)),
                    class_name=class_name or type(module).__name__, state=state)
        reconstruct = self.reconstruct

        class Persistent:
            def __reduce__(self) -> tuple:
                return (reconstruct, (meta,), None)

        return Persistent()

    def plain(self, class_name: str, modules: dict[str, Any] | None = None, attrs: dict[str, Any] | None = None
              ) -> Any:
        """An instance of a fake `training.*` class that pickles by module path, as EG3D's plain modules do."""
        obj = self.plain_classes[class_name].__new__(self.plain_classes[class_name])
        obj.__dict__.update(self._module_state(None))
        obj.__dict__["_modules"] = collections.OrderedDict(modules or {})
        obj.__dict__.update(attrs or {})
        return obj

    def torch_module(self, cls: type, modules: dict[str, Any] | None = None, attrs: dict[str, Any] | None = None
                     ) -> Any:
        """A real torch module class (Sequential, Softplus) whose __dict__ holds the given children."""
        obj = cls.__new__(cls)
        obj.__dict__.update(self._module_state(None))
        obj.__dict__["_modules"] = collections.OrderedDict(modules or {})
        obj.__dict__.update(attrs or {})
        return obj


def g_init_kwargs(cfg: GeneratorConfig, easydict: type) -> dict[str, Any]:
    return dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                img_channels=cfg.img_channels, mapping_kwargs=easydict(num_layers=cfg.mapping_layers),
                synthesis_kwargs=easydict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                                          num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp))


def d_init_kwargs(cfg: DiscriminatorConfig, easydict: type) -> dict[str, Any]:
    return dict(c_dim=cfg.c_dim, img_resolution=cfg.img_resolution, img_channels=cfg.img_channels,
                channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=cfg.num_fp16_res,
                conv_clamp=cfg.conv_clamp, block_kwargs=easydict(),
                mapping_kwargs=easydict(num_layers=cfg.mapping_layers),
                epilogue_kwargs=easydict(mbstd_group_size=cfg.mbstd_group_size))


def tiny_sg3_config(**kw: Any) -> StyleGAN3Config:
    base = dict(z_dim=8, w_dim=8, img_resolution=16, img_channels=3, channel_base=256, channel_max=16,
                num_layers=4, num_critical=1, margin_size=2, mapping_layers=2)
    base.update(kw)
    return StyleGAN3Config(**base)


def sg3_init_kwargs(cfg: StyleGAN3Config, easydict: type) -> dict[str, Any]:
    """Flat synthesis kwargs, as the official train.py passes them to networks_stylegan3.Generator."""
    return dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                img_channels=cfg.img_channels, mapping_kwargs=easydict(num_layers=cfg.mapping_layers),
                channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_layers=cfg.num_layers,
                num_critical=cfg.num_critical, margin_size=cfg.margin_size,
                magnitude_ema_beta=cfg.magnitude_ema_beta, conv_kernel=cfg.conv_kernel,
                use_radial_filters=cfg.use_radial_filters, num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp)


def tiny_eg3d_config(**kw: Any) -> EG3DConfig:
    base = dict(z_dim=8, w_dim=8, img_resolution=32, backbone_resolution=16, plane_channels=4, channel_base=128,
                channel_max=16, decoder_hidden=8, decoder_output_dim=6, sr_kind="SuperresolutionHybrid4X",
                sr_channels=(8, 4), neural_rendering_resolution=8, depth_resolution=6,
                depth_resolution_importance=6, avg_camera_pivot=(0.0, 0.0, 0.2))
    base.update(kw)
    return EG3DConfig(**base)


def rendering_kwargs(cfg: EG3DConfig) -> dict[str, Any]:
    """The official rendering_kwargs of train.py, with this config's values."""
    return dict(image_resolution=cfg.img_resolution, disparity_space_sampling=cfg.disparity_space_sampling,
                clamp_mode="softplus", superresolution_module=f"training.superresolution.{cfg.sr_kind}",
                c_gen_conditioning_zero=cfg.c_gen_conditioning_zero, gpc_reg_prob=0.5, c_scale=cfg.c_scale,
                superresolution_noise_mode=cfg.superresolution_noise_mode, density_reg=0.25,
                density_reg_p_dist=0.004, reg_type="l1", decoder_lr_mul=cfg.decoder_lr_multiplier,
                sr_antialias=cfg.sr_antialias, depth_resolution=cfg.depth_resolution,
                depth_resolution_importance=cfg.depth_resolution_importance, ray_start=cfg.ray_start,
                ray_end=cfg.ray_end, box_warp=cfg.box_warp, avg_camera_radius=cfg.avg_camera_radius,
                avg_camera_pivot=list(cfg.avg_camera_pivot), **({"white_back": True} if cfg.white_back else {}))


def eg3d_persistent(fakes: _FakeModules, G: EG3DGenerator, *, rendering: dict[str, Any] | None = None,
                    decoder_class: str = "OSGDecoder") -> Any:
    """A TriPlaneGenerator as the official EG3D training loop pickles it."""
    cfg = G.config
    ed = fakes.EasyDict
    rk = ed(rendering_kwargs(cfg) if rendering is None else rendering)
    synthesis_kw = dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                        fused_modconv_default="inference_only", num_fp16_res=cfg.num_fp16_res,
                        conv_clamp=cfg.conv_clamp)
    init = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                img_channels=cfg.img_channels, sr_num_fp16_res=cfg.sr_num_fp16_res,
                mapping_kwargs=ed(num_layers=cfg.mapping_layers), rendering_kwargs=rk,
                sr_kwargs=ed(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                             fused_modconv_default="inference_only"), **synthesis_kw)
    backbone = fakes.persistent(G.backbone, dict(img_resolution=cfg.backbone_resolution,
                                                 img_channels=3 * cfg.plane_channels,
                                                 mapping_kwargs=ed(num_layers=cfg.mapping_layers), **synthesis_kw),
                                init_args=(cfg.z_dim, cfg.c_dim, cfg.w_dim))
    sr = fakes.persistent(G.superresolution, dict(channels=cfg.decoder_output_dim, img_resolution=cfg.img_resolution,
                                                  sr_num_fp16_res=cfg.sr_num_fp16_res, sr_antialias=cfg.sr_antialias),
                          class_name=cfg.sr_kind, attrs={"sr_antialias": cfg.sr_antialias})
    net = G.decoder.net
    seq = fakes.torch_module(torch.nn.Sequential, {"0": fakes.persistent(net[0]), "1": torch.nn.Softplus(),
                                                   "2": fakes.persistent(net[2])})
    decoder = fakes.plain(decoder_class, {"net": seq}, {"hidden_dim": cfg.decoder_hidden})
    plane_axes = torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
                               [[0, 0, 1], [1, 0, 0], [0, 1, 0]]], dtype=torch.float32)
    renderer = fakes.plain("ImportanceRenderer", {"ray_marcher": fakes.plain("MipRayMarcher2")},
                           {"plane_axes": plane_axes})
    sampler = fakes.plain("RaySampler", attrs=dict(ray_origins_h=None, ray_directions=None, depths=None,
                                                   image_coords=None, rendering_options=None))
    modules = dict(renderer=renderer, ray_sampler=sampler, backbone=backbone, superresolution=sr, decoder=decoder)
    return fakes.persistent(G, init, class_name="TriPlaneGenerator", modules=modules,
                            attrs=dict(rendering_kwargs=rk, neural_rendering_resolution=cfg.neural_rendering_resolution,
                                       _last_planes=None))


def generator_persistent(fakes: _FakeModules, G: torch.nn.Module, *, override: Any = None) -> Any:
    """Any synthbio generator as the matching official training loop pickles it (override: StyleGAN2 only)."""
    ed = fakes.EasyDict
    if isinstance(G, StyleGAN3Generator):
        return fakes.persistent(G, sg3_init_kwargs(G.config, ed), class_name="Generator")
    if isinstance(G, EG3DGenerator):
        return eg3d_persistent(fakes, G)
    return fakes.persistent(G, g_init_kwargs(G.config, ed), override=override)
