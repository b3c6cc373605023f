"""Sampling a generator from seeds: z, class vectors, truncation, noise, style mixing.

Conventions (equal to the official StyleGAN2-ADA `generate.py` and
`style_mixing.py`, so a seed gives the same image as the official tool):
- z of seed s: `RandomState(s).randn(1, z_dim)` (see `synthbio.utils.seeds`).
- c: one-hot class vector [N, c_dim]; an unconditional model takes c_dim == 0.
  A camera-conditioned generator (EG3D, `camera_conditioned = True`) takes its
  front conditioning camera instead (`conditioning`), as the official EG3D
  sample scripts do; it renders from the camera given to synthesis.
- truncation: w' = w_avg + psi * (w - w_avg) on the first `truncation_cutoff`
  layers (all when None), done by `G.mapping`.
- noise_mode 'random': one torch.Generator per sample, seeded with its seed,
  so a sample's noise does not depend on its batch neighbours. The same
  per-sample generators drive EG3D's random depth samples, whatever the noise mode.

Batch invariance: on CPU, `G.mapping` and `G.synthesis` run every sample by
itself in inference (see `synthbio.nn._per_sample`), so a seed's image is
byte-identical for every batch size with no padding and no wasted work. On
other devices (CUDA) the batched kernels run, and cuBLAS/cuDNN pick algorithms
per shape, so a row can round differently (~1e-6) in another batch size: there
every forward pass is padded to a multiple of `ROW_BLOCK` rows (repeating the
last sample; the copies are dropped), so batch sizes that pad to the same row
count run the same kernels. That is best effort: it is not verified bit for bit
on every GPU, and batch sizes that pad to different counts may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from synthbio.errors import InputError
from synthbio.utils.seeds import generators_from_seeds, z_from_seeds

NOISE_MODES = ("const", "random", "none")
ROW_BLOCK = 8  # off CPU, forward passes run on a multiple of this many rows (see module docstring)


class SeedableGenerator(Protocol):
    """What sampling needs from a generator (StyleGAN2, StyleGAN3 and EG3D generators all have it)."""

    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    branch_names: tuple[str, ...]
    branches: tuple[tuple[str, int], ...]

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor, *, noise_mode: str = "const",
                  generator: Any = None) -> torch.Tensor | dict[str, torch.Tensor]: ...


def check_noise_mode(noise_mode: str) -> str:
    if noise_mode not in NOISE_MODES:
        raise InputError(f"noise mode {noise_mode!r} is not one of {', '.join(NOISE_MODES)}")
    return noise_mode


def class_vector(c_dim: int, class_idx: int | None, *, n: int = 1,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """One-hot conditioning [n, c_dim] (shape [n, 0] for an unconditional model).

    A conditional model needs a class; an unconditional one takes none.
    Raises InputError naming the class index and the valid range otherwise.
    """
    c = torch.zeros([n, c_dim], dtype=torch.float32, device=device)
    if c_dim == 0:
        if class_idx is not None:
            raise InputError(f"--class-idx {class_idx} given, but the model is unconditional (c_dim = 0): leave it out")
        return c
    if class_idx is None:
        raise InputError(f"the model is conditional ({c_dim} classes): give --class-idx N with N in 0-{c_dim - 1}")
    if not 0 <= class_idx < c_dim:
        raise InputError(f"--class-idx {class_idx} is out of range for a model with {c_dim} classes (0-{c_dim - 1})")
    c[:, class_idx] = 1
    return c


def is_camera_conditioned(G: Any) -> bool:
    """Whether G's c is a camera (EG3D) rather than a class label."""
    return bool(getattr(G, "camera_conditioned", False))


def class_count(G: Any) -> int:
    """Number of class labels G takes (0 for unconditional and camera-conditioned generators)."""
    return 0 if is_camera_conditioned(G) else int(G.c_dim)


def conditioning(G: Any, class_idx: int | None, *, n: int = 1, device: torch.device | str = "cpu"
                 ) -> torch.Tensor:
    """The c that G's mapping takes for n samples: a one-hot class vector [n, c_dim], or for a
    camera-conditioned G its front conditioning camera [n, c_dim] (class_idx must then be None)."""
    if is_camera_conditioned(G):
        if class_idx is not None:
            raise InputError(f"class index {class_idx} given, but the model is conditioned on cameras, not classes")
        return G.conditioning_camera(n, device=device)
    return class_vector(G.c_dim, class_idx, n=n, device=device)


def check_truncation(G: SeedableGenerator, truncation_psi: float, truncation_cutoff: int | None) -> None:
    if not torch.isfinite(torch.tensor(float(truncation_psi))):
        raise InputError(f"truncation psi must be finite, got {truncation_psi}")
    if truncation_cutoff is not None and not 0 <= truncation_cutoff <= G.num_ws:
        raise InputError(f"truncation cutoff {truncation_cutoff} is outside 0-{G.num_ws} (the model's num_ws)")


def _device_of(G: Any) -> torch.device:
    try:
        return next(G.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _pad_count(n: int, row_block: int | None, device: torch.device) -> int:
    """Rows to append so a pass has a multiple of `row_block` rows (None: ROW_BLOCK off CPU, none on CPU)."""
    if row_block is None:
        row_block = 1 if device.type == "cpu" else ROW_BLOCK
    return (-n) % max(1, row_block)


def map_seeds(
    G: SeedableGenerator,
    seeds: Sequence[int],
    *,
    class_idx: int | None = None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    row_block: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeds -> (z [N, z_dim], ws [N, num_ws, w_dim]) on G's device, truncation applied."""
    device = _device_of(G)
    n = len(seeds)
    padded = list(seeds) + list(seeds[-1:]) * _pad_count(n, row_block, device) if n else []
    z = z_from_seeds(padded, G.z_dim, device=device)
    c = conditioning(G, class_idx, n=len(padded), device=device)
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
    return z[:n], ws[:n]


def as_branches(G: SeedableGenerator, out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A generator output as {branch name: images [N, C, H, W]} (single-branch G gives one entry).

    Entries of an output dict that are not branches (EG3D's image_raw and image_depth) are left out.
    """
    if isinstance(out, torch.Tensor):
        return {G.branch_names[0]: out}
    return {b: out[b] for b in G.branch_names}


def synthesize(
    G: SeedableGenerator,
    ws: torch.Tensor,
    *,
    seeds: Sequence[int],
    noise_mode: str = "const",
    row_block: int | None = None,
    **synthesis_kwargs: Any,
) -> dict[str, torch.Tensor]:
    """ws [N, num_ws, w_dim] -> {branch: images [N, C, H, W] in [-1, 1]}.

    `seeds[i]` seeds the random draws of sample i (noise with noise_mode 'random',
    EG3D's depth samples). synthesis_kwargs go to G.synthesis as they are, with
    tensors of one row per sample padded like ws (EG3D: c [N, 25] cameras;
    StyleGAN3: transform).
    """
    return {b: x for b, x in synthesize_outputs(G, ws, seeds=seeds, noise_mode=noise_mode, row_block=row_block,
                                                **synthesis_kwargs).items() if b in G.branch_names}


def synthesize_outputs(
    G: SeedableGenerator,
    ws: torch.Tensor,
    *,
    seeds: Sequence[int],
    noise_mode: str = "const",
    row_block: int | None = None,
    **synthesis_kwargs: Any,
) -> dict[str, torch.Tensor]:
    """Like `synthesize`, with every output the synthesis returns (EG3D: image, image_raw, image_depth)."""
    check_noise_mode(noise_mode)
    n = ws.shape[0]
    if len(seeds) != n:
        raise InputError(f"{len(seeds)} seeds for {n} latents")
    if n == 0:
        raise InputError("nothing to synthesize: no latents given")
    pad = _pad_count(n, row_block, ws.device)
    seeds = list(seeds) + [seeds[-1]] * pad
    ws = torch.cat([ws, ws[-1:].expand(pad, -1, -1)]) if pad else ws
    kwargs = {k: torch.cat([v, v[-1:].expand(pad, *v.shape[1:])]) if pad and isinstance(v, torch.Tensor)
              and v.ndim > 0 and v.shape[0] == n else v for k, v in synthesis_kwargs.items()}
    # One generator per seed: samples draw nothing from each other (or from global RNG), so a seed's
    # result does not depend on its batch. StyleGAN2 uses them for 'random' noise only.
    generator = generators_from_seeds(seeds, device=ws.device)
    with torch.no_grad():
        out = G.synthesis(ws, noise_mode=noise_mode, generator=generator, **kwargs)
    if isinstance(out, torch.Tensor):
        out = {G.branch_names[0]: out}
    return {b: x[:n] for b, x in out.items()}


def parse_styles(spec: Sequence[int], num_ws: int) -> list[int]:
    """Validate style-layer indices for mixing against the model's num_ws."""
    bad = [i for i in spec if not 0 <= i < num_ws]
    if bad or not spec:
        shown = f"{bad[:5]}{' ...' if len(bad) > 5 else ''}" if bad else "none"
        raise InputError(f"--styles: style layers must be within 0-{num_ws - 1} (the model's {num_ws} ws layers); "
                         f"out of range: {shown}")
    return list(spec)


def mix_styles(ws_base: torch.Tensor, ws_other: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """Copy of `ws_base` [N, L, w] whose layers `styles` come from `ws_other` [N, L, w]."""
    if ws_base.shape != ws_other.shape:
        raise InputError(f"cannot mix ws of shapes {tuple(ws_base.shape)} and {tuple(ws_other.shape)}")
    ws = ws_base.clone()
    ws[:, list(styles)] = ws_other[:, list(styles)]
    return ws
