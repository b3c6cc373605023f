"""The translation identity loss with faces: dlib landmarks of the source crop both images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.faces.dlib_resnet import CHIP_SIZE, ffhq_to_chip_matrix
from synthbio.translation.identity import build_identity_loss, face_crop_matrices

dlib = pytest.importorskip("dlib", reason="dlib (the 'faces' extra) detects the landmarks")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    img = skimage_data.astronaut()[:256, 96:352]  # the face, not FFHQ-aligned
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 127.5 - 1


def test_landmark_crops_follow_the_source_face(photo: torch.Tensor) -> None:
    loss = build_identity_loss("dlib-resnet", alignment="detect", form="cosine")
    m, side = face_crop_matrices(loss.model, torch.cat([photo, torch.zeros_like(photo)]))
    assert side == CHIP_SIZE and m.shape == (2, 2, 3)
    torch.testing.assert_close(m[1], torch.from_numpy(ffhq_to_chip_matrix(256)))  # no face: the fixed crop
    assert not torch.allclose(m[0], m[1])
    sketchy = photo.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # a grey "drawing" of the same face
    other = torch.flip(photo, dims=[2])  # upside down: no longer that face
    translated = torch.cat([photo, sketchy, other]).requires_grad_(True)
    sim = loss.similarity(translated, photo.expand(3, -1, -1, -1))
    values = sim.detach()
    assert abs(float(values[0]) - 1) < 1e-4 and float(values[1]) > 0.9 and float(values[2]) < float(values[1])
    (1 - sim).sum().backward()
    assert translated.grad is not None and torch.isfinite(translated.grad).all()


def test_detect_alignment_needs_a_face_recogniser() -> None:
    loss = build_identity_loss("pixel-random", alignment="detect")
    with pytest.raises(InputError, match="face recognisers"):
        loss.similarity(torch.zeros(1, 3, 32, 32), F.pad(torch.zeros(1, 3, 30, 30), (1, 1, 1, 1)))
