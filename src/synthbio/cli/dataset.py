"""`synthbio dataset generate | merge | report`: identity datasets, their shards and their report."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import GroupOption, ProtocolOption, WhereOption
from synthbio.cli.output import json_safe, result, result_json

dataset_app = typer.Typer(
    name="dataset",
    help="Identity-labelled synthetic datasets: references, variations, shards, merge, report.",
    no_args_is_help=True,
    add_completion=False,
)

_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")


@dataset_app.command("generate")
def generate_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder (or shard folder).")],
    identities: Annotated[int, typer.Option("--identities", help="Number of identities N.")],
    samples: Annotated[int, typer.Option("--samples", help="Images per identity M (reference + M-1 variations).")] = 4,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator: registry name or checkpoint path (none for procedural fingerprints).")] = None,  # noqa: UP007,E501
    identity_model: Annotated[str, typer.Option("--identity-model", help="dlib-resnet | arcface-r100 | adaface-ir101 | nbis-bozorth3 | pixel-random.")] = "pixel-random",  # noqa: E501
    identity_weights: Annotated[Optional[str], typer.Option("--identity-weights", help="Weights of the identity model.")] = None,  # noqa: UP007
    modality: Annotated[str, typer.Option("--modality", help="face | fingerprint.")] = "face",
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed.")] = 0,
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi.")] = 0.7,
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="const | random | none (images).")] = "const",
    references: Annotated[str, typer.Option("--references", help="rejection | langevin | derivative-free.")] = "rejection",
    variations: Annotated[str, typer.Option("--variations", help="face: dispersion | disco | style-mixing | pose (EG3D: same latent, other views); fingerprint: procedural | generator.")] = "style-mixing",  # noqa: E501
    inter_threshold: Annotated[Optional[float], typer.Option("--inter-threshold", help="Between identities: min angle (rad, vector models; default 1.4, pixel-random 0.32) or max score (matchers; default the model's threshold).")] = None,  # noqa: UP007,E501
    reference_attempts: Annotated[int, typer.Option("--reference-attempts", help="--references rejection: candidate seeds per identity before giving up.")] = 1000,  # noqa: E501
    variation_attempts: Annotated[int, typer.Option("--variation-attempts", help="Rounds of variation candidates before the closest failed ones are kept (marked passed=false).")] = 4,  # noqa: E501
    intra_threshold: Annotated[Optional[float], typer.Option("--intra-threshold", help="Within an identity: max angle (rad) or min score.")] = None,  # noqa: UP007,E501
    max_intra_similarity: Annotated[Optional[float], typer.Option("--max-intra-similarity", help="Two variations of one identity may be at most this similar (vector models).")] = None,  # noqa: UP007,E501
    direction: Annotated[Optional[list[str]], typer.Option("--direction", "-d", help="Direction file for DisCo (repeat for several).")] = None,  # noqa: UP007,E501
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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run's dataset in --outdir (the same command resumes).")] = False,  # noqa: E501
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
    pose_yaw: Annotated[str, typer.Option("--pose-yaw", help="EG3D: 'min,max' yaw degrees of the variations' cameras (e.g. --pose-yaw=-30,30).")] = "0,0",  # noqa: E501
    pose_pitch: Annotated[str, typer.Option("--pose-pitch", help="EG3D: 'min,max' pitch degrees of the variations' cameras.")] = "0,0",  # noqa: E501
) -> None:
    """Write DIR/<identity>/<label>.png (every branch; fingerprint ground truth), samples.h5, manifest.jsonl, config.json. Resumable, shardable."""  # noqa: E501
    from synthbio.pipelines.dataset.config import DatasetConfig, describe
    from synthbio.pipelines.dataset.generate import generate_dataset
    from synthbio.utils.seeds import parse_sweep

    config = DatasetConfig(
        outdir=outdir, model=model, identity_model=identity_model, identity_weights=identity_weights,
        modality=modality, identities=identities, samples_per_identity=samples, seed=seed, truncation_psi=truncation,
        noise_mode=noise_mode, reference_method=references, variation_method=variations,
        inter_threshold=inter_threshold, intra_threshold=intra_threshold, privacy_reference=privacy_reference,
        privacy_protocol=protocol, privacy_group=group, privacy_where=tuple(where or ()),
        max_intra_similarity=max_intra_similarity, directions=tuple(direction or ()),
        privacy_threshold=privacy_threshold, fp_width=fp_width, fp_height=fp_height, fp_sensor=fp_sensor, masks=masks, shard=shard, backend=backend,
        ray_address=ray_address, ray_shards=ray_shards, batch_size=batch_size, device=device,
        max_attempts=variation_attempts, reference_attempts=reference_attempts, overwrite=overwrite,
        pose_yaw=tuple(parse_sweep(pose_yaw, what="--pose-yaw")),
        pose_pitch=tuple(parse_sweep(pose_pitch, what="--pose-pitch")),
    )
    if dry_run:
        result(json.dumps(describe(config), indent=2))
        return
    res = generate_dataset(config, progress=True)
    result(f"{len(res.generated)} identities generated, {len(res.kept)} already done, in {res.outdir}\n"
           f"manifest: {res.manifest}\nlatents:  {res.samples}")


@dataset_app.command("merge")
def merge_command(
    shards: Annotated[list[str], typer.Argument(help="Every shard directory of one run (0/N .. N-1/N).")],
    out: Annotated[str, typer.Option("--outdir", "-o", help="Merged dataset folder.")],
) -> None:
    """Check the shards belong together and are complete, then merge images, latents, manifests, samples.h5."""
    from synthbio.pipelines.dataset.merge import merge_datasets

    res = merge_datasets(shards, out)
    result(f"merged {len(res.shards)} shards: {res.identities} identities, {res.samples} samples in {res.outdir}")


@dataset_app.command("report")
def report_command(
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio dataset generate` or `merge`.")],
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Report folder (default: DATASET_report, beside the dataset).")] = None,  # noqa: UP007,E501
    identity_model: Annotated[Optional[str], typer.Option("--identity-model", help="Score with this model (default: the dataset's).")] = None,  # noqa: UP007,E501
    identity_weights: Annotated[Optional[str], typer.Option("--identity-weights", help="Weights of that model.")] = None,  # noqa: UP007
    privacy_reference: Annotated[Optional[str], typer.Option("--privacy-reference", help="Real images for the leakage section: an ImageFolder or a database index (with --protocol / --group / --where).")] = None,  # noqa: UP007,E501
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    privacy_threshold: Annotated[Optional[float], typer.Option("--privacy-threshold", help="Leakage threshold (default: derived).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per embedding pass.")] = 16,
    device: Annotated[str, _DEVICE] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
) -> None:
    """Intra/inter-class similarity histograms, EER/FMR/FNMR, leakage, mosaics: DATASET_report/index.html."""
    from synthbio.metrics.verification import rates_text
    from synthbio.pipelines.dataset.report import DatasetReportConfig, evaluate_dataset

    config = DatasetReportConfig(
        dataset=dataset, outdir=outdir, identity_model=identity_model, identity_weights=identity_weights,
        privacy_reference=privacy_reference, privacy_protocol=protocol, privacy_group=group,
        privacy_where=tuple(where or ()), privacy_threshold=privacy_threshold, batch_size=batch_size, device=device,
    )
    report = evaluate_dataset(config, progress=True)
    if as_json:
        result_json(json_safe({**report.metrics, "report": str(report.html), "metrics_json": str(report.metrics_json)}))
        return
    result(f"{report.metrics['identities']} identities, {report.metrics['samples']} samples; "
           f"{rates_text(report.metrics['verification'])}\nreport: {report.html}\nmetrics: {report.metrics_json}")


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
