"""The identity loss of translator training, built from an IdentityModel name.

Faces: the recogniser sees a translation and its source through the same
crop. With alignment 'model' that is the model's own preprocessing (a fixed
crop of FFHQ-aligned squares); with 'detect' dlib finds the 5 landmarks of
each source face (the translation lies on the same pixels) and both images
are warped to the recogniser's template: dlib's 150 px chip for dlib-resnet,
ArcFace's 112 px template for the IResNet models. A source without a
detected face falls back to the fixed crop.

Fingerprints: 'fingerprint-ridges' (synthbio.identity.fingerprint_ridges), a
differentiable ridge-orientation + ridge-pattern similarity of the aligned
pair; NBIS itself is not differentiable and only measures the result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.identity.models import build_identity_model
from synthbio.identity.protocol import to_rgb
from synthbio.translation.losses import IdentityLoss

FACE_MODELS = ("dlib-resnet", "arcface-r100", "adaface-ir101")


def build_translation_identity_model(name: str, *, weights: str | None = None, ridge_period: float = 9.0,
                                     device: torch.device | str = "cpu") -> object:
    """The named IdentityModel on `device` ('fingerprint-ridges' with the given ridge period)."""
    if name == "fingerprint-ridges":
        from synthbio.identity.fingerprint_ridges import FingerprintRidgeModel

        return FingerprintRidgeModel(period_px=ridge_period).to(device)
    return build_identity_model(name, device=device, weights=weights)


def _face_template(model: object) -> tuple[str, int, Callable[[int], np.ndarray]]:
    """(crop style, side, fixed FFHQ->crop matrix for a resolution) of a face recogniser."""
    from synthbio.faces.dlib_resnet import CHIP_SIZE, ffhq_to_chip_matrix
    from synthbio.faces.iresnet import ffhq_to_arcface_matrix
    from synthbio.identity.face_models import DlibResNetModel, IResNetModel

    if isinstance(model, DlibResNetModel):
        return "dlib", CHIP_SIZE, ffhq_to_chip_matrix
    if isinstance(model, IResNetModel):
        size = int(model.net.config.input_size)
        return "arcface", size, lambda res: ffhq_to_arcface_matrix(res, size=size)
    raise InputError(f"--identity-alignment detect works with the face recognisers ({', '.join(FACE_MODELS)}), "
                     f"not {getattr(model, 'name', type(model).__name__)!r}")


def face_crop_matrices(model: object, anchors: Tensor) -> tuple[Tensor, int]:
    """Output->input maps [N, 2, 3] to the recogniser's template from each anchor image's landmarks, and its side.

    anchors: [N, 1|3, H, W] in [-1, 1], the images whose faces decide the
    crops (the sources, for translations). A face that dlib does not find
    gets the fixed crop of an FFHQ-aligned square.
    """
    from synthbio.faces.alignment import crop_matrix
    from synthbio.faces.detection import detect_faces

    style, side, fallback = _face_template(model)
    images = ((to_rgb(anchors.detach().float()).permute(0, 2, 3, 1).cpu() + 1) * 127.5).round().clamp(0, 255)
    mats = []
    for img in images.to(torch.uint8).numpy():
        faces = detect_faces(img)
        mats.append(crop_matrix(faces[0].landmarks, style=style, size=side)[0] if faces else fallback(img.shape[0]))
    return torch.from_numpy(np.stack(mats)), side


def embed_with_crops(model: object, images: Tensor, matrices: Tensor, side: int) -> Tensor:
    """Embeddings [N, D] of images warped by `matrices` to the recogniser's template (differentiable)."""
    from synthbio.faces.alignment import warp_affine

    return model.network(warp_affine(to_rgb(images), matrices, side))  # type: ignore[attr-defined]


def landmark_alignment(model: object) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(translated, source) -> both warped to the recogniser's template by the source's landmarks."""
    from synthbio.faces.alignment import warp_affine

    def align(translated: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        m, side = face_crop_matrices(model, source)
        return warp_affine(to_rgb(translated), m, side), warp_affine(to_rgb(source.detach().float()), m, side)

    return align


def build_identity_loss(name: str, *, weights: str | None = None, form: str = "hinge",
                        threshold: float | None = None, alignment: str = "model", ridge_period: float = 9.0,
                        device: torch.device | str = "cpu") -> IdentityLoss:
    """IdentityLoss over the named model; alignment 'model' or 'detect' (faces, see the module docstring)."""
    model = build_translation_identity_model(name, weights=weights, ridge_period=ridge_period, device=device)
    preprocess = landmark_alignment(model) if alignment == "detect" else None
    return IdentityLoss(model, form=form, threshold=threshold, preprocess=preprocess)
