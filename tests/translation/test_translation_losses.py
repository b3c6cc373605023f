"""Translation losses: adversarial forms against their formulas, identity loss forms and checks."""

from __future__ import annotations

import pytest
import torch

from synthbio.errors import InputError
from synthbio.identity.models import Bozorth3Model, PixelRandomModel
from synthbio.translation import losses


def _logits(seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 1, 4, 4, generator=gen), torch.randn(2, 1, 2, 2, generator=gen)]


def test_hinge_and_lsgan_match_their_formulas() -> None:
    real, fake = _logits(0), _logits(1)
    hinge_d = sum(torch.relu(1 - r).mean() + torch.relu(1 + f).mean() for r, f in zip(real, fake))
    ls_d = sum(((r - 1) ** 2).mean() + (f**2).mean() for r, f in zip(real, fake))
    torch.testing.assert_close(losses.d_loss(real, fake, kind="hinge"), hinge_d)
    torch.testing.assert_close(losses.d_loss(real, fake, kind="lsgan"), ls_d)
    torch.testing.assert_close(losses.g_loss(fake, kind="hinge"), -sum(f.mean() for f in fake))
    torch.testing.assert_close(losses.g_loss(fake, kind="lsgan"), sum(((f - 1) ** 2).mean() for f in fake))
    # a confident, correct D pays no hinge loss
    assert float(losses.d_loss([torch.full((1, 1, 2, 2), 2.0)], [torch.full((1, 1, 2, 2), -2.0)], kind="hinge")) == 0
    with pytest.raises(InputError, match="GAN loss"):
        losses.g_loss(fake, kind="wgan")


def test_identity_terms() -> None:
    sim = torch.tensor([0.2, 0.5, 0.9])
    torch.testing.assert_close(losses.identity_terms(sim, form="hinge", threshold=0.6), torch.tensor([0.4, 0.1, 0.0]))
    torch.testing.assert_close(losses.identity_terms(sim, form="cosine", threshold=0.6), 1 - sim)


def test_identity_loss_gradients_reach_the_translation_only() -> None:
    loss = losses.IdentityLoss(PixelRandomModel(), form="cosine")
    gen = torch.Generator().manual_seed(0)
    source = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    translated = (source + 0.3 * torch.randn(2, 3, 32, 32, generator=gen)).requires_grad_(True)
    source.requires_grad_(True)
    per_sample = loss(translated, source)
    assert per_sample.shape == (2,) and bool((per_sample > 0).all())
    per_sample.sum().backward()
    assert translated.grad is not None and float(translated.grad.abs().sum()) > 0
    assert source.grad is None
    torch.testing.assert_close(loss(source.detach(), source.detach()), torch.zeros(2), atol=1e-5, rtol=0)
    assert loss.threshold == PixelRandomModel.threshold  # None -> the model's own threshold


def test_identity_loss_refuses_template_matchers_and_bad_forms() -> None:
    with pytest.raises(InputError, match="not a differentiable embedding model"):
        losses.IdentityLoss(Bozorth3Model())
    with pytest.raises(InputError, match="form"):
        losses.IdentityLoss(PixelRandomModel(), form="l2")
