"""Procedural eyes with exact part masks: the ground truth of the masks test bed.

Each seed draws one eye: skin (with a tone, a light gradient, a brow and a
lash line), an almond opening between two lid arcs, a textured iris and a
pupil that the lids may cover, a sclera with a lid shadow. The class of every
pixel (skin, sclera, iris, pupil: `classes.EYE_CLASSES`) follows from the same
geometry at the pixel centre, so the mask is exact; the RGB image is the
geometry rendered at 4x and box-filtered down (soft, antialiased edges).

A generator trained on (image, mask) pairs as two branches (`synthbio train
--branches rgb:3,mask:1`, mask grey level = class x `MASK_STEP`) draws new eyes
with their mask, so a pixel classifier's masks can be scored against exact
labels on as many unseen samples as wanted (`bench/masks_testbed.py`).
"""

from __future__ import annotations

import numpy as np

from synthbio.errors import InputError

NUM_CLASSES = 4
MASK_STEP = 85  # grey level of class k in the mask branch: k * 85 (0, 85, 170, 255)
_SUPERSAMPLE = 4


def _geometry(rng: np.random.RandomState, size: int) -> dict[str, float]:
    s = float(size)
    a = rng.uniform(0.30, 0.42) * s
    r_iris = rng.uniform(0.13, 0.18) * s
    return {
        "cx": s / 2 + rng.uniform(-0.08, 0.08) * s, "cy": s / 2 + rng.uniform(-0.06, 0.08) * s,
        "a": a, "up": rng.uniform(0.12, 0.22) * s, "low": rng.uniform(0.07, 0.15) * s,
        "tilt": np.deg2rad(rng.uniform(-10, 10)),
        "gx": rng.uniform(-0.35, 0.35) * a, "gy": rng.uniform(-0.06, 0.06) * s,
        "r_iris": r_iris, "r_pupil": r_iris * rng.uniform(0.3, 0.6),
        "brow": rng.uniform(0.14, 0.24) * s,
    }


def _labels_at(x: np.ndarray, y: np.ndarray, g: dict[str, float]) -> np.ndarray:
    """Class index at points (x, y) (pixel units) for geometry g."""
    c, s = np.cos(g["tilt"]), np.sin(g["tilt"])
    u = c * (x - g["cx"]) + s * (y - g["cy"])  # along the eye
    v = -s * (x - g["cx"]) + c * (y - g["cy"])  # across (down is +)
    t = np.clip(1 - (u / g["a"]) ** 2, 0, None)
    inside = (np.abs(u) < g["a"]) & (v > -g["up"] * t) & (v < g["low"] * t)
    d2 = (u - g["gx"]) ** 2 + (v - g["gy"]) ** 2
    labels = np.zeros(x.shape, dtype=np.uint8)
    labels[inside] = 1
    labels[inside & (d2 < g["r_iris"] ** 2)] = 2
    labels[inside & (d2 < g["r_pupil"] ** 2)] = 3
    return labels


def _colours(rng: np.random.RandomState) -> dict[str, np.ndarray]:
    tone = rng.uniform()
    skin = (1 - tone) * np.array([235, 200, 175]) + tone * np.array([105, 70, 50])
    iris = np.array([[110, 70, 35], [70, 110, 160], [85, 125, 70], [120, 120, 125], [60, 40, 25]])[rng.randint(5)]
    return {
        "skin": skin + rng.uniform(-10, 10, 3),
        "sclera": np.array([240, 235, 225]) + rng.uniform(-15, 10, 3),
        "iris": iris * rng.uniform(0.8, 1.2),
        "pupil": np.array([15, 12, 12]) + rng.uniform(0, 10),
        "hair": np.array([50, 35, 25]) * rng.uniform(0.5, 1.5),
    }


def render_eye(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Seed -> (image [size, size, 3] uint8, labels [size, size] uint8 in 0..3)."""
    if size < 16:
        raise InputError(f"procedural eyes need at least 16 px, got {size}")
    rng = np.random.RandomState(seed)
    g = _geometry(rng, size)
    col = _colours(rng)
    n = size * _SUPERSAMPLE
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / _SUPERSAMPLE
    fine = _labels_at(xx, yy, g)
    img = np.zeros([n, n, 3])
    for k, name in enumerate(("skin", "sclera", "iris", "pupil")):
        img[fine == k] = col[name]
    c, s = np.cos(g["tilt"]), np.sin(g["tilt"])
    u = c * (xx - g["cx"]) + s * (yy - g["cy"])
    v = -s * (xx - g["cx"]) + c * (yy - g["cy"])
    t = np.clip(1 - (u / g["a"]) ** 2, 0, None)
    # Iris texture: radial streaks and a dark limbal ring; a shadow under the upper lid.
    du, dv = u - g["gx"], v - g["gy"]
    r = np.sqrt(du**2 + dv**2) / g["r_iris"]
    streaks = 1 + 0.12 * np.sin(np.arctan2(dv, du) * rng.randint(9, 17) + rng.uniform(0, 6.3))
    iris = fine == 2
    img[iris] *= (streaks * (1 - 0.35 * np.clip(r - 0.75, 0, 1) / 0.25))[iris, None]
    opening = fine > 0
    shade = 1 - 0.35 * np.exp(-np.clip(v + g["up"] * t, 0, None) / (0.05 * size))
    img[opening] *= shade[opening, None]
    # Lash line along the upper lid and a brow above it, both on the skin.
    lash = (fine == 0) & (np.abs(u) < g["a"] * 1.02) & (np.abs(v + g["up"] * t) < 0.025 * size + 0.02 * size * t)
    img[lash] = 0.6 * img[lash] + 0.4 * col["hair"] * 0.5
    brow_v = -g["up"] - g["brow"] + 0.08 * size * (u / g["a"]) ** 2
    brow = (np.abs(u) < g["a"] * 1.1) & (np.abs(v - brow_v) < 0.035 * size)
    img[brow] = 0.4 * img[brow] + 0.6 * col["hair"]
    light = 1 + rng.uniform(-0.15, 0.15) * (xx / size * 2 - 1) + rng.uniform(-0.1, 0.1) * (yy / size * 2 - 1)
    img *= light[:, :, None]
    img += rng.normal(0, 4, img.shape)
    img = img.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    centre = (np.mgrid[0:size, 0:size] + 0.5).astype(np.float64)
    labels = _labels_at(centre[1], centre[0], g)
    return np.clip(img, 0, 255).round().astype(np.uint8), labels


def labels_from_mask_branch(mask_uint8: np.ndarray) -> np.ndarray:
    """The mask branch's grey levels [H, W] -> class indices: the nearest level k * MASK_STEP."""
    return np.clip(np.round(np.asarray(mask_uint8, dtype=np.float64) / MASK_STEP), 0, NUM_CLASSES - 1).astype(np.uint8)
