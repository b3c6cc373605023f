import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.metrics.segmentation import (
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
)


def test_confusion_and_iou_by_hand():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm = confusion_matrix(pred, target, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    iou = iou_per_class(cm)
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 3, FP 1 -> 3/4; class 2: TP 1, FN 1 -> 1/2; class 3 absent
    np.testing.assert_allclose(iou[:3], [1 / 3, 3 / 4, 1 / 2])
    assert np.isnan(iou[3])
    assert mean_iou(cm) == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert pixel_accuracy(cm) == pytest.approx(5 / 7)


def test_bad_inputs():
    with pytest.raises(InputError, match="differ in size"):
        confusion_matrix(np.zeros(3), np.zeros(4), 2)
    with pytest.raises(InputError, match="outside 0-1"):
        confusion_matrix(np.array([2]), np.array([0]), 2)
