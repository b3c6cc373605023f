"""What makes the samples of `synthbio dataset generate`: references and variations.

Two engines behind one interface (`references`, `identity`):

- `GeneratorEngine` (faces, and fingerprints with variation method
  "generator"): references by `synthbio.identity.references` (rejection,
  Langevin or derivative-free), variations by `synthbio.identity.variations`
  (dispersion, DisCo, style mixing), all checked by the identity model.
- `ProceduralEngine` (fingerprints, variation method "procedural"): identity
  i is a procedural master fingerprint (`synthbio.fingerprints.master`), its
  samples are impressions of it (`synthbio.fingerprints.impressions`);
  impression 0 is the reference. No generator, no latents. Masters of
  different seeds are different fingers by construction, so no inter-class
  rejection is run (the report measures impostor scores).

Seeds: rejection candidates are the contiguous seeds seed_start, seed_start+1,
... with seed_start derived from the dataset seed, so identity i's seed is its
accepted candidate's seed; Langevin / derivative-free start from the first N
candidates. Variation candidates: see `GeneratorEngine._checked_variations`.
A variation's z_latent is its identity's reference z (variations move in W / W+).

Privacy: with a real reference folder, candidates are screened in seed order
before any reference method runs (those whose similarity to a real image
exceeds the threshold are skipped), keeping the first 4 N + 16 that pass; so
a strict inter-class threshold with rejection sampling may run out of
candidates (InputError). Every written sample records its nearest-real
similarity; variations are not screened (the report shows their leakage).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError
from synthbio.pipelines.dataset.config import DatasetConfig, derived_seed
from synthbio.pipelines.dataset.layout import (
    arrays_metadata,
    decode_arrays,
    encode_arrays,
    sample_labels,
)
from synthbio.segmentation.classes import classes_from_json
from synthbio.segmentation.pixel_classifier import WEIGHTS_FILE, load_pixel_classifier
from synthbio.segmentation.predict import check_compatible, synthesize_with_masks
from synthbio.segmentation.uncertainty import image_uncertainty
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes, sha256_file

# Candidate seeds of rejection sampling start here (mod 2**31) so runs of different dataset seeds do not share them.
_SEED_START_MOD = 2**31


@dataclass(frozen=True)
class IdentitySamples:
    """Every sample of one identity, in label order (reference first).

    images_uint8: [H, W, C] uint8 per sample, of the branch the identity model
    sees (the first). branch_images: every branch of a multi-branch generator
    ({name: [H, W, C] uint8 per sample}, first branch first; {} for one branch).
    extra_files: per sample, further files {extension: bytes} (procedural
    fingerprints: their ground truth). z [M, z_dim], ws [M, num_ws, w_dim],
    embeddings [M, D]: None where the engine has none (procedural fingerprints,
    template matchers); arrays: further per-sample arrays for latents.safetensors.
    attrs: per-sample JSON-able facts for manifest and h5.
    masks_uint8: [H, W] class indices per sample (`--masks`), else None; one
    mask serves every branch.
    """

    identity: int
    labels: list[str]
    seeds: list[int]
    images_uint8: list[np.ndarray]
    z: np.ndarray | None
    ws: np.ndarray | None
    embeddings: np.ndarray | None
    attrs: list[dict[str, Any]] = field(default_factory=list)
    branch_images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    extra_files: list[dict[str, bytes]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    masks_uint8: list[np.ndarray] | None = None


@dataclass(frozen=True)
class ReferenceSet:
    """References of the whole dataset: seeds [N], z [N, z_dim], ws [N, num_ws, w_dim] (None: procedural)."""

    seeds: list[int]
    z: np.ndarray | None
    ws: np.ndarray | None

    def save(self, path: Path, key: str) -> None:
        meta = {"key": key, "count": str(len(self.seeds))}
        data = encode_arrays({"seeds": np.asarray(self.seeds, dtype=np.int64), "z": self.z, "ws": self.ws}, meta)
        atomic_write_bytes(path, data)

    @staticmethod
    def load(path: Path, key: str) -> ReferenceSet | None:
        """The cached set when it was made for `key` (the config content hash), else None."""
        if not path.is_file() or arrays_metadata(path).get("key") != key:
            return None  # absent, corrupt or another run's: recomputed, never trusted
        arrays = decode_arrays(path)
        return ReferenceSet(seeds=[int(s) for s in arrays["seeds"]], z=arrays.get("z"), ws=arrays.get("ws"))


def content_key(config: DatasetConfig, model_sha256: str | None) -> str:
    import json

    return sha256_bytes(json.dumps({"content": config.content(), "model": model_sha256}, sort_keys=True).encode())


def inter_thresholds(model: Any, inter_threshold: float | None) -> dict[str, float | None]:
    """{"threshold_angle", "score_threshold"} for the reference methods from --inter-threshold.

    None: for vector models the model's own `reference_angle` when it has one
    (pixel-random: it carries no identity, so only near-duplicates are kept
    apart), else the ICT of 1.4 rad; for template matchers the model's threshold.
    """
    from synthbio.identity.references import ICT_ANGLE

    if model.kind == "vector":
        angle = getattr(model, "reference_angle", ICT_ANGLE) if inter_threshold is None else float(inter_threshold)
        return {"threshold_angle": float(angle), "score_threshold": None}
    return {"threshold_angle": ICT_ANGLE, "score_threshold": inter_threshold}


def _add_task(bar: Any, text: str, total: int | None) -> Any:
    return bar.add_task(text, total=total) if bar is not None else None


# --- privacy ------------------------------------------------------------------------------


def embed_real_folder(model: Any, folder: Any, *, batch_size: int, device: Any, derive: bool) -> tuple[Any, float | None]:
    """Features of every real image of `folder`: an ImageFolder path (one subfolder per real identity)
    or an `ImageSelection` (a database index with protocol / group, or a folder).

    With derive=True also the privacy threshold, mean - 2 std of the genuine
    similarities (pairs of images of one identity).
    """
    from synthbio.identity.privacy import derive_threshold, embed_folder, genuine_similarities
    from synthbio.io.databases import ImageSelection, select_samples

    selection = folder if isinstance(folder, ImageSelection) else ImageSelection(os.fspath(folder))
    samples = select_samples(selection)
    files = [s.file for s in samples]
    real = embed_folder(model, files, batch_size=batch_size, device=device)
    if not derive:
        return real, None
    labels = [s.identity for s in samples]
    if len(set(labels)) == len(labels):  # the threshold comes from pairs of one identity: say which flags fix it
        raise InputError(f"--privacy-reference {selection.source!r}: no identity has two or more images, so the privacy "
                         "threshold cannot be derived; give one subfolder per identity (an ImageFolder) or "
                         "--privacy-threshold")
    if model.kind == "vector":
        return real, derive_threshold(genuine_similarities(real, labels))
    scores: list[float] = []
    for label in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == label]
        if len(idx) > 1:
            s = model.similarity([real[i] for i in idx], [real[i] for i in idx]).float().numpy()
            scores += s[np.triu_indices(len(idx), k=1)].tolist()
    return real, derive_threshold(scores)


def nearest_real_similarity(model: Any, features: Any, real: Any) -> list[float]:
    """Similarity of each sample to its most similar real image."""
    from synthbio.identity.privacy import nearest_real, nearest_real_templates

    if model.kind == "template":
        return nearest_real_templates(model, list(features), list(real))[0].tolist()
    return nearest_real(features, real)[0].tolist()


# --- masks ---------------------------------------------------------------------------------


class MaskMaker:
    """The pixel classifier of `--masks`: a mask (and the ensemble's uncertainty) per written image."""

    def __init__(self, G: Any, classifier: str, *, model_sha256: str, device: Any) -> None:
        self.G = G
        self.model, meta = load_pixel_classifier(classifier, device=device)
        trained_on = (meta.get("generator") or {}).get("model_sha256")
        if trained_on and trained_on != model_sha256:
            raise InputError(f"--masks {classifier}: the pixel classifier was trained on another generator "
                             f"(weights sha256 {trained_on[:12]}... vs {model_sha256[:12]}...)")
        check_compatible(G, self.model)
        self.classes = classes_from_json(meta.get("classes"), where=os.fspath(Path(classifier) / "config.json"))
        self.sha256 = sha256_file(Path(classifier) / WEIGHTS_FILE)

    def make(self, ws: torch.Tensor, seeds: list[int], *, noise_mode: str, batch_size: int
             ) -> tuple[list[np.ndarray], list[float]]:
        """Masks [H, W] uint8 and uncertainties of the samples (ws [M, num_ws, w_dim], their image seeds).

        The images are synthesised again with their seeds: the same seed and ws give the same image
        (and feature maps) whatever the batch, so each mask belongs to the image already written.
        """
        masks: list[np.ndarray] = []
        scores: list[float] = []
        for start in range(0, len(seeds), batch_size):
            part = slice(start, start + batch_size)
            _, preds = synthesize_with_masks(self.G, self.model, ws[part], seeds=seeds[part], noise_mode=noise_mode)
            masks += [p.labels.cpu().numpy().astype(np.uint8) for p in preds]
            scores += [image_uncertainty(p.js) for p in preds]
        return masks, scores


# --- generator engine ---------------------------------------------------------------------


class GeneratorEngine:
    """References and variations from a generator G under an identity model."""

    def __init__(self, config: DatasetConfig) -> None:
        from synthbio.checkpoints import load_generator, model_hash
        from synthbio.generation.sampling import check_truncation, class_count, is_camera_conditioned
        from synthbio.identity.models import build_identity_model
        from synthbio.utils.devices import resolve_device

        self.config = config
        self.device = resolve_device(config.device)
        assert config.model is not None  # DatasetConfig allows None only for procedural fingerprints
        self.G = load_generator(config.model, device=self.device)
        self.G.eval().requires_grad_(False)
        if class_count(self.G):
            raise InputError(f"generator {config.model!r} is conditional ({self.G.c_dim} classes): "
                             "identity datasets need an unconditional model")
        check_truncation(self.G, config.truncation_psi, None)
        self.camera_conditioned = is_camera_conditioned(self.G)
        self.vary_pose = config.pose_yaw != (0.0, 0.0) or config.pose_pitch != (0.0, 0.0)
        if (self.vary_pose or config.variation_method == "pose") and not self.camera_conditioned:
            raise InputError(f"pose variations (--variations pose, --pose-yaw, --pose-pitch) need a camera-controlled "
                             f"(EG3D) generator; {config.model!r} is not one")
        self.model = build_identity_model(config.identity_model, device=self.device, weights=config.identity_weights)
        self.model_sha256 = model_hash(self.G)
        self.branches: list[str] = list(self.G.branch_names)
        self.key = content_key(config, self.model_sha256)
        self._real: Any = None
        self.privacy_threshold: float | None = None
        self.masks: MaskMaker | None = None if config.masks is None else MaskMaker(
            self.G, config.masks, model_sha256=self.model_sha256, device=self.device)

    def run_info(self) -> dict[str, Any]:
        return {
            "truncation_psi": self.config.truncation_psi,
            "model_sha256": self.model_sha256,
            "identity_model": self.config.identity_model,
        }

    # thresholds in the units the identity algorithms take
    def _inter(self) -> dict[str, float | None]:
        return inter_thresholds(self.model, self.config.inter_threshold)

    def _inter_text(self) -> str:
        inter = self._inter()
        if self.model.kind == "vector":
            return f"{inter['threshold_angle']:.3g} rad"
        return f"score {self.model.threshold if inter['score_threshold'] is None else inter['score_threshold']:g}"

    def _seed_start(self) -> int:
        return derived_seed(self.config.seed) % _SEED_START_MOD

    def _plain_references(self, seeds: list[int]) -> Any:
        """References made of the given seeds as they are (start of Langevin / derivative-free)."""
        from synthbio.generation.sampling import map_seeds
        from synthbio.identity.references import References

        z, ws = map_seeds(self.G, seeds, truncation_psi=self.config.truncation_psi)
        return References(ws=ws, z=z, seeds=list(seeds), embeddings=None, attempts=len(seeds))

    def references(self, path: Path, *, bar: Any = None) -> ReferenceSet:
        """The N references of the whole dataset (cached in `path`, shared by every shard)."""
        cached = ReferenceSet.load(path, self.key)
        if cached is not None and len(cached.seeds) == self.config.identities:
            return cached
        from synthbio.identity import references as R

        cfg = self.config
        task = _add_task(bar, f"references ({cfg.reference_method})", None)
        n = cfg.identities
        common = {"noise_mode": "const", "batch_size": cfg.batch_size}
        candidates = self._candidates(n)
        if cfg.reference_method == "rejection":
            try:
                refs = R.sample_references_rejection(self.G, self.model, num=n, seeds=candidates,
                                                     truncation_psi=cfg.truncation_psi, **self._inter(), **common)
            except R.ReferencesExhausted as exc:
                raise InputError(f"{exc}: pass a smaller --inter-threshold (now {self._inter_text()}) or a larger "
                                 f"--reference-attempts (now {cfg.reference_attempts} candidates per identity), "
                                 "or use --references langevin") from None
        elif cfg.reference_method == "langevin":
            from synthbio.utils.seeds import generators_from_seeds

            init = self._plain_references(candidates[:n])
            refs = R.langevin_references(self.G, self.model, init, d0=self._inter()["threshold_angle"],
                                         generator=generators_from_seeds(init.seeds), **common)
        else:
            init = self._plain_references(candidates[:n])
            refs = R.derivative_free_references(self.G, self.model, init, truncation_psi=cfg.truncation_psi,
                                                **self._inter(), **common)
        out = ReferenceSet(
            seeds=[int(s) for s in refs.seeds],
            z=None if refs.z is None else refs.z.detach().float().cpu().numpy(),
            ws=refs.ws.detach().float().cpu().numpy(),
        )
        out.save(path, self.key)
        if bar is not None:
            bar.update(task, total=1, completed=1)
        return out

    def _candidates(self, n: int) -> list[int]:
        """Candidate seeds in order (privacy-filtered when a real set is given)."""
        start = self._seed_start()
        budget = self.config.reference_attempts * n
        seeds = list(range(start, start + budget))
        if self.config.privacy_reference is None:
            return seeds
        return self._privacy_filter_seeds(seeds, need=n)

    # --- privacy ---------------------------------------------------------------------------

    def real_features(self) -> tuple[Any, float]:
        """Features of the real identities and the privacy threshold (given, or mean - 2 std)."""
        if self._real is None:
            assert self.config.privacy_reference is not None
            self._real, derived = embed_real_folder(self.model, self.config.privacy_selection(),
                                                    batch_size=self.config.batch_size, device=self.device,
                                                    derive=self.config.privacy_threshold is None)
            t = self.config.privacy_threshold
            if t is None:
                # mean - 2 std assumes genuine scores well above impostor ones (cosine of a face
                # recogniser). A matcher's heavy-tailed genuine scores (Bozorth3: mean ~60, std ~40)
                # put it below every impostor score, which would reject every candidate: never go
                # below the model's own decision threshold.
                t = max(float(derived), float(self.model.threshold))
            self.privacy_threshold = float(t)
        assert self.privacy_threshold is not None
        return self._real, self.privacy_threshold

    def _privacy_filter_seeds(self, seeds: list[int], *, need: int) -> list[int]:
        """Drop candidates too close to a real identity, in order, until enough are kept for any method."""
        from synthbio.generation.sampling import map_seeds
        from synthbio.identity.privacy import privacy_filter
        from synthbio.identity.references import embed_latents

        real, threshold = self.real_features()
        kept: list[int] = []
        # Rejection may need more candidates than identities: filter chunks until 4 x `need` + 16 pass.
        for s in range(0, len(seeds), 32):
            chunk = seeds[s:s + 32]
            _, ws = map_seeds(self.G, chunk, truncation_psi=self.config.truncation_psi)
            emb = embed_latents(self.G, self.model, ws, batch_size=self.config.batch_size)
            ok = privacy_filter(emb, real, model=self.model, threshold=threshold).keep
            kept += [seed for seed, keep in zip(chunk, ok.tolist()) if keep]
            if len(kept) >= 4 * need + 16:
                break
        if len(kept) < need:
            raise InputError(f"only {len(kept)} candidates pass the privacy filter (threshold {threshold:.3f}); "
                             "need at least the number of identities")
        return kept

    # --- one identity ----------------------------------------------------------------------

    def _render(self, ws: torch.Tensor, seeds: list[int], noise_mode: str,
                views: list[tuple[float, float]] | None = None) -> dict[str, torch.Tensor]:
        """Every branch {name: [N, C, H, W]} of ws (the identity model sees the first); EG3D: from
        `views` (yaw, pitch degrees; None = front), deterministic depth samples, as the identity
        algorithms render them."""
        from synthbio.generation.sampling import synthesize

        kwargs: dict[str, Any] = {}
        if self.camera_conditioned:
            views = views or [(0.0, 0.0)] * ws.shape[0]
            cams = torch.stack([self.G.default_camera(1, yaw=y, pitch=p)[0] for y, p in views]).to(ws.device)
            kwargs = {"c": cams, "deterministic": True}
        return synthesize(self.G, ws, seeds=seeds, noise_mode=noise_mode, **kwargs)

    def _draw_views(self, num: int, gen: torch.Generator) -> list[tuple[float, float]] | None:
        """Uniform (yaw, pitch) in the configured ranges for `num` candidates (None: front views)."""
        if not self.vary_pose:
            return None
        (y0, y1), (p0, p1) = self.config.pose_yaw, self.config.pose_pitch
        u = torch.rand([num, 2], generator=gen, dtype=torch.float64)
        return [(round(y0 + (y1 - y0) * float(a), 4), round(p0 + (p1 - p0) * float(b), 4)) for a, b in u]

    def _features(self, images: torch.Tensor) -> Any:
        with torch.no_grad():
            out = self.model.embed(images)
        return out.detach().float().cpu() if isinstance(out, torch.Tensor) else list(out)

    def identity(self, identity: int, refs: ReferenceSet | None) -> IdentitySamples:
        """The reference and M - 1 checked variations of one identity."""
        from synthbio.io.images import to_uint8

        assert refs is not None and refs.ws is not None
        cfg = self.config
        m = cfg.samples_per_identity
        ws_ref = torch.from_numpy(refs.ws[identity : identity + 1]).to(self.device)
        ref_seed = refs.seeds[identity]
        first = self.G.branch_names[0]
        ref_img = self._render(ws_ref, [ref_seed], cfg.noise_mode)
        ref_feat = self._features(ref_img[first])
        ws_parts, imgs, feats, seeds, passed, sims = [ws_ref], [ref_img], [ref_feat], [ref_seed], [True], [1.0]
        views: list[tuple[float, float] | None] = [(0.0, 0.0) if self.camera_conditioned else None]
        if m > 1:
            v = self._checked_variations(identity, ws_ref, ref_feat, m - 1)
            ws_parts.append(v["ws"])
            imgs.append(v["images"])
            feats.append(v["features"])
            seeds += v["seeds"]
            passed += v["passed"]
            views += [(0.0, 0.0) if self.camera_conditioned and x is None else x for x in v["views"]]
        images = {b: torch.cat([im[b] for im in imgs]) for b in self.G.branch_names}
        features = torch.cat(feats) if isinstance(ref_feat, torch.Tensor) else [t for f in feats for t in f]
        sims = self.model.similarity(ref_feat, features).float().cpu()[0].tolist()
        attrs: list[dict[str, Any]] = [{"similarity_to_reference": float(sims[k])} for k in range(m)]
        for k in range(1, m):
            attrs[k]["passed"] = bool(passed[k])
        for k in range(m):
            if views[k] is not None:  # EG3D: the camera each sample was rendered from
                attrs[k]["yaw"], attrs[k]["pitch"] = views[k]
        if cfg.privacy_reference is not None:
            real, _ = self.real_features()
            near = nearest_real_similarity(self.model, features, real)
            for k in range(m):
                attrs[k]["nearest_real"] = float(near[k])
        ws_all = torch.cat(ws_parts)
        z = None if refs.z is None else np.repeat(refs.z[identity : identity + 1], m, axis=0).astype(np.float32)
        branch_images = {b: list(to_uint8(x)) for b, x in images.items()}
        masks = None
        if self.masks is not None:
            masks, uncertainty = self.masks.make(ws_all, seeds, noise_mode=cfg.noise_mode, batch_size=cfg.batch_size)
            for k in range(m):
                attrs[k]["mask_uncertainty"] = uncertainty[k]
        return IdentitySamples(
            identity=identity, labels=sample_labels(m), seeds=seeds, images_uint8=branch_images[first],
            z=z, ws=ws_all.detach().float().cpu().numpy(),
            embeddings=features.numpy() if isinstance(features, torch.Tensor) else None,
            attrs=attrs, branch_images=branch_images if len(branch_images) > 1 else {}, masks_uint8=masks,
        )

    def _intra_limits(self) -> tuple[float, float]:
        """(min similarity to the reference, max similarity between variations) in model units.

        Vector models: intra_threshold is an angle (radians; a variation stays
        within it of its reference), default: the model's threshold. Template
        models: intra_threshold is a score, default the model's threshold.
        """
        t = self.config.intra_threshold
        if self.model.kind == "vector":
            low = float(self.model.threshold) if t is None else math.cos(float(t))
        else:
            low = float(self.model.threshold) if t is None else float(t)
        high = self.config.max_intra_similarity
        return low, math.inf if high is None else float(high)

    def _checked_variations(self, identity: int, ws_ref: torch.Tensor, ref_feat: Any, num: int) -> dict[str, Any]:
        """Rounds of `num` candidates until `num` pass `check_variations` (at most max_attempts rounds).

        Candidate c (counting over rounds) gets the image seed derived_seed(seed, identity, c + 1);
        round a draws its latents from a torch.Generator seeded with derived_seed(seed, identity, 0, a).
        When rounds run out, the best-scoring failed candidates fill the gap (passed = False).
        """
        from synthbio.identity.variations import check_variations

        cfg = self.config
        low, high = self._intra_limits()
        cand_ws, cand_img, cand_feat, cand_seed = [], [], [], []
        cand_views: list[tuple[float, float] | None] = []
        keep = torch.zeros(0, dtype=torch.bool)
        for a in range(cfg.max_attempts):
            gen = torch.Generator().manual_seed(derived_seed(cfg.seed, identity, 0, a))
            ws = self._variation_latents(ws_ref, num, gen)
            views = self._draw_views(num, gen)
            seeds = [derived_seed(cfg.seed, identity, len(cand_seed) + j + 1) for j in range(num)]
            imgs = self._render(ws, seeds, cfg.noise_mode, views)
            cand_views += views if views is not None else [None] * num
            cand_ws.append(ws)
            cand_img.append(imgs)
            cand_feat.append(self._features(imgs[self.G.branch_names[0]]))
            cand_seed += seeds
            feats = torch.cat(cand_feat) if isinstance(cand_feat[0], torch.Tensor) else [t for f in cand_feat for t in f]
            keep = check_variations(self.model, ref_feat, feats, min_similarity=low, max_similarity=high)
            if int(keep.sum()) >= num:
                break
        ws_all = torch.cat(cand_ws)
        img_all = {b: torch.cat([im[b] for im in cand_img]) for b in self.G.branch_names}
        sim = self.model.similarity(feats, ref_feat).float().cpu()[:, 0]
        chosen = [int(i) for i in torch.nonzero(keep).flatten()][:num]
        if len(chosen) < num:  # fill with the closest failed candidates, marked as failed
            rest = sorted((i for i in range(len(cand_seed)) if i not in chosen), key=lambda i: -float(sim[i]))
            chosen += rest[: num - len(chosen)]
        return {
            "ws": ws_all[chosen],
            "images": {b: x[chosen] for b, x in img_all.items()},
            "features": feats[chosen] if isinstance(feats, torch.Tensor) else [feats[i] for i in chosen],
            "seeds": [cand_seed[i] for i in chosen],
            "passed": [bool(keep[i]) for i in chosen],
            "views": [cand_views[i] for i in chosen],
        }

    def _variation_latents(self, ws_ref: torch.Tensor, num: int, gen: torch.Generator) -> torch.Tensor:
        """ws [num, num_ws, w_dim] of `num` variation candidates by the configured method."""
        from synthbio.identity import variations as V

        cfg = self.config
        method = cfg.variation_method
        if method == "pose":  # the reference's latent; only the camera changes (drawn by the caller)
            return ws_ref.expand(num, -1, -1).clone()
        if method in ("style-mixing", "generator"):
            out = V.style_mixing_variations(self.G, ws_ref, num=num, generator=gen, truncation_psi=cfg.truncation_psi)
        elif method == "dispersion":
            out = V.dispersion_variations(self.G, self.model, ws_ref, num=num, generator=gen, batch_size=cfg.batch_size)
        else:
            out = V.disco_variations(self.G, self.model, ws_ref, self._directions(), num=num, generator=gen,
                                     batch_size=cfg.batch_size)
        return out.ws.detach()

    def _directions(self) -> torch.Tensor:
        """DisCo's semantic directions [K, num_ws, w_dim] from the configured direction files."""
        from synthbio.editing.directions import load_direction

        if not self.config.directions:
            raise InputError("DisCo variations need semantic directions: give --direction FILE (pose, light, ...)")
        vecs = []
        for path in self.config.directions:
            v = load_direction(path).vector.float().to(self.device)
            vecs.append(v.expand(self.G.num_ws, -1) if v.ndim == 1 else v)
        return torch.stack(vecs)


# --- procedural fingerprints --------------------------------------------------------------


class ProceduralEngine:
    """Identity = procedural master fingerprint; samples = its impressions (impression 0 = reference)."""

    model_sha256: str | None = None
    branches: list[str] = ["img"]  # noqa: RUF012 (read only)

    def __init__(self, config: DatasetConfig) -> None:
        from synthbio.fingerprints.impressions import parse_sensors, sensor_preset
        from synthbio.fingerprints.master import MasterConfig

        self.config = config
        # The master canvas exceeds the sensor by the default margins (480x640 for 416x560).
        self.master_config = MasterConfig(width=config.fp_width + 64, height=config.fp_height + 80)
        self.sensors = parse_sensors(config.fp_sensor)
        self.impression_configs = {n: sensor_preset(n, width=config.fp_width, height=config.fp_height)
                                   for n in self.sensors}

    def run_info(self) -> dict[str, Any]:
        return {"truncation_psi": None, "model_sha256": None, "identity_model": self.config.identity_model}

    def references(self, path: Path, *, bar: Any = None) -> ReferenceSet:
        return ReferenceSet(seeds=[derived_seed(self.config.seed, i) for i in range(self.config.identities)],
                            z=None, ws=None)

    def identity(self, identity: int, refs: ReferenceSet | None) -> IdentitySamples:
        """Impressions of one master, each with its ground truth (ISO, xyt, JSON) as `fingerprints generate` writes."""
        from synthbio.fingerprints.impressions import impression_sensor, make_impression
        from synthbio.fingerprints.master import generate_master
        from synthbio.fingerprints.truth_files import encode_ground_truth

        assert refs is not None
        seed = refs.seeds[identity]
        master = generate_master(seed, self.master_config)
        labels = sample_labels(self.config.samples_per_identity)
        images, attrs, truth = [], [], []
        for k in range(len(labels)):
            sensor = impression_sensor(self.sensors, seed, k)
            imp = make_impression(master, seed, k, self.impression_configs[sensor])
            images.append(imp.image[:, :, None])
            attrs.append({"finger_class": str(master.fp_class), "impression": k, "minutiae": len(imp.minutiae),
                          "sensor": sensor})
            truth.append(encode_ground_truth(imp.template(), {
                "finger_class": str(master.fp_class), "finger": identity, "impression": k, "finger_seed": seed,
                "dataset_seed": self.config.seed, "transform": imp.transform, "sensor": sensor,
                "artefacts": imp.artefacts.to_dict()}))
        # A procedural finger's latent is its seed: the master and every impression follow from it.
        arrays = {"finger_seed": np.full(len(labels), seed, dtype=np.int64),
                  "impression": np.arange(len(labels), dtype=np.int64)}
        return IdentitySamples(identity=identity, labels=labels, seeds=[seed] * len(labels), images_uint8=images,
                               z=None, ws=None, embeddings=None, attrs=attrs, extra_files=truth, arrays=arrays)


def build_engine(config: DatasetConfig) -> GeneratorEngine | ProceduralEngine:
    if config.variation_method == "procedural":
        return ProceduralEngine(config)
    return GeneratorEngine(config)
