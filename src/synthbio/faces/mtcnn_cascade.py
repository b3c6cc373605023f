"""The MTCNN cascade: image pyramid -> P-Net proposals -> R-Net -> O-Net boxes and landmarks.

The schedule is the one facenet-pytorch runs (so that results can be compared
with it): pyramid scales 12/min_face * factor^k while the shorter side stays
>= 12 px; each level resized with area averaging to (int(H*s + 1), int(W*s +
1)); pixels mapped to (x - 127.5) / 128; P-Net windows at stride 2 become
boxes floor((2*i + 1) / s) .. floor((2*i + 12) / s); NMS within each level
(IoU 0.5), across levels (0.7), box regression, squaring; crops of the
squared boxes clipped to the image (1-based inclusive coordinates, as the
original MATLAB code), area-resized to 24 / 48 px; R-Net (0.7, NMS 0.7), O-Net
(0.7), landmarks from the O-Net box before its regression, NMS over the
smaller box (0.7). Boxes are (x1, y1, x2, y2) floats in pixels.

Every image of a batch has the same size; they share each network pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.faces.mtcnn import MTCNN, MTCNNConfig

_STRIDE = 2
_CELL = 12
_CHUNK = 512  # crops per R-/O-Net pass, to bound memory on crowded images


@dataclass(frozen=True)
class Detections:
    """Faces of one image, best score first: boxes [K, 4] (x1, y1, x2, y2), scores [K], landmarks [K, 5, 2]."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


# --- non-maximum suppression ----------------------------------------------------------------


def box_overlap(box: Tensor, boxes: Tensor, *, mode: str = "union", plus_one: bool = False) -> Tensor:
    """Overlap of one box [4] with boxes [K, 4]: intersection over union ('union') or over the smaller
    area ('min'). plus_one: inclusive pixel coordinates (width = x2 - x1 + 1)."""
    e = 1.0 if plus_one else 0.0
    w = (torch.minimum(box[2], boxes[:, 2]) - torch.maximum(box[0], boxes[:, 0]) + e).clamp(min=0)
    h = (torch.minimum(box[3], boxes[:, 3]) - torch.maximum(box[1], boxes[:, 1]) + e).clamp(min=0)
    inter = w * h
    area = (box[2] - box[0] + e) * (box[3] - box[1] + e)
    areas = (boxes[:, 2] - boxes[:, 0] + e) * (boxes[:, 3] - boxes[:, 1] + e)
    if mode == "min":
        return inter / torch.minimum(area, areas)
    if mode == "union":
        return inter / (area + areas - inter)
    raise InputError(f"overlap mode must be 'union' or 'min', got {mode!r}")


def nms(boxes: Tensor, scores: Tensor, threshold: float, *, mode: str = "union", plus_one: bool = False) -> Tensor:
    """Greedy non-maximum suppression: indices kept, best score first.

    A box is dropped when its overlap with a kept, better box exceeds `threshold`.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    boxes = boxes[order]
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        alive[i + 1:] &= box_overlap(boxes[i], boxes[i + 1:], mode=mode, plus_one=plus_one) <= threshold
    return order[torch.as_tensor(keep, dtype=torch.long)]


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, threshold: float, *, mode: str = "union",
                plus_one: bool = False) -> Tensor:
    """NMS within each group (image) separately; indices kept, by group then score."""
    out = [torch.nonzero(groups == g).flatten()[nms(boxes[groups == g], scores[groups == g], threshold,
                                                        mode=mode, plus_one=plus_one)]
           for g in torch.unique(groups)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


# --- box arithmetic ---------------------------------------------------------------------------


def _regress(boxes: Tensor, reg: Tensor, *, plus_one: bool) -> Tensor:
    """Move box corners by offsets [K, 4] given as fractions of the box size."""
    e = 1.0 if plus_one else 0.0
    size = torch.stack([boxes[:, 2] - boxes[:, 0] + e, boxes[:, 3] - boxes[:, 1] + e], dim=1).repeat(1, 2)
    return boxes + reg * size


def _square(boxes: Tensor) -> Tensor:
    """Grow each box to a square around its centre (side = the longer side)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1 = boxes[:, 0] + (w - side) * 0.5
    y1 = boxes[:, 1] + (h - side) * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _crops(images: Tensor, boxes: Tensor, image_idx: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Area-resized crops [K', 3, size, size] of boxes clipped to the image, and which boxes had a non-empty crop."""
    h, w = images.shape[2:]
    b = boxes.trunc().to(torch.int64)  # the reference truncates towards zero, then clips 1-based
    x1, y1 = b[:, 0].clamp(min=1), b[:, 1].clamp(min=1)
    x2, y2 = b[:, 2].clamp(max=w), b[:, 3].clamp(max=h)
    ok = (x2 > x1 - 1) & (y2 > y1 - 1)
    rows = torch.stack([image_idx, x1, y1, x2, y2], dim=1)[ok].tolist()
    crops = [F.adaptive_avg_pool2d(images[i, :, b - 1:d, a - 1:c], size) for i, a, b, c, d in rows]
    if not crops:
        return images.new_zeros(0, 3, size, size), ok
    return torch.stack(crops), ok


def _normalise(x: Tensor) -> Tensor:
    return (x - 127.5) * 0.0078125


def _in_chunks(net: torch.nn.Module, x: Tensor) -> tuple[Tensor, ...]:
    outs = [net(x[i:i + _CHUNK]) for i in range(0, len(x), _CHUNK)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def pyramid_scales(height: int, width: int, config: MTCNNConfig) -> list[float]:
    m = 12.0 / config.min_face_size
    side = min(height, width) * m
    scales = []
    while side >= 12:
        scales.append(m)
        m *= config.scale_factor
        side *= config.scale_factor
    return scales


# --- the cascade ------------------------------------------------------------------------------


def _stage1(model: MTCNN, images: Tensor, config: MTCNNConfig) -> tuple[Tensor, Tensor]:
    h, w = images.shape[2:]
    all_boxes, all_idx = [], []
    for s in pyramid_scales(h, w, config):
        level = _normalise(F.adaptive_avg_pool2d(images, (int(h * s + 1), int(w * s + 1))))
        reg, prob = model.pnet(level)
        hit = torch.nonzero(prob >= config.thresholds[0])  # [K, 3]: image, row, col
        if not len(hit):
            continue
        img, row, col = hit[:, 0], hit[:, 1], hit[:, 2]
        xy = torch.stack([col, row], dim=1).to(images.dtype)
        q1 = torch.floor((_STRIDE * xy + 1) / s)
        q2 = torch.floor((_STRIDE * xy + _CELL) / s)
        boxes = torch.cat([q1, q2, prob[img, row, col][:, None], reg[img, :, row, col]], dim=1)  # [K, 9]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], img, config.nms_thresholds[0])
        all_boxes.append(boxes[keep])
        all_idx.append(img[keep])
    if not all_boxes:
        return images.new_zeros(0, 5), torch.zeros(0, dtype=torch.long)
    boxes, idx = torch.cat(all_boxes), torch.cat(all_idx)
    keep = batched_nms(boxes[:, :4], boxes[:, 4], idx, config.nms_thresholds[1])
    boxes, idx = boxes[keep], idx[keep]
    squared = _square(_regress(boxes[:, :4], boxes[:, 5:9], plus_one=False))
    return torch.cat([squared, boxes[:, 4:5]], dim=1), idx


def _stage2(model: MTCNN, images: Tensor, boxes: Tensor, idx: Tensor, config: MTCNNConfig) -> tuple[Tensor, Tensor]:
    crops, ok = _crops(images, boxes[:, :4], idx, 24)
    boxes, idx = boxes[ok], idx[ok]
    if not len(boxes):
        return boxes, idx
    reg, score = _in_chunks(model.rnet, _normalise(crops))
    passed = score > config.thresholds[1]
    boxes = torch.cat([boxes[passed, :4], score[passed, None]], dim=1)
    idx, reg = idx[passed], reg[passed]
    keep = batched_nms(boxes[:, :4], boxes[:, 4], idx, config.nms_thresholds[2])
    boxes, idx, reg = boxes[keep], idx[keep], reg[keep]
    squared = _square(_regress(boxes[:, :4], reg, plus_one=True))
    return torch.cat([squared, boxes[:, 4:5]], dim=1), idx


def _stage3(model: MTCNN, images: Tensor, boxes: Tensor, idx: Tensor, config: MTCNNConfig
            ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    crops, ok = _crops(images, boxes[:, :4], idx, 48)
    boxes, idx = boxes[ok], idx[ok]
    if not len(boxes):
        return boxes[:, :4], boxes[:, 4], images.new_zeros(0, 5, 2), idx
    reg, marks, score = _in_chunks(model.onet, _normalise(crops))
    passed = score > config.thresholds[2]
    boxes, idx, reg, marks, score = boxes[passed, :4], idx[passed], reg[passed], marks[passed], score[passed]
    # Landmarks are fractions of the (1-based, inclusive) box before the final regression.
    bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    points = torch.stack([bw * marks[:, :5] + boxes[:, 0:1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
    boxes = _regress(boxes, reg, plus_one=True)
    keep = batched_nms(boxes, score, idx, config.nms_thresholds[3], mode="min", plus_one=True)
    return boxes[keep], score[keep], points[keep], idx[keep]


def _as_batch(images_uint8: np.ndarray | list[np.ndarray]) -> np.ndarray:
    arrs = [np.asarray(a) for a in (images_uint8 if isinstance(images_uint8, list) else
                                    (images_uint8 if np.asarray(images_uint8).ndim == 4 else [images_uint8]))]
    for a in arrs:
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise InputError(f"MTCNN needs [H, W, 3] uint8 RGB images, got {a.dtype} {a.shape}")
    if len({a.shape for a in arrs}) != 1:
        raise InputError("MTCNN batches need images of one size; detect different sizes one at a time")
    return np.stack(arrs)


@torch.no_grad()
def detect(model: MTCNN, images_uint8: np.ndarray | list[np.ndarray], config: MTCNNConfig | None = None
           ) -> list[Detections]:
    """Faces in a batch of equal-size RGB images ([N, H, W, 3] uint8, a list of [H, W, 3], or one image).

    Returns one `Detections` per image, best score first.
    """
    config = config or MTCNNConfig()
    batch = _as_batch(images_uint8)
    param = next(model.parameters())
    images = torch.from_numpy(batch).to(param.device).permute(0, 3, 1, 2).to(param.dtype)
    boxes, idx = _stage1(model, images, config)
    if len(boxes):
        boxes, idx = _stage2(model, images, boxes, idx, config)
    if len(boxes):
        out_boxes, scores, points, idx = _stage3(model, images, boxes, idx, config)
    else:
        out_boxes, scores, points = boxes[:, :4], boxes[:, 4], images.new_zeros(0, 5, 2)
    result = []
    for i in range(len(batch)):
        sel = torch.nonzero(idx == i).flatten()
        sel = sel[torch.argsort(scores[sel], descending=True, stable=True)]
        result.append(Detections(boxes=out_boxes[sel].double().cpu().numpy(), scores=scores[sel].double().cpu().numpy(),
                                 landmarks=points[sel].double().cpu().numpy()))
    return result
