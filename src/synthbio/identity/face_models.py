"""Face recognisers as IdentityModels: dlib's ResNet descriptor and IResNet (ArcFace / AdaFace).

The networks, their weight readers and the face geometry live in
`synthbio.faces`; this module gives them the `IdentityModel` interface
(`preprocess`, `embed`, cosine `similarity`, a decision `threshold`) that
dataset generation, inversion and evaluation use, and embeds faces found in
photographs (`embed_face`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from synthbio.checkpoints.registry import resolve_model
from synthbio.errors import CheckpointError, InputError
from synthbio.faces.alignment import align_face, image_to_tensor, warp_affine
from synthbio.faces.detection import Face
from synthbio.faces.dlib_resnet import (
    CHIP_SIZE,
    EUCLIDEAN_THRESHOLD,
    TYPICAL_NORM,
    DlibResNet,
    ffhq_to_chip_matrix,
    load_dlib_resnet,
)
from synthbio.faces.iresnet import IResNet, ffhq_to_arcface_matrix, load_iresnet
from synthbio.identity.protocol import VectorIdentityModel, check_images, to_rgb


class DlibResNetModel(VectorIdentityModel):
    """dlib's face descriptor as an IdentityModel ("dlib-resnet", 128-d, cosine).

    preprocess: for generator images with no detector in the loop, a fixed
    crop of an FFHQ-aligned square image to dlib's 150x150 chip
    (`ffhq_to_chip_matrix`, bilinear with antialiasing, differentiable).
    For photographs, align with `synthbio.faces.alignment.dlib_chip_matrix`
    from detected landmarks and call `embed_chips`.
    """

    name = "dlib-resnet"
    embedding_dim = 128
    differentiable = True
    threshold = 1.0 - EUCLIDEAN_THRESHOLD**2 / (2 * TYPICAL_NORM**2)

    def __init__(self, net: DlibResNet) -> None:
        super().__init__()
        self.net = net
        self.freeze()

    @classmethod
    def from_dat(cls, path: str | Path | None = None) -> DlibResNetModel:
        return cls(load_dlib_resnet(path))

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, 1|3, R, R] FFHQ-aligned in [-1, 1] -> [N, 3, 150, 150] chips in [-1, 1]."""
        x = to_rgb(check_images(images))
        if x.shape[-1] != x.shape[-2]:
            raise InputError(f"images must be square FFHQ-aligned faces, got {tuple(x.shape[-2:])}: crop photos "
                             "first with `synthbio faces crop --style ffhq`")
        m = torch.from_numpy(ffhq_to_chip_matrix(x.shape[-1]))
        return warp_affine(x, m, CHIP_SIZE)

    def network(self, chips: Tensor) -> Tensor:
        """[N, 3, 150, 150] chips in [-1, 1] -> [N, 128] descriptors."""
        return self.net(self.net.normalize((chips + 1.0) * 127.5))

    def embed_chips(self, chips: Tensor) -> Tensor:
        """Descriptors of chips already aligned as dlib does: [N, 3, 150, 150] in [-1, 1]."""
        x = to_rgb(check_images(chips, what="chips"))
        if x.shape[-2:] != (CHIP_SIZE, CHIP_SIZE):
            raise InputError(f"chips must be {CHIP_SIZE}x{CHIP_SIZE}, got {tuple(x.shape[-2:])}")
        return self.network(x)


class IResNetModel(VectorIdentityModel):
    """ArcFace / AdaFace IResNet as an IdentityModel (cosine similarity).

    preprocess: a fixed crop of FFHQ-aligned square images to the 112x112
    ArcFace template (`ffhq_to_arcface_matrix`), differentiable; AdaFace
    gets BGR. For photographs, align with `arcface_matrix` from landmarks and
    call `embed_aligned`. threshold 0.3: a usual cosine operating point for
    ArcFace-family r100 models (roughly FMR 1e-4); calibrate for your data.
    """

    differentiable = True
    threshold = 0.3

    def __init__(self, net: IResNet, *, name: str) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.embedding_dim = net.config.embedding_dim
        self.freeze()

    def preprocess(self, images: Tensor) -> Tensor:
        """[N, 1|3, R, R] FFHQ-aligned in [-1, 1] -> [N, 3, 112, 112] aligned in [-1, 1] (RGB)."""
        x = to_rgb(check_images(images))
        if x.shape[-1] != x.shape[-2]:
            raise InputError(f"images must be square FFHQ-aligned faces, got {tuple(x.shape[-2:])}: crop photos "
                             "first with `synthbio faces crop --style ffhq`")
        size = self.net.config.input_size
        return warp_affine(x, torch.from_numpy(ffhq_to_arcface_matrix(x.shape[-1], size=size)), size)

    def network(self, aligned: Tensor) -> Tensor:
        if self.net.config.layout == "adaface":
            aligned = aligned.flip(1)  # AdaFace was trained on BGR
        return self.net(aligned)

    def embed_aligned(self, aligned: Tensor) -> Tensor:
        """Embeddings of faces already aligned to the template: [N, 3, 112, 112] RGB in [-1, 1]."""
        x = to_rgb(check_images(aligned, what="aligned faces"))
        size = self.net.config.input_size
        if x.shape[-2:] != (size, size):
            raise InputError(f"aligned faces must be {size}x{size}, got {tuple(x.shape[-2:])}")
        return self.network(x)


def load_iresnet_model(name: str, weights: str | Path) -> IResNetModel:
    """`build_identity_model` for "arcface-r100" / "adaface-ir101": weights = file or registry name."""
    path = resolve_model(weights)
    net = load_iresnet(path)
    expected = "adaface" if name.startswith("adaface") else "arcface"
    if net.config.layout != expected:
        raise CheckpointError(f"{path} holds {net.config.layout} weights, but {name!r} expects the {expected} layout")
    return IResNetModel(net, name=name)


def embed_face(model: Any, image_uint8: np.ndarray, face: Face) -> Any:
    """Embedding [1, D] of one detected face, aligned the way `model` expects.

    dlib-resnet: dlib's 150x150 chip (padding 0.25, as compute_face_descriptor);
    IResNet models: the ArcFace 112x112 template; other vector models: the
    FFHQ crop at 256 px through the model's own preprocess.
    """
    if getattr(model, "kind", None) != "vector":
        raise InputError(f"identity model {getattr(model, 'name', model)!r} does not embed faces")
    kind = face.landmark_kind  # dlib's or MTCNN's 5 points: each crop reads them its own way
    with torch.no_grad():
        if isinstance(model, DlibResNetModel):
            return model.embed_chips(image_to_tensor(align_face(image_uint8, face.landmarks, style="dlib",
                                                                landmark_kind=kind)))
        if isinstance(model, IResNetModel):
            size = model.net.config.input_size
            return model.embed_aligned(image_to_tensor(align_face(image_uint8, face.landmarks, style="arcface",
                                                                  size=size, landmark_kind=kind)))
        return model.embed(image_to_tensor(align_face(image_uint8, face.landmarks, style="ffhq", size=256,
                                                      landmark_kind=kind)))
