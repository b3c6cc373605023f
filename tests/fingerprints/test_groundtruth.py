"""Skeleton-based minutiae extraction on drawn ridge patterns with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np

from synthbio.fingerprints.groundtruth import ExtractionConfig, crossing_numbers, extract_minutiae, thin

CFG = ExtractionConfig(border_margin=12.0, min_distance=8.0, trace_steps=10)


def angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def bars(height: int = 120, width: int = 160, rows: tuple[int, ...] = (20, 40, 60, 80, 100)) -> np.ndarray:
    img = np.zeros((height, width), np.uint8)
    for y in rows:
        cv2.line(img, (0, y), (width - 1, y), 1, 4)
    return img


def test_thinning_gives_one_pixel_lines() -> None:
    img = bars().astype(bool)
    skel = thin(img)
    assert skel.sum() > 0
    cols = skel[:, 20:140].sum(0)
    assert np.all(cols == 5)  # one skeleton pixel per bar and column
    cn = crossing_numbers(skel)
    assert not np.any(cn[:, 20:140] == 3)


def test_ending_found_with_direction_into_the_ridge() -> None:
    img = bars()
    img[58:63, 100:] = 0  # the middle bar stops at x = 99, extending to the left
    found = extract_minutiae(img.astype(bool), config=CFG)
    assert len(found) == 1
    m = found[0]
    assert m.kind == "ending"
    assert abs(m.x - 99) <= 3 and abs(m.y - 60) <= 1.5
    assert angle_diff(m.angle, math.pi) < math.radians(10)  # points left, into the ridge


def test_bifurcation_found_with_direction_between_branches() -> None:
    img = np.zeros((120, 200), np.uint8)
    cv2.line(img, (0, 60), (90, 60), 1, 4)  # stem from the left
    cv2.line(img, (90, 60), (199, 20), 1, 4)  # upper branch
    cv2.line(img, (90, 60), (199, 100), 1, 4)  # lower branch
    found = extract_minutiae(img.astype(bool), config=CFG)
    bif = [m for m in found if m.kind == "bifurcation"]
    assert len(bif) == 1
    assert abs(bif[0].x - 95) <= 8 and abs(bif[0].y - 60) <= 2
    assert angle_diff(bif[0].angle, 0.0) < math.radians(12)  # valley opens to +x


def test_rotated_ending_direction_uses_iso_convention() -> None:
    # A ridge coming from the lower-left, ending at (100, 60): the ridge body lies
    # down-left of the end, so the ISO direction is 180 + 45 = 225 degrees
    # (counter-clockwise as seen, y down: down-left is (cos 225, -sin 225) = (-, +)).
    img = np.zeros((160, 160), np.uint8)
    cv2.line(img, (0, 160), (100, 60), 1, 4)
    found = extract_minutiae(img.astype(bool), config=CFG)
    assert len(found) == 1
    assert angle_diff(found[0].angle, math.radians(225)) < math.radians(10)


def test_close_pairs_and_border_are_removed() -> None:
    img = bars()
    img[37:44, 80] = 0  # 1 px break in one bar: two skeleton endings ~7 px apart
    assert extract_minutiae(img.astype(bool), config=CFG) == []
    mask = np.ones(img.shape, bool)
    mask[:, 130:] = False  # the silhouette cuts all bars: endings on its edge
    assert extract_minutiae(img.astype(bool), mask, config=CFG) == []
