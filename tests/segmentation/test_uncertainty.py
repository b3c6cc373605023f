import math

import pytest
import torch

from synthbio.errors import InputError
from synthbio.segmentation.uncertainty import (
    entropy,
    image_uncertainty,
    js_divergence,
    uncertainty_threshold,
)


def test_members_that_agree_have_no_divergence():
    p = torch.softmax(torch.randn(5, 4, 3, 3), dim=1)
    same = p[:1].expand(6, -1, -1, -1)
    torch.testing.assert_close(js_divergence(same), torch.zeros(3, 3), atol=1e-6, rtol=0)


def test_divergence_of_members_sure_of_different_classes_is_log_m():
    m = 4
    one_hot = torch.eye(m).reshape(m, m, 1)  # member i is sure of class i
    assert js_divergence(one_hot).item() == pytest.approx(math.log(m), abs=1e-6)
    assert entropy(torch.tensor([0.5, 0.5, 0.0]), dim=0).item() == pytest.approx(math.log(2))


def test_image_score_is_mean_of_most_uncertain_tenth():
    js = torch.arange(100, dtype=torch.float32).reshape(10, 10)
    assert image_uncertainty(js) == pytest.approx(float(torch.arange(90, 100).float().mean()))
    assert image_uncertainty(torch.tensor([[0.3]])) == pytest.approx(0.3)
    with pytest.raises(InputError):
        image_uncertainty(js, top_fraction=0)


def test_threshold_drops_the_most_uncertain_fraction():
    scores = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0]
    t = uncertainty_threshold(scores, 0.2)
    assert sorted(s for s in scores if s > t) == [0.9, 1.0]
    assert uncertainty_threshold(scores, 0.0) == math.inf
    assert uncertainty_threshold(scores, 0.04) == math.inf  # rounds to nothing dropped
    with pytest.raises(InputError):
        uncertainty_threshold(scores, 1.0)
