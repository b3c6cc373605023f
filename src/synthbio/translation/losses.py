"""Losses of translator training: adversarial (hinge / LSGAN), reconstruction, identity.

Adversarial losses take the list of per-scale logits a multi-scale
discriminator returns and sum the per-scale means, as MUNIT does.

- hinge (Lim & Ye 2017; SAGAN): L_D = E[relu(1 - D(x))] + E[relu(1 + D(G))],
  L_G = -E[D(G)].
- LSGAN (Mao et al. 2017; MUNIT's default): L_D = E[(D(x) - 1)^2] + E[D(G)^2],
  L_G = E[(D(G) - 1)^2].

`IdentityLoss` compares identity embeddings of a translation and of its
source under any differentiable `IdentityModel` of vector kind (synthbio.identity):
SATNet's hinge max(0, threshold - cosine) or plain 1 - cosine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import InputError

GAN_LOSSES = ("hinge", "lsgan")
IDENTITY_FORMS = ("hinge", "cosine")


def _check_gan(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise InputError(f"GAN loss must be one of {GAN_LOSSES}, got {kind!r}")


def d_loss(real: Sequence[Tensor], fake: Sequence[Tensor], *, kind: str) -> Tensor:
    """Discriminator loss summed over scales: real/fake logits lists of [N, 1, h, w]."""
    _check_gan(kind)
    total = real[0].new_zeros([], dtype=torch.float32)
    for r, f in zip(real, fake, strict=True):
        r, f = r.float(), f.float()
        if kind == "hinge":
            total = total + F.relu(1 - r).mean() + F.relu(1 + f).mean()
        else:
            total = total + (r - 1).square().mean() + f.square().mean()
    return total


def g_loss(fake: Sequence[Tensor], *, kind: str) -> Tensor:
    """Generator adversarial loss summed over scales."""
    _check_gan(kind)
    total = fake[0].new_zeros([], dtype=torch.float32)
    for f in fake:
        f = f.float()
        total = total + (-f.mean() if kind == "hinge" else (f - 1).square().mean())
    return total


def recon_l1(x: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference (MUNIT's recon criterion for images, content and style codes)."""
    if x.shape != target.shape:
        raise InputError(f"reconstruction: shapes {tuple(x.shape)} and {tuple(target.shape)} differ")
    return (x.float() - target.float()).abs().mean()


# --- identity -----------------------------------------------------------------------------

Preprocess = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def identity_terms(similarity: Tensor, *, form: str, threshold: float) -> Tensor:
    """Per-sample identity loss from cosine similarities [N]: hinge or 1 - cosine."""
    if form == "hinge":
        return F.relu(threshold - similarity)
    if form == "cosine":
        return 1 - similarity
    raise InputError(f"identity loss form must be one of {IDENTITY_FORMS}, got {form!r}")


class IdentityLoss(nn.Module):
    """Identity kept by a translation: per sample loss [N] of (translated, source).

    model: an IdentityModel of vector kind whose `embed` is differentiable
        (dlib-resnet, arcface-r100, adaface-ir101, fingerprint-ridges, ...);
        frozen, never trained here.
    form: 'hinge' (SATNet: max(0, threshold - cosine)) or 'cosine' (1 - cosine).
    threshold: the hinge's margin in cosine units (None = the model's own
        decision threshold).
    preprocess: optional map (translated, source) -> (model inputs, model
        inputs), applied before `model.network` instead of the model's own
        preprocess; for faces it warps both by the source's detected landmarks.
    Source embeddings are taken without gradient (the source is data).
    """

    def __init__(self, model: Any, *, form: str = "hinge", threshold: float | None = None,
                 preprocess: Preprocess | None = None) -> None:
        super().__init__()
        name = getattr(model, "name", type(model).__name__)
        if not callable(getattr(model, "embed", None)):
            raise InputError(f"identity loss needs a model with .embed(images), got {type(model).__name__}")
        if getattr(model, "kind", "vector") != "vector" or not getattr(model, "differentiable", False):
            raise InputError(f"identity model {name!r} is not a differentiable embedding model; the identity loss "
                             "needs one (dlib-resnet, arcface-r100, adaface-ir101, fingerprint-ridges)")
        if form not in IDENTITY_FORMS:
            raise InputError(f"identity loss form must be one of {IDENTITY_FORMS}, got {form!r}")
        self.model = model
        self.form = form
        self.threshold = float(model.threshold if threshold is None else threshold)
        self.preprocess = preprocess

    def extra_repr(self) -> str:
        return f"model={getattr(self.model, 'name', '?')}, form={self.form}, threshold={self.threshold:g}"

    def train(self, mode: bool = True) -> IdentityLoss:  # the recogniser stays in eval mode
        return self

    def _embed_pair(self, translated: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        if self.preprocess is None:
            emb_t = self.model.embed(translated)
            with torch.no_grad():
                emb_s = self.model.embed(source)
        else:
            inp_t, inp_s = self.preprocess(translated, source)
            emb_t = self.model.network(inp_t)
            with torch.no_grad():
                emb_s = self.model.network(inp_s)
        return emb_t, emb_s.detach()

    def similarity(self, translated: Tensor, source: Tensor) -> Tensor:
        """Cosine similarity [N] of each translation's embedding with its source's."""
        if translated.shape[0] != source.shape[0]:
            raise InputError(f"identity loss: {translated.shape[0]} translations for {source.shape[0]} sources")
        emb_t, emb_s = self._embed_pair(translated, source)
        return F.cosine_similarity(emb_t.float(), emb_s.float(), dim=1, eps=1e-8)

    def forward(self, translated: Tensor, source: Tensor) -> Tensor:
        """Per-sample loss [N]."""
        return identity_terms(self.similarity(translated, source), form=self.form, threshold=self.threshold)
