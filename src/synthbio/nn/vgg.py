"""VGG16 feature taps for perceptual (LPIPS-style) distances, in plain PyTorch.

`VGG16Features` rebuilds the convolutional part (`features`) of torchvision's
VGG16 (configuration "D" of Simonyan & Zisserman 2015, no batch norm) with the
same module indices, so the ImageNet weights torchvision publishes,
`vgg16-397923af.pth` (a plain state dict), load by their own key names
`features.N.weight` / `features.N.bias`; the file's `classifier.*` keys are
accepted and ignored. torchvision itself is not needed.

The forward pass returns the five activations LPIPS compares (Zhang et al.
2018): relu1_2, relu2_2, relu3_3, relu4_3, relu5_3. Inputs are images in
[-1, 1]; the ImageNet normalisation ((x+1)/2 - mean) / std is applied inside
(written for [-1, 1] input this is (x - shift) / scale with shift =
2*mean - 1 = (-0.030, -0.088, -0.188) and scale = 2*std = (0.458, 0.448, 0.450),
the constants of the lpips package's ScalingLayer). Grayscale is repeated to RGB.

`LPIPSHeads` holds the learned non-negative per-channel weights of LPIPS v0.1
(`lin0..lin4.model.1.weight` [1, C, 1, 1] in richzhang's `vgg.pth`). Without
them a perceptual loss weighs every channel 1 (the lpips package's
`lpips=False` baseline): see synthbio.inversion.losses.VGGPerceptualLoss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from synthbio.errors import CheckpointError, InputError
from synthbio.utils.state_dict import short_key_list

#: registry names of the published weights (loaded by synthbio.checkpoints.vgg)
VGG16_WEIGHTS_NAME = "vgg16-imagenet"
LPIPS_WEIGHTS_NAME = "lpips-vgg-v0.1"
#: torch.hub convention: the published file name carries the first hex digits of its sha256
VGG16_WEIGHTS_SHA256_PREFIX = "397923af"
#: channel widths of VGG16's five conv stages
VGG16_WIDTHS = (64, 128, 256, 512, 512)
#: convs per stage; the tap is the ReLU after the last conv of each stage
_STAGE_DEPTHS = (2, 2, 3, 3, 3)
TAP_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
# ImageNet statistics mapped to [-1, 1] input: shift = 2*mean - 1, scale = 2*std
_SHIFT = (2 * 0.485 - 1, 2 * 0.456 - 1, 2 * 0.406 - 1)
_SCALE = (2 * 0.229, 2 * 0.224, 2 * 0.225)


def _vgg16_layers(widths: Sequence[int]) -> tuple[list[nn.Module], list[int]]:
    """torchvision's `features` list for VGG16 and the indices of the tapped ReLUs."""
    layers: list[nn.Module] = []
    taps: list[int] = []
    in_ch = 3
    for stage, (width, depth) in enumerate(zip(widths, _STAGE_DEPTHS)):
        if stage > 0:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        for _ in range(depth):
            layers += [nn.Conv2d(in_ch, width, kernel_size=3, padding=1), nn.ReLU()]
            in_ch = width
        taps.append(len(layers) - 1)
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # index 30: kept so indices match torchvision
    return layers, taps


class VGG16Features(nn.Module):
    """VGG16 conv trunk -> LPIPS taps.

    widths: channels of the five stages; the default is VGG16's. Other widths
        give a small network of the same layout (for tests); published weights
        only load into the default.
    """

    def __init__(self, *, widths: Sequence[int] = VGG16_WIDTHS) -> None:
        super().__init__()
        if len(widths) != 5 or any(int(w) < 1 for w in widths):
            raise InputError(f"VGG16 needs 5 positive stage widths, got {tuple(widths)}")
        self.widths = tuple(int(w) for w in widths)
        layers, taps = _vgg16_layers(self.widths)
        self.features = nn.Sequential(*layers)
        self.tap_indices = tuple(taps)  # (3, 8, 15, 22, 29)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        return f"widths={self.widths}, taps={TAP_NAMES}"

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, 1|3, H, W] in [-1, 1] -> ImageNet-normalised [N, 3, H, W]."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise InputError(f"VGG16 needs images [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return (images - self.shift) / self.scale

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Images [N, 1|3, H, W] in [-1, 1] (H, W >= 16) -> 5 activations [N, C_k, H/2^k, W/2^k]."""
        if images.ndim == 4 and min(images.shape[2:]) < 16:
            raise InputError(f"VGG16 needs images of at least 16x16 pixels, got {tuple(images.shape[2:])}")
        x = self.normalize(images)
        out: list[torch.Tensor] = []
        last = self.tap_indices[-1]
        for i, layer in enumerate(self.features):
            if i > last:  # the final max pool feeds only the classifier
                break
            x = layer(x)
            if i in self.tap_indices:
                out.append(x)
        return out


class LPIPSHeads(nn.Module):
    """Per-channel weights of the five LPIPS layers: buffer `weight{k}` [C_k] (k = 0..4)."""

    def __init__(self, weights: Sequence[torch.Tensor]) -> None:
        super().__init__()
        if len(weights) != 5:
            raise InputError(f"LPIPS needs 5 weight vectors, got {len(weights)}")
        for k, w in enumerate(weights):
            self.register_buffer(f"weight{k}", w.detach().float().reshape(-1).clone())

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(int(getattr(self, f"weight{k}").numel()) for k in range(5))

    def layer_weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"weight{k}") for k in range(5)]


# --- weights --------------------------------------------------------------------------------


def load_vgg16_state_dict(model: VGG16Features, state_dict: dict[str, Any], *, source: str) -> None:
    """Copy torchvision-layout weights into `model`, refusing missing, unknown or misshaped keys.

    `classifier.*` keys (torchvision's full VGG16 file) are ignored. Raises
    CheckpointError naming `source` and the offending keys.
    """
    own = model.state_dict()
    given = {k for k in state_dict if not k.startswith("classifier.")}
    missing, unexpected = set(own) - given, given - set(own)
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {short_key_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {short_key_list(unexpected)}")
    for key in sorted(given & set(own)):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or value.shape != own[key].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            problems.append(f"{key}: shape {shape}, expected {tuple(own[key].shape)}")
    if problems:
        raise CheckpointError(f"{source}: not a VGG16 state dict in torchvision layout "
                              f"(features.N.weight/bias): " + "; ".join(problems))
    model.load_state_dict({k: state_dict[k] for k in own}, strict=True)
