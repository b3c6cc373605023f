"""dlib's face descriptor port: parser, agreement with dlib itself, chips, preprocess."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthbio.errors import CheckpointError, InputError, ModelNotFoundError
from synthbio.faces import dlib_format
from synthbio.faces.dlib_resnet import DAT_NAME, add_prev, face_recognition_models_dir, load_dlib_resnet, network_ops
from synthbio.identity.models import IdentityModel, build_identity_model

try:
    import dlib
except ImportError:  # pragma: no cover - depends on the environment
    dlib = None

def _models_dir():
    try:
        d = face_recognition_models_dir()
    except ModelNotFoundError:
        return None
    return d if (d / DAT_NAME).is_file() else None


MODELS = _models_dir()
requires_models = pytest.mark.skipif(MODELS is None, reason="face-recognition-models is not installed (pip install 'synthbio[faces]')")
requires_dlib = pytest.mark.skipif(dlib is None, reason="dlib is not importable (pip install dlib-bin, in the 'faces' extra)")


@pytest.fixture(scope="module")
def model():
    return build_identity_model("dlib-resnet")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")
    return skimage_data.astronaut()


def _to_tensor(img_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img_uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1


# --- serialisation primitives -------------------------------------------------------------


def test_reader_integers_floats_strings() -> None:
    # 0 -> 01 00; -300 -> 0x82 2c 01; 5 bytes string; float 0.75 = 3 * 2**-2; bools
    data = bytes([0x01, 0x00, 0x82, 0x2C, 0x01, 0x01, 0x03, 0x61, 0x62, 0x63, 0x01, 0x03, 0x81, 0x02]) + b"10"
    r = dlib_format.DlibReader(data)
    assert (r.int(), r.int(), r.string(), r.float(), r.bool(), r.bool()) == (0, -300, "abc", 0.75, True, False)
    assert r.pos == len(data)


def test_reader_rejects_truncated_and_bad_bytes() -> None:
    with pytest.raises(CheckpointError, match="ends"):
        dlib_format.DlibReader(bytes([0x02, 0x01])).int()
    with pytest.raises(CheckpointError, match="control byte"):
        dlib_format.DlibReader(bytes([0x30])).int()
    with pytest.raises(CheckpointError, match="bool"):
        dlib_format.DlibReader(b"x").bool()


def test_add_prev_zero_pads_the_smaller_input() -> None:
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 4, 4, 4), 2.0)
    out = add_prev(a, b)
    assert out.shape == (1, 4, 4, 4)
    assert float(out[0, 0, 0, 0]) == 3.0 and float(out[0, 0, 3, 3]) == 2.0 and float(out[0, 3, 0, 0]) == 2.0


def test_network_has_29_convs() -> None:
    ops = network_ops()
    assert ops.count("con") == 29 and ops.count("affine") == 29 and ops[-1] == "fc"


@requires_models
def test_truncated_dat_is_a_checkpoint_error(tmp_path) -> None:
    bad = tmp_path / "cut.dat"
    bad.write_bytes((MODELS / DAT_NAME).read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="cut.dat"):
        load_dlib_resnet(bad)
    with pytest.raises(ModelNotFoundError, match="nope.dat"):
        load_dlib_resnet(tmp_path / "nope.dat")


# --- the port against dlib ----------------------------------------------------------------


@requires_models
@requires_dlib
def test_descriptor_equals_dlib(model, astronaut: np.ndarray) -> None:
    from synthbio.faces.detection import detect_faces

    faces = detect_faces(astronaut)
    assert faces and faces[0].box == (175, 76, 265, 166)
    rec = dlib.face_recognition_model_v1(str(MODELS / DAT_NAME))
    sp = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    shape = sp(astronaut, dlib.rectangle(*faces[0].box))
    chip = dlib.get_face_chip(astronaut, shape, size=150, padding=0.25)
    ref = np.array(rec.compute_face_descriptor(chip))
    # a second, different chip: the flipped one, in the same batch
    ref_flip = np.array(rec.compute_face_descriptor(np.ascontiguousarray(chip[:, ::-1])))
    with torch.no_grad():
        ours = model.embed_chips(torch.cat([_to_tensor(chip), _to_tensor(chip[:, ::-1])])).double().numpy()
    assert np.abs(ours[0] - ref).max() <= 1e-4
    assert np.abs(ours[1] - ref_flip).max() <= 1e-4


@requires_models
@requires_dlib
def test_chip_matches_dlib_get_face_chip(astronaut: np.ndarray) -> None:
    from synthbio.faces.alignment import dlib_chip_matrix, warp_affine
    from synthbio.faces.detection import detect_faces

    lm = detect_faces(astronaut)[0].landmarks
    sp = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    shape = sp(astronaut, dlib.rectangle(175, 76, 265, 166))
    ref = dlib.get_face_chip(astronaut, shape, size=150, padding=0.25).astype(np.float64)
    ours = warp_affine(_to_tensor(astronaut), dlib_chip_matrix(lm), 150)
    ours = ((ours[0].permute(1, 2, 0) + 1) * 127.5).double().numpy()
    diff = np.abs(ours - ref)
    assert diff.max() <= 1.5 and diff.mean() <= 0.6  # dlib stores uint8: <= 1 grey level apart


# --- IdentityModel behaviour --------------------------------------------------------------


@requires_models
def test_protocol_batch_independence_and_gradient(model) -> None:
    assert isinstance(model, IdentityModel)
    assert (model.embedding_dim, model.kind, model.differentiable) == (128, "vector", True)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1).requires_grad_(True)
    e = model.embed(x)
    with torch.no_grad():
        single = model.embed(x[1:2])
    torch.testing.assert_close(e[1:2].detach(), single, atol=1e-5, rtol=1e-5)
    (1 - model.similarity(e[:1], e[1:])).sum().backward()
    assert x.grad is not None and float(x.grad[0].abs().sum()) > 0 and float(x.grad[1].abs().sum()) > 0


@requires_models
@requires_dlib
def test_ffhq_crop_preprocess_keeps_identity(model, astronaut: np.ndarray) -> None:
    """The fixed FFHQ->chip crop embeds an FFHQ-aligned face like dlib's own chip does."""
    from synthbio.faces.alignment import dlib_chip_matrix, ffhq_matrix, warp_affine
    from synthbio.faces.detection import detect_faces

    lm = detect_faces(astronaut)[0].landmarks
    img = _to_tensor(astronaut)
    with torch.no_grad():
        e_chip = model.embed_chips(warp_affine(img, dlib_chip_matrix(lm), 150))
        e_ffhq = model.embed(warp_affine(img, ffhq_matrix(lm, size=256), 256))
        e_noise = model.embed(torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    assert float(model.similarity(e_chip, e_ffhq)) > 0.99
    assert float(model.similarity(e_chip, e_noise)) < model.threshold


@requires_models
def test_preprocess_rejects_non_square(model) -> None:
    with pytest.raises(InputError, match="square"):
        model.preprocess(torch.zeros(1, 3, 64, 48))
    with pytest.raises(InputError, match="150x150"):
        model.embed_chips(torch.zeros(1, 3, 64, 64))


@requires_models
@requires_dlib
@pytest.mark.parametrize("zoom", [1, 4], ids=["small-face", "large-face-pyramid"])
def test_photo_chips_and_descriptors_equal_dlib(model, astronaut: np.ndarray, zoom: int) -> None:
    """dlib shrinks a large face through an image pyramid before bilinear sampling; so must we.

    (A plain antialiased warp gave chips up to 40 grey levels off and descriptors 0.03-0.08 L2 away.)
    """
    import PIL.Image

    from synthbio.faces.alignment import align_face
    from synthbio.faces.detection import detect_faces
    from synthbio.identity.face_models import embed_face

    img = astronaut if zoom == 1 else np.asarray(PIL.Image.fromarray(astronaut).resize((512 * zoom, 512 * zoom),
                                                                                       PIL.Image.BICUBIC))
    face = detect_faces(img, upsample=0 if zoom > 1 else 1)[0]
    sp = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))
    shape = sp(img, dlib.rectangle(*face.box))
    ref = dlib.get_face_chip(img, shape, size=150, padding=0.25)
    ours = align_face(img, face.landmarks, style="dlib")
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005  # float rounding in dlib's bilinear, rarely
    rec = dlib.face_recognition_model_v1(str(MODELS / DAT_NAME))
    want = np.array(rec.compute_face_descriptor(img, shape))
    got = embed_face(model, img, face)[0].double().numpy()
    assert np.linalg.norm(got - want) < 0.005
