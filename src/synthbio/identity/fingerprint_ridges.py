"""`fingerprint-ridges`: a differentiable identity model for pixel-aligned fingerprint pairs.

NBIS (MINDTCT + Bozorth3) decides whether two prints are the same finger but
gives no gradient. A translated print lies on the same pixels as its source,
so what must survive translation is where the ridges run: their orientation
and the ridge/valley pattern itself, on which every minutia sits. This model
embeds exactly that, as a vector whose cosine compares two prints pixel by
pixel:

    embedding = [ sqrt(w_o) * unit(coherence * u  pooled to half a ridge period),
                  sqrt(w_p) * unit(ridge pattern * foreground weight) ]

with u the doubled-angle orientation field and the ridge pattern the
contrast-normalised band-pass of `synthbio.fingerprints.ridge_maps`. The
cosine of two embeddings is then w_o * (coherence-weighted agreement of the
orientation fields) + w_p * (normalised cross-correlation of the ridge
patterns), with w_o + w_p = 1. It is 1 for the same print, ~0.3-0.4 for two
fingers whose flows run alike but whose ridges do not line up, and drops as
ridges move or break.

Not a recogniser: it does not align two impressions, so it means something
only between an image and a translation (or degradation) of that same
image. The embedding length depends on the image size (`embedding_dim` is None).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.fingerprints.ridge_maps import (
    DEFAULT_PERIOD_PX,
    orientation_field,
    ridge_pattern,
)
from synthbio.identity.protocol import VectorIdentityModel, check_images

FOREGROUND_CONTRAST = 0.05  # local RMS of the band-passed print (grey units of [-1, 1]) counted as fully visible


class FingerprintRidgeModel(VectorIdentityModel):
    """Ridge-orientation + ridge-pattern embedding (see the module docstring); cosine similarity.

    period_px: mean ridge period of the images in pixels (9 at 500 dpi).
    orientation_weight: w_o; the ridge pattern gets 1 - w_o.
    """

    name = "fingerprint-ridges"
    embedding_dim: int | None = None
    differentiable = True
    threshold = 0.6  # between different fingers (~0.35) and a print degraded by blur and noise (>0.8)

    def __init__(self, *, period_px: float = DEFAULT_PERIOD_PX, orientation_weight: float = 0.5) -> None:
        super().__init__()
        if not period_px > 0:
            raise InputError(f"ridge period must be > 0 px, got {period_px}")
        if not 0.0 <= orientation_weight <= 1.0:
            raise InputError(f"orientation_weight must be in [0, 1], got {orientation_weight}")
        self.period_px = float(period_px)
        self.orientation_weight = float(orientation_weight)
        self.freeze()

    def extra_repr(self) -> str:
        return f"period_px={self.period_px:g}, orientation_weight={self.orientation_weight:g}"

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, 1|3, H, W] in [-1, 1] -> float32 grey [N, 1, H, W]."""
        return check_images(images).float().mean(dim=1, keepdim=True)

    def network(self, x: Tensor) -> Tensor:
        """Grey prints [N, 1, H, W] -> embeddings [N, D] (D = H * W + 2 * ceil(H / s) * ceil(W / s))."""
        if min(x.shape[-2:]) < 2 * self.period_px:
            raise InputError(f"fingerprint images of {x.shape[-1]}x{x.shape[-2]} px are too small for ridge "
                             f"maps with a {self.period_px:g} px ridge period")
        u, coherence = orientation_field(x, sigma=0.45 * self.period_px)
        stride = max(1, round(self.period_px / 2))
        flow = F.avg_pool2d(u * coherence, stride, ceil_mode=True).flatten(1)
        pattern, contrast = ridge_pattern(x, period_px=self.period_px)
        visible = (contrast / FOREGROUND_CONTRAST).clamp(max=1.0)
        ridges = (pattern * visible).flatten(1)
        w_o = self.orientation_weight
        parts = [F.normalize(flow, dim=1, eps=1e-8) * w_o**0.5, F.normalize(ridges, dim=1, eps=1e-8) * (1 - w_o) ** 0.5]
        return torch.cat(parts, dim=1)
