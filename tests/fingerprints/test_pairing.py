"""Minutiae pairing across two impressions: a known rigid move is found and undone."""

from __future__ import annotations

import math

import numpy as np

from synthbio.fingerprints.pairing import RigidTransform, align_templates, paired_minutiae
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate


def _template(rng: np.random.Generator, n: int) -> MinutiaeTemplate:
    ms = [Minutia(x=float(x), y=float(y), angle=float(a), kind="ending" if k else "bifurcation")
          for x, y, a, k in zip(rng.uniform(80, 320, n), rng.uniform(80, 420, n), rng.uniform(0, 2 * np.pi, n),
                                rng.integers(0, 2, n))]
    return MinutiaeTemplate(minutiae=ms, width=416, height=560)


def test_a_moved_copy_pairs_every_minutia_with_itself() -> None:
    rng = np.random.default_rng(0)
    a = _template(rng, 30)
    move = RigidTransform(rotation=math.radians(17), dx=25.0, dy=-40.0)
    moved = [move.apply(m) for m in a.minutiae]
    order = rng.permutation(len(moved))  # the second template lists them in another order
    b = MinutiaeTemplate(minutiae=[moved[i] for i in order], width=416, height=560)
    t, votes = align_templates(a, b)
    assert abs(math.degrees(t.rotation) - 17) < 1.0 and abs(t.dx - 25) < 2 and abs(t.dy + 40) < 2
    assert votes >= 30
    pairs = paired_minutiae(a, b).pairs
    assert sorted(pairs) == sorted((int(order[j]), j) for j in range(len(order)))


def test_apply_turns_directions_with_the_points() -> None:
    t = RigidTransform(rotation=math.pi / 2, dx=0.0, dy=0.0)
    m = t.apply(Minutia(x=10.0, y=0.0, angle=0.0))  # pointing right, quarter turn counter-clockwise (as seen)
    assert abs(m.x) < 1e-9 and abs(m.y + 10) < 1e-9 and abs(m.angle - math.pi / 2) < 1e-9


def test_unrelated_or_empty_templates_pair_few() -> None:
    rng = np.random.default_rng(1)
    a, b = _template(rng, 30), _template(rng, 30)
    assert len(paired_minutiae(a, b).pairs) < 15
    empty = MinutiaeTemplate(minutiae=[], width=416, height=560)
    assert paired_minutiae(a, empty).pairs == [] and align_templates(empty, a)[1] == 0
