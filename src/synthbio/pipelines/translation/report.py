"""The HTML report of `synthbio translate evaluate`: tables, score histograms, example grids, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.io.images import save_grid, to_uint8
from synthbio.metrics.distributions import histogram, histogram_edges
from synthbio.pipelines.common.report_html import (
    esc,
    figure_html,
    fmt_number,
    json_safe,
    new_figure,
    page,
    save_figure,
    table,
    write_text,
)
from synthbio.pipelines.translation.layout import Pairs, load_image


def _pct(v: Any) -> str:
    return fmt_number(v, percent=True, digits=3)


def _histogram_png(path: Path, sets: dict[str, np.ndarray], threshold: float | None, title: str) -> Path | None:
    present = {k: v for k, v in sets.items() if v.size}
    if not present:
        return None
    edges = histogram_edges(*present.values())
    centers = (edges[:-1] + edges[1:]) / 2
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for name, values in present.items():
        ax.step(centers, histogram(values, edges, density=True), where="mid", label=f"{name} (n={values.size})")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("similarity score")
    ax.set_ylabel("fraction of comparisons")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _examples_png(path: Path, pairs: Pairs, count: int, truth_root: str | None) -> tuple[Path | None, int]:
    cells, cols = [], 0
    size = None
    for src, outs in list(zip(pairs.sources, pairs.outputs))[:count]:
        row = [load_image(pairs.source_root / src)] + [load_image(pairs.translations / o) for o in outs]
        if truth_root is not None and (Path(truth_root) / src).is_file():
            row.append(load_image(Path(truth_root) / src))
        shapes = {tuple(x.shape[-2:]) for x in row}
        if len(shapes) != 1 or (size is not None and shapes != {size}):
            continue  # a grid needs one size: rows of other sizes are left out
        size = next(iter(shapes))
        cols = len(row)
        cells += list(to_uint8(torch.cat([_rgb(x) for x in row])))
    if not cells:
        return None, 0
    save_grid(path, cells, cols=cols)
    return path, cols


def _identity_section(metrics: dict[str, Any], scores: dict[str, np.ndarray], outdir: Path) -> str:
    ident = metrics["identity"]
    op, src = ident["vs_identity"], ident["vs_source"]
    rows = [
        ["translated probes", _pct(op.get("gar_translated")), _pct(op.get("fmr_translated")),
         op.get("n_genuine_translated"), op.get("n_impostor_translated")],
        ["untranslated sources (baseline)", _pct(op.get("gar_source")), _pct(op.get("fmr_source")),
         op.get("n_genuine_source"), op.get("n_impostor_source")],
    ]
    parts = [(f"<p>Identity model <code>{esc(ident['model'])}</code>; threshold {fmt_number(op['threshold'])}: "
              f"{esc(op['threshold_from'])}.</p>"),
             table(["probes", "genuine accepted", "impostors accepted", "genuine pairs", "impostor pairs"], rows),
             (f"<p>Translated / untranslated genuine acceptance: <b>{fmt_number(op.get('gar_ratio'))}</b>. "
             f"Each translation against its own source: {_pct(src.get('accepted'))} accepted "
             f"(mean score {fmt_number(src.get('mean_score'))}, n={src.get('n')}).</p>")]
    figs = []
    hist = _histogram_png(outdir / "scores_identity.png", {
        "genuine, translated": scores["genuine_translated"], "genuine, source": scores["genuine_source"],
        "impostor, translated": scores["impostor_translated"], "impostor, source": scores["impostor_source"]},
        op["threshold"], "probe vs the gallery of its identity and of others")
    if hist is not None:
        figs.append(figure_html(hist.name, "Scores against the gallery: genuine and impostor, translated and "
                                           "untranslated probes."))
    hist = _histogram_png(outdir / "scores_source.png", {"translation vs its source": scores["vs_source"],
                                                         "impostor, source": scores["impostor_source"]},
                          op["threshold"], "translation vs its own source")
    if hist is not None:
        figs.append(figure_html(hist.name, "Each translation against the image it was translated from."))
    return "\n".join(parts + figs)


def _realism_section(metrics: dict[str, Any]) -> str:
    r = metrics["realism"]
    rows = []
    for name, label in (("translated", "translations"), ("source", "untranslated sources (baseline)")):
        kid = r[name]["kid"]
        rows.append([label, fmt_number(r[name]["fd"]), fmt_number(kid["mean"] if kid else None),
                     fmt_number(kid["std"] if kid else None), r[name]["num_fake"], r[name]["num_real"]])
    return (f"<p>Features: <code>{esc(r['extractor'])}</code>; lower is closer to the target domain.</p>"
            + table(["images", "FD", "KID", "KID std", "n", "n target"], rows))


def _pixels_section(metrics: dict[str, Any]) -> str:
    p = metrics["pixels"]
    rows = [[name, fmt_number(p[key]["mean_abs_error"], digits=4), fmt_number(p[key]["psnr_db"]), p[key]["n"]]
            for key, name in (("translated", "translations"), ("source", "untranslated sources (baseline)"))]
    return "<p>Against the pixel-aligned ground truth (grey, [-1, 1] units).</p>" + table(
        ["images", "mean |difference|", "PSNR (dB)", "n"], rows)


def write_report(outdir: Path, config: Any, pairs: Pairs, metrics: dict[str, Any],
                 scores: dict[str, np.ndarray] | None) -> Path:
    """index.html, metrics.json, the histograms and the example grid in `outdir`."""
    sections = [("Run", table(["", ""], [["translations", str(pairs.translations)],
                                          ["sources", str(pairs.source_root)], ["direction", pairs.direction],
                                          ["sources translated", metrics["sources"]],
                                          ["translations", metrics["outputs"]]]))]
    if "identity" in metrics and scores is not None:
        sections.append(("Identity preservation", _identity_section(metrics, scores, outdir)))
    if "realism" in metrics:
        sections.append(("Realism (FD / KID against the target domain)", _realism_section(metrics)))
    if "pixels" in metrics:
        sections.append(("Pixel error against ground truth", _pixels_section(metrics)))
    if config.examples:
        grid, _cols = _examples_png(outdir / "examples.png", pairs, config.examples, config.ground_truth)
        if grid is not None:
            caption = "Per row: the source, its translation(s)" + (", the ground truth" if config.ground_truth else "")
            sections.append(("Examples", figure_html(grid.name, caption)))
    html = page("Translation evaluation", sections, subtitle=f"{metrics['sources']} sources, {pairs.direction}")
    write_text(outdir / "index.html", html)
    write_text(outdir / "metrics.json", json.dumps(json_safe(metrics), indent=2) + "\n")
    return outdir / "index.html"
