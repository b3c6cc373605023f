"""The IdentityModel protocol and what every embedding model shares (see `synthbio.identity.models`).

Kept apart from the model catalogue so the face recognisers
(`synthbio.identity.face_models`) and the factory can both build on it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import InputError

ModelKind = Literal["vector", "template"]

@runtime_checkable
class IdentityModel(Protocol):
    """What every recogniser offers (see the module docstring for the units)."""

    name: str
    embedding_dim: int | None  # None for template matchers
    differentiable: bool
    threshold: float
    kind: ModelKind

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, C, H, W] in [-1, 1] -> the model's input (aligned, cropped, resized)."""
        ...

    def embed(self, images: Tensor) -> Any:
        """[N, C, H, W] in [-1, 1] -> Tensor [N, D] (vector) or list[MinutiaeTemplate]."""
        ...

    def similarity(self, a: Any, b: Any) -> Tensor:
        """float32 [len(a), len(b)]: cosine (vector kinds) or matcher scores."""
        ...


# --- shared helpers -----------------------------------------------------------------------


def check_images(images: Tensor, *, what: str = "images", channels: Sequence[int] = (1, 3)) -> Tensor:
    """Validate a float image batch [N, C, H, W]; returns it unchanged."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InputError(f"{what} must be a float tensor [N, C, H, W], got {shape}")
    if not images.is_floating_point():
        raise InputError(f"{what} must be floating point in [-1, 1], got {images.dtype}")
    if images.shape[1] not in channels:
        raise InputError(f"{what} must have {' or '.join(map(str, channels))} channels, got {images.shape[1]}")
    if images.shape[0] == 0:
        raise InputError(f"{what} is an empty batch")
    return images


def to_rgb(images: Tensor) -> Tensor:
    """[N, 1|3, H, W] -> [N, 3, H, W] (grayscale repeated)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def cosine_similarity_matrix(a: Tensor, b: Tensor) -> Tensor:
    """float32 [len(a), len(b)] cosine of every pair of rows of a [N, D] and b [M, D]."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"embeddings must be [N, D] and [M, D] with the same D, got {tuple(a.shape)}, {tuple(b.shape)}")
    a = F.normalize(a.float(), dim=1, eps=1e-12)
    b = F.normalize(b.float(), dim=1, eps=1e-12)
    return a @ b.T


def angle_distance(cosine: Tensor) -> Tensor:
    """Angle between embeddings in radians: arccos(clamp(cosine, -1, 1))."""
    return torch.arccos(cosine.clamp(-1.0, 1.0))


class VectorIdentityModel(nn.Module, abc.ABC):
    """Base of the embedding models: `embed = network(preprocess(images))`, cosine similarity.

    Subclasses set the attributes and implement `preprocess` and `network`.
    Parameters are frozen (requires_grad False) but gradients flow to the
    images when `differentiable`.
    """

    name: str = ""
    embedding_dim: int | None = None
    differentiable: bool = True
    threshold: float = 0.0
    kind: ModelKind = "vector"

    @abc.abstractmethod
    def preprocess(self, images: Tensor) -> Tensor:
        """[N, C, H, W] in [-1, 1] -> the network's input."""

    @abc.abstractmethod
    def network(self, x: Tensor) -> Tensor:
        """The network's input -> [N, D] embeddings."""

    def embed(self, images: Tensor) -> Tensor:
        """[N, C, H, W] in [-1, 1] -> [N, D] embeddings (not normalised)."""
        return self.network(self.preprocess(images))

    def forward(self, images: Tensor) -> Tensor:
        return self.embed(images)

    def similarity(self, a: Tensor, b: Tensor) -> Tensor:
        return cosine_similarity_matrix(a, b)

    def freeze(self) -> VectorIdentityModel:
        """Eval mode, no parameter gradients (gradients still reach the input)."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self
