"""Tiny network configs and format-faithful official pickles built without the official code.

`official_pickle` writes what stylegan2-ada-pytorch's training loop writes:
`pickle.dump(dict(G=, D=, G_ema=, augment_pipe=, training_set_kwargs=))` where
every network is a `torch_utils.persistence` object, i.e. a REDUCE of
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta =
dict(type='class', version=6, module_src, class_name, state=module.__dict__).
The fake `torch_utils.persistence` and `dnnlib.util` modules exist only while
pickling, so the loader runs without them (as it must without the real ones).
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

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"]
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
        for name, mod in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", pers),
                          ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
            assert name not in sys.modules
            sys.modules[name] = mod

    def remove(self) -> None:
        for name in self.names:
            sys.modules.pop(name, None)

    def persistent(self, module: torch.nn.Module, init_kwargs: dict[str, Any] | None = None, *,
                   override: Callable[[str, torch.Tensor], Any] | None = None, prefix: str = "") -> Any:
        """An object that pickles exactly like an official persistent module.

        override(name, tensor): what to pickle instead of the parameter or buffer
        `name` (state-dict key), e.g. a hostile tensor record; return the tensor to keep it.
        """
        def keep(name: str, value: Any) -> Any:
            return value if override is None or value is None else override(prefix + name, value)

        state: dict[str, Any] = {"training": False}
        state["_parameters"] = collections.OrderedDict(
            (k, keep(k, torch.nn.Parameter(v.detach().clone(), requires_grad=False)))
            for k, v in module._parameters.items())
        state["_buffers"] = collections.OrderedDict((k, keep(k, v.clone())) for k, v in module._buffers.items())
        state["_non_persistent_buffers_set"] = set()
        for hooks in _HOOK_DICTS:
            state[hooks] = collections.OrderedDict()
        state["_is_full_backward_hook"] = None
        state["_modules"] = collections.OrderedDict(
            (k, self.persistent(v, override=override, prefix=f"{prefix}{k}.")) for k, v in module._modules.items())
        for key, value in module.__dict__.items():
            if key.startswith("_") or key in ("training", "config", "branches", "branch_names"):
                continue
            if isinstance(value, (int, float, str, bool, list, type(None))):
                # the official code keeps numpy float64 gains (np.sqrt(2)) as attributes
                state[key] = np.float64(value) if key == "act_gain" else value
        state["_init_args"] = ()
        state["_init_kwargs"] = self.EasyDict(init_kwargs or {})
        meta = dict(type="class", version=6, module_src=self.MODULE_SRC.format(marker=str(self.marker)),
                    class_name=type(module).__name__, state=state)
        reconstruct = self.reconstruct

        class Persistent:
            def __reduce__(self) -> tuple:
                return (reconstruct, (meta,), None)

        return Persistent()


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
