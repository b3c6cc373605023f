"""Low-pass FIR filters of the alias-free generator (Karras et al. 2021, sec. 3.2 and appendix C).

Two designs, both Kaiser-windowed ideal low-pass filters, computed in float64
and stored as float32 buffers exactly as the official networks store them:

- `kaiser_lowpass`: separable 1D taps, the windowed-sinc design that
  `scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)` produces;
- `radial_lowpass`: a radially symmetric 2D filter, a jinc (the 2D ideal
  low-pass) times the outer product of two Kaiser windows (config R).

Released checkpoints carry their filters as buffers, so these designs matter
for networks built from scratch; they are tested against SciPy's.
numpy and torch are enough: SciPy is not a core dependency.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Attenuation (dB) of a Kaiser FIR filter of `numtaps` taps and transition `width`
    (as a fraction of the Nyquist frequency): Kaiser's empirical formula."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """Kaiser window shape parameter for a stop-band attenuation in dB (Kaiser 1974)."""
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def bessel_j1(x: np.ndarray, *, points: int = 256) -> np.ndarray:
    """Bessel function of the first kind, order 1, in float64 (|x| up to ~150 at full precision).

    Bessel's integral J1(x) = 1/(2 pi) * integral over one period of cos(t - x sin t):
    the integrand is periodic and analytic, so the trapezoidal rule on `points`
    equally spaced samples converges geometrically and is exact to float64
    rounding once `points` exceeds |x| by a margin.
    """
    t = np.arange(points) * (2 * np.pi / points)
    x = np.asarray(x, dtype=np.float64)
    return np.cos(t - x[..., None] * np.sin(t)).mean(axis=-1)


def _kaiser_window(numtaps: int, width: float, fs: float) -> np.ndarray:
    """Symmetric Kaiser window [numtaps] for a transition band `width` (Hz) at sampling rate `fs`."""
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    return np.kaiser(numtaps, beta)


def kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Separable low-pass taps [numtaps] (float32), None for the identity (numtaps == 1).

    cutoff and width in the units of the sampling rate fs; unit DC gain.
    """
    if numtaps < 1:
        raise ValueError(f"a filter needs at least one tap, got {numtaps}")
    if numtaps == 1:
        return None
    nyquist = fs / 2
    m = np.arange(numtaps) - (numtaps - 1) / 2  # tap positions, symmetric about 0
    h = (cutoff / nyquist) * np.sinc((cutoff / nyquist) * m)  # ideal low-pass impulse response
    h = h * _kaiser_window(numtaps, width, fs)
    h = h / np.sum(h)  # unit gain at DC
    return torch.as_tensor(h, dtype=torch.float32)


def radial_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Radially symmetric low-pass filter [numtaps, numtaps] (float32), None for numtaps == 1.

    jinc(r) = J1(2 pi f_c r) / (pi r), windowed by the outer product of two
    Kaiser windows and normalised to unit DC gain. numtaps is even in every
    configuration the generator builds, so r is never 0.
    """
    if numtaps < 1:
        raise ValueError(f"a filter needs at least one tap, got {numtaps}")
    if numtaps == 1:
        return None
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = bessel_j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    w = _kaiser_window(numtaps, width, fs)
    f = f * np.outer(w, w)
    f = f / np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


def design_lowpass(numtaps: int, cutoff: float, width: float, fs: float, *, radial: bool = False
                   ) -> torch.Tensor | None:
    """The filter a synthesis layer registers: separable taps, or radial when `radial`."""
    return radial_lowpass(numtaps, cutoff, width, fs) if radial else kaiser_lowpass(numtaps, cutoff, width, fs)
