"""`synthbio project-database`: options -> ProjectDatabaseConfig -> one call of project_database."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption, selection


def project_database_command(  # noqa: PLR0913 (one option per config field)
    database: Annotated[str, typer.Argument(help="Database index (`synthbio db build`) or an image folder.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Registry name or checkpoint path.")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output directory (shared by all shards).")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    space: Annotated[str, typer.Option("--space", help="w (one w for all layers) | wplus.")] = "w",
    steps: Annotated[int, typer.Option("--steps", help="Optimisation steps per sample.")] = 1000,
    loss: Annotated[str, typer.Option("--loss", help="Reconstruction loss, e.g. vgg, l2, 'l2+0.8*vgg'.")] = "vgg",
    vgg_weights: Annotated[Optional[str], typer.Option("--vgg-weights", help="VGG16 weights file (torchvision layout).")] = None,  # noqa: UP007,E501
    seed: Annotated[int, typer.Option("--seed", help="Sample i of the selection uses seed + i.")] = 303,
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N steps within a batch.")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples optimised together.")] = 4,
    shard: Annotated[str, typer.Option("--shard", help="K/N: project the samples i with i % N == K.")] = "0/1",
    backend: Annotated[str, typer.Option("--backend", help="local | ray (runs --ray-shards shards as Ray tasks).")] = "local",
    ray_shards: Annotated[int, typer.Option("--ray-shards", help="Shards for --backend ray.")] = 2,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (default: a local instance).")] = None,  # noqa: UP007,E501
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="float32 | bfloat16 (loss network in bf16).")] = "float32",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run in --outdir (the same command resumes).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and the sample count as JSON; write nothing.")] = False,  # noqa: E501
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Project every sample of a database protocol / group into W or W+ (resumable, shardable); latents and
    the samples' attributes go to OUTDIR/samples.h5."""
    from synthbio.inversion.projector import ProjectorConfig
    from synthbio.io.databases import select_samples
    from synthbio.pipelines.projection import ProjectDatabaseConfig, project_database

    projector = ProjectorConfig(space=space, num_steps=steps, checkpoint_every=save_every, precision=precision)
    config = ProjectDatabaseConfig(model=model, selection=selection(database, protocol, group, where, db_root),
                                   outdir=outdir, projector=projector, loss=loss, vgg_weights=vgg_weights, seed=seed,
                                   batch_size=batch_size, shard=shard, backend=backend, ray_shards=ray_shards,
                                   ray_address=ray_address, device=device, overwrite=overwrite)
    if dry_run:
        n = len(select_samples(config.selection, check=False))
        typer.echo(json.dumps({"config": config.to_dict(), "samples": n}, indent=2))
        return
    result = project_database(config, progress=True)
    if as_json:
        typer.echo(json.dumps({"outdir": str(result.outdir), "projected": len(result.projected),
                               "kept": len(result.kept), "samples": result.samples, "complete": result.complete}))
        return
    state = "complete: " + str(result.samples_path) if result.complete else "other shards still to finish"
    typer.echo(f"{len(result.projected)} samples projected, {len(result.kept)} already done, of "
               f"{result.samples} in the selection ({state})")


def register(app: typer.Typer) -> None:
    app.command("project-database")(project_database_command)
