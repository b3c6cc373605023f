"""`synthbio plot histograms`: intra / inter-class distance histograms of sample collections."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

plot_app = typer.Typer(help="Figures of sample collections.", no_args_is_help=True)


@plot_app.command("histograms")
def histograms_command(
    collections: Annotated[list[str], typer.Argument(help="Sample collections (samples.h5 files or their folders).")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Folder for histograms.png / .json and distances.npz.")],
    feature: Annotated[str, typer.Option("--feature", help="embedding | w | w_plus.")] = "embedding",
    metric: Annotated[str, typer.Option("--metric", help="angle (radians) | cosine (1 - similarity) | euclidean.")] = "angle",
    cross: Annotated[bool, typer.Option("--cross", help="Also compare every two collections with each other.")] = False,
    shared_identities: Annotated[bool, typer.Option("--shared-identities", help="With --cross: equal identity numbers are the same person (a database and its projections).")] = False,  # noqa: E501
    names: Annotated[Optional[str], typer.Option("--names", help="Comma-separated legend names, one per collection.")] = None,  # noqa: UP007,E501
    bins: Annotated[int, typer.Option("--bins", help="Histogram bins.")] = 60,
    max_pairs: Annotated[int, typer.Option("--max-pairs", help="Pairs sampled per series at most.")] = 200_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pair sampling.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary (means, counts, d') as JSON.")] = False,
) -> None:
    """Intra- and inter-class distance histograms of embeddings or latents, per collection and across them."""
    from synthbio.pipelines.plots import HistogramsConfig, plot_histograms

    config = HistogramsConfig(collections=tuple(collections), outdir=outdir, feature=feature, metric=metric,
                              cross=cross, shared_identities=shared_identities,
                              names=tuple(n.strip() for n in names.split(",")) if names else (), bins=bins,
                              max_pairs=max_pairs, seed=seed)
    data = plot_histograms(config)
    summary = {k: {f: v[f] for f in ("mean", "std", "count", "total_pairs", "d_prime") if f in v}
               for k, v in data["series"].items()}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for k, v in summary.items():
        if not v["total_pairs"]:
            continue
        mean = "n/a" if v["mean"] is None else f"{v['mean']:.4f}"
        dp = f", d' {v['d_prime']:.2f}" if v.get("d_prime") is not None else ""
        typer.echo(f"{k}: mean {mean} over {v['count']} of {v['total_pairs']} pairs{dp}")
    typer.echo(f"figure: {outdir}/histograms.png", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(plot_app, name="plot")
