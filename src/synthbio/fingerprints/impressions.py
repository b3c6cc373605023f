"""Impressions of a master fingerprint, as a sensor would capture them.

Per impression (SFinGe step 3; Cappelli, Maio, Maltoni 2001-2004):

1. geometry, master -> sensor: plastic skin distortion, then rotation and
   translation, then the sensor crop. The distortion follows Cappelli's
   model: inside an elliptic *rigid* region around the contact centre the
   skin does not move; outside, it moves by a small rotation + translation
   ``Delta``; a smooth *brake* function blends the two in between,
   ``p' = p + Delta(p) * brake(r(p))``;
2. partial contact: an elliptic contact region inside the silhouette;
3. skin and contact (:mod:`synthbio.fingerprints.skin`): pressure and
   moisture fields, ragged ridge edges, pores, dry breaks, wet bridges,
   incipient ridges, creases, scars and scratches, with every change of the
   ridge topology accounted for;
4. the sensor (:mod:`synthbio.fingerprints.sensors`): optical, capacitive,
   rolled ink or latent look; background, blur and noise.

The image is made by inverse mapping (sensor pixel -> master point, the
distortion inverted by fixed-point iteration on a coarse grid) and
``cv2.remap``; ground-truth minutiae and singularities are forward-mapped by
the same functions, their angles turned by the local Jacobian, and kept only
inside the crop and the contact region and outside creases and scars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.groundtruth import iso_angle
from synthbio.fingerprints.master import MasterFingerprint
from synthbio.fingerprints.orientation import smooth_random_field
from synthbio.fingerprints.sensors import SENSOR_KINDS, check_sensor, render
from synthbio.fingerprints.skin import Artefacts, SkinConfig, skin_ink
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity

Range = tuple[float, float]


@dataclass(frozen=True)
class ImpressionConfig:
    """How impressions vary. Lengths are pixels at 500 dpi; ranges are uniform.

    width, height: sensor crop (416 x 560 = 21 x 28 mm at 500 dpi).
    displacement_std_px / max_displacement_px: translation of the finger
        centre from the sensor centre, normal, clipped.
    rotation_std_deg / max_rotation_deg: in-plane rotation, normal, clipped.
    distortion: scale of the plastic distortion (0 = rigid impressions).
    distortion_shift_std_px, distortion_rotation_std_deg: the outer skin's
        movement ``Delta`` at ``distortion = 1``.
    rigid_fraction: radius of the rigid region as a fraction of the contact
        ellipse; transition_fraction: width of the elastic ring, same units.
    pressure_range: 0 = light touch (thin ridges, small contact),
        1 = heavy (thick ridges, large contact).
    moisture_range: 0 = dry (broken ridges), 1 = wet (thick, merging ridges).
    sensor: capture technology, one of ``optical``, ``capacitive``, ``ink``,
        ``latent`` (:mod:`synthbio.fingerprints.sensors`); see
        :data:`SENSOR_PRESETS` for the full settings of each.
    skin: the skin and contact model (:class:`SkinConfig`).
    contact_fraction: contact ellipse axes relative to the silhouette's.
    contact_offset_px: maximal shift of the contact centre (downwards up to
        this, upwards and sideways up to half / all of it).
    contact_wobble: relative irregularity of the contact outline.
    ink_variation: depth of the broad light/dark areas of uneven pressure.
    noise_std_range: Gaussian sensor noise in grey levels.
    blur_sigma_range: Gaussian blur sigma in pixels.
    max_creases, max_scratches: counts drawn uniformly in [0, max] (white
        lines; true minutiae under them are hidden).
    background_range: grey level of the sensor background.
    ridge_grey_range: grey level of a fully inked ridge.
    visible_margin_px: ground truth closer than this to the crop edge or the
        contact border is dropped (no extractor can see it).
    """

    width: int = 416
    height: int = 560
    displacement_std_px: float = 35.0
    max_displacement_px: float = 80.0
    rotation_std_deg: float = 12.0
    max_rotation_deg: float = 30.0
    distortion: float = 1.0
    distortion_shift_std_px: float = 11.0
    distortion_rotation_std_deg: float = 4.0
    rigid_fraction: float = 0.35
    transition_fraction: float = 0.45
    pressure_range: Range = (0.1, 0.9)
    moisture_range: Range = (0.05, 0.8)
    sensor: str = "optical"
    skin: SkinConfig = field(default_factory=SkinConfig)
    contact_fraction: Range = (0.6, 0.95)
    contact_offset_px: float = 40.0
    contact_wobble: float = 0.06
    ink_variation: float = 0.15
    noise_std_range: Range = (3.0, 9.0)
    blur_sigma_range: Range = (0.5, 0.9)
    max_creases: int = 3
    max_scratches: int = 1
    background_range: Range = (242.0, 254.0)
    ridge_grey_range: Range = (5.0, 50.0)
    visible_margin_px: float = 10.0


@dataclass
class Impression:
    """One capture of a finger.

    image: uint8 [H, W], dark ridges on a light background.
    minutiae / singularities: ground truth in this image's coordinates,
        only those visible (inside the crop and the contact region, not
        under a crease, scar or scratch).
    transform: the parameters drawn (JSON-serialisable).
    artefacts: where the skin conditions changed the ridge topology (a
        matcher may find minutiae there that the finger does not have).
    """

    image: np.ndarray
    minutiae: list[Minutia]
    singularities: list[Singularity]
    transform: dict[str, Any]
    dpi: int = 500
    artefacts: Artefacts = field(default_factory=Artefacts)

    def template(self) -> MinutiaeTemplate:
        h, w = self.image.shape
        return MinutiaeTemplate(
            minutiae=list(self.minutiae),
            width=w,
            height=h,
            dpi=self.dpi,
            singularities=list(self.singularities),
        )


@dataclass(frozen=True)
class _Geometry:
    """Parameters of the master -> sensor mapping (pixels of the master)."""

    center: tuple[float, float]  # finger centre in the master
    contact_center: tuple[float, float]  # centre of contact and distortion
    contact_axes: tuple[float, float]  # semi-axes (x, y) of the contact ellipse
    rigid: float  # rigid radius, in units of the contact ellipse
    transition: float  # elastic ring width, same units
    d_rot: float  # outer skin rotation (rad)
    d_shift: tuple[float, float]  # outer skin translation (px)
    rotation: float  # global rotation (rad, counter-clockwise as seen)
    shift: tuple[float, float]  # finger centre -> sensor centre offset (px)
    sensor_center: tuple[float, float]


def _ellipse_radius(g: _Geometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Normalised elliptic distance from the contact centre (1 = contact edge)."""
    return np.sqrt(((x - g.contact_center[0]) / g.contact_axes[0]) ** 2 + ((y - g.contact_center[1]) / g.contact_axes[1]) ** 2)


def _distortion(g: _Geometry, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cappelli displacement ``Delta(p) * brake(r(p))`` at master points."""
    cx, cy = g.contact_center
    c, s = math.cos(g.d_rot), math.sin(g.d_rot)
    rx, ry = x - cx, y - cy
    # Rotation counter-clockwise as seen: in image coordinates (y down)
    # (x, y) -> (c x + s y, -s x + c y).
    dx = c * rx + s * ry - rx + g.d_shift[0]
    dy = -s * rx + c * ry - ry + g.d_shift[1]
    t = np.clip((_ellipse_radius(g, x, y) - g.rigid) / g.transition, 0.0, 1.0)
    brake = t * t * (3 - 2 * t)  # smoothstep: 0 in the rigid region, 1 outside
    return dx * brake, dy * brake


def _rigid(g: _Geometry, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(g.rotation), math.sin(g.rotation)
    rx, ry = x - g.center[0], y - g.center[1]
    return (
        c * rx + s * ry + g.sensor_center[0] + g.shift[0],
        -s * rx + c * ry + g.sensor_center[1] + g.shift[1],
    )


def forward_map(g: _Geometry, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Master point -> sensor point."""
    dx, dy = _distortion(g, x, y)
    return _rigid(g, x + dx, y + dy)


def inverse_map(g: _Geometry, u: np.ndarray, v: np.ndarray, *, iterations: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Sensor point -> master point (inverts the distortion by fixed point)."""
    c, s = math.cos(g.rotation), math.sin(g.rotation)
    ru, rv = u - g.sensor_center[0] - g.shift[0], v - g.sensor_center[1] - g.shift[1]
    # Inverse rotation, then solve p + d(p) = w for p.
    wx = c * ru - s * rv + g.center[0]
    wy = s * ru + c * rv + g.center[1]
    px, py = wx.copy(), wy.copy()
    for _ in range(iterations):
        dx, dy = _distortion(g, px, py)
        px, py = wx - dx, wy - dy
    return px, py


def _draw_geometry(
    master: MasterFingerprint, config: ImpressionConfig, rng: np.random.Generator, pressure: float
) -> _Geometry:
    scale = master.dpi / 500.0
    rows, cols = np.flatnonzero(master.mask.any(1)), np.flatnonzero(master.mask.any(0))
    if len(rows) == 0:
        raise InputError("master fingerprint has an empty mask")
    ax = (cols[-1] - cols[0]) / 2.0
    ay = (rows[-1] - rows[0]) / 2.0
    lo, hi = config.contact_fraction
    frac = lo + (hi - lo) * float(np.clip(0.5 * pressure + 0.5 * rng.uniform(), 0, 1))
    off = config.contact_offset_px * scale
    # Plain impressions tend to miss the lower phalanx more than the tip.
    cc = (master.center[0] + rng.uniform(-off, off), master.center[1] + rng.uniform(-0.5 * off, off))

    def clipped_normal(std: float, limit: float) -> float:
        return float(np.clip(rng.normal(0.0, std), -limit, limit))

    dist = config.distortion
    return _Geometry(
        center=master.center,
        contact_center=cc,
        contact_axes=(ax * frac, ay * frac),
        rigid=config.rigid_fraction,
        transition=config.transition_fraction,
        d_rot=math.radians(clipped_normal(config.distortion_rotation_std_deg, 3 * config.distortion_rotation_std_deg + 1e-9)) * dist,
        d_shift=(
            clipped_normal(config.distortion_shift_std_px, 3 * config.distortion_shift_std_px + 1e-9) * dist * scale,
            clipped_normal(config.distortion_shift_std_px, 3 * config.distortion_shift_std_px + 1e-9) * dist * scale,
        ),
        rotation=math.radians(clipped_normal(config.rotation_std_deg, config.max_rotation_deg)),
        shift=(
            clipped_normal(config.displacement_std_px, config.max_displacement_px) * scale,
            clipped_normal(config.displacement_std_px, config.max_displacement_px) * scale,
        ),
        sensor_center=(config.width / 2.0, config.height / 2.0),
    )


def _sensor_maps(g: _Geometry, width: int, height: int, step: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Master coordinates of every sensor pixel, float32 [H, W] x2.

    Computed on a grid every ``step`` px and interpolated: the mapping is
    smooth at that scale, and this is ~50x cheaper than per pixel.
    """
    gw, gh = width // step + 2, height // step + 2
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64) * step
    px, py = inverse_map(g, gx, gy)
    # Resize maps grid corners to corners: coarse node k sits at k*step.
    full_w, full_h = (gw - 1) * step + 1, (gh - 1) * step + 1
    mx = cv2.resize(px.astype(np.float32), (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    my = cv2.resize(py.astype(np.float32), (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(mx[:height, :width]), np.ascontiguousarray(my[:height, :width])


def make_impression(
    master: MasterFingerprint, seed: int, index: int, config: ImpressionConfig = ImpressionConfig()
) -> Impression:
    """Impression ``index`` of ``master`` (bit-identical per (seed, index))."""
    if config.width < 16 or config.height < 16:
        raise InputError(f"sensor size {config.width}x{config.height} is too small (min 16x16)")
    if seed < 0 or index < 0:
        raise InputError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    for name in ("pressure_range", "moisture_range", "contact_fraction", "noise_std_range",
                 "blur_sigma_range", "background_range", "ridge_grey_range"):
        lo, hi = getattr(config, name)
        if lo > hi:
            raise InputError(f"ImpressionConfig.{name} = {(lo, hi)} has min > max")
    check_sensor(config.sensor)
    config.skin.check()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))

    def u(r: Range) -> float:
        return float(rng.uniform(r[0], r[1]))
    scale = master.dpi / 500.0
    pressure, moisture = u(config.pressure_range), u(config.moisture_range)
    g = _draw_geometry(master, config, rng, pressure)
    w, h = config.width, config.height

    mx, my = _sensor_maps(g, w, h)
    ridges = cv2.remap(master.ridges, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Contact: an ellipse with a wobbly outline (a skin pad is not a perfect
    # ellipse) and a soft edge where ridges fade out. (Outside the silhouette
    # the master's ridge map is 0, so nothing is inked there anyway.)
    edge = 1.0 + config.contact_wobble * smooth_random_field(rng, h, w, cells=5)
    rho = _ellipse_radius(g, mx, my)
    ramp = 12.0 * scale / min(g.contact_axes)
    contact = np.clip((1.0 - rho / edge) / ramp, 0.0, 1.0)

    in_view = contact > 0.5
    period_map = cv2.remap(master.period, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    period = float(period_map[in_view].mean()) if in_view.any() else float(master.period.mean())
    all_xy = np.stack(forward_map(g, *_minutia_xy(master.minutiae)), 1) if master.minutiae else np.zeros((0, 2))
    # The skin has its own stream: its settings never shift the sensor's draws.
    skin_rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 1]))
    skin = skin_ink(ridges, contact, period, skin_rng, config.skin, pressure=pressure, moisture=moisture,
                    minutiae_xy=all_xy, max_creases=config.max_creases, max_scratches=config.max_scratches,
                    scale=scale)

    background = u(config.background_range)
    ridge_grey = u(config.ridge_grey_range)
    blur = u(config.blur_sigma_range) * scale
    noise_std = u(config.noise_std_range)
    image = render(skin.ink, config.sensor, rng, background=background, ridge_grey=ridge_grey, blur_sigma=blur,
                   noise_std=noise_std, ink_variation=config.ink_variation, scale=scale)

    minutiae = _map_minutiae(g, master.minutiae, config, scale, edge, skin.hide)
    skin.artefacts.hidden = _count_hidden(g, master.minutiae, config, scale, edge, skin.hide)
    singularities = _map_singularities(g, master.singularities, config, scale, edge)
    transform = {
        "dx": g.shift[0],
        "dy": g.shift[1],
        "rotation": g.rotation,
        "distortion_rotation": g.d_rot,
        "distortion_dx": g.d_shift[0],
        "distortion_dy": g.d_shift[1],
        "contact_center": list(g.contact_center),
        "contact_axes": list(g.contact_axes),
        "rigid_fraction": g.rigid,
        "transition_fraction": g.transition,
        "pressure": pressure,
        "moisture": moisture,
        "sensor": config.sensor,
        "ridge_period": period,
        "creases": sum(line["kind"] == "crease" for line in skin.artefacts.lines),
        "scratches": sum(line["kind"] == "scratch" for line in skin.artefacts.lines),
        "background": background,
        "ridge_grey": ridge_grey,
        "blur_sigma": blur,
        "noise_std": noise_std,
    }
    return Impression(image, minutiae, singularities, transform, dpi=master.dpi, artefacts=skin.artefacts)


def _visible(
    g: _Geometry,
    x: np.ndarray,
    y: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    config: ImpressionConfig,
    scale: float,
    edge: np.ndarray,
) -> np.ndarray:
    """Inside the crop and the contact region, ``visible_margin_px`` from both edges.

    ``edge`` is the contact outline factor on the sensor grid, [H, W].
    """
    m = config.visible_margin_px * scale
    in_crop = (sx >= m) & (sx <= config.width - 1 - m) & (sy >= m) & (sy <= config.height - 1 - m)
    ix = np.clip(np.round(sx).astype(int), 0, config.width - 1)
    iy = np.clip(np.round(sy).astype(int), 0, config.height - 1)
    # The contact fades over 12 px; keep what is inked at least half-way.
    fade = (6.0 * scale + m) / min(g.contact_axes)
    in_contact = _ellipse_radius(g, x, y) <= edge[iy, ix] * (1.0 - fade)
    return in_crop & in_contact


def _minutia_xy(minutiae: list[Minutia]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([m.x for m in minutiae], np.float64), np.array([m.y for m in minutiae], np.float64)


def _uncovered(sx: np.ndarray, sy: np.ndarray, hide: np.ndarray, margin: float) -> np.ndarray:
    """True where no crease, scar or scratch lies within ``margin`` px of (sx, sy)."""
    if not hide.any():
        return np.ones(len(sx), bool)
    near = cv2.dilate(hide.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(margin) + 1,) * 2))
    ix = np.clip(np.round(sx).astype(int), 0, hide.shape[1] - 1)
    iy = np.clip(np.round(sy).astype(int), 0, hide.shape[0] - 1)
    return near[iy, ix] == 0


def _count_hidden(
    g: _Geometry, minutiae: list[Minutia], config: ImpressionConfig, scale: float, edge: np.ndarray, hide: np.ndarray
) -> int:
    """True minutiae inside the crop and the contact that a white line covers."""
    if not minutiae:
        return 0
    x, y = _minutia_xy(minutiae)
    sx, sy = forward_map(g, x, y)
    seen = _visible(g, x, y, sx, sy, config, scale, edge)
    return int((seen & ~_uncovered(sx, sy, hide, 4.0 * scale)).sum())


def _map_minutiae(
    g: _Geometry, minutiae: list[Minutia], config: ImpressionConfig, scale: float, edge: np.ndarray,
    hide: np.ndarray | None = None,
) -> list[Minutia]:
    if not minutiae:
        return []
    x, y = _minutia_xy(minutiae)
    a = np.array([m.angle for m in minutiae], np.float64)
    sx, sy = forward_map(g, x, y)
    # Angle through the local Jacobian: map a short step along the direction.
    eps = 1.0
    ex, ey = forward_map(g, x + eps * np.cos(a), y - eps * np.sin(a))
    keep = _visible(g, x, y, sx, sy, config, scale, edge)
    if hide is not None:
        # A line cutting the ridges next to a minutia makes it unreadable.
        keep &= _uncovered(sx, sy, hide, 4.0 * scale)
    out = []
    for i in np.nonzero(keep)[0]:
        m = minutiae[i]
        out.append(Minutia(float(sx[i]), float(sy[i]), iso_angle(float(ex[i] - sx[i]), float(ey[i] - sy[i])), m.kind, m.quality))
    return out


def _map_singularities(
    g: _Geometry, sing: list[Singularity], config: ImpressionConfig, scale: float, edge: np.ndarray
) -> list[Singularity]:
    out = []
    for s in sing:
        x, y = np.array([s.x]), np.array([s.y])
        sx, sy = forward_map(g, x, y)
        if not _visible(g, x, y, sx, sy, config, scale, edge)[0]:
            continue
        angle = None
        if s.angle is not None:
            ex, ey = forward_map(g, x + math.cos(s.angle), y - math.sin(s.angle))
            angle = iso_angle(float(ex[0] - sx[0]), float(ey[0] - sy[0]))
        out.append(Singularity(float(sx[0]), float(sy[0]), s.kind, angle))
    return out


def _presets() -> dict[str, ImpressionConfig]:
    base = ImpressionConfig()
    skin = base.skin
    return {
        # Dark ridges on a near-white field (FTIR prism), the default.
        "optical": base,
        # Solid state: grey field, lower contrast, noisier, coarser pixels;
        # dry fingers break up more (capacitance needs moist contact), pores
        # show less.
        "capacitive": replace(
            base, sensor="capacitive", background_range=(175.0, 215.0), ridge_grey_range=(55.0, 105.0),
            noise_std_range=(4.0, 9.0), blur_sigma_range=(0.6, 1.0), moisture_range=(0.0, 0.85),
            skin=replace(skin, dry_break_fraction=0.7, pore_visibility=(0.1, 0.4))),
        # Rolled ink: nail-to-nail contact, more distortion, uneven ink with
        # some filled valleys, black ridges on white paper.
        "ink": replace(
            base, sensor="ink", contact_fraction=(0.85, 1.0), contact_offset_px=20.0, distortion=1.4,
            rotation_std_deg=6.0, max_rotation_deg=15.0, background_range=(242.0, 255.0),
            ridge_grey_range=(0.0, 30.0), noise_std_range=(1.0, 3.0), blur_sigma_range=(0.6, 1.1),
            ink_variation=0.35, max_scratches=0,
            skin=replace(skin, wet_bridge_fraction=0.15, pore_visibility=(0.2, 0.6))),
        # Latent-like: small partial contact anywhere on the finger, faint
        # ridges over a structured surface, blurred and noisy.
        "latent": replace(
            base, sensor="latent", contact_fraction=(0.35, 0.6), contact_offset_px=90.0,
            background_range=(150.0, 200.0), ridge_grey_range=(70.0, 110.0), noise_std_range=(5.0, 12.0),
            blur_sigma_range=(0.8, 1.5), ink_variation=0.45, max_creases=1, max_scratches=0,
            skin=replace(skin, dry_break_fraction=0.7, pore_visibility=(0.0, 0.3))),
    }


#: Named sensor presets of the impression pipeline (full `ImpressionConfig`s).
SENSOR_PRESETS: dict[str, ImpressionConfig] = _presets()


def sensor_preset(name: str, *, width: int | None = None, height: int | None = None) -> ImpressionConfig:
    """The preset ``name`` (see :data:`SENSOR_PRESETS`), optionally at another sensor size."""
    check_sensor(name)
    cfg = SENSOR_PRESETS[name]
    return replace(cfg, width=cfg.width if width is None else width, height=cfg.height if height is None else height)


def parse_sensors(spec: str) -> tuple[str, ...]:
    """``--sensor`` value -> the presets it names: one, a comma list, or ``mixed`` (all of them)."""
    names = SENSOR_KINDS if spec.strip() == "mixed" else tuple(s.strip() for s in spec.split(",") if s.strip())
    if not names or any(n not in SENSOR_KINDS for n in names):
        raise InputError(f"--sensor {spec!r}: use mixed or one or more of {', '.join(SENSOR_KINDS)} (comma-separated)")
    return tuple(dict.fromkeys(names))


def impression_sensor(names: tuple[str, ...], finger_seed: int, impression: int) -> str:
    """The sensor of impression ``impression`` of a finger: drawn from ``names`` by (finger seed, impression)."""
    if len(names) == 1:
        return names[0]
    word = int(np.random.SeedSequence([int(finger_seed), int(impression), 2]).generate_state(1)[0])
    return names[word % len(names)]
