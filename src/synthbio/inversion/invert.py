"""`synthbio invert`: images -> W+ with a trained encoder, one forward pass each.

Outputs in OUTDIR:

    <index:05d>_<stem>.png   G.synthesis(E(image)) with const noise
    samples.h5               per image `/<index:05d>/inv/`: w_plus_latent (1, num_ws, w_dim),
                             w_latent = the mean of its ws over layers, z_latent = NaN
                             (an inversion has no z); attribute `source` = the input path

Images are read as grayscale or RGB to match the generator and resized with
Lanczos to the encoder's resolution (aspect not kept, as in training). The
encoder runs in eval mode and G on the batch-invariant inference path, so a
result does not depend on the batch size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.io.images import read_image, to_uint8, write_png
from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
from synthbio.nn.encoders import Encoder



def load_image(path: Path, *, resolution: int, channels: int) -> Tensor:
    """Image file -> [channels, R, R] float32 in [-1, 1] (Lanczos resize)."""
    img = PIL.Image.fromarray(read_image(path, mode="L" if channels == 1 else "RGB"))
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), PIL.Image.LANCZOS)
    a = np.asarray(img, dtype=np.float32)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(a / 127.5 - 1.0)


def _safe_stem(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:64] or "image"


@torch.no_grad()
def invert_images(encoder: Encoder, G: torch.nn.Module, paths: Sequence[str | os.PathLike[str]],
                  outdir: str | os.PathLike[str], *, batch_size: int = 8, attrs: dict[str, str] | None = None,
                  identities: Sequence[int] | None = None,
                  sample_attrs: Sequence[Mapping[str, Any]] | None = None) -> list[Path]:
    """Encode each image, render it with G, write PNGs and samples.h5; returns the PNG paths.

    identities / sample_attrs: per image, the identity and attributes to store in samples.h5
    (a database's samples); default: identity = the image's index, no attributes.
    """
    cfg = encoder.config
    if cfg.num_ws != G.num_ws or cfg.w_dim != G.w_dim:
        raise InputError(f"the encoder predicts {cfg.num_ws} x {cfg.w_dim} ws, the generator takes "
                         f"{G.num_ws} x {G.w_dim}: they do not belong together")
    if cfg.in_channels != G.img_channels:
        raise InputError(f"the encoder reads {cfg.in_channels}-channel inputs, not {G.img_channels}-channel images "
                         "of this generator (a minutiae encoder? use the fingerprint reconstruction instead)")
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    files = [Path(p) for p in paths]
    for what, seq in (("identities", identities), ("sample_attrs", sample_attrs)):
        if seq is not None and len(seq) != len(files):
            raise InputError(f"{len(files)} images but {len(seq)} {what}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    device = encoder.w_avg.device
    encoder.eval()
    written: list[Path] = []
    samples: list[SampleLatents] = []
    nan_z = np.full(G.z_dim, np.nan, dtype=np.float32)
    repeated = identities is not None and len(set(identities)) < len(identities)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        x = torch.stack([load_image(p, resolution=cfg.resolution, channels=cfg.in_channels) for p in chunk])
        ws = encoder(x.to(device))  # [N, num_ws, w_dim]
        imgs = G.synthesis(ws, noise_mode="const")
        imgs = next(iter(imgs.values())) if isinstance(imgs, dict) else imgs
        for k, (path, img, w) in enumerate(zip(chunk, to_uint8(imgs), ws.cpu().numpy())):
            index = start + k
            png = out / f"{index:05d}_{_safe_stem(path)}.png"
            write_png(png, img[:, :, 0] if img.shape[2] == 1 else img)
            written.append(png)
            ident = index if identities is None else int(identities[index])
            extra = {} if sample_attrs is None else dict(sample_attrs[index])
            label = f"inv{index:05d}" if repeated else "inv"  # several images of one identity need their own labels
            samples.append(SampleLatents(identity=ident, label=label, z=nan_z, w=w.mean(0), w_plus=w,
                                         attrs={**extra, "source": os.fspath(path)}))
    write_samples(out / SAMPLES_NAME, samples, attrs={"kind": "encoder-inversion", **(attrs or {})})
    return written
