"""StyleGAN2 objective as small functions: logistic GAN losses, R1, path length, style mixing.

Karras et al. 2020 (StyleGAN2, "Analyzing and improving the image quality of
StyleGAN"), with the lazy-regularisation schedule of StyleGAN2-ADA (Karras et
al. 2020b). Functions return per-sample terms [N]; the caller takes the mean,
scales by the regularisation interval and calls backward, so every term can be
checked on its own.

Images may be one tensor [N, C, H, W] or a dict {branch: [N, C_b, H, W]} (RGB
+ NIR): the path-length term then sums the image-noise products of all
branches, so the Jacobian of the whole multi-branch output is regularised.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn import conv_gradfix

Images = Tensor | Mapping[str, Tensor]


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """-log(sigmoid(D(G(z)))) = softplus(-l): fake logits [N, 1] -> [N] (Goodfellow 2014, non-saturating)."""
    return F.softplus(-fake_logits).flatten()


def d_fake_loss(fake_logits: Tensor) -> Tensor:
    """-log(1 - sigmoid(l)) = softplus(l): the discriminator's loss on generated images, [N, 1] -> [N]."""
    return F.softplus(fake_logits).flatten()


def d_real_loss(real_logits: Tensor) -> Tensor:
    """-log(sigmoid(l)) = softplus(-l): the discriminator's loss on real images, [N, 1] -> [N]."""
    return F.softplus(-real_logits).flatten()


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """softplus(-D(x)) + softplus(D(G(z))) per sample pair, [N, 1] x [N, 1] -> [N]."""
    return d_real_loss(real_logits) + d_fake_loss(fake_logits)


def d_r1_penalty(real_logits: Tensor, real_inputs: Tensor | list[Tensor], *, grad_scale: float = 1.0) -> Tensor:
    """R1 (Mescheder et al. 2018): ||d sum(D(x)) / dx||^2 per sample, [N] (without the gamma/2 factor).

    real_inputs: the tensor(s) with requires_grad=True that the logits were
    computed from (before augmentation, as in StyleGAN2-ADA, so the penalty is
    on the data distribution). Several tensors (one per branch of a paired
    sample) add their squared gradients. The graph is kept (create_graph) so
    the penalty can be backpropagated into D. grad_scale: multiply the logits
    before differentiating and divide the gradients after (fp16 loss scaling).
    """
    inputs = [real_inputs] if isinstance(real_inputs, Tensor) else list(real_inputs)
    outputs = real_logits.sum() * grad_scale if grad_scale != 1 else real_logits.sum()
    # Only d/dx is wanted here: gradfix convolutions skip their weight gradients in this pass.
    with conv_gradfix.no_weight_gradients():
        grads = torch.autograd.grad(outputs=[outputs], inputs=inputs, create_graph=True, only_inputs=True)
    penalty = real_logits.new_zeros([real_logits.shape[0]], dtype=torch.float32)
    for g in grads:
        g = g.float() / grad_scale if grad_scale != 1 else g.float()
        penalty = penalty + g.square().sum(dim=[1, 2, 3])
    return penalty


def as_branch_dict(images: Images, names: tuple[str, ...] = ("img",)) -> dict[str, Tensor]:
    """One tensor -> {names[0]: tensor}; a mapping is returned as a plain dict."""
    if isinstance(images, Tensor):
        return {names[0]: images}
    return dict(images)


def path_length_noise(images: Images, *, generator: torch.Generator) -> dict[str, Tensor]:
    """Per-branch noise y ~ N(0, I) / sqrt(H W), drawn from `generator` in sorted-branch order."""
    out = {}
    for name, img in as_branch_dict(images).items():
        noise = torch.randn(img.shape, generator=generator, device=generator.device, dtype=torch.float32)
        out[name] = noise.to(img.device) / np.sqrt(img.shape[2] * img.shape[3])
    return out


def path_lengths(images: Images, ws: Tensor, noise: Mapping[str, Tensor], *, grad_scale: float = 1.0) -> Tensor:
    """||J_w^T y||_2 per sample [N] (StyleGAN2 eq. 4), with J the Jacobian of all branches.

    sum over branches of <img_b, y_b>, differentiated w.r.t. ws [N, L, w_dim];
    the squared gradient is summed over w_dim and averaged over the L layers,
    as in the official implementation. Keeps the graph for backpropagation.
    """
    imgs = as_branch_dict(images)
    total = sum((imgs[name].float() * noise[name]).sum() for name in imgs)
    assert isinstance(total, Tensor)
    if grad_scale != 1:
        total = total * grad_scale
    (grads,) = torch.autograd.grad(outputs=[total], inputs=[ws], create_graph=True, only_inputs=True)
    grads = grads.float() / grad_scale if grad_scale != 1 else grads.float()
    return grads.square().sum(dim=2).mean(dim=1).sqrt()


def g_path_length_penalty(lengths: Tensor, pl_mean: Tensor, *, decay: float = 0.01) -> tuple[Tensor, Tensor]:
    """(||J^T y|| - a)^2 per sample [N] and the updated running mean a (detached scalar).

    a <- a + decay * (mean(lengths) - a) before the penalty is taken, as in the
    official code; the new `a` is what the caller stores as state.
    """
    new_mean = pl_mean.lerp(lengths.mean().detach().to(pl_mean.dtype), decay)
    penalty = (lengths - new_mean).square()
    return penalty, new_mean.detach()


def style_mixing_cutoff(num_ws: int, *, prob: float, generator: torch.Generator) -> int:
    """Layer index from which a second latent takes over (num_ws = no mixing).

    With probability `prob` a cutoff uniform in [1, num_ws) is used. Both
    random numbers are always drawn, so the generator advances the same way
    whether mixing happens or not.
    """
    cutoff = int(torch.randint(1, max(num_ws, 2), [], generator=generator, device=generator.device))
    mix = float(torch.rand([], generator=generator, device=generator.device)) < prob
    return cutoff if (mix and num_ws > 1) else num_ws


def mix_styles(ws: Tensor, ws_other: Tensor, cutoff: int) -> Tensor:
    """ws [N, L, w_dim] with layers cutoff.. replaced by those of ws_other (out of place)."""
    if cutoff >= ws.shape[1]:
        return ws
    return torch.cat([ws[:, :cutoff], ws_other[:, cutoff:]], dim=1)
