"""SeFa: closed-form semantic directions of a StyleGAN generator (Shen & Zhou, CVPR 2021).

Every synthesis conv layer turns its w into styles s = A w + b through its
`affine` layer. A unit change n in w moves the styles of the chosen layers by
A n, with A the stacked affine weights of those layers [sum_out, w_dim]. The
directions that move the styles most are the maximisers of |A n|^2 subject to
|n| = 1: the eigenvectors of A^T A, i.e. the right singular vectors of A
(SeFa, eq. 5). Output heads (`torgb`, `torgb_<name>`) are left out: they only
colour the result.

StyleGAN3: the style affines of the synthesis layers L0... (ws[1:]); its input
layer's affine (ws[0] -> rotation and translation, not a style) and ToRGB are
left out. EG3D: the style affines of its StyleGAN2 backbone (the tri-planes);
the super-resolution layers read only the last w and refine the image.

Normalisation: each row of A (one style channel) is scaled to unit norm, as in
the authors' release, so layers with wide channels or a large learned scale do
not dominate. The affine layers' runtime gain (lr_multiplier / sqrt(w_dim)) is
one scalar per layer and disappears under that row normalisation; without it
(`normalize=False`) the runtime weights (weight * weight_gain) are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthbio.errors import InputError


@dataclass(frozen=True)
class StyleLayer:
    """One conv layer's style affine: the ws index it reads and its runtime weight [out, w_dim]."""

    ws_index: int
    name: str
    weight: torch.Tensor


@dataclass(frozen=True)
class SefaResult:
    """directions [K, w_dim] (unit rows, strongest first), eigenvalues [K] of A^T A, the layers used."""

    directions: torch.Tensor
    eigenvalues: torch.Tensor
    layers: range
    layer_names: tuple[str, ...]


def _synthesis_of(G: Any) -> tuple[Any, str]:
    """The synthesis network whose styles SeFa reads, and its name in G's state dict."""
    if hasattr(G, "backbone"):  # EG3D: the tri-plane backbone
        return G.backbone.synthesis, "backbone.synthesis"
    return getattr(G, "synthesis", G), "synthesis"


def style_layers(G: Any) -> list[StyleLayer]:
    """The conv layers' style affines of G (a Generator or its SynthesisNetwork), in ws order.

    ws indexing follows the synthesis network: block b4 reads ws[0] (conv1) and
    ws[1] (heads); every later block reads ws[k] (conv0), ws[k+1] (conv1) and
    ws[k+2] (heads), where ws[k+2] is shared with the next block's conv0. Heads
    are excluded, so a ws index maps to at most one conv layer here.
    """
    synth, prefix = _synthesis_of(G)
    out: list[StyleLayer] = []
    if hasattr(synth, "layer_names"):  # StyleGAN3: layer i reads ws[i + 1]; the last one is ToRGB
        for i, name in enumerate(synth.layer_names[:-1]):
            affine = getattr(synth, name).affine
            weight = affine.weight.detach().to(torch.float64) * affine.weight_gain
            out.append(StyleLayer(ws_index=i + 1, name=f"{prefix}.{name}.affine", weight=weight))
        return out
    w_idx = 0
    for res in synth.block_resolutions:
        block = getattr(synth, f"b{res}")
        convs = (["conv0"] if hasattr(block, "conv0") else []) + ["conv1"]
        for i, conv in enumerate(convs):
            affine = getattr(block, conv).affine
            weight = affine.weight.detach().to(torch.float64) * affine.weight_gain
            out.append(StyleLayer(ws_index=w_idx + i, name=f"{prefix}.b{res}.{conv}.affine", weight=weight))
        w_idx += block.num_conv
    return out


def stacked_style_weights(G: Any, *, layers: Sequence[int] | None = None, normalize: bool = True) -> torch.Tensor:
    """A = the style affine weights of the conv layers whose ws index is in `layers`, stacked: [sum_out, w_dim].

    layers: ws indices (None = all). normalize: scale each row to unit norm.
    """
    all_layers = style_layers(G)
    chosen = [s for s in all_layers if layers is None or s.ws_index in set(layers)]
    if not chosen:
        known = sorted({s.ws_index for s in all_layers})
        raise InputError(f"layer range {list(layers or [])} holds no synthesis conv layer (conv layers read ws "
                         f"{known[0]}-{known[-1]})")
    A = torch.cat([s.weight for s in chosen], dim=0)
    if normalize:
        A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return A


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row [K, D] so its largest-magnitude entry is positive (eigenvectors have no sign)."""
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors.gather(1, idx[:, None]))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def sefa(G: Any, *, layers: Sequence[int] | range | None = None, num_directions: int = 10,
         normalize: bool = True) -> SefaResult:
    """Top `num_directions` SeFa directions of G for the ws range min(layers)-max(layers) (None = all).

    Returns unit directions [K, w_dim] sorted by eigenvalue of A^T A (largest
    first), with signs fixed by `fix_signs` so a run is reproducible.
    """
    num_ws = int(G.num_ws)
    layer_range = range(num_ws) if layers is None else range(min(layers), max(layers) + 1)
    if layer_range.start < 0 or layer_range.stop > num_ws:
        raise InputError(f"layer range {layer_range.start}-{layer_range.stop - 1} is out of bounds: "
                         f"the model has ws layers 0-{num_ws - 1}")
    A = stacked_style_weights(G, layers=layer_range, normalize=normalize)
    rank_bound = min(A.shape)  # A^T A has at most this many non-zero eigenvalues
    if not 1 <= num_directions <= rank_bound:
        raise InputError(f"number of SeFa directions must be in 1-{rank_bound} for these layers, "
                         f"got {num_directions}")
    # Right singular vectors of A = eigenvectors of A^T A; singular values squared = eigenvalues.
    _, s, vh = torch.linalg.svd(A, full_matrices=False)
    k = num_directions
    names = tuple(x.name for x in style_layers(G) if x.ws_index in layer_range)
    return SefaResult(directions=fix_signs(vh[:k]).to(torch.float32), eigenvalues=(s[:k] ** 2).to(torch.float32),
                      layers=layer_range, layer_names=names)


def save_sefa(result: SefaResult, outdir: str | Path, *, prefix: str = "sefa", generator: str = "") -> list[Path]:
    """One direction file per SeFa direction: OUTDIR/<prefix>_<k>.direction.safetensors."""
    from synthbio.editing.directions import save_direction

    return [save_direction(Path(outdir) / f"{prefix}_{k}", d, method="sefa", layers=result.layers,
                           generator=generator, label=f"{prefix}_{k}",
                           extra={"index": k, "eigenvalue": f"{float(e):.6g}"})
            for k, (d, e) in enumerate(zip(result.directions, result.eigenvalues))]
