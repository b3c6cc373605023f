"""dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1) in PyTorch.

The network is the one of dlib's `dnn_face_recognition_ex.cpp` (a ResNet-34
variant, 29 conv layers, 128-d output, LFW 99.38%), read from dlib's own
`.dat` file by `synthbio.faces.dlib_format` and run as plain differentiable
torch ops, batched. Semantics matched to dlib:

- input: 150x150 RGB, value = (pixel - mean) / 256 with pixel in 0..255 and
  the per-channel means stored in the file (122.782, 117.001, 104.298);
- conv: cross-correlation with the stride and padding stored per layer
  (dlib's default: padding 0 when strided, else half the kernel);
- affine: per-channel gamma * x + beta (batch norm folded at training);
- residual add (`add_prev`): when the two inputs differ in channels or size,
  the output takes the larger of each and the smaller input is zero-padded at
  the end (top-left aligned), as dlib's `tt::add` does;
- avg pool of the skip branch: 2x2 stride 2 without padding; the final
  `avg_pool_everything` averages the whole map; the last layer is a linear
  map without bias stored [inputs, outputs].

`synthbio.identity.face_models.DlibResNetModel` wraps it as an IdentityModel:
cosine similarity of the raw descriptors; dlib's own rule is Euclidean
distance < 0.6 between descriptors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import CheckpointError, ModelNotFoundError
from synthbio.faces.alignment import DLIB_5PT_TEMPLATE, dlib_chip_matrix, ffhq_matrix
from synthbio.faces.dlib_format import DlibLayer, read_dnn_file

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor(img, shape) uses
# dlib's rule is Euclidean distance < 0.6 between descriptors. Descriptors are
# not unit-norm (about 1.45 on faces); for two of norm n the same rule reads
# cosine > 1 - 0.6**2 / (2 n**2) = 0.914 at n = 1.45.
EUCLIDEAN_THRESHOLD = 0.6
TYPICAL_NORM = 1.45


def face_recognition_models_dir() -> Path:
    """The `models/` folder of the installed `face-recognition-models` package.

    Located through importlib without importing the package (its __init__
    needs pkg_resources, which recent setuptools no longer ship).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the dlib face models are not installed: `pip install face-recognition-models` "
            "(or `pip install 'synthbio[faces]'`), or pass the .dat file explicitly"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _ares(n_down: bool) -> list[str]:
    """One residual block in execution order (tag1 ... add_prev, relu)."""
    body = ["con", "affine", "relu", "con", "affine"]
    if n_down:
        return ["tag1", *body, "tag2", "skip1", "avg_pool", "add_prev2", "relu"]
    return ["tag1", *body, "add_prev1", "relu"]


def network_ops() -> list[str]:
    """The network from input to output, one entry per dlib layer."""
    ops = ["con", "affine", "relu", "max_pool"]
    for blocks, down in ((3, False), (4, True), (3, True), (3, True), (1, True)):  # alevel4 .. alevel0
        for i in range(blocks):
            ops += _ares(down and i == 0)
    return ops + ["avg_pool", "fc"]


def _structure(ops: list[str]) -> list[str]:
    """Output-inwards node kinds for `read_dnn` (tags and skips have no details)."""
    kinds = {"tag1": "tag", "tag2": "tag", "skip1": "skip"}
    return [kinds.get(op, "layer") for op in reversed(ops)]


def _pad_to(x: Tensor, k: int, h: int, w: int) -> Tensor:
    return F.pad(x, (0, w - x.shape[3], 0, h - x.shape[2], 0, k - x.shape[1]))


def add_prev(a: Tensor, b: Tensor) -> Tensor:
    """dlib's add of two maps of possibly different shapes: zero-pad both to the larger."""
    if a.shape == b.shape:
        return a + b
    k, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))
    return _pad_to(a, k, h, w) + _pad_to(b, k, h, w)


class DlibResNet(nn.Module):
    """The descriptor network: [N, 3, 150, 150] dlib-normalised input -> [N, 128]."""

    def __init__(self, ops: list[str], layers: list[DlibLayer], mean_rgb: tuple[float, float, float]) -> None:
        super().__init__()
        self.ops = list(ops)
        self.register_buffer("mean_rgb", torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))
        self.weights = nn.ParameterList()
        self.geometry: list[tuple[int, int, int, int, int, int]] = []  # per op: (kh, kw, sy, sx, py, px)
        self.param_index: list[int] = []  # per op: index of its first parameter, -1 if none
        data_ops = [op for op in ops if not op.startswith(("tag", "skip"))]
        if len(data_ops) != len(layers):
            raise CheckpointError(f"dlib network has {len(layers)} layers, expected {len(data_ops)}")
        it = iter(layers)
        for op in ops:
            layer = next(it) if op in data_ops else None
            self.param_index.append(-1)
            self.geometry.append((0, 0, 0, 0, 0, 0))
            if layer is None:
                continue
            if layer.type != op.rstrip("0123456789"):
                raise CheckpointError(f"dlib network layer {layer.version!r} where {op!r} was expected")
            self._add_layer(op, layer)

    def _add_layer(self, op: str, layer: DlibLayer) -> None:
        f = layer.fields
        if op in ("max_pool", "avg_pool", "con"):
            self.geometry[-1] = (f["nr"], f["nc"], f["stride_y"], f["stride_x"], f["padding_y"], f["padding_x"])
        params = f.get("params")
        if op == "con":
            n, k, r, c = f["filters"]
            flat = params.reshape(-1)
            w = flat[: n * k * r * c].reshape(n, k, r, c)
            b = flat[n * k * r * c : n * k * r * c + n] if f.get("use_bias", True) else np.zeros(n, np.float32)
            self._push(w, b)
        elif op == "affine":
            flat = params.reshape(-1)
            k = flat.size // 2
            self._push(flat[:k].reshape(1, k, 1, 1), flat[k:].reshape(1, k, 1, 1))
        elif op == "fc":
            n_in, n_out = f["num_inputs"], f["num_outputs"]
            flat = params.reshape(-1)
            self._push(flat[: n_in * n_out].reshape(n_in, n_out))

    def _push(self, *arrays: np.ndarray) -> None:
        self.param_index[-1] = len(self.weights)
        for a in arrays:
            self.weights.append(nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)), requires_grad=False))

    def normalize(self, images_0_255: Tensor) -> Tensor:
        """[N, 3, H, W] RGB pixel values 0..255 -> dlib's input scaling."""
        return (images_0_255 - self.mean_rgb) / 256.0

    def forward(self, x: Tensor) -> Tensor:
        """x: [N, 3, 150, 150] already normalised -> descriptors [N, 128]."""
        tags: dict[str, Tensor] = {}
        for op, (kh, kw, sy, sx, py, px), pi in zip(self.ops, self.geometry, self.param_index):
            if op.startswith("tag"):
                tags[op[3:]] = x
            elif op.startswith("skip"):
                x = tags[op[4:]]
            elif op.startswith("add_prev"):
                x = add_prev(x, tags[op[8:]])
            elif op == "con":
                x = F.conv2d(x, self.weights[pi], self.weights[pi + 1], stride=(sy, sx), padding=(py, px))
            elif op == "affine":
                x = x * self.weights[pi] + self.weights[pi + 1]
            elif op == "relu":
                x = F.relu(x)
            elif op == "max_pool":
                x = F.max_pool2d(x, (kh, kw), stride=(sy, sx), padding=(py, px))
            elif op == "avg_pool":
                if kh == 0 and kw == 0:  # avg_pool_everything
                    x = x.mean(dim=(2, 3), keepdim=True)
                else:
                    x = F.avg_pool2d(x, (kh, kw), stride=(sy, sx), padding=(py, px), count_include_pad=False)
            elif op == "fc":
                x = x.flatten(1) @ self.weights[pi]
        return x


def load_dlib_resnet(path: str | Path | None = None) -> DlibResNet:
    """Read the descriptor network from dlib's .dat (default: face-recognition-models')."""
    p = Path(path) if path is not None else face_recognition_models_dir() / DAT_NAME
    if not p.is_file():
        raise ModelNotFoundError(f"dlib face descriptor model not found: {p}")
    ops = network_ops()
    loss, layers = read_dnn_file(p, _structure(ops))
    if loss.type != "loss_metric" or layers[0].version != "input_rgb_image_sized":
        raise CheckpointError(f"{p}: not dlib's face descriptor network ({loss.version}, {layers[0].version})")
    inp = layers[0].fields
    if (inp["nr"], inp["nc"]) != (CHIP_SIZE, CHIP_SIZE):
        raise CheckpointError(f"{p}: input size {inp['nr']}x{inp['nc']}, expected {CHIP_SIZE}x{CHIP_SIZE}")
    return DlibResNet(ops, layers[1:], (inp["avg_red"], inp["avg_green"], inp["avg_blue"])).eval()


def ffhq_to_chip_matrix(resolution: int) -> np.ndarray:
    """Fixed [2, 3] map from dlib-chip pixels to pixels of an FFHQ-aligned image.

    FFHQ-aligned images (StyleGAN generators trained on FFHQ) put every face
    at the place the FFHQ recipe gives. We place dlib's mean face (its 5-point
    template, scaled to any size) through that recipe, then ask where dlib's
    150x150 chip of that same face lies in the aligned image. Exact for a
    mean-shaped face; a real face's chip differs by its deviation from the
    mean shape (which is what a landmark detector would correct).
    """
    lm = DLIB_5PT_TEMPLATE * 100.0  # any scale: both maps are similarities of it
    to_face = np.vstack([ffhq_matrix(lm, size=resolution), [0.0, 0.0, 1.0]])  # aligned -> face frame
    chip = np.vstack([dlib_chip_matrix(lm, size=CHIP_SIZE, padding=CHIP_PADDING), [0.0, 0.0, 1.0]])  # chip -> face frame
    return (np.linalg.inv(to_face) @ chip)[:2]
