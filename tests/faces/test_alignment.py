"""Alignment: similarity fits, the three crop recipes, the differentiable warp, dlib's chips, detection errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.faces import alignment as A


def _rotation(deg: float, scale: float, t: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(math.radians(deg)) * scale, math.sin(math.radians(deg)) * scale
    return np.array([[c, -s, t[0]], [s, c, t[1]]])


def _face(deg: float = 10.0, scale: float = 120.0, t: tuple[float, float] = (200.0, 150.0)) -> np.ndarray:
    """dlib's mean-face 5 points, rotated, scaled and moved."""
    return A._apply(_rotation(deg, scale, t), A.DLIB_5PT_TEMPLATE)


def test_similarity_transform_recovers_a_known_map() -> None:
    m = _rotation(23.0, 1.7, (5.0, -3.0))
    src = np.random.default_rng(0).normal(size=(6, 2)) * 10
    np.testing.assert_allclose(A.similarity_transform(src, A._apply(m, src)), m, atol=1e-10)
    np.testing.assert_allclose(A.invert_affine(A.invert_affine(m)), m, atol=1e-12)


def test_arcface_crop_puts_the_mean_face_on_the_template() -> None:
    lm = _face()
    m = A.arcface_matrix(lm)  # output -> input
    p = A.estimated_points(lm)
    # the input points land (least squares, mean shape) near the template's positions
    pts = np.vstack([p["eye_left"], p["eye_right"], p["nose_tip"], p["mouth"]])
    back = A._apply(A.invert_affine(m), pts)
    assert np.abs(back - A.ARCFACE_TEMPLATE).max() < 2.5  # pixels at 112 (mean-face vs template shape)
    # the eyes are level in the crop whatever the roll of the face
    assert abs(back[0, 1] - back[1, 1]) < 1.0


def test_ffhq_quad_is_square_upright_and_rotation_equivariant() -> None:
    c0, x0, y0 = A.ffhq_quad(_face(deg=0.0))
    assert abs(x0[1]) < 1e-3 * np.hypot(*x0)  # no roll -> axis-aligned square (template nearly symmetric)
    np.testing.assert_allclose(y0, [-x0[1], x0[0]])
    c1, x1, _ = A.ffhq_quad(_face(deg=30.0))
    turn = math.degrees(math.atan2(x1[1], x1[0]) - math.atan2(x0[1], x0[0]))
    assert math.isclose(turn, 30.0, abs_tol=1e-6)
    assert math.isclose(np.hypot(*x1), np.hypot(*x0), rel_tol=1e-9)
    # FFHQ places the face so that the eyes sit above the centre
    p = A.estimated_points(_face(deg=0.0))
    assert (p["eye_left"][1] + p["eye_right"][1]) / 2 < c0[1]


def test_ffhq_matrix_maps_the_output_square_to_the_quad() -> None:
    lm = _face(deg=15.0)
    c, x, y = A.ffhq_quad(lm)
    size = 64
    m = A.ffhq_matrix(lm, size=size)
    # output pixel-corner (0, 0) = index (-0.5, -0.5) -> the quad's corner c - x - y (minus half a pixel)
    corner = A._apply(m, np.array([[-0.5, -0.5], [size - 0.5, size - 0.5]]))
    np.testing.assert_allclose(corner, np.vstack([c - x - y, c + x + y]) - 0.5, atol=1e-9)


def test_dlib_chip_of_the_template_face_is_the_padded_template() -> None:
    size, padding = 150, 0.25
    lm = _face(deg=-12.0)
    m = A.dlib_chip_matrix(lm, size=size, padding=padding)
    chip_pts = A._apply(A.invert_affine(m), lm)
    expected = (padding + A.DLIB_5PT_TEMPLATE) / (2 * padding + 1) * size
    # dlib maps corners to (size - 1) pixel spans, hence a (size - 1) / size scale about the centre
    assert np.abs(chip_pts - expected).max() < 0.6


def test_warp_identity_and_shift() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    eye = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(A.warp_affine(x, eye, 16), x, atol=1e-5, rtol=0)
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 2.0]])
    out = A.warp_affine(x, shift, 16)
    torch.testing.assert_close(out[:, :, :14, :13], x[:, :, 2:, 3:], atol=1e-5, rtol=0)
    # beyond the image: black (-1)
    assert float(out[:, :, :, 14:].max()) <= -1 + 1e-6 or float(out[:, :, 15, 15].max()) == -1.0


def test_warp_downscale_is_antialiased_and_differentiable() -> None:
    # a one-pixel checkerboard averages to grey when shrunk 4x
    board = torch.from_numpy(((np.indices((64, 64)).sum(0) % 2) * 2 - 1).astype(np.float32))[None, None]
    board.requires_grad_(True)
    small = A.warp_affine(board, np.array([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5]]), 16)
    assert float(small.detach()[..., 2:-2, 2:-2].abs().max()) < 0.1
    small.sum().backward()
    assert board.grad is not None and float(board.grad.abs().sum()) > 0


def test_align_face_and_bad_inputs() -> None:
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:200, 150:250] = 200
    crop = A.align_face(img, _face(deg=0.0, scale=80.0), style="arcface")
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    with pytest.raises(InputError, match="style"):
        A.align_face(img, _face(), style="square")
    with pytest.raises(InputError, match="landmarks"):
        A.arcface_matrix(np.zeros((68, 2)))
    with pytest.raises(InputError, match="uint8"):
        A.align_face(img.astype(np.float32), _face())
    with pytest.raises(InputError, match="at least 8"):
        A.align_face(img, _face(), style="ffhq", size=4)


def test_detection_errors() -> None:
    pytest.importorskip("dlib", reason="dlib is not importable (pip install dlib-bin, in the 'faces' extra)")
    from synthbio.faces.detection import detect_faces

    with pytest.raises(InputError, match="detector"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), detector="retina")
    with pytest.raises(InputError, match="uint8"):
        detect_faces(np.zeros((64, 64, 3), np.float32))
    assert detect_faces(np.full((80, 80), 128, np.uint8), upsample=0) == []


@pytest.mark.parametrize(
    ("shape", "centre", "width", "deg", "size", "padding"),
    [((300, 360), (180, 150), 60, 6.0, 150, 0.25),  # chip larger than the face: no pyramid level
     ((640, 600), (300, 320), 380, -23.0, 150, 0.25),  # shrunk through the image pyramid first
     ((480, 480), (240, 240), 300, 172.0, 112, 0.1),  # upside down, another size and padding
     ((320, 400), (30, 40), 120, 17.0, 150, 0.25)],  # half the chip outside the photo (black there)
    ids=["small-face", "pyramid", "upside-down", "off-the-edge"])
@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "grey"])
def test_dlib_chip_equals_dlib_get_face_chip(shape: tuple[int, int], centre: tuple[int, int], width: int, deg: float,
                                             size: int, padding: float, channels: int) -> None:
    """Our numpy chip cutter against dlib's own, on any face geometry (no landmark model needed).

    Equal except where dlib's float bilinear rounds the other way: at most 1 grey level on < 0.5% of pixels.
    """
    dlib = pytest.importorskip("dlib", reason="dlib is not importable (pip install dlib-bin, in the 'faces' extra)")
    import PIL.Image

    noise = np.random.default_rng(1).integers(0, 256, (shape[0] // 4, shape[1] // 4, 3), dtype=np.uint8)
    img = np.asarray(PIL.Image.fromarray(noise).resize(shape[::-1], PIL.Image.BICUBIC))  # texture at every scale
    img = np.ascontiguousarray(img if channels == 3 else img[:, :, 0])
    points = np.rint(_face(deg=deg, scale=width, t=(centre[0] - width / 2, centre[1] - width / 2)))
    full = dlib.full_object_detection(dlib.rectangle(0, 0, shape[1] - 1, shape[0] - 1),
                                      [dlib.point(int(x), int(y)) for x, y in points])
    want = dlib.get_face_chip(img, full, size=size, padding=padding)
    got = A.extract_dlib_chip(img, points, size=size, padding=padding)
    assert got.shape == want.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005
    assert want.std() > 10  # the chip holds texture, so a mis-placed chip could not pass
