"""Figures and the HTML page of `synthbio fingerprints attack` (see `synthbio.pipelines.fingerprints.attack`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.fingerprints.minutiae_map import minutiae_map_preview
from synthbio.io.images import encode_png, make_grid, read_png
from synthbio.metrics.distributions import histogram, histogram_edges
from synthbio.pipelines.common import report_html as R
from synthbio.pipelines.fingerprints.attack_data import (
    FingerprintAttackConfig,
    RealTemplates,
    attack_scores,
    source_template,
)
from synthbio.utils.hashing import atomic_write_bytes


_COLORS = {"genuine": "#2b7bba", "impostor": "#d9534f", "type1": "#e08214", "type2": "#6a3d9a"}
_LABELS = {"genuine": "genuine (real vs real)", "impostor": "impostor (real vs real)",
           "type1": "type-I (reconstruction vs its source)", "type2": "type-II (vs other impressions)"}


def draw_figures(out_dir: Path, config: FingerprintAttackConfig, index: Any, records: list[dict[str, Any]],
                 baseline: dict[str, np.ndarray], real: RealTemplates, reconstructor: Any) -> list[tuple[str, str]]:
    """Score histograms and example triples; returns (file, caption) pairs."""
    figs: list[tuple[str, str]] = []
    series = {**{k: baseline[k] for k in ("genuine", "impostor")}, **attack_scores(records)}
    fig = R.new_figure(6.5, 4.0)
    ax = fig.subplots()
    present = [v for v in series.values() if v.size]
    edges = histogram_edges(*present, max_bins=60) if present else np.array([0.0, 1.0])
    for name, vals in series.items():
        if vals.size:
            h = histogram(vals, edges, density=True)
            ax.stairs(h, edges, label=f"{_LABELS[name]} (n={vals.size})", color=_COLORS[name], lw=1.5)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set(xlabel="Bozorth3 score", ylabel="fraction of comparisons (symlog)", title="Template inversion: scores")
    ax.legend(fontsize=8)
    R.save_figure(fig, out_dir / "scores.png")
    figs.append(("scores.png", "Bozorth3 score distributions: real genuine / impostor and the attack's "
                               "type-I / type-II."))

    shown = [(r["finger"], imp) for r in records for imp in r["impressions"][:1]][: config.examples]
    if shown:
        (out_dir / "examples").mkdir(parents=True, exist_ok=True)
    for f, imp_rec in shown:
        imp = next(i for i in index.impressions[f] if i.index == imp_rec["index"])
        tpl = source_template(config, imp, real.finger(f))
        real_img = read_png(imp.files["png"])
        recon = read_png(out_dir / imp_rec["png"])
        preview = minutiae_map_preview(tpl, size=int(reconstructor.map_size))
        tiles = [np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a for a in (real_img, preview, recon)]
        if len({t.shape for t in tiles}) != 1:
            continue  # a mindtct template of another size than the image cannot happen; stay safe
        name = f"examples/{f:05d}_{imp.index:02d}.png"
        atomic_write_bytes(out_dir / name, _png(make_grid(tiles, cols=3, pad=6)))
        t1 = next((s for k, _, s in next(r for r in records if r["finger"] == f)["type1"] if k == imp.index), None)
        figs.append((name, f"Finger {f}, impression {imp.index}: real | minutiae map | reconstruction "
                           f"(type-I score {t1:g})."))
    return figs


def _png(a: np.ndarray) -> bytes:
    return encode_png(a)


def render_html(m: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    rows = []
    for op in m["operating_points"]:
        if op["supported"]:
            rows.append([op["label"], f"{op['threshold']:g}", op["n_impostor"],
                         R.fmt_number(op["observed_fmr"], percent=True, digits=4),
                         R.fmt_number(op["type1_success"], percent=True),
                         R.fmt_number(op["type2_success"], percent=True),
                         R.fmt_number(op.get("type2_any_success"), percent=True),
                         R.fmt_number(op.get("source_success"), percent=True),
                         R.fmt_number(op["genuine_success"], percent=True)])
        else:
            rows.append([op["label"], "not evaluated", op["n_impostor"], op["note"], *["n/a"] * 5])
    c = m["counts"]
    sections = [("Attack success", R.table(
        ["FMR", "threshold", "impostor scores", "observed FMR", "type-I", "type-II", "type-II (any)",
         "type-I ceiling", "genuine TMR"],
        rows) + f"<p>{c['type1']} type-I and {c['type2']} type-II comparisons on {m['attacked_fingers']} fingers "
        f"({c['impressions']} impressions); {c['genuine']} genuine and {c['impostor']} impostor comparisons of real "
        f"impressions. The type-I ceiling is the rate of the attacked templates themselves used as probes "
        f"(what a perfect reconstruction would reach). An FMR of 0.1% needs at least 1,000 impostor scores and 0.01% at least 10,000: "
        f"with fewer the threshold is not reported.</p>")]
    p = m["protocol"]
    sections.append(("Protocol", R.table(["", ""], [
        ["templates attacked", p["template_source"]], ["type-I", p["type1"]], ["type-II", p["type2"]],
        ["genuine", p["genuine"]], ["impostor", p["impostor"]], ["threshold", p["threshold"]],
        ["method", m.get("method", "encoder")], ["encoder", m["encoder"] or "none"],
        ["generator", m["generator"] or "none"],
        *([["settings", json.dumps(m["reconstruction_settings"], sort_keys=True)]]
          if m.get("reconstruction_settings") else []),
    ])))
    mn = m["minutiae"]
    sections.append(("Minutiae", R.table(["", "mean", "median"], [
        [k, R.fmt_number(v["mean"], digits=1), R.fmt_number(v["median"], digits=1)] for k, v in mn.items()])))
    sections.append(("Figures", "\n".join(R.figure_html(src, cap, width=640) for src, cap in figures)))
    sections.append(("About", f"<p>Made by synthbio {R.esc(m['synthbio_version'])} on {R.esc(m['generated_at'])} "
                     f"from <code>{R.esc(m['dataset'])}</code>; all numbers are in "
                     f"<a href=\"results.json\">results.json</a>.</p>"))
    return R.page(f"Fingerprint reconstruction attack (template inversion, {m.get('method', 'encoder')})", sections,
                  subtitle=f"{m['attacked_fingers']} fingers attacked; templates: {p['template_source']}")
