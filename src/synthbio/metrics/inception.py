"""Inception-v3 as used for FID: the TensorFlow `inception-2015-12-05` graph in PyTorch.

FID (Heusel et al. 2017) is defined on the 2048-d `pool_3` features of the
Inception graph TensorFlow shipped in 2015. This module rebuilds that graph so
that the widely used PyTorch port of its weights, pytorch-fid's
`pt_inception-2015-12-05-6726825d.pth` (a plain state dict), loads with strict
key checking. Differences from the ImageNet Inception-v3 of torchvision, which
the 2015 graph has and which change the features:

- the average-pool branch of the A, C and E blocks averages only the pixels
  inside the image (TensorFlow's SAME padding excludes the zero padding from
  the mean, `count_include_pad=False`);
- the pool branch of the last block (`Mixed_7c`) max-pools instead of
  average-pooling (a quirk of that graph);
- the classifier has 1008 outputs (`fc`), kept so the file loads whole; FID
  uses the pooled features before it.

Input pipeline (as pytorch-fid): images [N, C, H, W] in [-1, 1] (C = 1 is
repeated to RGB), resized to 299x299 by bilinear interpolation with
`align_corners=False` and no antialiasing when they are not 299x299 already.
pytorch-fid scales [0, 1] to [-1, 1] after resizing; resizing is linear, so
resizing [-1, 1] images gives the same result. The official TensorFlow code and
NVlabs' TorchScript port resize with TF1's bilinear kernel instead, which moves
FID by a few tenths at low resolutions: compare FIDs only between the same
implementation.

Batch norm layers use eps = 1e-3 and run in inference mode (running stats).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from synthbio.errors import CheckpointError, InputError
from synthbio.utils.state_dict import read_state_dict, short_key_list

FID_INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008  # the 2015 graph's classifier: 1000 ImageNet classes + 8 unused
#: registry name of the pytorch-fid weights (synthbio.checkpoints.registry)
FID_WEIGHTS_NAME = "fid-inception-v3"
#: torch.hub convention: the file name carries the first hex digits of the file's sha256
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
_BN_EPS = 1e-3
_MAX_ABS_INPUT = 2.0  # beyond this the images are surely not in [-1, 1] (uint8 or [0, 255] floats)


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU; state keys `conv.*`, `bn.*`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], *,
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 mean over the pixels inside the image (TF SAME padding)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 -> 224 + pool_features."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_same(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 480 + in_channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b-e) -> 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_same(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a) -> 512 + in_channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 convolutions (Mixed_7b, Mixed_7c) -> 2048 channels.

    pool: 'avg' (Mixed_7b) or 'max' (Mixed_7c, the 2015 graph's quirk).
    """

    def __init__(self, in_channels: int, *, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def extra_repr(self) -> str:
        return f"pool={self.pool}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = _max_pool_same(x) if self.pool == "max" else _avg_pool_same(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


def fid_preprocess(images: torch.Tensor) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] (C = 1 or 3) -> [N, 3, 299, 299] float32 in [-1, 1].

    Grayscale is repeated to RGB; values are clamped to [-1, 1]; other sizes are
    resized bilinearly (align_corners=False, no antialias, as pytorch-fid).
    Raises InputError for other shapes or for values far outside [-1, 1].
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"Inception needs images [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    x = images.float()
    if x.numel() and float(x.abs().max()) > _MAX_ABS_INPUT:
        raise InputError(f"Inception expects images in [-1, 1]; got values up to {float(x.abs().max()):.3g} "
                         "(uint8 images must be mapped with x / 127.5 - 1)")
    x = x.clamp(-1, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[2:]) != (FID_INPUT_SIZE, FID_INPUT_SIZE):
        x = F.interpolate(x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
    return x


class FIDInceptionV3(nn.Module):
    """The FID Inception graph. `forward(images)` -> pool_3 features [N, 2048].

    Module and parameter names follow torchvision / pytorch-fid, so the
    pytorch-fid state dict maps one to one (see `expected_state_keys`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features_299(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed input [N, 3, 299, 299] in [-1, 1] -> pool_3 features [N, 2048]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # [N, 64, 147, 147]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 64, 73, 73]
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # [N, 192, 71, 71]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 192, 35, 35]
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)  # 35x35 (288 ch) -> 17x17 (768 ch) -> 8x8 (2048 ch)
        return x.mean(dim=(2, 3))  # global average pool: pool_3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, 1|3, H, W] in [-1, 1] -> pool_3 features [N, 2048] float32."""
        return self.features_299(fid_preprocess(images.to(self.fc.weight.device)))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """pool_3 features [N, 2048] -> classifier logits [N, 1008] (for Inception-Score-like uses)."""
        return self.fc(features)


# --- weights --------------------------------------------------------------------------------


def expected_state_keys(module: nn.Module) -> tuple[set[str], set[str]]:
    """(required keys, optional keys) of a state dict for `module`.

    `num_batches_tracked` counters are optional: state dicts written before
    PyTorch 0.4.1 (as the 2018 pytorch-fid port may be) have none, and they
    do not affect inference.
    """
    keys = set(module.state_dict())
    optional = {k for k in keys if k.endswith(".num_batches_tracked")}
    return keys - optional, optional


def load_state_dict_strict(module: FIDInceptionV3, state_dict: dict[str, Any], *, source: str) -> None:
    """Copy `state_dict` into `module`, refusing missing, unexpected or misshaped keys.

    Raises CheckpointError naming `source` and listing the offending keys.
    """
    required, optional = expected_state_keys(module)
    given = set(state_dict)
    missing, unexpected = required - given, given - required - optional
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {short_key_list(missing, 12)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {short_key_list(unexpected, 12)}")
    own = module.state_dict()
    for key in sorted(given & (required | optional)):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or value.shape != own[key].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            problems.append(f"{key}: shape {shape}, expected {tuple(own[key].shape)}")
    if problems:
        raise CheckpointError(f"{source}: not an FID Inception-v3 state dict (pytorch-fid "
                              f"pt_inception-2015-12-05 layout): " + "; ".join(problems))
    full = {k: state_dict.get(k, own[k]) for k in own}
    module.load_state_dict(full, strict=True)





def resolve_inception_weights(path_or_name: str | os.PathLike[str] | None = None, *,
                              progress: bool = True) -> Path:
    """Local path of the FID Inception weights: a file path, or the registry entry (default).

    Without the file and offline, the ModelNotFoundError names the URL and the
    path to place the file at.
    """
    from synthbio.checkpoints.registry import resolve_model

    path = resolve_model(FID_WEIGHTS_NAME if path_or_name is None else path_or_name, progress=progress)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder; the FID Inception weights are one .pth file")
    return path


def load_fid_inception(path_or_name: str | os.PathLike[str] | None = None, *,
                       device: str | torch.device = "cpu", progress: bool = True) -> FIDInceptionV3:
    """FIDInceptionV3 in eval mode with weights from a pytorch-fid state dict file.

    path_or_name: a file path, or a registry name (None = 'fid-inception-v3').
    Raises CheckpointError (bad file, wrong keys) or ModelNotFoundError (absent).
    """
    path = resolve_inception_weights(path_or_name, progress=progress)
    from synthbio.checkpoints.registry import check_published_prefix

    check_published_prefix(path, FID_WEIGHTS_NAME, FID_WEIGHTS_SHA256_PREFIX)
    model = FIDInceptionV3()
    load_state_dict_strict(model, read_state_dict(path), source=str(path))
    model.requires_grad_(False)
    return model.to(torch.device(device)).eval()
