"""fingerprint-ridges: high for a print and its restyled or degraded self, low across fingers, differentiable."""

from __future__ import annotations

import pytest
import torch

from synthbio.errors import InputError
from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.fingerprints.ridge_maps import gaussian_smooth, ridge_pattern
from synthbio.identity.fingerprint_ridges import FingerprintRidgeModel
from synthbio.identity.models import IdentityModel

CLEAN = ImpressionConfig(width=128, height=128, noise_std_range=(1, 2), blur_sigma_range=(0.3, 0.5),
                         max_creases=0, max_scratches=0, displacement_std_px=10, max_displacement_px=20)
INKED = ImpressionConfig(width=128, height=128, noise_std_range=(8, 12), blur_sigma_range=(1.0, 1.4),
                         background_range=(150, 190), ridge_grey_range=(60, 110), pressure_range=(0.6, 1.0),
                         moisture_range=(0.6, 0.95), displacement_std_px=10, max_displacement_px=20)


def _tensor(img) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.from_numpy(img).float()[None, None] / 127.5 - 1


@pytest.fixture(scope="module")
def prints() -> dict[str, torch.Tensor]:
    small = MasterConfig(width=240, height=300)
    m0, m1 = generate_master(0, small), generate_master(1, small)
    return {"clean": _tensor(make_impression(m0, 0, 0, CLEAN).image),
            "inked": _tensor(make_impression(m0, 0, 0, INKED).image),  # same pixels, other impression style
            "other": _tensor(make_impression(m1, 1, 0, CLEAN).image)}


def test_similarity_orders_restyled_degraded_and_other_fingers(prints: dict[str, torch.Tensor]) -> None:
    m = FingerprintRidgeModel()
    assert isinstance(m, IdentityModel) and m.kind == "vector" and m.differentiable
    x = prints["clean"]
    blurred = (gaussian_smooth(x, 1.2) * 0.6 - 0.2).clamp(-1, 1)
    batch = torch.cat([x, prints["inked"], blurred, torch.roll(x, 5, dims=3), prints["other"]])
    sim = m.similarity(m.embed(batch), m.embed(x))[:, 0]
    assert abs(float(sim[0]) - 1) < 1e-5
    assert float(sim[1]) > m.threshold and float(sim[2]) > m.threshold  # restyled / degraded: same ridges
    assert float(sim[3]) < float(sim[2])  # ridges moved by half a period
    assert float(sim[4]) < m.threshold  # another finger


def test_gradients_are_finite_and_reach_the_image(prints: dict[str, torch.Tensor]) -> None:
    m = FingerprintRidgeModel()
    x = prints["inked"].clone().requires_grad_(True)
    sim = m.similarity(m.embed(x), m.embed(prints["clean"]))
    sim.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    flat = torch.zeros(1, 1, 64, 64, requires_grad=True)  # a blank image: no NaN from the normalisations
    m.embed(flat).sum().backward()
    assert torch.isfinite(flat.grad).all()


def test_ridge_pattern_ignores_contrast_and_offset(prints: dict[str, torch.Tensor]) -> None:
    x = prints["clean"]
    p1, _ = ridge_pattern(x)
    p2, _ = ridge_pattern(x * 0.3 + 0.4)
    inside = (slice(None), slice(None), slice(20, -20), slice(20, -20))
    assert torch.corrcoef(torch.stack([p1[inside].flatten(), p2[inside].flatten()]))[0, 1] > 0.99


def test_bad_settings_and_small_images() -> None:
    with pytest.raises(InputError, match="period"):
        FingerprintRidgeModel(period_px=0)
    with pytest.raises(InputError, match="orientation_weight"):
        FingerprintRidgeModel(orientation_weight=1.5)
    with pytest.raises(InputError, match="too small"):
        FingerprintRidgeModel().embed(torch.zeros(1, 1, 12, 12))
