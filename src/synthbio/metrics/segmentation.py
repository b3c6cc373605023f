"""Segmentation scores: confusion matrix, per-class IoU and mean IoU.

IoU of class k = TP / (TP + FP + FN) over every scored pixel of every image
(the dataset-level IoU that DatasetGAN and BiFaceGAN report). A class that
appears neither in the target nor in the prediction has no IoU (NaN) and is
left out of the mean.
"""

from __future__ import annotations

import numpy as np

from synthbio.errors import InputError


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int, *,
                     ignore_index: int | None = 255) -> np.ndarray:
    """[K, K] int64 counts, rows = target class, columns = predicted class.

    Pixels whose target is `ignore_index` are not scored.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    target = np.asarray(target).reshape(-1).astype(np.int64)
    if pred.shape != target.shape:
        raise InputError(f"prediction and target differ in size: {pred.size} vs {target.size} pixels")
    keep = target != ignore_index if ignore_index is not None else np.ones_like(target, dtype=bool)
    pred, target = pred[keep], target[keep]
    bad = (pred < 0) | (pred >= num_classes) | (target < 0) | (target >= num_classes)
    if bad.any():
        raise InputError(f"class indices outside 0-{num_classes - 1} in prediction or target")
    return np.bincount(target * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """[K] IoU from a confusion matrix (NaN for classes absent from target and prediction)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over the classes that occur (NaN when nothing was scored)."""
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(cm: np.ndarray) -> float:
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")
