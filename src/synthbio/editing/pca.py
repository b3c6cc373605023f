"""GANSpace-style directions: principal components of W (Härkönen et al., NeurIPS 2020).

Sample N latents z, map them to w = mapping(z), and take the principal axes of
the centred w's: the right singular vectors of W - mean (rows = samples). The
k-th axis explains variance sigma_k^2 / (N - 1); the explained variance ratio
divides by the total variance (the trace of the sample covariance), so the
ratios of all min(N - 1, w_dim) components sum to 1. A component is used as an
edit on a range of ws layers (GANSpace edits coarse layers for pose, later ones
for colour); the layer range is chosen when the direction is applied or saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthbio.editing.sefa import fix_signs
from synthbio.errors import InputError


@dataclass(frozen=True)
class PCAResult:
    """components [K, w_dim] (unit rows), explained_variance [K], ratio [K], mean [w_dim], total variance."""

    components: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor
    mean: torch.Tensor
    total_variance: float
    num_samples: int


def sample_w(G: Any, num_samples: int, *, seed: int = 0, class_idx: int | None = None,
             batch_size: int = 1024) -> torch.Tensor:
    """num_samples w's [N, w_dim] from G.mapping, z ~ N(0, I) drawn from one torch.Generator(seed).

    No truncation: PCA describes the whole W distribution.
    """
    from synthbio.generation.sampling import conditioning

    if num_samples < 2:
        raise InputError(f"PCA needs at least 2 samples, got {num_samples}")
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn([num_samples, G.z_dim], generator=g)
    out = []
    with torch.no_grad():
        for start in range(0, num_samples, batch_size):
            zb = z[start:start + batch_size].to(device)
            c = conditioning(G, class_idx, n=zb.shape[0], device=device)
            out.append(G.mapping(zb, c)[:, 0].float().cpu())
    return torch.cat(out)


def pca_directions(w: torch.Tensor, *, num_components: int | None = None) -> PCAResult:
    """Principal axes of w [N, w_dim] (largest variance first; signs fixed as in SeFa).

    num_components: None = all min(N - 1, w_dim).
    """
    if w.ndim != 2 or w.shape[0] < 2:
        raise InputError(f"PCA needs latents of shape [N >= 2, w_dim], got {list(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise InputError("latents for PCA contain NaN or inf values")
    n, d = w.shape
    x = w.to(torch.float64)
    mean = x.mean(dim=0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    max_k = min(n - 1, d)
    k = max_k if num_components is None else num_components
    if not 1 <= k <= max_k:
        raise InputError(f"number of PCA components must be in 1-{max_k}, got {k}")
    var = s[:k] ** 2 / (n - 1)
    total = float(((x - mean) ** 2).sum() / (n - 1))
    return PCAResult(components=fix_signs(vh[:k]).to(torch.float32), explained_variance=var.to(torch.float32),
                     explained_variance_ratio=(var / total).to(torch.float32), mean=mean.to(torch.float32),
                     total_variance=total, num_samples=n)


def save_pca(result: PCAResult, outdir: str | Path, *, layers: Sequence[int] | range | None = None,
             prefix: str = "pc", generator: str = "") -> list[Path]:
    """One direction file per component: OUTDIR/<prefix><k>.direction.safetensors.

    Metadata carries the component's explained variance, its ratio and its
    standard deviation (GANSpace edit strengths are often given in std units).
    """
    from synthbio.editing.directions import save_direction

    out = []
    for k, comp in enumerate(result.components):
        var = float(result.explained_variance[k])
        out.append(save_direction(Path(outdir) / f"{prefix}{k}", comp, method="pca", layers=layers,
                                  generator=generator, label=f"{prefix}{k}",
                                  extra={"index": k, "explained_variance": f"{var:.6g}", "std": f"{var ** 0.5:.6g}",
                                         "explained_variance_ratio": f"{float(result.explained_variance_ratio[k]):.6g}",
                                         "num_samples": result.num_samples}))
    return out
