"""Filtered leaky ReLU in the polyphase domain, for inference on CPU.

Upsampling by u splits the signal into u phases (output samples n = u q + r);
each phase is a short correlation of the input with every u-th filter tap
(Vaidyanathan 1990, "multirate digital filters"), so the inserted zeros are
never multiplied. The leaky ReLU acts per sample, so it acts on each phase.
Downsampling by d = u (or u / 2) then reads each phase with every d-th tap of
its filter and sums the phases: the kept outputs come straight out, with no
full-rate signal and no interleaving in between (the 1/4 transition layers,
u = 4 and d = 2, leave two output phases per axis, interleaved on writing).
Every step is a depthwise convolution with 3-7 taps at the input's size,
which oneDNN runs vectorised over channels on channels-last tensors; the
activation is fused into the upsampling convolution, and the clamp runs only
when a bound on the values says it can act.

The work goes in bands of output rows sized to stay in cache (and under
glibc's mmap threshold, where every large allocation would page-fault).
All plans are derived once per layer and input size from the filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Target size (bytes) of one band's phase tensors, all together.
_BAND_BYTES = 32 << 20


@dataclass(frozen=True)
class UpPlan:
    """Upsampling along one axis: phase r, sample q = sum_t taps[r, t] * x[q + start + t]."""

    up: int
    start: int
    taps: np.ndarray  # [up, J] float64, zero where a phase has fewer taps
    length: int  # samples per phase needed to cover the upsampled signal


@dataclass(frozen=True)
class DownPlan:
    """Downsampling by `down` of a signal held as `phases_in` phases.

    Output phase e, sample m = sum_r sum_t g[index[e, r, t]] * phase_r[m + start[e] + t]
    (index -1: no tap), where g is the downsampling filter reversed (conv2d correlates).
    """

    down: int
    phases_in: int
    phases_out: int
    start: tuple[int, ...]
    index: np.ndarray  # [phases_out, phases_in, J] int
    counts: tuple[int, ...]  # valid output samples per output phase
    out_length: int


def plan_up(f: np.ndarray | None, *, up: int, pad0: int, pad1: int, in_length: int) -> UpPlan:
    """f: the true-convolution filter [K] (None = identity), padding in upsampled samples.

    The definition's output n equals sum_i x[i] f[n + K - 1 - pad0 - u i].
    """
    f = np.ones(1) if f is None else np.asarray(f, dtype=np.float64)
    k = len(f)
    supports = []
    for r in range(up):
        c = r + k - 1 - pad0  # n + K - 1 - pad0 for n = u q + r, minus u q
        a_min, a_max = (c - k) // up + 1, c // up  # input offsets a with 0 <= c - u a < K
        supports.append((c, a_min, a_max))
    start = min(s[1] for s in supports)
    width = max(s[2] for s in supports) - start + 1
    taps = np.zeros([up, width])
    for r, (c, a_min, a_max) in enumerate(supports):
        for a in range(a_min, a_max + 1):
            taps[r, a - start] = f[c - up * a]
    total = in_length * up + pad0 + pad1 - k + 1
    return UpPlan(up=up, start=start, taps=taps, length=-(-total // up))


def plan_down(num_taps: int, *, down: int, phases_in: int, in_length: int) -> DownPlan:
    """Stride-`down` correlation with a reversed filter of `num_taps`, from `phases_in` phases.

    in_length: samples of the full-rate signal; phases_in must be a multiple of down.
    """
    p, d = phases_in, down
    if p % d:
        raise ValueError(f"{p} phases cannot be downsampled by {d} in the polyphase domain")
    p_out = p // d
    out_length = (in_length - num_taps) // d + 1
    entries = []  # per output phase: (input phase, offset, tap index)
    for e in range(p_out):
        entries.append([((d * e + j) % p, (d * e + j) // p, j) for j in range(num_taps)])
    starts = tuple(min(o for _, o, _ in ent) for ent in entries)
    width = max(o - s for ent, s in zip(entries, starts) for _, o, _ in ent) + 1
    index = -np.ones([p_out, p, width], dtype=np.int64)
    for e, ent in enumerate(entries):
        for r, o, j in ent:
            index[e, r, o - starts[e]] = j
    counts = tuple(-(-(out_length - e) // p_out) for e in range(p_out))
    return DownPlan(down=d, phases_in=p, phases_out=p_out, start=starts, index=index, counts=counts,
                    out_length=out_length)


def _gather(g: np.ndarray, index: np.ndarray) -> np.ndarray:
    """g[index] with 0 where index is -1."""
    return np.where(index >= 0, g[np.maximum(index, 0)], 0.0)


def _gather2(g: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """g[rows][:, cols] with 0 where a row or column index is -1."""
    valid = (rows[:, None] >= 0) & (cols[None, :] >= 0)
    return np.where(valid, g[np.maximum(rows, 0)][:, np.maximum(cols, 0)], 0.0)


@dataclass(frozen=True)
class LayerPlan:
    """Everything a layer's polyphase pass needs for one input size, as float32 conv weights."""

    up_h: UpPlan
    up_w: UpPlan
    down_h: DownPlan
    down_w: DownPlan
    k_up_w: tuple[Tensor, ...]  # [1, 1, 1, J] per W phase (gain up)
    k_up_h: tuple[Tensor, ...]  # [1, 1, J, 1] per H phase (gain up * activation gain)
    k_down: tuple  # separable: ([eh][rh] [1,1,J,1], [ew][rw] [1,1,1,J]); radial: [eh][ew][rh][rw] [1,1,J,J]
    radial: bool
    bound: float  # max |upsampled value| per unit max |input|
    out_size: tuple[int, int]
    weights: dict[tuple[int, int], Tensor] = field(default_factory=dict, compare=False, repr=False)

    def depthwise(self, k: Tensor, channels: int) -> Tensor:
        """Kernel k [1, 1, kh, kw] repeated for every channel [C, 1, kh, kw], made once per plan."""
        key = (id(k), channels)
        w = self.weights.get(key)
        if w is None:
            w = self.weights[key] = k.expand(channels, 1, k.shape[2], k.shape[3]).contiguous()
        return w


def make_plan(fu: Tensor | None, fd: Tensor | None, *, up: int, down: int, padding: tuple[int, int, int, int],
              gain: float, in_size: tuple[int, int]) -> LayerPlan:
    """Plans for input [.., H, W] = in_size; padding (x0, x1, y0, y1) as in filtered_lrelu."""
    px0, px1, py0, py1 = padding
    h, w = in_size
    f = None if fu is None else fu.detach().to("cpu", torch.float64).numpy()
    up_h = plan_up(f, up=up, pad0=py0, pad1=py1, in_length=h)
    up_w = plan_up(f, up=up, pad0=px0, pad1=px1, in_length=w)
    kd = 1 if fd is None else int(fd.shape[0])
    tmp_h = h * up + py0 + py1 - (1 if f is None else len(f)) + 1
    tmp_w = w * up + px0 + px1 - (1 if f is None else len(f)) + 1
    down_h = plan_down(kd, down=down, phases_in=up, in_length=tmp_h)
    down_w = plan_down(kd, down=down, phases_in=up, in_length=tmp_w)
    t32 = lambda a, shape: torch.as_tensor(a, dtype=torch.float64).reshape(shape).to(torch.float32)
    tw = up_w.taps * up
    th = up_h.taps * (up * gain)
    k_up_w = tuple(t32(tw[r], [1, 1, 1, -1]) for r in range(up))
    k_up_h = tuple(t32(th[r], [1, 1, -1, 1]) for r in range(up))
    g = np.ones([1, 1]) if fd is None else fd.detach().to("cpu", torch.float64).numpy()
    radial = g.ndim == 2 and fd is not None
    if radial:
        g2 = g[::-1, ::-1]  # correlation with the reversed filter
        k_down = tuple(tuple(tuple(tuple(t32(_gather2(g2, down_h.index[eh, rh], down_w.index[ew, rw]),
                                             [1, 1, down_h.index.shape[2], down_w.index.shape[2]])
                                         for rw in range(up)) for rh in range(up))
                             for ew in range(down_w.phases_out)) for eh in range(down_h.phases_out))
    else:
        g1 = g.reshape(-1)[::-1]
        k_down = (tuple(tuple(t32(_gather(g1, down_h.index[e, r]), [1, 1, -1, 1]) for r in range(up))
                        for e in range(down_h.phases_out)),
                  tuple(tuple(t32(_gather(g1, down_w.index[e, r]), [1, 1, 1, -1]) for r in range(up))
                        for e in range(down_w.phases_out)))
    bound = float(np.abs(th).sum(axis=1).max() * np.abs(tw).sum(axis=1).max())
    return LayerPlan(up_h=up_h, up_w=up_w, down_h=down_h, down_w=down_w, k_up_w=k_up_w, k_up_h=k_up_h,
                     k_down=k_down, radial=radial, bound=bound,
                     out_size=(down_h.out_length, down_w.out_length))


def supported(x: Tensor, *, up: int, down: int) -> bool:
    """Whether `filtered_lrelu_polyphase` handles this call (CPU float32 inference, one sample)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim == 4 and x.shape[0] == 1
            and not torch.is_grad_enabled() and not torch.compiler.is_compiling() and up % down == 0
            and not torch.is_autocast_enabled("cpu") and _FUSED_OK)


_FUSED_OK = True  # cleared when this torch build lacks the oneDNN fused convolution


def _dw(x: Tensor, w: Tensor, *, padding: tuple[int, int] = (0, 0), lrelu: float | None = None,
        into: Tensor | None = None) -> Tensor:
    """Depthwise convolution of x [1,C,H,W] with w [C,1,kh,kw] (`LayerPlan.depthwise`).

    lrelu: fuse a leaky ReLU of that slope; into: add the result to this tensor in place.
    """
    c = x.shape[1]
    global _FUSED_OK
    if _FUSED_OK:
        ops = torch.ops.mkldnn
        try:
            if into is not None:
                return ops._convolution_pointwise_.binary(into, x, w, None, list(padding), [1, 1], [1, 1], c, "add",
                                                          1.0, None, [], None)
            if lrelu is not None:
                return ops._convolution_pointwise(x, w, None, list(padding), [1, 1], [1, 1], c, "leaky_relu",
                                                  [lrelu], "")
            return ops._convolution_pointwise(x, w, None, list(padding), [1, 1], [1, 1], c, "none", [], "")
        except (AttributeError, RuntimeError, NotImplementedError):
            _FUSED_OK = False
    y = F.conv2d(x, w, padding=padding, groups=c)
    if lrelu is not None:
        y = F.leaky_relu_(y, lrelu)
    return into.add_(y) if into is not None else y


def filtered_lrelu_polyphase(x: Tensor, plan: LayerPlan, *, slope: float, clamp: float | None) -> Tensor:
    """x [1, C, H, W] (bias already added) -> [1, C, H', W'], equal to `filtered_lrelu` to float rounding.

    The activation gain is in the plan's upsampling taps.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    c = x.shape[1]
    uh, uw, dh, dw = plan.up_h, plan.up_w, plan.down_h, plan.down_w
    need_clamp = clamp is not None and float(x.abs().amax()) * plan.bound * (1 + 1e-4) >= clamp
    out = torch.empty([1, c, *plan.out_size], memory_format=torch.channels_last)

    # W extent: every output phase's windows, in W-phase samples, and a conv padding that covers them.
    qw_lo = min(dw.start)
    qw_hi = max(n - 1 + s for n, s in zip(dw.counts, dw.start)) + dw.index.shape[2] - 1
    jw = uw.taps.shape[1]
    pad_w = max(0, -(qw_lo + uw.start), qw_hi + uw.start + jw - x.shape[3])
    origin_w = pad_w + uw.start  # tensor column of W-phase sample 0

    rows = max(dh.counts)
    width_a = x.shape[3] + 2 * pad_w - jw + 1
    per_row = uh.up * uw.up * width_a * c * 4
    band = max(1, min(rows, _BAND_BYTES // max(per_row, 1)))
    jd_h = dh.index.shape[2]
    ju_h = uh.taps.shape[1]
    for m0 in range(0, rows, band):
        m1 = min(rows, m0 + band)
        qa = m0 + min(dh.start)
        qb = m1 - 1 + max(dh.start) + jd_h - 1
        ia, ib = qa + uh.start, qb + uh.start + ju_h - 1  # input rows, inclusive
        xb = x[:, :, max(ia, 0):min(ib, x.shape[2] - 1) + 1]
        if ia < 0 or ib > x.shape[2] - 1:
            xb = F.pad(xb, (0, 0, max(0, -ia), max(0, ib - x.shape[2] + 1)))
        a = [_dw(xb, plan.depthwise(plan.k_up_w[r], c), padding=(0, pad_w)) for r in range(uw.up)]
        p = [[_dw(a[rw], plan.depthwise(plan.k_up_h[rh], c), lrelu=slope if slope != 1 else None)
              for rw in range(uw.up)] for rh in range(uh.up)]
        if need_clamp:
            for row in p:
                for t in row:
                    t.clamp_(-clamp, clamp)
        n = m1 - m0
        for eh in range(dh.phases_out):
            keep = min(n, dh.counts[eh] - m0)
            if keep <= 0:
                continue
            off = m0 + dh.start[eh] - qa
            ph = [[t.narrow(2, off, n + jd_h - 1) for t in row] for row in p]
            b = None if plan.radial else _down_h(ph, plan, plan.k_down[0][eh])
            for ew in range(dw.phases_out):
                y = _down_2d(ph, plan, plan.k_down[eh][ew]) if b is None else _down_w(b, plan, plan.k_down[1][ew])
                y = y.narrow(3, origin_w + dw.start[ew], dw.counts[ew])
                dst = out[:, :, eh + dh.phases_out * m0: eh + dh.phases_out * (m0 + keep): dh.phases_out,
                          ew::dw.phases_out]
                dst.copy_(y[:, :, :keep])
    return out


def _down_h(ph: list[list[Tensor]], plan: LayerPlan, kernels: tuple[Tensor, ...]) -> list[Tensor]:
    """Downsampling along H for one output phase: per W phase, the sum over the H phases."""
    c = ph[0][0].shape[1]
    out = []
    for rw in range(len(ph[0])):
        b = _dw(ph[0][rw], plan.depthwise(kernels[0], c))
        for rh in range(1, len(ph)):
            b = _dw(ph[rh][rw], plan.depthwise(kernels[rh], c), into=b)
        out.append(b)
    return out


def _down_w(b: list[Tensor], plan: LayerPlan, kernels: tuple[Tensor, ...]) -> Tensor:
    """Downsampling along W for one output phase: the sum over the W phases (columns not yet cropped)."""
    c = b[0].shape[1]
    y = _dw(b[0], plan.depthwise(kernels[0], c))
    for rw in range(1, len(b)):
        y = _dw(b[rw], plan.depthwise(kernels[rw], c), into=y)
    return y


def _down_2d(ph: list[list[Tensor]], plan: LayerPlan, kernels: tuple) -> Tensor:
    """Radial downsampling for one output phase: 2D kernels summed over all input phases."""
    c = ph[0][0].shape[1]
    y = None
    for rh, row in enumerate(ph):
        for rw, t in enumerate(row):
            w = plan.depthwise(kernels[rh][rw], c)
            y = _dw(t, w) if y is None else _dw(t, w, into=y)
    assert y is not None
    return y
