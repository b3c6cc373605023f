"""`synthbio dataset generate | merge | report`: identity datasets, their shards and their report."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import GroupOption, ProtocolOption, WhereOption

dataset_app = typer.Typer(
    name="dataset",
    help="Identity-labelled synthetic datasets: references, variations, shards, merge, report.",
    no_args_is_help=True,
    add_completion=False,
)

_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")


@dataset_app.command("generate")
def generate_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output directory (or shard directory).")],
    identities: Annotated[int, typer.Option("--identities", "-n", help="Number of identities N.")],
    samples: Annotated[int, typer.Option("--samples", "-m", help="Images per identity M (reference + M-1 variations).")] = 4,
    model: Annotated[Optional[str], typer.Option("--model", help="Generator: registry name or checkpoint path.")] = None,  # noqa: UP007
    identity_model: Annotated[str, typer.Option("--identity-model", help="dlib-resnet | arcface-r100 | adaface-ir101 | nbis-bozorth3 | pixel-random.")] = "pixel-random",  # noqa: E501
    identity_weights: Annotated[Optional[str], typer.Option("--identity-weights", help="Weights of the identity model.")] = None,  # noqa: UP007
    modality: Annotated[str, typer.Option("--modality", help="face | fingerprint.")] = "face",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Dataset seed.")] = 0,
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi.")] = 0.7,
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="const | random | none (images).")] = "const",
    references: Annotated[str, typer.Option("--references", help="rejection | langevin | derivative-free.")] = "rejection",
    variations: Annotated[str, typer.Option("--variations", help="face: dispersion | disco | style-mixing; fingerprint: procedural | generator.")] = "style-mixing",  # noqa: E501
    inter_threshold: Annotated[Optional[float], typer.Option("--inter-threshold", help="Between identities: min angle (rad, vector models) or max score (matchers).")] = None,  # noqa: UP007,E501
    intra_threshold: Annotated[Optional[float], typer.Option("--intra-threshold", help="Within an identity: max angle (rad) or min score.")] = None,  # noqa: UP007,E501
    max_intra_similarity: Annotated[Optional[float], typer.Option("--max-intra-similarity", help="Two variations of one identity may be at most this similar (vector models).")] = None,  # noqa: UP007,E501
    direction: Annotated[Optional[list[str]], typer.Option("--direction", help="Direction file for DisCo (repeat for several).")] = None,  # noqa: UP007,E501
    privacy_reference: Annotated[Optional[str], typer.Option("--privacy-reference", help="Real identities to keep away from: an ImageFolder or a database index (with --protocol / --group / --where).")] = None,  # noqa: UP007,E501
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    privacy_threshold: Annotated[Optional[float], typer.Option("--privacy-threshold", help="Similarity limit to real images (default: mean - 2 std of their genuine similarities).")] = None,  # noqa: UP007,E501
    fp_width: Annotated[int, typer.Option("--fp-width", help="Procedural fingerprint sensor width (500 dpi).")] = 416,
    fp_height: Annotated[int, typer.Option("--fp-height", help="Procedural fingerprint sensor height (500 dpi).")] = 560,
    fp_sensor: Annotated[str, typer.Option("--sensor", help="Procedural fingerprints: optical | capacitive | ink | latent, a comma list, or mixed.")] = "optical",  # noqa: E501
    masks: Annotated[Optional[str], typer.Option("--masks", help="A pixel classifier (`synthbio masks train`): an index mask <label>_mask.png beside every image.")] = None,  # noqa: UP007,E501
    shard: Annotated[str, typer.Option("--shard", help="K/N: make identities i with i % N == K only.")] = "0/1",
    backend: Annotated[str, typer.Option("--backend", help="local | ray.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (default: a local instance).")] = None,  # noqa: UP007,E501
    ray_shards: Annotated[int, typer.Option("--ray-shards", help="Ray tasks (shards) to split the run into.")] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
) -> None:
    """Write DIR/<identity>/<label>.png, samples.h5, manifest.jsonl, config.json. Resumable, shardable."""
    from rich.console import Console

    from synthbio.pipelines.dataset.config import DatasetConfig, describe
    from synthbio.pipelines.dataset.generate import generate_dataset

    config = DatasetConfig(
        outdir=outdir, model=model, identity_model=identity_model, identity_weights=identity_weights,
        modality=modality, identities=identities, samples_per_identity=samples, seed=seed, truncation_psi=truncation,
        noise_mode=noise_mode, reference_method=references, variation_method=variations,
        inter_threshold=inter_threshold, intra_threshold=intra_threshold, privacy_reference=privacy_reference,
        privacy_protocol=protocol, privacy_group=group, privacy_where=tuple(where or ()),
        max_intra_similarity=max_intra_similarity, directions=tuple(direction or ()),
        privacy_threshold=privacy_threshold, fp_width=fp_width, fp_height=fp_height, fp_sensor=fp_sensor, masks=masks, shard=shard, backend=backend,
        ray_address=ray_address, ray_shards=ray_shards, batch_size=batch_size, device=device,
    )
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    console = Console(stderr=True)
    result = generate_dataset(config, progress=console.is_terminal)
    console.print(
        f"{len(result.generated)} identities generated, {len(result.kept)} already done, in {result.outdir}\n"
        f"manifest: {result.manifest}\nlatents:  {result.samples}",
        highlight=False,
    )


@dataset_app.command("merge")
def merge_command(
    shards: Annotated[list[str], typer.Argument(help="Every shard directory of one run (0/N .. N-1/N).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Merged dataset directory.")],
) -> None:
    """Check the shards belong together and are complete, then merge images, latents, manifests, samples.h5."""
    from rich.console import Console

    from synthbio.pipelines.dataset.merge import merge_datasets

    result = merge_datasets(shards, out)
    Console(stderr=True).print(
        f"merged {len(result.shards)} shards: {result.identities} identities, {result.samples} samples in {result.outdir}",
        highlight=False,
    )


@dataset_app.command("report")
def report_command(
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio dataset generate` or `merge`.")],
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Report directory (default: DATASET_report).")] = None,  # noqa: UP007,E501
    identity_model: Annotated[Optional[str], typer.Option("--identity-model", help="Score with this model (default: the dataset's).")] = None,  # noqa: UP007,E501
    identity_weights: Annotated[Optional[str], typer.Option("--identity-weights", help="Weights of that model.")] = None,  # noqa: UP007
    privacy_reference: Annotated[Optional[str], typer.Option("--privacy-reference", help="Real images for the leakage section: an ImageFolder or a database index (with --protocol / --group / --where).")] = None,  # noqa: UP007,E501
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    privacy_threshold: Annotated[Optional[float], typer.Option("--privacy-threshold", help="Leakage threshold (default: derived).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per embedding pass.")] = 16,
    device: Annotated[str, _DEVICE] = "cpu",
) -> None:
    """Intra/inter-class similarity histograms, EER/FMR/FNMR, leakage, mosaics: REPORT/index.html."""
    from rich.console import Console

    from synthbio.pipelines.dataset.report import DatasetReportConfig, evaluate_dataset

    config = DatasetReportConfig(
        dataset=dataset, outdir=outdir, identity_model=identity_model, identity_weights=identity_weights,
        privacy_reference=privacy_reference, privacy_protocol=protocol, privacy_group=group,
        privacy_where=tuple(where or ()), privacy_threshold=privacy_threshold, batch_size=batch_size, device=device,
    )
    report = evaluate_dataset(config)
    v = report.metrics["verification"] or {}
    eer = v.get("eer")
    Console(stderr=True).print(
        f"{report.metrics['identities']} identities, {report.metrics['samples']} samples; "
        f"EER {'n/a' if eer is None else f'{100 * eer:.2f}%'}\nreport: {report.html}\nmetrics: {report.metrics_json}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
