"""Images and their masks together: one synthesis pass feeds both.

The pixel classifier reads the feature maps the synthesis network computes for
the images anyway (forward hooks), so a mask costs the classifier's work only,
not a second synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.segmentation.features import synthesize_with_features
from synthbio.segmentation.pixel_classifier import MaskPrediction, PixelEnsemble


def check_compatible(G: Any, model: PixelEnsemble) -> None:
    """InputError when the classifier's layers or output size do not fit generator G."""
    from synthbio.segmentation.features import feature_modules

    available = feature_modules(G)
    missing = [x.name for x in model.config.layers if x.name not in available]
    if missing:
        raise InputError(f"the pixel classifier reads feature layers {missing} that this generator lacks "
                         f"(it has {', '.join(available)})")
    res = int(G.img_resolution)
    if (model.config.height, model.config.width) != (res, res):
        raise InputError(f"the pixel classifier makes {model.config.width}x{model.config.height} masks, "
                         f"the generator {res}x{res} images")


def synthesize_with_masks(
    G: Any, model: PixelEnsemble, ws: Tensor, *, seeds: Sequence[int], noise_mode: str = "const",
    vote: str = "mean",
) -> tuple[dict[str, Tensor], list[MaskPrediction]]:
    """ws [N, num_ws, w_dim] -> ({branch: images [N, C, H, W]}, one MaskPrediction per sample).

    Each sample's mask is computed from its own maps alone, so it does not
    depend on the batch it came in.
    """
    layers = [x.name for x in model.config.layers]
    images, maps = synthesize_with_features(G, ws, layers=layers, seeds=seeds, noise_mode=noise_mode)
    for t, x in zip(maps, model.config.layers):
        if (t.shape[1], t.shape[2], t.shape[3]) != (x.channels, x.height, x.width):
            raise InputError(f"feature layer {x.name} gives [{t.shape[1]}, {t.shape[2]}, {t.shape[3]}] maps, "
                             f"the pixel classifier was trained on [{x.channels}, {x.height}, {x.width}]")
    device = next(iter(images.values())).device
    model = model.to(device)
    with torch.no_grad():
        preds = [model.predict_maps([t[i] for t in maps], vote=vote) for i in range(ws.shape[0])]
    return images, preds
