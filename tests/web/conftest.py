"""Small folders of every kind synthbio writes, made once per test session (tiny sizes, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def synthesize_identity_dataset(outdir: Path, identities: int, samples: int, *, size: int = 16,
                                emb_dim: int = 8, seed: int = 0) -> Path:
    """An identity dataset's layout without a generator: PNGs, manifest.jsonl, samples.h5, config.json.

    Embeddings are random unit vectors; variation k of identity i lies near its
    reference (cosine recorded as similarity_to_reference, as the job does).
    """
    from synthbio.io.images import encode_png
    from synthbio.io.samples import SampleLatents, write_samples

    rng = np.random.default_rng(seed)
    outdir.mkdir(parents=True, exist_ok=True)
    lines, h5 = [], []
    for i in range(identities):
        ident = f"{i:05d}"
        (outdir / ident).mkdir(exist_ok=True)
        ref = rng.standard_normal(emb_dim)
        ref /= np.linalg.norm(ref)
        for k in range(samples):
            label = "reference" if k == 0 else f"variation_{k - 1}"
            emb = ref if k == 0 else ref + 0.3 * rng.standard_normal(emb_dim)
            emb = emb / np.linalg.norm(emb)
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            (outdir / ident / f"{label}.png").write_bytes(encode_png(pixels))
            attrs = {"similarity_to_reference": float(emb @ ref), "passed": True,
                     "nearest_real": float(rng.uniform(0, 0.5))}
            lines.append({"identity": i, "label": label, "seed": 1000 * i + k, "path": f"{ident}/{label}.png",
                          "sha256": "0" * 64, "latents": f"{ident}/latents.safetensors", "latents_sha256": "0" * 64,
                          "attrs": attrs})
            h5.append(SampleLatents(identity=i, label=label, z=None, w=None, w_plus=None,
                                    embedding=emb.astype(np.float32), attrs={"seed": 1000 * i + k}))
    (outdir / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_samples(outdir / "samples.h5", h5, attrs={"embedding_model": "synthetic"})
    config = {"command": "dataset generate", "content": {"model": None, "modality": "face", "identity_model":
              "synthetic", "identities": identities, "samples_per_identity": samples}, "config": {}}
    (outdir / "config.json").write_text(json.dumps(config))
    return outdir


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One served folder: fingerprints, a generate run, a mix run, mated impressions, identities, a translator."""
    import torch

    from synthbio.checkpoints import save_generator
    from synthbio.nn.config import GeneratorConfig
    from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset
    from synthbio.pipelines.images import GenerateConfig, MixConfig, build_demo_generator, generate, style_mix

    root = tmp_path_factory.mktemp("served") / "demo_out"
    root.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generate_dataset(FingerprintDatasetConfig(outdir=str(root / "fingerprints"), fingers=3, impressions=2,
                                                  width=192, height=224), progress=False)
        cfg = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, branches=(("rgb", 3), ("nir", 1)),
                              channel_base=128, channel_max=16, mapping_layers=2)
        save_generator(build_demo_generator(cfg), root / "model")
        generate(GenerateConfig(model=str(root / "model"), outdir=str(root / "gan"), seeds=tuple(range(6)),
                                truncation_psi=0.7, device="cpu"), progress=False)
        style_mix(MixConfig(model=str(root / "model"), outdir=str(root / "mix"), rows=(1,), cols=(2,), styles=(0, 1),
                            device="cpu"))
    finally:
        torch.set_num_threads(threads)
    from synthbio.translation.checkpoint import save_translator
    from synthbio.translation.config import TranslatorConfig
    from synthbio.translation.networks import build_generators

    tcfg = TranslatorConfig(channels_a=1, channels_b=3, dim=8, style_dim=4, n_res=1, mlp_dim=16, d_dim=8, d_layers=2,
                            d_scales=2)  # a training run's latest/ snapshot (the translation page lists it)
    save_translator(root / "translator" / "latest", tcfg, build_generators(tcfg, seed=3),
                    domains={"a": "grey", "b": "colour"})
    mated = root / "mated"
    mated.mkdir()
    for k in range(2):  # an image folder with ground-truth templates beside the images, and a mask
        src = root / "fingerprints" / "00000" / f"{k:02d}"
        (mated / f"{k:02d}.png").write_bytes(src.with_suffix(".png").read_bytes())
        (mated / f"{k:02d}.json").write_bytes(src.with_suffix(".json").read_bytes())
    from synthbio.io.images import encode_png

    mask = np.zeros((224, 192), np.uint8)
    mask[40:120, 50:140] = 1
    (mated / "00_mask.png").write_bytes(encode_png(mask))
    synthesize_identity_dataset(root / "faces", identities=30, samples=3)
    report = root / "fingerprints" / "report"
    report.mkdir()
    (report / "index.html").write_text("<html><body><h1>report</h1><script>alert(1)</script></body></html>")
    return root

