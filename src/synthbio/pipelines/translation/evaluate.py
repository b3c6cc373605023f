"""`synthbio translate evaluate`: realism (FID/KID) and identity preservation of `translate apply`'s output.

Inputs: the translations folder (its config.json names the sources, its
manifest pairs every output with its source and label), optionally the real
images of the target domain (for FD/KID), a gallery of the target domain
with the same identity folders, and pixel-aligned ground truth.

Identity (under one IdentityModel: NBIS MINDTCT + Bozorth3 for fingerprints,
a face recogniser, ...). Probes are the translations T and, as the baseline,
the untranslated sources S; the gallery G is `--gallery` or the sources.

- vs source: T_i against its own source S_i (genuine).
- vs identity (needs identity folders): a probe against the gallery images of
  its identity other than its own source (genuine) and against the first
  image of every other identity (impostor) — for T and for S alike.

The decision threshold is the system's: the lowest score whose false-match
rate over the untranslated impostor scores (S vs other identities) is <= the
target FMR (0.1%), which needs >= 1 / FMR impostor scores (otherwise the
model's own threshold is used, and the report says so). At that threshold
the report gives the genuine acceptance rates of T and S, their ratio
(translation keeps identity when it is near 1), and the false-match rate of
the translations' impostors (translation must not make identities alike).

Report: OUT/index.html, OUT/metrics.json, score histograms and example grids,
written to the sibling folder `<translations>_evaluate` unless -o is given, and
marked as derived (`synthbio.io.derived`): no reader of a dataset counts it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError
from synthbio.identity.protocol import to_rgb
from synthbio.io.derived import mark_derived
from synthbio.metrics.verification import threshold_at_fmr
from synthbio.pipelines.translation.layout import (
    Pairs,
    load_image,
    read_translation_run,
)
from synthbio.pipelines.translation.report import write_report
from synthbio.translation.data import DomainConfig, DomainDataset
from synthbio.translation.identity import embed_with_crops, face_crop_matrices
from synthbio.utils.progress import Progress

REPORT_SUFFIX = "_evaluate"


@dataclass(frozen=True)
class TranslateEvaluateConfig:
    """One `synthbio translate evaluate` run.

    translations: a folder written by `synthbio translate apply`.
    target: real images of the target domain for FD/KID (None = skip).
    extractor: FD/KID features: 'inception' (weights: inception_weights) or 'fingerprint'.
    identity_model: recogniser for identity preservation (None = skip); identity_weights
        for the IResNet models; ridge_period for 'fingerprint-ridges'.
    identity_alignment: 'model' (the model's own preprocessing) or 'detect' (face
        recognisers: dlib landmarks; a translation is cropped by its source's face).
    gallery: identity-labelled images (same identity folders) to match against
        instead of the sources, e.g. real images of the target domain.
    ground_truth: pixel-aligned counterparts of the sources (same relative
        paths) for per-pixel error (mean |difference|, PSNR).
    target_fmr: operating point of the identity comparison.
    examples: sources shown in the example grid.
    """

    translations: str
    target: str | None = None
    extractor: str = "inception"
    inception_weights: str | None = None
    fid_size: int = 0
    kid: bool = True
    identity_model: str | None = "nbis-bozorth3"
    identity_weights: str | None = None
    identity_alignment: str = "model"
    ridge_period: float = 9.0
    gallery: str | None = None
    ground_truth: str | None = None
    target_fmr: float = 0.001
    examples: int = 8
    outdir: str | None = None
    batch_size: int = 16
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "translations", os.fspath(self.translations))
        for name in ("target", "gallery", "ground_truth", "outdir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, os.fspath(value))
        if not 0 < self.target_fmr < 1:
            raise InputError(f"--target-fmr must be in (0, 1), got {self.target_fmr}")
        if self.identity_alignment not in ("model", "detect"):
            raise InputError(f"--identity-alignment must be model or detect, got {self.identity_alignment!r}")
        if self.examples < 0 or self.batch_size < 1:
            raise InputError("--examples must be >= 0 and --batch-size >= 1")

    @property
    def report_dir(self) -> Path:
        if self.outdir is not None:
            return Path(self.outdir)
        t = Path(self.translations).resolve()
        return t.with_name(t.name + REPORT_SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- scores


class Scorer:
    """Embeds images once each (by path) and scores probe x gallery pairs under one IdentityModel.

    anchors: with face alignment 'detect', the image whose landmarks crop each
    path (a translation's source; by default the image itself).
    """

    def __init__(self, model: Any, *, batch_size: int, alignment: str = "model",
                 anchors: dict[str, Path] | None = None, on_embedded: Callable[[int], None] | None = None) -> None:
        self.on_embedded = on_embedded  # called with the number of images embedded by each batch (progress)
        self.model = model
        self.batch_size = batch_size
        self.alignment = alignment
        self.anchors = anchors or {}
        self._cache: dict[str, Any] = {}

    def _embed_batch(self, names: list[str], x: torch.Tensor) -> Any:
        device = _device_of(self.model)
        with torch.no_grad():
            if self.alignment != "detect":
                return self.model.embed(x.to(device))
            anchors = torch.cat([to_rgb(load_image(Path(self.anchors.get(n, n)))) for n in names])
            matrices, side = face_crop_matrices(self.model, anchors)
            return embed_with_crops(self.model, x.to(device), matrices, side)

    def embed(self, paths: list[Path]) -> None:
        todo = [p for p in dict.fromkeys(str(p) for p in paths) if p not in self._cache]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            images = [load_image(Path(p)) for p in chunk]
            sizes = {tuple(x.shape) for x in images}
            anchor_sizes = {tuple(load_image(Path(self.anchors[p])).shape[-2:]) for p in chunk if p in self.anchors}
            if len(sizes) == 1 and len(anchor_sizes) <= 1:
                groups = [(chunk, torch.cat(images))]
            else:
                groups = [([p], x) for p, x in zip(chunk, images)]
            for names, x in groups:
                emb = self._embed_batch(names, x)
                for k, name in enumerate(names):
                    self._cache[name] = emb[k:k + 1].cpu() if isinstance(emb, torch.Tensor) else [emb[k]]
            if self.on_embedded is not None:
                self.on_embedded(len(chunk))

    def scores(self, pairs: list[tuple[Path, Path]]) -> np.ndarray:
        """Similarity of each (probe, gallery) pair: float64 [P]."""
        if not pairs:
            return np.zeros(0)
        self.embed([p for pair in pairs for p in pair])
        out = np.empty(len(pairs))
        by_probe: dict[str, list[int]] = {}
        for k, (p, _) in enumerate(pairs):
            by_probe.setdefault(str(p), []).append(k)
        for probe, ks in by_probe.items():
            gallery = [str(pairs[k][1]) for k in ks]
            a = self._cache[probe]
            if isinstance(a, torch.Tensor):
                b = torch.cat([self._cache[g] for g in gallery])
            else:
                b = [self._cache[g][0] for g in gallery]
            out[ks] = self.model.similarity(a, b).numpy().reshape(-1)
        return out


def _device_of(model: Any) -> torch.device:
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    return params[0].device if params else torch.device("cpu")


def operating_point(genuine: dict[str, np.ndarray], impostor: dict[str, np.ndarray], *, target_fmr: float,
                    fallback: float) -> dict[str, Any]:
    """System threshold from the untranslated impostors ('source'); acceptance rates of every set there."""
    needed = int(np.ceil(1 / target_fmr))
    base_imp = impostor["source"]
    if base_imp.size >= needed and genuine["source"].size:
        threshold = threshold_at_fmr(genuine["source"], base_imp, target_fmr)
        how = f"FMR {100 * target_fmr:g}% of the {base_imp.size} untranslated impostor scores"
    else:
        threshold = fallback
        how = (f"the model's own threshold (only {base_imp.size} untranslated impostor scores; FMR "
               f"{100 * target_fmr:g}% needs {needed})")
    out: dict[str, Any] = {"threshold": float(threshold), "threshold_from": how, "n_impostor_source": int(base_imp.size)}
    for name, g in genuine.items():
        i = impostor.get(name, np.zeros(0))
        out[f"gar_{name}"] = float(np.mean(g >= threshold)) if g.size else None
        out[f"fmr_{name}"] = float(np.mean(i >= threshold)) if i.size else None
        out[f"n_genuine_{name}"] = int(g.size)
        out[f"n_impostor_{name}"] = int(i.size)
    if out.get("gar_translated") is not None and out.get("gar_source"):
        out["gar_ratio"] = out["gar_translated"] / out["gar_source"]
    return out


def identity_pairs(pairs: Pairs, gallery: list[tuple[Path, str]] | None
                   ) -> dict[str, list[tuple[Path, Path]]]:
    """Genuine / impostor pairs of translated and source probes against the gallery (see module docstring)."""
    sources = [pairs.source_root / s for s in pairs.sources]
    gal = gallery if gallery is not None else list(zip(sources, pairs.labels))
    first_of: dict[str, Path] = {}
    by_label: dict[str, list[Path]] = {}
    for path, label in gal:
        first_of.setdefault(label, path)
        by_label.setdefault(label, []).append(path)
    out: dict[str, list[tuple[Path, Path]]] = {k: [] for k in ("gen_t", "imp_t", "gen_s", "imp_s")}
    for src, label, outs in zip(sources, pairs.labels, pairs.outputs):
        mates = [g for g in by_label.get(label, []) if g.resolve() != src.resolve()]
        others = [p for lab, p in first_of.items() if lab != label]
        for probe, gen_key, imp_key in [(src, "gen_s", "imp_s")] + [(pairs.translations / o, "gen_t", "imp_t")
                                                                     for o in outs]:
            out[gen_key] += [(probe, g) for g in mates]
            out[imp_key] += [(probe, g) for g in others]
    return out


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate_identity(config: TranslateEvaluateConfig, pairs: Pairs, *, log: bool = False) -> dict[str, Any]:
    """Scores and operating points of the 'vs source' and 'vs identity' comparisons."""
    from synthbio.translation.identity import build_translation_identity_model
    from synthbio.utils.devices import resolve_device

    assert config.identity_model is not None
    model = build_translation_identity_model(config.identity_model, weights=config.identity_weights,
                                             ridge_period=config.ridge_period, device=resolve_device(config.device))
    sources = [pairs.source_root / s for s in pairs.sources]
    anchors = {str(pairs.translations / o): src for src, outs in zip(sources, pairs.outputs) for o in outs}
    bar = Progress(log).start()
    task = bar.add_task("images embedded")
    scorer = Scorer(model, batch_size=config.batch_size, alignment=config.identity_alignment, anchors=anchors,
                    on_embedded=lambda n: bar.advance(task, n))
    gallery = None
    if config.gallery is not None:
        ds = DomainDataset(DomainConfig(path=config.gallery, crop=0, mirror=False), what="gallery")
        gallery = [(f, label) for f, label in zip(ds.files, ds.labels)]
    sets = identity_pairs(pairs, gallery)
    if log:
        _log(f"translate evaluate: {sum(len(v) for v in sets.values())} identity comparisons under "
             f"{config.identity_model}")
    self_pairs = [(pairs.translations / o, s) for s, outs in zip(sources, pairs.outputs) for o in outs]
    every = {str(p) for v in [*sets.values(), self_pairs] for pair in v for p in pair}
    bar.update(task, total=len(every))
    try:
        scores = {k: scorer.scores(v) for k, v in sets.items()}
        vs_source = scorer.scores(self_pairs)
    finally:
        bar.stop()
    fallback = float(getattr(model, "threshold", 0.0))
    result: dict[str, Any] = {"model": config.identity_model, "scores": {
        "vs_source": vs_source, "genuine_translated": scores["gen_t"], "impostor_translated": scores["imp_t"],
        "genuine_source": scores["gen_s"], "impostor_source": scores["imp_s"]}}
    result["vs_identity"] = operating_point({"translated": scores["gen_t"], "source": scores["gen_s"]},
                                            {"translated": scores["imp_t"], "source": scores["imp_s"]},
                                            target_fmr=config.target_fmr, fallback=fallback)
    op = result["vs_identity"]
    result["vs_source"] = {"threshold": op["threshold"], "threshold_from": op["threshold_from"],
                           "accepted": float(np.mean(vs_source >= op["threshold"])) if vs_source.size else None,
                           "n": int(vs_source.size), "mean_score": float(vs_source.mean()) if vs_source.size else None}
    return result


# --------------------------------------------------------------------------- pixels and realism


def pixel_errors(config: TranslateEvaluateConfig, pairs: Pairs) -> dict[str, Any]:
    """Mean |difference| ([-1, 1] units) and PSNR of translations and of sources against ground truth."""
    assert config.ground_truth is not None
    truth_root = Path(config.ground_truth)
    rows = {"translated": [], "source": []}
    for src, outs in zip(pairs.sources, pairs.outputs):
        truth_path = truth_root / src
        if not truth_path.is_file():
            raise InputError(f"--ground-truth {config.ground_truth!r} has no {src}")
        truth = load_image(truth_path)
        for name, path in [("source", pairs.source_root / src)] + [("translated", pairs.translations / o) for o in outs]:
            x = load_image(path)
            if x.shape[-2:] != truth.shape[-2:]:
                raise InputError(f"{path} and its ground truth {truth_path} differ in size")
            x, t = x.mean(1), truth.mean(1)
            mse = float((x - t).square().mean())
            rows[name].append((float((x - t).abs().mean()), 10 * np.log10(4.0 / max(mse, 1e-12))))
    return {name: {"mean_abs_error": float(np.mean([r[0] for r in v])), "psnr_db": float(np.mean([r[1] for r in v])),
                   "n": len(v)} for name, v in rows.items()}


def realism(config: TranslateEvaluateConfig, pairs: Pairs) -> dict[str, Any]:
    """FD/KID of the translations and (baseline) of the untranslated sources against the target domain."""
    from synthbio.metrics.fid import FidConfig, compute_fid, list_images

    assert config.target is not None
    n_real = len(list_images(config.target))
    out = {}
    for name, folder in (("translated", pairs.translations), ("source", pairs.source_root)):
        n_fake = len(list_images(folder))
        subset = max(2, min(1000, n_real, n_fake))
        fid = compute_fid(FidConfig(real=config.target, fake=str(folder), extractor=config.extractor,
                                    inception_weights=config.inception_weights, fingerprint_size=config.fid_size,
                                    kid=config.kid and subset >= 2, kid_subset_size=subset,
                                    batch_size=config.batch_size, device=config.device))
        out[name] = {"fd": fid.fd, "kid": None if fid.kid is None else dataclasses.asdict(fid.kid),
                     "num_real": fid.num_real, "num_fake": fid.num_fake}
    out["extractor"] = config.extractor
    return out


def evaluate_translations(config: TranslateEvaluateConfig, *, log: bool = False) -> dict[str, Any]:
    """Run every configured measurement and write the report; returns metrics.json's content."""
    pairs = read_translation_run(config.translations)
    outdir = config.report_dir
    if outdir.resolve() == pairs.translations.resolve() or pairs.translations.resolve() in outdir.resolve().parents:
        raise InputError(f"the report folder {outdir} must be outside the translations folder")
    metrics: dict[str, Any] = {"config": config.to_dict(), "direction": pairs.direction,
                               "sources": len(pairs.sources), "outputs": sum(len(o) for o in pairs.outputs)}
    if config.target is not None:
        if log:
            _log("translate evaluate: FD/KID against the target domain")
        metrics["realism"] = realism(config, pairs)
    identity = None
    if config.identity_model is not None:
        identity = evaluate_identity(config, pairs, log=log)
        metrics["identity"] = {k: v for k, v in identity.items() if k != "scores"}
    if config.ground_truth is not None:
        metrics["pixels"] = pixel_errors(config, pairs)
    mark_derived(outdir, command="translate evaluate", source=config.translations)
    write_report(outdir, config, pairs, metrics, identity["scores"] if identity else None)
    return metrics
