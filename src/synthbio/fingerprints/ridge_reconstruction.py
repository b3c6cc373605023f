"""Fingerprint reconstruction from a minutiae template by ridge growth (no learned model).

A template holds, per minutia, a position and a direction (and a kind that
most matchers ignore). Three steps turn it into a ridge image whose own
minutiae, as an extractor finds them, fall where the template's are:

1. Orientation field. Each minutia's direction is the local ridge direction
   (modulo pi), so the field is a Gaussian-weighted average of the minutiae
   directions in the doubled-angle domain (cos 2a, sin 2a), where opposite
   directions agree:

       theta(p) = 1/2 atan2(sum_i w_i(p) sin 2a_i, sum_i w_i(p) cos 2a_i),
       w_i(p) = exp(-|p - m_i|^2 / 2 s^2) + far_weight * exp(-|p - m_i|^2 / 2 S^2)

   (s local, S wide for the gaps between minutiae).

2. Minutia prototypes. Around minutia i with direction t = (cos a, -sin a)
   and ridge normal n = (sin a, cos a), a local ridge pattern with phase

       phi(d) = 2 pi (n . d) / period + atan2(n . d, t . d) + (pi if bifurcation)

   (d = p - m_i) is drawn as cos(phi): the spiral term adds one ridge on one
   side of the point, so exactly one ridge ends at m_i; with phase 0 along +t
   the ridge lies on the +t side (a ridge ending pointing along a, ISO
   19794-2 convention), and the extra pi swaps ridge and valley, which gives
   a bifurcation pointing along a (see `synthbio.fingerprints.types`).

3. Growth. Starting from the prototypes, the space-variant Gabor filtering of
   SFinGe (`synthbio.fingerprints.ridges.grow_anchored_ridges`) fills the
   area between them with ridges that follow the orientation field, while
   the prototypes are held in place. The idea (prototypes + Gabor growth) is
   that of Cappelli, Lumini, Maio, Maltoni, "Fingerprint image reconstruction
   from standard templates", IEEE TPAMI 29(9), 2007; the spiral-phase
   prototypes follow the phase model of Feng and Jain, "Fingerprint
   reconstruction: from minutiae to phase", IEEE TPAMI 33(2), 2011.

The ridge period is not in a template; `ridge_period_px` (at 500 dpi) is a
typical adult value and scales with the template's dpi. The image covers the
region the minutiae support (where the local weights sum past
`support_threshold`), fading to the background elsewhere, at the
template's width x height and dpi, so its minutiae line up with the
template's pixel coordinates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.impressions import Impression, ImpressionConfig, make_impression
from synthbio.fingerprints.master import MasterFingerprint
from synthbio.fingerprints.minutiae_map import output_size
from synthbio.fingerprints.ridges import grow_anchored_ridges
from synthbio.fingerprints.types import MinutiaeTemplate


@dataclass(frozen=True)
class RidgeReconstructionConfig:
    """How a template becomes a ridge image. Lengths are pixels at 500 dpi (scaled by dpi / 500).

    ridge_period_px: ridge-to-ridge distance drawn (templates do not store it).
    orientation_sigma_px / far_sigma_px / far_weight: the two Gaussian widths of
        the orientation average and the weight of the wide one (module docstring).
    prototype_radius_px: Gaussian radius of each minutia's held pattern
        (None = 0.8 ridge periods).
    iterations: growth rounds (the pattern spreads about a kernel radius per round).
    sigma_ratio, gain, n_orient: Gabor envelope sigma / period, saturation gain,
        orientation bins (as in SFinGe's growth).
    support_threshold / support_sigma_px: the image covers pixels whose minutia
        weight sum (Gaussians of width support_sigma_px) exceeds the threshold;
        outside it fades to background.
    background / ridge_grey: grey levels of the paper and of ridge centres (uint8).
    """

    ridge_period_px: float = 10.5
    orientation_sigma_px: float = 22.0
    far_sigma_px: float = 70.0
    far_weight: float = 0.05
    prototype_radius_px: float | None = None
    iterations: int = 15
    sigma_ratio: float = 0.35
    gain: float = 1.5
    n_orient: int = 16
    support_threshold: float = 0.15
    support_sigma_px: float = 22.0
    background: int = 228
    ridge_grey: int = 28

    def __post_init__(self) -> None:
        positive = {"ridge_period_px": self.ridge_period_px, "orientation_sigma_px": self.orientation_sigma_px,
                    "support_sigma_px": self.support_sigma_px,
                    "far_sigma_px": self.far_sigma_px, "sigma_ratio": self.sigma_ratio, "gain": self.gain}
        bad = [f"{k}={v}" for k, v in positive.items() if not (math.isfinite(v) and v > 0)]
        if self.prototype_radius_px is not None and not (math.isfinite(self.prototype_radius_px)
                                                         and self.prototype_radius_px > 0):
            bad.append(f"prototype_radius_px={self.prototype_radius_px}")
        if not (math.isfinite(self.far_weight) and self.far_weight >= 0):
            bad.append(f"far_weight={self.far_weight}")
        if self.iterations < 1 or self.n_orient < 2:
            bad.append(f"iterations={self.iterations}, n_orient={self.n_orient}")
        if not 0 <= self.support_threshold < 1:
            bad.append(f"support_threshold={self.support_threshold}")
        if not (0 <= self.ridge_grey < self.background <= 255):
            bad.append(f"ridge_grey={self.ridge_grey}, background={self.background} (need 0 <= ridge < bg <= 255)")
        if bad:
            raise InputError(f"bad ridge reconstruction settings: {', '.join(bad)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def _minutiae_arrays(template: MinutiaeTemplate) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, angle, is_bifurcation) float64 / bool [M]."""
    ms = template.minutiae
    return (np.array([m.x for m in ms], np.float64), np.array([m.y for m in ms], np.float64),
            np.array([m.angle for m in ms], np.float64), np.array([m.kind == "bifurcation" for m in ms]))


def orientation_from_minutiae(template: MinutiaeTemplate, height: int, width: int, *, sigma: float,
                              far_sigma: float, far_weight: float, support_sigma: float | None = None,
                              step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(theta float32 [H, W] in [0, pi) (ISO angles), support float32 [H, W]).

    theta: doubled-angle Gaussian average of the minutiae directions (module
    docstring, step 1); support: sum of Gaussian weights of width
    support_sigma (None = sigma), which says where minutiae are dense enough to draw.
    step: the sums are evaluated exactly every `step` pixels and bilinearly
    interpolated in between (they vary on the scale of sigma; None = sigma / 8,
    at least 1; 1 = exact at every pixel).
    """
    support_sigma = sigma if support_sigma is None else support_sigma
    step = max(1, int(min(sigma, support_sigma) // 8)) if step is None else int(step)
    if step < 1:
        raise InputError(f"orientation step must be >= 1, got {step}")
    # Coarse samples at x = i * step, i = 0 .. ceil((width - 1) / step), so the last one
    # lies on or past the far edge and every pixel sits between samples.
    hc, wc = -(-(height - 1) // step) + 1, -(-(width - 1) // step) + 1
    ys, xs = np.mgrid[0:hc, 0:wc].astype(np.float64) * step
    mx, my, ma, _ = _minutiae_arrays(template)
    c = np.zeros((hc, wc), np.float64)
    s = np.zeros_like(c)
    support = np.zeros_like(c)
    for x, y, a in zip(mx, my, ma):
        d2 = (xs - x) ** 2 + (ys - y) ** 2
        near = np.exp(-d2 / (2 * sigma * sigma))
        w = near + far_weight * np.exp(-d2 / (2 * far_sigma * far_sigma))
        c += w * math.cos(2 * a)
        s += w * math.sin(2 * a)
        support += near if support_sigma == sigma else np.exp(-d2 / (2 * support_sigma * support_sigma))
    if step > 1:
        gy, gx = np.mgrid[0:height, 0:width].astype(np.float32) / step
        c, s, support = (cv2.remap(v.astype(np.float32), gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                         for v in (c, s, support))
    theta = np.mod(0.5 * np.arctan2(s, c), np.pi)
    return theta.astype(np.float32), support.astype(np.float32)


def minutia_prototypes(template: MinutiaeTemplate, height: int, width: int, *, period: float,
                       radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(values float32 [H, W] in [-1, 1], weights float32 [H, W] in [0, 1]).

    values: cos(phi) of the nearest minutia's spiral-phase pattern (module
    docstring, step 2), positive on ridges; weights: that minutia's Gaussian
    weight exp(-|d|^2 / 2 radius^2). Where two minutiae are close, the one
    with the larger weight (the nearer one) wins each pixel.
    """
    xs, ys = _grid(height, width)
    mx, my, ma, bif = _minutiae_arrays(template)
    values = np.zeros((height, width), np.float32)
    weights = np.zeros((height, width), np.float32)
    k = 2 * math.pi / period
    reach = int(math.ceil(3 * radius))
    for x, y, a, b in zip(mx, my, ma, bif):
        x0, x1 = max(0, int(x) - reach), min(width, int(x) + reach + 2)
        y0, y1 = max(0, int(y) - reach), min(height, int(y) + reach + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        dx, dy = xs[y0:y1, x0:x1] - x, ys[y0:y1, x0:x1] - y
        along = dx * math.cos(a) - dy * math.sin(a)  # t . d
        across = dx * math.sin(a) + dy * math.cos(a)  # n . d
        phi = k * across + np.arctan2(across, along) + (math.pi if b else 0.0)
        w = np.exp(-(dx * dx + dy * dy) / (2 * radius * radius)).astype(np.float32)
        take = w > weights[y0:y1, x0:x1]
        values[y0:y1, x0:x1][take] = np.cos(phi)[take]
        weights[y0:y1, x0:x1][take] = w[take]
    return values, weights


@dataclass
class RidgeField:
    """The grown pattern of one template at its own size and dpi, [H, W] float32 each.

    soft: in [-1, 1], positive on ridges; support: local minutia weight sum;
    orientation: in [0, pi) (ISO angles); period: ridge period in pixels.
    """

    soft: np.ndarray
    support: np.ndarray
    orientation: np.ndarray
    period: float


def ridge_field(template: MinutiaeTemplate,
                config: RidgeReconstructionConfig = RidgeReconstructionConfig()) -> RidgeField:
    """Steps 1-3 of the module docstring for a template with at least one minutia."""
    if not template.minutiae:
        raise InputError("a template without minutiae has no ridge pattern to reconstruct")
    h, w = output_size(template)
    scale = template.dpi / 500.0
    period = config.ridge_period_px * scale
    sigma = config.orientation_sigma_px * scale
    theta, support = orientation_from_minutiae(template, h, w, sigma=sigma, far_sigma=config.far_sigma_px * scale,
                                               far_weight=config.far_weight,
                                               support_sigma=config.support_sigma_px * scale)
    radius = (config.prototype_radius_px * scale) if config.prototype_radius_px else 0.8 * period
    values, weights = minutia_prototypes(template, h, w, period=period, radius=radius)
    downsample = 2 if period > 8 else 1
    if period <= 2.0 * downsample:
        raise InputError(f"template at {template.dpi} dpi gives a ridge period of {period:.2f} px, too small to draw")
    soft = grow_anchored_ridges(theta, np.full((h, w), period, np.float32), values, weights,
                                n_orient=config.n_orient, n_period=1, iterations=config.iterations,
                                sigma_ratio=config.sigma_ratio, gain=config.gain, downsample=downsample)
    return RidgeField(soft=soft, support=support, orientation=theta, period=period)


def reconstruct_ridges(template: MinutiaeTemplate, config: RidgeReconstructionConfig = RidgeReconstructionConfig(),
                       *, dpi_out: int | None = None) -> np.ndarray:
    """The fingerprint of one template: uint8 [H, W], dark ridges on a light background.

    H x W is the template's size at `dpi_out` (None = its own dpi; see
    `synthbio.fingerprints.minutiae_map.output_size`). A template without
    minutiae gives a blank (background) image. Deterministic.
    """
    h_out, w_out = output_size(template, dpi_out=dpi_out)
    h, w = output_size(template)
    if not template.minutiae:
        return np.full((h_out, w_out), config.background, np.uint8)
    f = ridge_field(template, config)
    fg = cv2.GaussianBlur((f.support > config.support_threshold).astype(np.float32), (0, 0),
                          4 * template.dpi / 500.0)
    ridge = 0.5 + 0.5 * f.soft  # 1 on ridge centres
    grey = config.background - fg * ridge * (config.background - config.ridge_grey)
    if (h_out, w_out) != (h, w):
        interp = cv2.INTER_AREA if h_out < h else cv2.INTER_CUBIC
        grey = cv2.resize(grey.astype(np.float32), (w_out, h_out), interpolation=interp)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def reconstruct_master(template: MinutiaeTemplate,
                       config: RidgeReconstructionConfig = RidgeReconstructionConfig()) -> MasterFingerprint:
    """A master fingerprint grown from a template, to draw mated impressions from.

    Its ridge map is the grown pattern inside the supported region (the mask);
    its minutiae are the exact ground truth of that ridge map (the same
    skeleton extraction as procedural masters), so they include the template's
    minutiae as drawn and any the growth added where ridges meet. The class is
    None (a template does not say it); singularities are the template's.
    """
    from synthbio.fingerprints.groundtruth import extract_minutiae
    from synthbio.fingerprints.master import remove_small_blobs

    f = ridge_field(template, config)
    mask = f.support > config.support_threshold
    scale = template.dpi / 500.0
    ridges = (0.5 + 0.5 * f.soft).astype(np.float32)
    binary = ridges > 0.5
    cleaned = remove_small_blobs(binary, int(20 * scale**2))  # specks the growth can leave where fronts meet
    flipped = cleaned != binary
    ridges[flipped] = 1.0 - ridges[flipped]
    ridges[~mask] = 0.0
    ys, xs = np.nonzero(mask)
    return MasterFingerprint(
        ridges=ridges, mask=mask, orientation=f.orientation, period=np.full(mask.shape, f.period, np.float32),
        fp_class=None, singularities=list(template.singularities), minutiae=extract_minutiae(ridges, mask),
        dpi=template.dpi, center=(float(xs.mean()), float(ys.mean())),
    )


def template_impression_config(template: MinutiaeTemplate) -> ImpressionConfig:
    """Impressions of a reconstructed master: the template's frame, smaller moves than a full finger's.

    A template covers one plain impression's area already, so the contact
    region is about that area (85-115%) and the finger moves by a few
    ridges, so that impressions still overlap their source.
    """
    h, w = output_size(template)
    return ImpressionConfig(width=w, height=h, displacement_std_px=12.0, max_displacement_px=30.0,
                            rotation_std_deg=8.0, max_rotation_deg=20.0, contact_fraction=(0.85, 1.15),
                            contact_offset_px=15.0)


def mated_impressions(template: MinutiaeTemplate, count: int, *, seed: int = 0,
                      config: RidgeReconstructionConfig = RidgeReconstructionConfig(),
                      impression_config: ImpressionConfig | None = None) -> list[Impression]:
    """`count` impressions of the finger a template describes (bit-identical per (template, seed)).

    Each carries its ground-truth minutiae in its own frame (`Impression.template()`).
    """
    if count < 1:
        raise InputError(f"number of impressions must be >= 1, got {count}")
    if not template.minutiae:
        raise InputError("a template without minutiae cannot give impressions")
    master = reconstruct_master(template, config)
    ic = impression_config or template_impression_config(template)
    return [make_impression(master, seed, k, ic) for k in range(count)]


class RidgeReconstructor:
    """`reconstruct_ridges` behind the reconstructor interface of `synthbio.fingerprints.reconstruction`."""

    method = "gabor"
    map_size = 256  # size of the minutiae-map previews in reports

    def __init__(self, config: RidgeReconstructionConfig = RidgeReconstructionConfig()) -> None:
        self.config = config

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "encoder": None, "generator": None, "settings": self.config.to_dict()}

    def cache_key(self) -> dict[str, Any]:
        return {"method": self.method, "settings": self.config.to_dict(), "version": 2}

    def images_uint8(self, templates: Sequence[MinutiaeTemplate], *, dpi_out: int | None = None) -> list[np.ndarray]:
        return [reconstruct_ridges(t, self.config, dpi_out=dpi_out) for t in templates]
