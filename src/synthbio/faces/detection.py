"""Face detection and 5-point landmarks: dlib (HOG detector, optional CNN detector) or MTCNN.

dlib and the `face-recognition-models` files are optional (`pip install
'synthbio[faces]'`); they are imported when a detector is first built, and a
missing package gives a ModelNotFoundError that says what to install.
Landmarks: dlib's 5-point model (public domain), order described in
`synthbio.faces.alignment`; with `detector="mtcnn"` MTCNN's own 5 points
(`synthbio.faces.mtcnn`, plain PyTorch, no dlib needed), marked by
`Face.landmark_kind` so that crops use them as they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.errors import InputError, ModelNotFoundError
from synthbio.faces.dlib_resnet import face_recognition_models_dir
from synthbio.io.images import read_image

LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
DETECTORS: tuple[str, ...] = ("hog", "cnn", "mtcnn")


@dataclass(frozen=True)
class Face:
    """One detected face: box (left, top, right, bottom) in pixels, detector score,
    landmarks float [5, 2] (x, y) in the order `landmark_kind` names ('dlib5' or 'mtcnn5')."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray
    landmark_kind: str = "dlib5"

    def to_json(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": self.score, "landmarks": self.landmarks.round(2).tolist(),
                "landmark_kind": self.landmark_kind}


def _dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ModelNotFoundError("face detection needs dlib: `pip install dlib-bin` (or `pip install 'synthbio[faces]'`)") from exc
    return dlib


@functools.lru_cache(maxsize=4)
def _detector(kind: str) -> Any:
    dlib = _dlib()
    if kind == "hog":
        return dlib.get_frontal_face_detector()
    return dlib.cnn_face_detection_model_v1(str(face_recognition_models_dir() / CNN_DETECTOR))


@functools.lru_cache(maxsize=2)
def _predictor(path: str) -> Any:
    if not Path(path).is_file():
        raise ModelNotFoundError(f"dlib landmark model not found: {path}")
    return _dlib().shape_predictor(path)


def check_image_uint8(image_uint8: np.ndarray, what: str = "image") -> np.ndarray:
    """[H, W, 3] (or [H, W]) uint8 -> contiguous [H, W, 3] uint8 RGB."""
    a = np.asarray(image_uint8)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise InputError(f"{what} must be an [H, W, 3] uint8 RGB array, got {a.dtype} {a.shape}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def landmarks_5(image_uint8: np.ndarray, box: tuple[int, int, int, int], *, model: str | Path | None = None) -> np.ndarray:
    """dlib's 5 landmarks inside `box` (left, top, right, bottom): float [5, 2]."""
    img = check_image_uint8(image_uint8)
    path = str(model) if model is not None else str(face_recognition_models_dir() / LANDMARKS_5)
    rect = _dlib().rectangle(*[int(v) for v in box])
    shape = _predictor(path)(img, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


@functools.lru_cache(maxsize=2)
def _mtcnn(weights: str | None) -> Any:
    from synthbio.faces.mtcnn import load_mtcnn

    return load_mtcnn(weights)


def detect_faces_mtcnn(image_uint8: np.ndarray, *, weights: str | Path | None = None, min_score: float = 0.0,
                       min_face_size: float = 20.0) -> list[Face]:
    """MTCNN faces in one RGB image, best score first (boxes rounded to pixels, landmarks as found)."""
    from synthbio.faces.mtcnn import MTCNNConfig
    from synthbio.faces.mtcnn_cascade import detect

    img = check_image_uint8(image_uint8)
    det = detect(_mtcnn(None if weights is None else str(weights)), img, MTCNNConfig(min_face_size=min_face_size))[0]
    return [Face(box=tuple(int(round(v)) for v in box), score=float(score), landmarks=lm, landmark_kind="mtcnn5")
            for box, score, lm in zip(det.boxes, det.scores, det.landmarks) if score >= min_score]


def detect_faces(image_uint8: np.ndarray, *, detector: str = "hog", upsample: int = 1, min_score: float = 0.0,
                 weights: str | Path | None = None) -> list[Face]:
    """Faces in one RGB image, best score first.

    detector: 'hog' (dlib's frontal HOG + linear SVM, ~20 ms), 'cnn'
    (dlib's MMOD CNN, slower on a CPU, finds more poses) or 'mtcnn' (MTCNN
    with its own 5 landmarks; `weights`: its wheel or folder, default the
    registry entry). upsample: image doublings before a dlib detector (finds
    faces smaller than ~80 px); MTCNN searches down to 20 px faces itself.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown face detector {detector!r}: use one of {', '.join(DETECTORS)}")
    if upsample < 0:
        raise InputError(f"upsample must be >= 0, got {upsample}")
    if detector == "mtcnn":
        return detect_faces_mtcnn(image_uint8, weights=weights, min_score=min_score)
    img = check_image_uint8(image_uint8)
    det = _detector(detector)
    found: list[tuple[tuple[int, int, int, int], float]] = []
    if detector == "hog":
        rects, scores, _ = det.run(img, upsample, min_score)
        found = [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]
    else:
        for d in det(img, upsample):
            r = d.rect
            if d.confidence >= min_score:
                found.append(((r.left(), r.top(), r.right(), r.bottom()), float(d.confidence)))
    found.sort(key=lambda f: -f[1])
    return [Face(box=box, score=score, landmarks=landmarks_5(img, box)) for box, score in found]


# --- photographs -> embeddings ------------------------------------------------------------


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as [H, W, 3] uint8 RGB; InputError naming the file when unreadable."""
    return read_image(path, mode="RGB")
