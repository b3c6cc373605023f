"""`synthbio dataset report`: how an identity dataset behaves under its identity model.

Writes REPORT/index.html, REPORT/metrics.json and PNG figures (default REPORT
= `<dataset>_report`, beside the dataset, so that the dataset folder stays a
clean ImageFolder):

- genuine (intra-class: pairs of samples of one identity) and impostor
  (inter-class) similarity histograms with the model's threshold,
- the fraction of genuine pairs below and impostor pairs at or above the
  threshold, EER / FMR100 / FMR1000 and FMR / FNMR at the threshold
  (`synthbio.metrics.verification`),
- leakage: the similarity of every sample to its nearest REAL image, when a
  privacy reference folder was used (or is given here), and the fraction at
  or above the privacy threshold,
- a mosaic per identity (first `mosaic_identities` identities).

Scores: vector models use the embeddings stored in samples.h5 when they come
from the same model, otherwise the images are embedded again; template models
(Bozorth3) extract templates from the images. Impostor pairs: every
cross-identity pair of samples for vector models (a fixed random subset of
`max_impostor_pairs` when there are more), references only for template
models (matching is ~15 ms a pair).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import synthbio
from synthbio.errors import InputError
from synthbio.io.derived import mark_derived, sibling_folder
from synthbio.io.manifest import MANIFEST_NAME, read_manifest
from synthbio.io.samples import SAMPLES_NAME, read_samples
from synthbio.metrics.distributions import histogram, histogram_edges, summarize_scores
from synthbio.metrics.verification import error_rates, summarize
from synthbio.pipelines.common import report_html as R
from synthbio.pipelines.dataset.config import read_config
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.progress import Progress

_COLORS = {"genuine": "#2b7bba", "impostor": "#d9534f", "leak": "#6a3d9a"}


@dataclass(frozen=True)
class DatasetReportConfig:
    """dataset: a directory made by `synthbio dataset generate` (or merge).

    outdir: report folder (None = `<dataset>_report`). identity_model: score
    with another model (None = the dataset's). privacy_reference /
    privacy_threshold: real images for the leakage section, an ImageFolder or
    a database index narrowed by privacy_protocol / privacy_group /
    privacy_where (None = the dataset's, if it used one; threshold None =
    derived mean - 2 std).
    """

    dataset: str
    outdir: str | None = None
    identity_model: str | None = None
    identity_weights: str | None = None
    privacy_reference: str | None = None
    privacy_protocol: str | None = None
    privacy_group: str | None = None
    privacy_where: tuple[str, ...] = ()
    privacy_threshold: float | None = None
    max_impostor_pairs: int = 200_000
    max_template_identities: int = 200
    mosaic_identities: int = 16
    batch_size: int = 16
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", os.fspath(self.dataset))
        if self.max_impostor_pairs < 1 or self.mosaic_identities < 0 or self.batch_size < 1:
            raise InputError("max impostor pairs and batch size must be >= 1, mosaic identities >= 0")

    def report_dir(self) -> Path:
        return Path(self.outdir) if self.outdir is not None else sibling_folder(self.dataset, "report")


@dataclass(frozen=True)
class DatasetReport:
    outdir: Path
    html: Path
    metrics_json: Path
    metrics: dict[str, Any]
    figures: list[Path]


# --- loading ------------------------------------------------------------------------------


def _load_images(root: Path, rels: list[str]) -> torch.Tensor:
    """PNG files -> float [N, C, H, W] in [-1, 1] (inverse of the writer's rounding, to 1/127.5)."""
    from synthbio.io.images import read_png

    arrays = []
    for rel in rels:
        a = read_png(root / rel)
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return (x - 128.0) / 127.5


def _features(model: Any, root: Path, rels: list[str], batch_size: int, *, progress: bool = False) -> Any:
    parts: list[Any] = []
    with torch.no_grad(), Progress(progress) as bar:
        task = bar.add_task("samples embedded", total=len(rels))
        for s in range(0, len(rels), batch_size):
            e = model.embed(_load_images(root, rels[s:s + batch_size]))
            parts.append(e.detach().float().cpu() if isinstance(e, torch.Tensor) else list(e))
            bar.advance(task, len(rels[s:s + batch_size]))
    if parts and isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return [t for p in parts for t in p]


def _rows(features: Any, idx: list[int]) -> Any:
    return features[idx] if isinstance(features, torch.Tensor) else [features[i] for i in idx]


# --- scores -------------------------------------------------------------------------------


def genuine_scores(model: Any, features: Any, groups: list[list[int]]) -> np.ndarray:
    """Similarities of every pair of samples inside each identity (i < j)."""
    out: list[np.ndarray] = []
    for idx in groups:
        if len(idx) < 2:
            continue
        f = _rows(features, idx)
        s = model.similarity(f, f).float().cpu().numpy()
        out.append(s[np.triu_indices(len(idx), k=1)])
    return np.concatenate(out) if out else np.zeros(0)


def impostor_scores(model: Any, features: Any, groups: list[list[int]], *, max_pairs: int,
                    max_template_identities: int) -> np.ndarray:
    """Cross-identity similarities (see the module docstring for which pairs)."""
    if len(groups) < 2:
        return np.zeros(0)
    if not isinstance(features, torch.Tensor):  # template matcher: references (first sample) only
        refs = [g[0] for g in groups][:max_template_identities]
        s = model.similarity(_rows(features, refs), _rows(features, refs)).float().cpu().numpy()
        return s[np.triu_indices(len(refs), k=1)]
    owner = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    flat = np.concatenate([np.asarray(g) for g in groups])
    n = flat.size
    total = (n * n - sum(len(g) ** 2 for g in groups)) // 2
    f = torch.nn.functional.normalize(features.float(), dim=1)
    if total <= max_pairs:
        s = model.similarity(features[flat], features[flat]).float().cpu().numpy()
        iu = np.triu_indices(n, k=1)
        keep = owner[iu[0]] != owner[iu[1]]
        return s[iu][keep]
    rng = np.random.default_rng(0)  # a fixed subset: the report is reproducible
    a = rng.integers(0, n, size=2 * max_pairs)
    b = rng.integers(0, n, size=2 * max_pairs)
    keep = owner[a] != owner[b]
    a, b = a[keep][:max_pairs], b[keep][:max_pairs]
    return (f[flat[a]] * f[flat[b]]).sum(dim=1).numpy()


# --- the report ---------------------------------------------------------------------------




def evaluate_dataset(config: DatasetReportConfig, *, progress: bool = False) -> DatasetReport:
    """Score the dataset, draw the figures, write metrics.json and index.html."""
    from synthbio.identity.models import build_identity_model

    root = Path(config.dataset)
    ds = read_config(root)
    content = ds["content"]
    records = read_manifest(root / MANIFEST_NAME).records
    if not records:
        raise InputError(f"{root / MANIFEST_NAME} lists no sample: not a generated dataset")
    records = sorted(records, key=lambda r: (int(r["identity"]), r["label"] != "reference", r["label"]))
    model_name = config.identity_model or content["identity_model"]
    weights = config.identity_weights if config.identity_model else content.get("identity_weights")
    device = resolve_device(config.device)
    model = build_identity_model(model_name, device=device, weights=weights)
    rels = [r["path"] for r in records]
    features = None
    if model.kind == "vector" and model_name == content["identity_model"] and (root / SAMPLES_NAME).is_file():
        _, samples = read_samples(root / SAMPLES_NAME)
        by_key = {(s.identity, s.label): s.embedding for s in samples}
        embs = [by_key.get((int(r["identity"]), r["label"])) for r in records]
        if all(e is not None for e in embs):
            features = torch.from_numpy(np.stack(embs))
    if features is None:
        features = _features(model, root, rels, config.batch_size, progress=progress)
    ids = sorted({int(r["identity"]) for r in records})
    pos = {i: k for k, i in enumerate(ids)}
    groups: list[list[int]] = [[] for _ in ids]
    for k, r in enumerate(records):
        groups[pos[int(r["identity"])]].append(k)

    gen = genuine_scores(model, features, groups)
    imp = impostor_scores(model, features, groups, max_pairs=config.max_impostor_pairs,
                          max_template_identities=config.max_template_identities)
    t = float(model.threshold)
    m: dict[str, Any] = {
        "dataset": os.fspath(root), "identity_model": model_name, "threshold": t,
        "identities": len(ids), "samples": len(records),
        "genuine": summarize_scores(gen).to_dict(), "impostor": summarize_scores(imp).to_dict(),
        "genuine_below_threshold": float((gen < t).mean()) if gen.size else None,
        "impostor_at_or_above_threshold": float((imp >= t).mean()) if imp.size else None,
        "verification": None, "leakage": None,
        "synthbio_version": synthbio.__version__, "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if gen.size and imp.size:
        fmr, fnmr = error_rates(gen, imp, t)
        m["verification"] = {**summarize(gen, imp).to_dict(), "fmr_at_threshold": fmr, "fnmr_at_threshold": fnmr}
    near = None
    # The real images: those given here, else the dataset's own privacy reference (with its selection).
    source = config if config.privacy_reference else content
    privacy = config.privacy_reference or content.get("privacy_reference")
    if privacy is not None:
        from synthbio.io.databases import ImageSelection, parse_where
        from synthbio.pipelines.dataset.engines import embed_real_folder, nearest_real_similarity

        get = (lambda k: getattr(source, k)) if source is config else source.get
        selection = ImageSelection(os.fspath(privacy), protocol=get("privacy_protocol"), group=get("privacy_group"),
                                   where=parse_where(list(get("privacy_where") or ())))
        pt = config.privacy_threshold if config.privacy_reference else content.get("privacy_threshold")
        real, derived = embed_real_folder(model, selection, batch_size=config.batch_size, device=device,
                                          derive=pt is None)
        pt = float(derived if pt is None else pt)
        near = np.asarray(nearest_real_similarity(model, features, real), dtype=np.float64)
        m["leakage"] = {"reference": selection.describe(), "threshold": pt, "nearest_real": summarize_scores(near).to_dict(),
                        "at_or_above_threshold": float((near >= pt).mean())}
    out = mark_derived(config.report_dir(), command="dataset report", source=config.dataset)
    figures = draw_figures(out, root, records, groups, gen, imp, t, near, m, config.mosaic_identities)
    metrics_json = out / "metrics.json"
    atomic_write_json(metrics_json, R.json_safe(m))
    html = R.write_text(out / "index.html", render_html(m, content, figures))
    return DatasetReport(outdir=out, html=html, metrics_json=metrics_json, metrics=m,
                         figures=[out / f for f, _ in figures])


def _hist(ax: Any, values: np.ndarray, edges: np.ndarray, label: str, color: str) -> None:
    h = histogram(values, edges, density=True)
    ax.stairs(h, edges, label=f"{label} (n={values.size})", color=color, fill=True, alpha=0.35)
    ax.stairs(h, edges, color=color)


def draw_figures(out: Path, root: Path, records: list[dict[str, Any]], groups: list[list[int]], gen: np.ndarray,
                 imp: np.ndarray, threshold: float, near: np.ndarray | None, m: dict[str, Any],
                 mosaic_identities: int) -> list[tuple[str, str]]:
    """Write the PNGs; return (file name, caption) pairs."""
    from synthbio.io.images import make_grid, read_png, write_png

    figs: list[tuple[str, str]] = []
    fig = R.new_figure(6.0, 3.8)
    ax = fig.subplots()
    edges = histogram_edges(gen, imp, max_bins=60)
    if imp.size:
        _hist(ax, imp, edges, "impostor (inter-class)", _COLORS["impostor"])
    if gen.size:
        _hist(ax, gen, edges, "genuine (intra-class)", _COLORS["genuine"])
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set(xlabel=f"similarity ({m['identity_model']})", ylabel="fraction of pairs", title="Intra- and inter-class similarity")
    ax.legend()
    R.save_figure(fig, out / "similarity.png")
    figs.append(("similarity.png", "Genuine pairs (samples of one identity) and impostor pairs (different identities); "
                                   "dashed: the model's decision threshold."))
    if near is not None and m["leakage"] is not None:
        fig = R.new_figure(6.0, 3.5)
        ax = fig.subplots()
        e = histogram_edges(near, max_bins=50)
        _hist(ax, near, e, "synthetic samples", _COLORS["leak"])
        ax.axvline(m["leakage"]["threshold"], color="k", ls="--", lw=1, label="privacy threshold")
        ax.set(xlabel="similarity to the nearest real image", ylabel="fraction of samples", title="Leakage")
        ax.legend()
        R.save_figure(fig, out / "leakage.png")
        figs.append(("leakage.png", "Similarity of every synthetic sample to its nearest real image; "
                                    "at or above the dashed line a sample resembles a real identity."))
    if mosaic_identities:
        rows = []
        for idx in groups[:mosaic_identities]:
            tiles = [read_png(root / records[k]["path"]) for k in idx]
            rows.append(tiles)
        width = max(len(r) for r in rows)
        tiles = [r[k] if k < len(r) else np.zeros_like(r[0]) for r in rows for k in range(width)]
        if all(t.shape == tiles[0].shape for t in tiles):
            write_png(out / "mosaic.png", make_grid(tiles, cols=width, pad=2))
            figs.insert(0, ("mosaic.png", f"One row per identity (first {len(rows)}): the reference, then its variations."))
    return figs


def _rate(v: dict[str, Any], key: str) -> str:
    """A rate, or why it is left out (too few impostor comparisons to observe it)."""
    from synthbio.metrics.verification import MIN_IMPOSTORS

    if v.get(key) is None:
        return f"not reported (needs >= {MIN_IMPOSTORS[key]} impostor comparisons)" if v else "n/a"
    return R.fmt_number(v[key], percent=True)


def render_html(m: dict[str, Any], content: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    v = m["verification"] or {}
    rows = [
        ["identities / samples", f"{m['identities']} / {m['samples']}"],
        ["identity model, threshold", f"{m['identity_model']}, {R.fmt_number(m['threshold'])}"],
        ["genuine pairs below threshold", R.fmt_number(m["genuine_below_threshold"], percent=True)],
        ["impostor pairs at or above threshold", R.fmt_number(m["impostor_at_or_above_threshold"], percent=True)],
        ["EER", R.fmt_number(v.get("eer"), percent=True)],
        ["FMR100 / FMR1000", f"{_rate(v, 'fmr100')} / {_rate(v, 'fmr1000')}"],
        ["comparisons behind the rates", f"{v.get('n_genuine', 0)} genuine, {v.get('n_impostor', 0)} impostor"],
        ["FMR / FNMR at threshold", f"{R.fmt_number(v.get('fmr_at_threshold'), percent=True)} / "
                                    f"{R.fmt_number(v.get('fnmr_at_threshold'), percent=True)}"],
        ["genuine similarity mean (5%-95%)", f"{R.fmt_number(m['genuine']['mean'])} "
                                             f"({R.fmt_number(m['genuine']['q05'])}-{R.fmt_number(m['genuine']['q95'])})"],
        ["impostor similarity mean (5%-95%)", f"{R.fmt_number(m['impostor']['mean'])} "
                                              f"({R.fmt_number(m['impostor']['q05'])}-{R.fmt_number(m['impostor']['q95'])})"],
    ]
    if m["leakage"] is not None:
        lk = m["leakage"]
        rows.append(["samples at or above the privacy threshold", f"{R.fmt_number(lk['at_or_above_threshold'], percent=True)} "
                     f"(threshold {R.fmt_number(lk['threshold'])})"])
    settings = R.table(["setting", "value"], [[k, "" if v is None else v] for k, v in sorted(content.items())])
    sections = [
        ("Summary", R.table(["measure", "value"], rows)),
        ("Figures", "\n".join(R.figure_html(src, cap, width=560) for src, cap in figures)),
        ("Generation settings", settings),
        ("About", f"<p>Made by synthbio {R.esc(m['synthbio_version'])} on {R.esc(m['generated_at'])} from "
                  f"<code>{R.esc(m['dataset'])}</code>; all numbers are in <a href=\"metrics.json\">metrics.json</a>.</p>"),
    ]
    return R.page("Synthetic identity dataset report", sections,
                  subtitle=f"{content['modality']} dataset: {m['identities']} identities, {m['samples']} samples; "
                           f"references {content['reference_method']}, variations {content['variation_method']}")
