"""StyleGAN2 mapping network: z (+ embedded label c) -> w, broadcast to ws, truncated."""

from __future__ import annotations

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn._per_sample import runs_per_sample, sample_copy
from synthbio.nn.layers import FullyConnectedLayer, normalize_2nd_moment


def check_finite(t: Tensor, name: str) -> None:
    """Raise InputError when a latent holds NaN or inf (skipped while compiling)."""
    if torch.compiler.is_compiling():
        return
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} contains NaN or inf values")


class MappingNetwork(torch.nn.Module):
    """MLP from z (and label c) to the intermediate latent w.

    z_dim: 0 = no latent input (the discriminator's label mapping).
    c_dim: 0 = unconditional; otherwise c is embedded by `embed`, normalised and
        concatenated to the normalised z.
    num_ws: None = return [N, w_dim]; else broadcast to [N, num_ws, w_dim].
    w_avg_beta: None = no `w_avg` buffer (then truncation is unavailable).
    embed_features / layer_features: None = w_dim.
    """

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def _check_inputs(self, z: Tensor | None, c: Tensor | None) -> int:
        n = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                got = None if z is None else list(z.shape)
                raise InputError(f"z must have shape [N, {self.z_dim}], got {got}")
            check_finite(z, "z")
            n = z.shape[0]
        if self.c_dim > 0:
            if c is None:
                raise InputError(f"this network is conditional: c of shape [N, {self.c_dim}] is required")
            if c.ndim != 2 or c.shape[1] != self.c_dim or (n is not None and c.shape[0] != n):
                raise InputError(f"c must have shape [{n if n is not None else 'N'}, {self.c_dim}], "
                                 f"got {list(c.shape)}")
            check_finite(c, "c")
            n = c.shape[0]
        elif c is not None and c.numel() > 0:
            raise InputError(f"this network is unconditional (c_dim=0) but got c of shape {list(c.shape)}")
        if n is None:
            raise InputError("the mapping network has neither z nor c inputs")
        return n

    def forward(self, z: Tensor | None, c: Tensor | None = None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> Tensor:
        """z: [N, z_dim], c: [N, c_dim] -> ws [N, num_ws, w_dim] (or w [N, w_dim] if num_ws is None).

        Truncation: w' = w_avg + psi (w - w_avg), applied to the first
        `truncation_cutoff` ws (None = all). update_emas moves `w_avg` towards
        the batch mean (training only).
        """
        n = self._check_inputs(z, c)
        lead = z if z is not None else c
        assert lead is not None
        if runs_per_sample(self, lead) and n > 0:  # batch-invariant inference on CPU, see synthbio.nn._per_sample
            rows = [self._trunk(None if z is None else sample_copy(z, i), None if c is None else sample_copy(c, i))
                    for i in range(n)]
            if update_emas:
                self._update_w_avg(torch.cat(rows))
            return torch.cat([self._broadcast_truncate(r, truncation_psi, truncation_cutoff) for r in rows])
        x = self._trunk(z, c)
        if update_emas:
            self._update_w_avg(x)
        return self._broadcast_truncate(x, truncation_psi, truncation_cutoff)

    def _trunk(self, z: Tensor | None, c: Tensor | None) -> Tensor:
        """Normalised z (+ embedded c) through the fc layers -> w [N, w_dim] (float32)."""
        x = None
        if self.z_dim > 0:
            assert z is not None
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            assert c is not None
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        assert x is not None
        # w stays float32 under autocast: the mapping is cheap, and truncation
        # and w_avg tracking need w in the dtype of the w_avg buffer.
        with torch.autocast(device_type=x.device.type, enabled=False):
            for idx in range(self.num_layers):
                x = getattr(self, f"fc{idx}")(x.float())
        return x

    def _update_w_avg(self, w: Tensor) -> None:
        """Move `w_avg` towards the batch mean of w [N, w_dim] (training only)."""
        if self.w_avg_beta is not None and self.num_ws is not None:
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

    def _broadcast_truncate(self, x: Tensor, truncation_psi: float, truncation_cutoff: int | None) -> Tensor:
        """w [N, w_dim] -> ws [N, num_ws, w_dim] (or w), truncated towards w_avg."""
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if not hasattr(self, "w_avg"):
                raise InputError("truncation needs a tracked w_avg, which this mapping network does not keep")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"
