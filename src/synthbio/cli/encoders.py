"""`synthbio train-encoder` and `synthbio invert`: pSp-style encoders against a frozen generator."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption

_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")


def _ints(text: str, what: str) -> tuple[int, ...]:
    from synthbio.errors import InputError

    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{what} {text!r}: expected comma-separated integers, e.g. 16,32,64,128") from None


def train_encoder_command(  # noqa: PLR0913 (one option per EncoderTrainConfig field)
    generator: Annotated[Optional[str], typer.Option("--model", "-m", help="Frozen generator: registry name or checkpoint path.")] = None,  # noqa: UP007,E501
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Run folder (default with --resume: that run's).")] = None,  # noqa: UP007,E501
    task: Annotated[str, typer.Option("--task", help="invert (images -> W+) | minutiae (minutiae maps -> W+).")] = "invert",  # noqa: E501
    data: Annotated[Optional[str], typer.Option("--data", help="invert: image folder (none = samples of G); minutiae: a `fingerprints generate` folder.")] = None,  # noqa: UP007,E501
    mode: Annotated[str, typer.Option("--mode", help="wplus (one style vector per layer) | w (one W for all).")] = "wplus",  # noqa: E501
    channels: Annotated[str, typer.Option("--channels", help="Channels of the 4 encoder stages.")] = "16,32,64,128",
    blocks: Annotated[str, typer.Option("--blocks", help="Residual units per stage.")] = "1,2,2,1",
    head_channels: Annotated[int, typer.Option("--head-channels", help="Width of each map2style head.")] = 64,
    norm: Annotated[str, typer.Option("--norm", help="batch | group.")] = "batch",
    batch: Annotated[int, typer.Option("--batch-size", help="Batch size.")] = 4,
    images: Annotated[int, typer.Option("--images", help="Training length in images.")] = 20_000,
    snapshot_images: Annotated[int, typer.Option("--snapshot-images", help="Snapshot every this many images.")] = 2_000,  # noqa: E501
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-4,
    l2: Annotated[float, typer.Option("--l2", help="Weight of the pixel L2 loss.")] = 1.0,
    perceptual: Annotated[Optional[str], typer.Option("--perceptual", help="Reconstruction-loss spec: vgg, orientation, l2+0.1*orientation, ...")] = None,  # noqa: UP007,E501
    perceptual_weight: Annotated[float, typer.Option("--perceptual-weight", help="Weight of --perceptual.")] = 0.8,
    vgg_weights: Annotated[Optional[str], typer.Option("--vgg-weights", help="VGG16 weights file for 'vgg'.")] = None,  # noqa: UP007,E501
    identity: Annotated[Optional[str], typer.Option("--identity-model", help="Identity loss: a differentiable recogniser (dlib-resnet, arcface-r100, ...).")] = None,  # noqa: UP007,E501
    identity_weight: Annotated[float, typer.Option("--identity-weight", help="Weight of the identity loss.")] = 0.1,
    identity_weights: Annotated[Optional[str], typer.Option("--identity-weights", help="Weights file of --identity-model.")] = None,  # noqa: UP007,E501
    w_norm: Annotated[float, typer.Option("--w-norm", help="Weight of ||ws - w_avg|| (pSp W-norm).")] = 0.0,
    latent: Annotated[float, typer.Option("--latent", help="Weight of the W+ L2 to the known ws (invert without --data).")] = 0.0,  # noqa: E501
    truncation: Annotated[float, typer.Option("--truncation", help="Truncation psi of samples drawn from G.")] = 1.0,
    holdout_fingers: Annotated[int, typer.Option("--holdout-fingers", help="minutiae: keep the last K fingers out.")] = 0,  # noqa: E501
    seed: Annotated[int, typer.Option("--seed", help="Random seed (initialisation, data order, latents).")] = 0,
    device: Annotated[str, _DEVICE] = "auto",
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Snapshot and stop after this long.")] = None,  # noqa: UP007,E501
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue the run in this OUTDIR exactly (its saved settings; --images and --max-minutes may change).")] = None,  # noqa: UP007,E501
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Warm start from this encoder (same architecture; w_avg taken from --model).")] = None,  # noqa: UP007,E501
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Train an encoder (image or minutiae maps -> W+) against a frozen generator; resumable exactly."""
    from synthbio.errors import InputError
    from synthbio.inversion.encoder_training import EncoderTrainConfig, saved_config, train_encoder

    if resume is not None:
        cfg = saved_config(resume)
        overrides: dict[str, object] = {"resume": resume, "outdir": outdir or resume, "images": images}
        if max_minutes is not None:
            overrides["max_minutes"] = max_minutes
        cfg = dataclasses.replace(cfg, **overrides)  # type: ignore[arg-type]
    else:
        if generator is None or outdir is None:
            raise InputError("train-encoder needs --model and --outdir (or --resume RUN to continue a run)")
        cfg = EncoderTrainConfig(
            generator=generator, outdir=outdir, task=task, data=data, mode=mode,
            channels=_ints(channels, "--channels"), blocks=_ints(blocks, "--blocks"), head_channels=head_channels,
            norm=norm, batch=batch, images=images, snapshot_images=snapshot_images, lr=lr, l2_weight=l2,
            perceptual=perceptual, perceptual_weight=perceptual_weight, vgg_weights=vgg_weights, identity=identity,
            identity_weight=identity_weight, identity_weights=identity_weights, w_norm_weight=w_norm,
            latent_weight=latent, truncation_psi=truncation, holdout_fingers=holdout_fingers, seed=seed,
            device=device, max_minutes=max_minutes, init_from=init_from)
    if dry_run:
        typer.echo(json.dumps(cfg.to_dict(), indent=2))
        return
    latest = train_encoder(cfg, progress=True)
    typer.echo(f"encoder: {latest}")


def invert_command(
    images: Annotated[list[str], typer.Argument(help="Image files, folders of images, or a database index.")],
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Encoder folder or registry name.")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder (PNGs + samples.h5).")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    generator: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator (default: the one the encoder was trained against).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass (never changes results).")] = 8,  # noqa: E501
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier inversion in --outdir.")] = False,  # noqa: E501
) -> None:
    """Invert images to W+ with a trained encoder: reconstructions as PNGs, latents in samples.h5."""
    from pathlib import Path

    from synthbio.checkpoints.encoders import load_encoder
    from synthbio.checkpoints.loading import load_generator
    from synthbio.errors import OutputDirError
    from synthbio.inversion.invert import invert_images
    from synthbio.io.databases import parse_where, select_many
    from synthbio.io.databases.selection import is_index_file
    from synthbio.io.samples import SAMPLES_NAME
    from synthbio.utils.devices import resolve_device

    samples = select_many(images, protocol=protocol, group=group, where=parse_where(where), root=db_root)
    # Folders and indexes name identities (and attributes); loose image files are numbered in order.
    from_db = not any(Path(i).is_file() and not is_index_file(i) for i in images)
    if (Path(outdir) / SAMPLES_NAME).exists() and not overwrite:
        raise OutputDirError(f"--outdir {outdir!r} already holds {SAMPLES_NAME} (use --overwrite to replace it)")
    dev = resolve_device(device)
    enc, meta = load_encoder(encoder, device=dev)
    gen_name = generator or str(meta.get("generator", ""))
    G = load_generator(gen_name, device=dev)
    written = invert_images(enc, G, [s.file for s in samples], outdir, batch_size=batch_size,
                            attrs={"encoder": str(encoder), "generator": gen_name},
                            identities=[s.identity_index for s in samples] if from_db else None,
                            sample_attrs=[{**s.attributes, "key": s.key, "identity": s.identity} for s in samples]
                            if from_db else None)
    import synthbio
    from synthbio.utils.hashing import atomic_write_json

    # after the results: names the job for `synthbio info` (its inputs, encoder and generator)
    atomic_write_json(Path(outdir) / "config.json", {
        "command": "invert", "config": {"images": list(images), "encoder": encoder, "model": gen_name,
                                        "protocol": protocol, "group": group, "where": where, "db_root": db_root},
        "inverted": len(written), "synthbio_version": synthbio.__version__})
    typer.echo(f"{len(written)} images inverted into {outdir}")


def register(app: typer.Typer) -> None:
    app.command("train-encoder")(train_encoder_command)
    app.command("invert")(invert_command)
