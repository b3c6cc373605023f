"""Sensors: how the ink of one contact becomes an 8-bit image.

Four capture technologies, each with the look that sets it apart:

- ``optical``: frustrated total internal reflection. Ridges touching the
  prism absorb the light, valleys reflect it: near-black ridges on a bright,
  almost white field, slightly uneven illumination, little noise.
- ``capacitive``: a solid-state pixel array measuring the skin's capacitance.
  Lower contrast on a light-grey field, more noise, faint row and column
  offsets from the read-out lines, and a slight loss of resolution.
- ``ink``: a rolled ink print on a card. Black ink with uneven loading (faint
  and saturated areas), paper fibres in the white field.
- ``latent``: a mark lifted from a surface. Low contrast over a structured
  background (texture, smudges, lines of the surface), blurred and noisy;
  the partial contact comes from the impression's contact settings.

Every renderer maps ink (1 = ridge in contact) to grey as
``background - (background - ridge_grey) * ink`` and adds its own field,
blur and noise; the ridge polarity is always dark ridges on a lighter field.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.orientation import smooth_random_field
from synthbio.fingerprints.skin import unit_noise

SENSOR_KINDS = ("optical", "capacitive", "ink", "latent")


def check_sensor(kind: str) -> None:
    if kind not in SENSOR_KINDS:
        raise InputError(f"unknown sensor {kind!r}; choose from {', '.join(SENSOR_KINDS)}")


def _paper(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Paper fibres: short anisotropic strokes, float32 [H, W] about in [-1, 1]."""
    n = rng.standard_normal((h, w), dtype=np.float32)
    a = rng.uniform(0, math.pi)
    k = np.zeros((9, 9), np.float32)
    cv2.line(k, (int(4 - 4 * math.cos(a)), int(4 - 4 * math.sin(a))), (int(4 + 4 * math.cos(a)), int(4 + 4 * math.sin(a))), 1.0)
    fib = cv2.filter2D(n, -1, k / k.sum())
    return fib / max(float(fib.std()), 1e-6) * 0.5


def _surface(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """A latent's background: smooth stains, fine grain and a few lines of the surface, about in [-1, 1]."""
    field = 0.6 * smooth_random_field(rng, h, w, cells=4) + 0.25 * unit_noise(rng, h, w, 3.0 * scale)
    lines = np.zeros((h, w), np.float32)
    step = rng.uniform(25, 60) * scale
    a = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = xs * math.cos(a) + ys * math.sin(a)
    # Ruled or woven surface: periodic lines far coarser than the ridges.
    lines = np.maximum(0.0, np.cos(2 * math.pi * proj / step)) ** 8
    smudge = 0.5 * np.clip(smooth_random_field(rng, h, w, cells=6), 0, 1)
    return (field + float(rng.uniform(0.2, 0.6)) * lines - smudge).astype(np.float32)


def render(
    ink: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    *,
    background: float,
    ridge_grey: float,
    blur_sigma: float,
    noise_std: float,
    ink_variation: float,
    scale: float,
) -> np.ndarray:
    """uint8 [H, W] image of ``ink`` (float32 [H, W] in [0, 1]) seen by sensor ``kind``.

    background / ridge_grey: grey levels of the empty field and of a fully
    inked ridge; blur_sigma, noise_std: pixels and grey levels;
    ink_variation: depth of the broad lighter areas of uneven contact.
    """
    check_sensor(kind)
    h, w = ink.shape
    # Uneven pressure or ink loading: broad lighter areas inside the print.
    ink = ink * (1.0 - ink_variation * (0.5 + 0.5 * smooth_random_field(rng, h, w, cells=3)))
    if kind == "optical":
        bg = background + 4.0 * smooth_random_field(rng, h, w, cells=2)
    elif kind == "capacitive":
        bg = background + 5.0 * smooth_random_field(rng, h, w, cells=2)
        # Read-out lines: a small offset per row and per column.
        bg = bg + rng.normal(0, 1.5, (h, 1)).astype(np.float32) + rng.normal(0, 1.0, (1, w)).astype(np.float32)
    elif kind == "ink":
        loading = 0.5 + 0.5 * smooth_random_field(rng, h, w, cells=5)
        ink = np.clip(ink * (0.75 + 0.5 * loading), 0.0, 1.0)  # saturated and faint areas
        bg = background + 3.0 * _paper(rng, h, w, scale)
    else:  # latent
        bg = background + 18.0 * _surface(rng, h, w, scale)
    img = (bg - (bg - ridge_grey) * ink).astype(np.float32)
    if kind == "capacitive":
        # The pixel pitch of many solid-state sensors is coarser than 500 dpi.
        small = cv2.resize(img, (max(8, int(w / 1.25)), max(8, int(h / 1.25))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    noise = rng.standard_normal((h, w), dtype=np.float32) * noise_std
    if kind == "optical":
        # Where nothing touches the prism it reflects fully: the field saturates
        # and shows almost no grain; the noise lives where the skin is.
        near_skin = cv2.GaussianBlur(np.clip(ink * 3.0, 0.0, 1.0), (0, 0), 6.0 * scale)
        noise *= 0.15 + 0.85 * np.clip(near_skin * 2.0, 0.0, 1.0)
    img += noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
