"""Per-pixel features of a synthesis network (DatasetGAN), read through forward hooks.

What a generator offers (`FeatureSource`): `G.synthesis.feature_layers()`, the
modules whose outputs are feature maps [N, C, h, w] aligned with the output
image, by name, in forward order. A module may carry an int attribute
`feature_margin` (default 0): samples at each border of its output that lie
outside the image, cropped before use (alias-free StyleGAN3 layers compute a
margin around the image). Any synthesis network with that method works here:
StyleGAN2 (`synthbio.nn.synthesis`), and StyleGAN3 / EG3D once they offer it.

The DatasetGAN feature of output pixel p is concat_l up_l(F_l)(p), every map
F_l resized bilinearly (align_corners=False, as `F.interpolate`) to the output
size: thousands of channels per pixel (4,992 at 256² for the reference
StyleGAN2). It is never built whole here. Training gathers it only at sampled
pixels (`gather_pixel_features`: 4 taps per map per pixel); inference applies
the classifier's first layer to every map at its own resolution and resizes
its output instead (exact, since the resize acts per channel and the layer
mixes channels per pixel; `synthbio.segmentation.pixel_classifier`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.generation.sampling import synthesize


class FeatureSource(Protocol):
    """A synthesis network whose feature maps can be tapped."""

    def feature_layers(self) -> dict[str, torch.nn.Module]: ...


@dataclass(frozen=True)
class FeatureLayer:
    """One tapped map: its name, channels C and size (h, w) after the margin crop."""

    name: str
    channels: int
    height: int
    width: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "channels": self.channels, "height": self.height, "width": self.width}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureLayer:
        return cls(name=str(d["name"]), channels=int(d["channels"]), height=int(d["height"]),
                   width=int(d["width"]))


def feature_modules(G: Any) -> dict[str, torch.nn.Module]:
    """`G.synthesis.feature_layers()`; InputError when the generator offers none."""
    synthesis = getattr(G, "synthesis", None)
    if synthesis is None or not callable(getattr(synthesis, "feature_layers", None)):
        raise InputError(f"{type(G).__name__} offers no feature layers (synthesis.feature_layers()): "
                         "masks need a generator whose feature maps can be tapped")
    layers = synthesis.feature_layers()
    if not layers:
        raise InputError(f"{type(G).__name__}.synthesis.feature_layers() is empty")
    return dict(layers)


def select_layers(available: Sequence[str], patterns: Sequence[str] = ()) -> list[str]:
    """Layer names matching any of `patterns` (exact names or globs like 'b64.*'), in forward order.

    No patterns = every layer (the reference's choice). InputError naming a
    pattern that matches nothing, with the names there are.
    """
    if not patterns:
        return list(available)
    for p in patterns:
        if not any(fnmatch.fnmatchcase(name, p) for name in available):
            raise InputError(f"feature layer {p!r} matches none of the generator's layers: {', '.join(available)}")
    return [name for name in available if any(fnmatch.fnmatchcase(name, p) for p in patterns)]


def _crop(t: Tensor, margin: int) -> Tensor:
    return t[..., margin:t.shape[-2] - margin, margin:t.shape[-1] - margin] if margin else t


@contextmanager
def tap_feature_maps(G: Any, layers: Sequence[str]) -> Iterator[dict[str, list[Tensor]]]:
    """Record the outputs of `layers` while the block runs: {name: [tensor per call]}.

    On CPU the synthesis network runs each sample alone (`synthbio.nn._per_sample`),
    so a layer is called once per sample; concatenating the calls in order gives [N, ...].
    """
    modules = feature_modules(G)
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise InputError(f"unknown feature layers {unknown}: the generator has {', '.join(modules)}")
    store: dict[str, list[Tensor]] = {n: [] for n in layers}
    handles = []

    def hook_for(name: str, margin: int) -> Any:
        def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            store[name].append(_crop(out.detach(), margin))
        return hook

    try:
        for name in layers:
            module = modules[name]
            handles.append(module.register_forward_hook(hook_for(name, int(getattr(module, "feature_margin", 0)))))
        yield store
    finally:
        for h in handles:
            h.remove()


def synthesize_with_features(
    G: Any, ws: Tensor, *, layers: Sequence[str], seeds: Sequence[int], noise_mode: str = "const",
) -> tuple[dict[str, Tensor], list[Tensor]]:
    """ws [N, num_ws, w_dim] -> ({branch: images [N, C, H, W]}, maps [N, C_l, h_l, w_l] per layer, float32).

    The images are exactly those of `synthbio.generation.sampling.synthesize`
    (same seeds, same noise); the maps are what produced them.
    """
    n = ws.shape[0]
    with tap_feature_maps(G, layers) as store:
        images = synthesize(G, ws, seeds=seeds, noise_mode=noise_mode)
    maps = []
    for name in layers:
        parts = store[name]
        if not parts:
            raise InputError(f"feature layer {name!r} did not run during synthesis")
        maps.append(torch.cat(parts)[:n].float())  # [:n] drops rows padded in off CPU
    return images, maps


def describe_layers(G: Any, layers: Sequence[str]) -> list[FeatureLayer]:
    """Channels and sizes of the tapped maps, from one synthesis of w_avg."""
    w_avg = G.mapping.w_avg.detach().float()
    ws = w_avg.reshape(1, 1, -1).expand(1, G.num_ws, -1).contiguous()
    _, maps = synthesize_with_features(G, ws, layers=layers, seeds=[0], noise_mode="const")
    return [FeatureLayer(name, m.shape[1], m.shape[2], m.shape[3]) for name, m in zip(layers, maps)]


# --- bilinear resampling at chosen pixels -------------------------------------------------------


def bilinear_taps(out_size: int, in_size: int, *, device: torch.device | str = "cpu"
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Per output index: (i0, i1, w1) so that out[j] = (1 - w1) in[i0] + w1 in[i1].

    The rule of `F.interpolate(mode='bilinear', align_corners=False)` without a
    scale factor: source = (j + 0.5) * in / out - 0.5, clamped at 0; the upper
    tap stops at the last sample.
    """
    j = torch.arange(out_size, dtype=torch.float64, device=device)
    src = ((j + 0.5) * (in_size / out_size) - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    return i0, i1, (src - i0).float()


def gather_pixel_features(maps: Sequence[Tensor], ys: Tensor, xs: Tensor, *, out_height: int, out_width: int,
                          dtype: torch.dtype = torch.float32) -> Tensor:
    """DatasetGAN features [P, D] of pixels (ys[p], xs[p]) of one image, D = sum of the maps' channels.

    maps: [C_l, h_l, w_l] per layer (one image). Equal to resizing every map to
    out_height x out_width bilinearly, concatenating and indexing the pixels,
    without ever building the resized maps.
    """
    cols = []
    for m in maps:
        c, h, w = m.shape
        y0, y1, wy = (t[ys] for t in bilinear_taps(out_height, h, device=m.device))
        x0, x1, wx = (t[xs] for t in bilinear_taps(out_width, w, device=m.device))
        flat = m.reshape(c, h * w)
        top = flat[:, y0 * w + x0] * (1 - wx) + flat[:, y0 * w + x1] * wx  # [C, P]
        bottom = flat[:, y1 * w + x0] * (1 - wx) + flat[:, y1 * w + x1] * wx
        cols.append((top * (1 - wy) + bottom * wy).t().to(dtype))
    return torch.cat(cols, dim=1)
