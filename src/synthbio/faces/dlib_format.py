"""Reader for dlib's binary serialisation (the `.dat` files of dlib's DNNs), in numpy.

What the format holds (dlib/serialize.h, dlib/cuda/tensor.h, dlib/dnn/*.h):

- integers: one control byte, low 4 bits = number of value bytes that follow
  (1..8), bit 0x80 = negative; then the magnitude, little endian. Zero is
  written as `01 00`.
- floats / doubles: an integer mantissa then an integer exponent,
  value = mantissa * 2**exponent; exponents 32000 / 32001 / 32002 mean +inf /
  -inf / NaN.
- bool: one ASCII byte, '1' or '0'. std::string: integer length, then bytes.
- tensor (version 2): integers num_samples, k, nr, nc, then k*nr*nc*num_samples
  raw little-endian float32 (row-major [N, K, R, C]).
- alias_tensor (a view into a layer's `params`): version 1 + the 4 dims.

A DNN is written recursively (outermost layer first): a loss layer writes its
version, its details, then its subnetwork; every `add_layer` writes its
version, its subnetwork, then its own details and some training state; tag
and skip layers write their version and their subnetwork. So a file reads
as all the versions from the output inwards, then the input layer, then the
layer details from the input outwards. `read_dnn` follows that order given
the network's list of layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.errors import CheckpointError

_INF, _NINF, _NAN = 32000, 32001, 32002


class DlibReader:
    """Sequential reader over the bytes of one dlib serialised object."""

    def __init__(self, data: bytes, *, source: str = "<bytes>") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.source}: not a dlib file of the expected layout ({what} at byte {self.pos})")

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends while reading {n} bytes")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent == _INF:
            return float("inf")
        if exponent == _NINF:
            return float("-inf")
        if exponent == _NAN:
            return float("nan")
        return float(np.ldexp(np.float64(mantissa), exponent))

    def bool(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {ch!r}")
        return ch == b"1"

    def string(self) -> str:
        n = self.int()
        if n < 0 or n > 4096:
            raise self.fail(f"implausible string length {n}")
        return bytes(self._take(n)).decode("latin-1")

    def expect_version(self, allowed: Sequence[int], what: str) -> int:
        v = self.int()
        if v not in allowed:
            raise self.fail(f"{what} version {v}, expected one of {list(allowed)}")
        return v

    def tensor(self) -> np.ndarray:
        """float32 [N, K, R, C] (a copy)."""
        self.expect_version((2,), "tensor")
        dims = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor size {dims}")
        count = int(np.prod(dims))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_version((1,), "alias_tensor")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]


@dataclass
class DlibLayer:
    """One parsed layer: its type (version string without the number) and fields."""

    version: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.version.rstrip("0123456789").rstrip("_")


def _multipliers(r: DlibReader) -> dict[str, float]:
    names = ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult")
    return {n: r.float() for n in names}


def _read_details(r: DlibReader) -> DlibLayer:
    """One layer's details, dispatched on its version string."""
    version = r.string()
    f: dict[str, Any] = {}
    if version in ("con_4", "con_5", "con_6"):
        f["params"] = r.tensor()
        f["num_filters"] = r.int()
        f["nr"], f["nc"] = r.int(), r.int()
        f["stride_y"], f["stride_x"] = r.int(), r.int()
        f["padding_y"], f["padding_x"] = r.int(), r.int()
        f["filters"], f["biases"] = r.alias_tensor(), r.alias_tensor()
        f.update(_multipliers(r))
        f["use_bias"] = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6":
            f["use_relu"] = r.bool()
    elif version in ("affine_", "affine_2"):
        f["params"] = r.tensor()
        f["gamma"], f["beta"] = r.alias_tensor(), r.alias_tensor()
        f["mode"] = r.int()
        if version == "affine_2":
            f["disabled"] = r.bool()
    elif version in ("fc_2", "fc_3"):
        f["num_outputs"], f["num_inputs"] = r.int(), r.int()
        f["params"] = r.tensor()
        f["weights"], f["biases"] = r.alias_tensor(), r.alias_tensor()
        f["bias_mode"] = r.int()
        f.update(_multipliers(r))
        if version == "fc_3":
            f["use_bias"] = r.bool()
    elif version in ("relu_", "relu_2"):
        if version == "relu_2":
            f["disabled"] = r.bool()
    elif version in ("max_pool_2", "avg_pool_2"):
        f["nr"], f["nc"] = r.int(), r.int()
        f["stride_y"], f["stride_x"] = r.int(), r.int()
        f["padding_y"], f["padding_x"] = r.int(), r.int()
    elif version == "add_prev_":
        pass
    elif version == "input_rgb_image_sized":
        f["avg_red"], f["avg_green"], f["avg_blue"] = r.float(), r.float(), r.float()
        f["nr"], f["nc"] = r.int(), r.int()
    elif version == "loss_metric_2":
        f["margin"], f["dist_thresh"] = r.float(), r.float()
    elif version == "loss_metric_":
        pass
    else:
        raise r.fail(f"unsupported layer version {version!r}")
    return DlibLayer(version, f)


def _read_layer_trailer(r: DlibReader, version: int, *, over_input: bool) -> None:
    """Training state an add_layer writes after its details (read and dropped)."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, output disabled
        r.bool()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if over_input:
        r.tensor()  # grad_final
        if version >= 3:
            r.int()  # sample expansion factor
    elif version == 2:
        r.tensor()  # params_grad


def read_dnn(data: bytes, structure: Sequence[str], *, source: str = "<bytes>") -> tuple[DlibLayer, list[DlibLayer]]:
    """Parse a serialised `loss<...>` network.

    structure: the network from the output inwards, one entry per node below
    the loss layer: "layer" (an add_layer with details), "tag" or "skip";
    the last entry is the layer that sits on the input layer.
    Returns (loss details, layers from the input outwards), where the first
    returned layer is the input layer and each later one is the details of
    a "layer" entry (tags and skips carry no data and are not returned).
    """
    r = DlibReader(data, source=source)
    r.expect_version((1,), "loss layer")
    loss = _read_details(r)
    versions: list[int] = []
    for kind in structure:
        if kind == "layer":
            versions.append(r.expect_version((1, 2, 3), "add_layer"))
        elif kind in ("tag", "skip"):
            r.expect_version((1,), kind)
            versions.append(0)
        else:
            raise ValueError(f"unknown structure entry {kind!r}")
    layers = [_read_details(r)]  # the input layer
    last = len(structure) - 1
    for i in range(last, -1, -1):  # details come back out from the input
        if structure[i] != "layer":
            continue
        layers.append(_read_details(r))
        _read_layer_trailer(r, versions[i], over_input=(i == last))
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes left over after the network")
    return loss, layers


def read_dnn_file(path: str | Path, structure: Sequence[str]) -> tuple[DlibLayer, list[DlibLayer]]:
    """`read_dnn` of a file; CheckpointError naming it when missing or malformed."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read dlib model {p}: {exc}") from exc
    return read_dnn(data, structure, source=str(p))
