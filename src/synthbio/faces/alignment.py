"""Face alignment from dlib's 5 landmarks: dlib chip, ArcFace 112x112, FFHQ crop.

Landmarks are float [5, 2] (x, y) pixel indices (pixel centres at integers),
in dlib's 5-point order: 0/1 = outer/inner corner of the eye on the image's
right, 2/3 = outer/inner corner of the eye on the image's left, 4 = bottom of
the nose. Every crop is an affine map from output pixels to input pixels
(`[2, 3]` matrices, input = A @ (x_out, y_out, 1)), applied by `warp_affine`
(bilinear, differentiable, black outside the image).

Approximation for FFHQ and ArcFace: both recipes need points that the 5-point
model does not give (FFHQ: the mean of the six eye-contour points and the
mouth corners; ArcFace: eye centres, nose tip and mouth corners, where dlib
gives eye corners and the bottom of the nose). We take them from
dlib's mean face (the 68-point template `get_face_chip_details` uses, in the
same frame as its 5-point template): a least-squares similarity maps the
template's 5 points onto the detected ones; eye centres are the detected
corner midpoints plus the template's (mapped) offset from corner midpoint to
contour mean, the nose tip likewise from the nose bottom; mouth corners are the template's, mapped. This is exact for a
mean-shaped face and ignores expression (an open mouth) and strong pitch.

MTCNN's 5 points (`landmark_kind="mtcnn5"`: eye centres, nose tip, mouth
corners, image left before right) are exactly the points ArcFace and FFHQ
need and are used as they are; dlib's chip, which needs dlib's points, maps
the mean face's 5 dlib points through the similarity that best fits the
mean face's eye centres, nose tip and mouth corners onto MTCNN's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError

# dlib's 5-point template (dlib/image_transforms/interpolation.h), unit square.
DLIB_5PT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
# The same mean face's 68-point positions we need, same frame: contours of the
# eye on the image's left (points 36-41) and right (42-47), mouth corners 48, 54.
_LEFT_EYE_CONTOUR = np.array(
    [[0.121737, 0.216423], [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099], [0.182743, 0.244077]]
)
_RIGHT_EYE_CONTOUR = np.array(
    [[0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758], [0.858516, 0.216423], [0.79751, 0.244077], [0.719335, 0.245099]]
)
_MOUTH_CORNERS = np.array([[0.254149, 0.780233], [0.726104, 0.780233]])
_NOSE_TIP = np.array([0.490127, 0.515625])  # point 30; dlib's 5th point is the nose bottom (33)

# ArcFace / insightface 112x112 reference points: eyes (image left, right), nose, mouth corners.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


LANDMARK_KINDS: tuple[str, ...] = ("dlib5", "mtcnn5")


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise InputError(f"landmarks must be 5 finite (x, y) points (dlib's or MTCNN's 5-point order), got shape {lm.shape}")
    return lm


def _check_kind(kind: str) -> None:
    if kind not in LANDMARK_KINDS:
        raise InputError(f"unknown landmark kind {kind!r}: use one of {', '.join(LANDMARK_KINDS)}")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src -> dst.

    Umeyama (1991), eq. 40-42; returns [2, 3] with dst ~ M[:, :2] @ src + M[:, 2].
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var = (s**2).sum() / len(src)
    scale = float((sig * sign).sum() / var) if var > 0 else 1.0
    out = np.zeros((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - out[:, :2] @ mu_s
    return out


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _mean_face_points() -> np.ndarray:
    """The mean face's eye centres (image left, right), nose tip and mouth corners, dlib template frame: [5, 2]."""
    return np.vstack([_LEFT_EYE_CONTOUR.mean(0), _RIGHT_EYE_CONTOUR.mean(0), _NOSE_TIP, _MOUTH_CORNERS])


def dlib5_from_mtcnn5(landmarks: np.ndarray) -> np.ndarray:
    """dlib-order 5 points [5, 2] for a face given by MTCNN's 5 points (mean-face similarity, module doc)."""
    t = similarity_transform(_mean_face_points(), check_landmarks(landmarks))
    return _apply(t, DLIB_5PT_TEMPLATE)


def estimated_points(landmarks: np.ndarray, *, landmark_kind: str = "dlib5") -> dict[str, np.ndarray]:
    """Eye centres (image left/right), nose tip and mouth corners from 5 landmarks (module docstring)."""
    _check_kind(landmark_kind)
    lm = check_landmarks(landmarks)
    if landmark_kind == "mtcnn5":
        return {"eye_left": lm[0], "eye_right": lm[1], "nose_tip": lm[2], "mouth": lm[3:5]}
    t = similarity_transform(DLIB_5PT_TEMPLATE, lm)
    lin = t[:, :2]
    left_corners, right_corners = lm[2:4].mean(0), lm[0:2].mean(0)
    left_offset = _LEFT_EYE_CONTOUR.mean(0) - DLIB_5PT_TEMPLATE[2:4].mean(0)
    right_offset = _RIGHT_EYE_CONTOUR.mean(0) - DLIB_5PT_TEMPLATE[0:2].mean(0)
    return {
        "eye_left": left_corners + lin @ left_offset,
        "eye_right": right_corners + lin @ right_offset,
        "nose_tip": lm[4] + lin @ (_NOSE_TIP - DLIB_5PT_TEMPLATE[4]),
        "mouth": _apply(t, _MOUTH_CORNERS),  # [2, 2]: image-left corner, image-right corner
    }


# --- crop matrices (output pixel -> input pixel) ------------------------------------------


def dlib_chip_matrix(landmarks: np.ndarray, *, size: int = 150, padding: float = 0.25,
                     landmark_kind: str = "dlib5") -> np.ndarray:
    """dlib.get_face_chip_details(shape, size, padding) as a [2, 3] output->input map.

    dlib fits a similarity from the padded template (scaled to `size`) to the
    landmarks, keeps its angle and scale, centres a size*scale square at the
    image of the chip centre, and maps the chip's corner pixels (0, 0),
    (size-1, 0), (0, size-1) onto that square's rotated corners.
    """
    _check_kind(landmark_kind)
    lm = dlib5_from_mtcnn5(landmarks) if landmark_kind == "mtcnn5" else check_landmarks(landmarks)
    chip_pts = (padding + DLIB_5PT_TEMPLATE) / (2 * padding + 1) * size
    t = similarity_transform(chip_pts, lm)
    angle = math.atan2(t[1, 0], t[0, 0])
    scale = math.hypot(t[0, 0], t[1, 0])
    centre = _apply(t, np.array([[size / 2.0, size / 2.0]]))[0]
    # dlib's centered_drect: a drectangle of width w spans centre +- (w - 1) / 2
    half = (size * scale - 1.0) / 2.0
    corners = np.array([[-half, -half], [half, -half], [-half, half]])
    c, s = math.cos(angle), math.sin(angle)
    rotated = corners @ np.array([[c, s], [-s, c]]) + centre  # rotate_point about the centre
    src = np.array([[0.0, 0.0], [size - 1.0, 0.0], [0.0, size - 1.0]])
    # exact affine through three point pairs
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, rotated).T


def arcface_matrix(landmarks: np.ndarray, *, size: int = 112, landmark_kind: str = "dlib5") -> np.ndarray:
    """The standard 5-point similarity to the ArcFace template, as output->input [2, 3]."""
    p = estimated_points(landmarks, landmark_kind=landmark_kind)
    src = np.vstack([p["eye_left"], p["eye_right"], p["nose_tip"], p["mouth"]])
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    return invert_affine(similarity_transform(src, dst))


def ffhq_quad(landmarks: np.ndarray, *, landmark_kind: str = "dlib5") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FFHQ recipe's oriented square: centre c, half-axes x (rightwards), y (downwards)."""
    p = estimated_points(landmarks, landmark_kind=landmark_kind)
    eye_avg = (p["eye_left"] + p["eye_right"]) / 2
    eye_to_eye = p["eye_right"] - p["eye_left"]
    eye_to_mouth = p["mouth"].mean(0) - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])  # eye_to_eye - rot90(eye_to_mouth)
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    return c, x, y


def ffhq_matrix(landmarks: np.ndarray, *, size: int = 1024, landmark_kind: str = "dlib5") -> np.ndarray:
    """FFHQ crop as output->input [2, 3]: output square [0, size] onto the quad c +- x +- y.

    Pixel centres: output index i has continuous position i + 0.5.
    """
    c, x, y = ffhq_quad(landmarks, landmark_kind=landmark_kind)
    m = np.zeros((2, 3))
    m[:, 0] = 2 * x / size
    m[:, 1] = 2 * y / size
    m[:, 2] = c - x - y + (x + y) / size - 0.5  # (i + 0.5) mapped, then back to index
    return m


# --- warping ------------------------------------------------------------------------------


def warp_affine(images: Tensor, matrices: Tensor | np.ndarray, size: int | tuple[int, int], *, antialias: bool = True) -> Tensor:
    """Resample [N, C, H, W] images through output->input pixel maps [N, 2, 3] (or one [2, 3]).

    Bilinear; points outside the image are black (-1 for [-1, 1] images).
    antialias: when a map shrinks the image by more than 1.5x, the input is
    first resized by area-like antialiased bilinear to about the output's
    scale, so that downsampling does not alias (dlib uses an image pyramid
    for the same purpose). Differentiable in `images`.
    """
    if images.ndim != 4:
        raise InputError(f"images must be [N, C, H, W], got {tuple(images.shape)}")
    n, _, h, w = images.shape
    out_h, out_w = (size, size) if isinstance(size, int) else size
    m = torch.as_tensor(np.asarray(matrices) if not isinstance(matrices, Tensor) else matrices, dtype=torch.float64)
    if m.ndim == 2:
        m = m.expand(n, 2, 3)
    if m.shape != (n, 2, 3):
        raise InputError(f"matrices must be [N, 2, 3] with N = {n}, got {tuple(m.shape)}")
    x = images + 1.0  # so that zero padding is black (-1) after shifting back
    scale = float(m[:, :, :2].norm(dim=1).max())  # input pixels per output pixel
    if antialias and scale > 1.5:
        new_h, new_w = max(1, round(h / scale)), max(1, round(w / scale))
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        sx, sy = new_w / w, new_h / h
        # input index i sits at (i + 0.5) * s - 0.5 in the resized image
        m = m.clone()
        m[:, 0] *= sx
        m[:, 1] *= sy
        m[:, 0, 2] += 0.5 * sx - 0.5
        m[:, 1, 2] += 0.5 * sy - 0.5
        h, w = new_h, new_w
    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float64), torch.arange(out_w, dtype=torch.float64), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)  # [1, P, 3]
    src = pts @ m.transpose(1, 2)  # [N, P, 2] input pixel indices
    grid = torch.stack([(2 * src[..., 0] + 1) / w - 1, (2 * src[..., 1] + 1) / h - 1], dim=-1)
    grid = grid.reshape(n, out_h, out_w, 2).to(x.dtype).to(x.device)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out - 1.0


# --- photographs (uint8) ------------------------------------------------------------------

CROP_STYLES: tuple[str, ...] = ("ffhq", "arcface", "dlib")
_DEFAULT_SIZE = {"ffhq": 1024, "arcface": 112, "dlib": 150}


def crop_matrix(landmarks: np.ndarray, *, style: str, size: int | None = None,
                landmark_kind: str = "dlib5") -> tuple[np.ndarray, int]:
    """Output->input [2, 3] map and output side for one crop style ('ffhq', 'arcface', 'dlib')."""
    if style not in CROP_STYLES:
        raise InputError(f"unknown crop style {style!r}: use one of {', '.join(CROP_STYLES)}")
    side = _DEFAULT_SIZE[style] if size is None else int(size)
    if side < 8:
        raise InputError(f"crop size must be at least 8 pixels, got {side}")
    if style == "ffhq":
        return ffhq_matrix(landmarks, size=side, landmark_kind=landmark_kind), side
    if style == "arcface":
        return arcface_matrix(landmarks, size=side, landmark_kind=landmark_kind), side
    return dlib_chip_matrix(landmarks, size=side, landmark_kind=landmark_kind), side


def image_to_tensor(image_uint8: np.ndarray) -> Tensor:
    """[H, W, 3] uint8 -> [1, 3, H, W] float in [-1, 1]."""
    return torch.from_numpy(np.array(image_uint8, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def tensor_to_image(images: Tensor) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> [H, W, 3] uint8 (rounded)."""
    x = ((images[0].detach().permute(1, 2, 0) + 1.0) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8).cpu().numpy()


def align_face(image_uint8: np.ndarray, landmarks: np.ndarray, *, style: str = "ffhq", size: int | None = None,
               landmark_kind: str = "dlib5") -> np.ndarray:
    """Crop of one face from an [H, W, 3] uint8 photo: [size, size, 3] uint8 (landmarks of `landmark_kind`).

    style "dlib" is dlib.get_face_chip exactly (`extract_dlib_chip`: its pyramid, then bilinear); the
    others are `warp_affine` of the style's matrix.
    """
    img = np.asarray(image_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"image must be an [H, W, 3] uint8 RGB array, got {img.dtype} {img.shape}")
    if style == "dlib":  # dlib's own sampling: its descriptor was trained on such chips
        _check_kind(landmark_kind)
        lm = dlib5_from_mtcnn5(landmarks) if landmark_kind == "mtcnn5" else landmarks
        return extract_dlib_chip(img, lm, size=_DEFAULT_SIZE["dlib"] if size is None else int(size))
    m, side = crop_matrix(landmarks, style=style, size=size, landmark_kind=landmark_kind)
    return tensor_to_image(warp_affine(image_to_tensor(img), m, side))


# --- dlib's own chips from photos ---------------------------------------------------------
#
# dlib's face chips, pixel for pixel: image pyramid, then bilinear sampling (`dlib.get_face_chip`).
#
# A chip far smaller than the face it comes from cannot be sampled with plain
# bilinear interpolation: every output pixel would see only the 2x2 input
# pixels around its centre and the chip aliases. dlib (extract_image_chips in
# `dlib/image_transforms/interpolation.h`) first halves the image, as often as
# the chip's rectangle still holds more pixels than the chip, with its
# `pyramid_down<2>` (a 5-tap [1 4 6 4 1] / 16 binomial filter in each direction,
# every other pixel kept, integer arithmetic, results truncated), then samples
# the smallest level that is still larger than the chip bilinearly (truncated to
# uint8; a pixel whose 2x2 neighbourhood leaves the level is black).
#
# The dlib ResNet descriptor was trained on chips made this way, so matching
# them is what makes its embeddings equal dlib's (`bench/faces.py`). Geometry
# (`chip_rect`) follows dlib's chip_details: the similarity from the padded
# 5-point template to the landmarks gives an angle and a scale, and the chip is
# a rotated square of side size * scale centred on the template's centre.
# This is the uint8 photo path (`align_face(style="dlib")`); generated faces
# use the differentiable `warp_affine`.

_BINOMIAL = np.array([1, 4, 6, 4, 1], dtype=np.int64)  # [1 4 6 4 1] / 16 in each direction


def chip_rect(landmarks: np.ndarray, *, size: int = 150, padding: float = 0.25) -> tuple[np.ndarray, float]:
    """dlib's chip rectangle (left, top, right, bottom; float64 [4]) and rotation angle (radians)."""
    lm = check_landmarks(landmarks)
    chip_pts = (padding + DLIB_5PT_TEMPLATE) / (2 * padding + 1) * size
    t = similarity_transform(chip_pts, lm)
    angle = math.atan2(t[1, 0], t[0, 0])
    scale = math.hypot(t[0, 0], t[1, 0])
    centre = t[:, :2] @ np.array([size / 2.0, size / 2.0]) + t[:, 2]
    half = (size * scale - 1.0) / 2.0  # a rectangle of width w spans centre +- (w - 1) / 2, ends included
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half]), angle


def _area(rect: np.ndarray) -> float:
    return float((rect[2] - rect[0] + 1.0) * (rect[3] - rect[1] + 1.0))


def _rect_down(rect: np.ndarray) -> np.ndarray:
    """Where a rectangle lands one pyramid level down (dlib's point_down: p / 2 - (1.25, 0.75))."""
    return rect / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])


def _rotate(centre: np.ndarray, points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    d = points - centre
    return centre + np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)


def _corners(rect: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-left, bottom-right (x, y) of a rectangle [4, 2]."""
    left, top, right, bottom = rect
    return np.array([[left, top], [right, top], [left, bottom], [right, bottom]])


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's pyramid_down<2> on [H, W, C] uint8: [(H - 3) // 2, (W - 3) // 2, C] uint8."""
    a = image.astype(np.int64)
    cols, rows = (a.shape[1] - 3) // 2, (a.shape[0] - 3) // 2
    if rows < 1 or cols < 1:
        raise InputError(f"image of {a.shape[0]}x{a.shape[1]} pixels is too small for a pyramid level")
    horizontal = sum(w * a[:, k : k + 2 * cols : 2] for k, w in enumerate(_BINOMIAL))
    centres = 2 + 2 * np.arange(rows)  # output row r is centred on input row 2 + 2 r
    both = sum(w * horizontal[centres - 2 + k] for k, w in enumerate(_BINOMIAL))
    return (both // 256).astype(np.uint8)


def _bilinear(src: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample [H, W, C] uint8 at float pixel positions; truncated to uint8, black where 2x2 leaves the image."""
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < src.shape[1]) & (top + 1 < src.shape[0])
    l0, t0 = np.clip(left, 0, src.shape[1] - 2), np.clip(top, 0, src.shape[0] - 2)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    s = src.astype(np.float64)
    value = ((1 - fy) * (1 - fx) * s[t0, l0] + (1 - fy) * fx * s[t0, l0 + 1]
             + fy * (1 - fx) * s[t0 + 1, l0] + fy * fx * s[t0 + 1, l0 + 1])
    return np.where(inside[..., None], np.floor(value), 0).astype(np.uint8)


def extract_dlib_chip(image_uint8: np.ndarray, landmarks: np.ndarray, *, size: int = 150,
                      padding: float = 0.25) -> np.ndarray:
    """dlib.get_face_chip(image, 5-point shape, size, padding) as [size, size, C] uint8 (module docstring)."""
    img = np.asarray(image_uint8)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise InputError(f"image must be an [H, W] or [H, W, C] uint8 array, got {img.dtype} {img.shape}")
    squeeze = img.ndim == 2
    img = img[:, :, None] if squeeze else img
    rect, angle = chip_rect(landmarks, size=size, padding=padding)
    wanted = float(size * size)
    # pyramid depth and the margin the crop needs so the levels have no border effects
    depth, grow, r = 0, 2.0, _rect_down(rect)
    while _area(r) > wanted:
        r, depth, grow = _rect_down(r), depth + 1, grow * 2 + 2
    centre = (rect[:2] + rect[2:]) / 2
    turned = _rotate(centre, _corners(rect), angle)
    h, w = img.shape[:2]
    box = [max(turned[:, 0].min() - grow, 0.0), max(turned[:, 1].min() - grow, 0.0),
           min(turned[:, 0].max() + grow, w - 1.0), min(turned[:, 1].max() + grow, h - 1.0)]
    x0, y0, x1, y1 = (int(math.floor(v + 0.5)) for v in box)
    level_img = img[y0 : y1 + 1, x0 : x1 + 1]
    r = rect - np.array([x0, y0, x0, y0], dtype=np.float64)
    for _ in range(depth):
        if _area(_rect_down(r)) <= wanted:
            break
        level_img, r = pyramid_down(level_img), _rect_down(r)
    # chip corners (0, 0), (size - 1, 0), (0, size - 1) onto the rotated rectangle in this level
    target = _rotate((r[:2] + r[2:]) / 2, _corners(r)[:3], angle)
    source = np.array([[0.0, 0.0, 1.0], [size - 1.0, 0.0, 1.0], [0.0, size - 1.0, 1.0]])
    m = np.linalg.solve(source, target).T  # [2, 3]: chip pixel -> level pixel
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    chip = _bilinear(level_img, m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2])
    return chip[:, :, 0] if squeeze else chip
