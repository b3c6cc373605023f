"""`synthbio project`: parse options -> ProjectImagesConfig -> one call of project_images."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption, resolve_inputs


def project_command(
    targets: Annotated[list[str], typer.Argument(help="Target images (PNG, JPEG, ...), .npy arrays [C, H, W], "
                                                 "folders, or a database index.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Generator: registry name or checkpoint path.")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder.")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    space: Annotated[str, typer.Option("--space", help="w (one w for all layers, official) | wplus.")] = "w",
    steps: Annotated[int, typer.Option("--steps", help="Optimisation steps.")] = 1000,
    loss: Annotated[str, typer.Option("--loss", help="Reconstruction loss, e.g. vgg, l2, 'l2+0.1*orientation'.")
                    ] = "vgg",
    vgg_weights: Annotated[Optional[str], typer.Option("--vgg-weights", help="VGG16 weights file (torchvision layout).")  # noqa: UP007,E501
                           ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Target i uses seed + i.")] = 303,
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N steps (resume after a kill).")
                          ] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Targets optimised together.")] = 4,
    branch: Annotated[Optional[str], typer.Option("--branch", help="Output branch of a multi-branch model.")  # noqa: UP007
                      ] = None,
    class_idx: Annotated[Optional[int], typer.Option("--class-idx", help="Class of a conditional model.")  # noqa: UP007,E501
                         ] = None,
    no_noise: Annotated[bool, typer.Option("--no-noise-opt", help="Keep noise maps fixed (no optimisation).")
                        ] = False,
    strip: Annotated[bool, typer.Option("--strip", help="PNG of the projection at 0/10/25/50/100% of steps.")
                     ] = False,
    video: Annotated[bool, typer.Option("--video", help="MP4 of the progress (needs imageio-ffmpeg).")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="float32 | bfloat16 (loss network in bf16; "
                                           "needs native bf16).")] = "float32",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run in --outdir (the same command resumes).")
                         ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
    camera: Annotated[Optional[str], typer.Option("--camera", help="EG3D: the targets' camera, 'yaw,pitch[,fov]' degrees.")] = None,  # noqa: UP007,E501
    cameras: Annotated[Optional[str], typer.Option("--cameras", help="EG3D: JSON file, one camera per target (25 numbers or {yaw, pitch, fov}).")] = None,  # noqa: UP007,E501
    estimate_camera: Annotated[bool, typer.Option("--estimate-camera", help="EG3D: estimate each target's camera from its face landmarks (dlib + OpenCV).")] = False,  # noqa: E501
    no_anchor: Annotated[bool, typer.Option("--no-anchor", help="StyleGAN3: let ws[0] (the image's rotation and translation) move too.")] = False,  # noqa: E501
) -> None:
    """Project images into a generator's W or W+ space (StyleGAN2-ADA projector schedule). Resumable.

    StyleGAN3: ws[0] stays at w_avg (anchored) unless --no-anchor. EG3D: each target is
    rendered from its camera (--camera, --cameras, --estimate-camera; default the front one).
    """
    from synthbio.errors import InputError
    from synthbio.inversion.projector import ProjectorConfig
    from synthbio.pipelines.projection.project import ProjectImagesConfig, project_images
    from synthbio.utils.seeds import parse_sweep

    targets = resolve_inputs(targets, protocol, group, where, db_root)
    projector = ProjectorConfig(space=space, num_steps=steps, checkpoint_every=save_every, branch=branch,
                                class_idx=class_idx, optimize_noise=not no_noise, precision=precision,
                                anchor_input=not no_anchor)
    cam = None
    if camera is not None:
        values = parse_sweep(camera, what="--camera")
        if len(values) not in (2, 3):
            raise InputError(f"--camera takes 'yaw,pitch[,fov]' degrees, got {camera!r}")
        cam = (values[0], values[1], values[2] if len(values) == 3 else 18.837)
    config = ProjectImagesConfig(model=model, targets=tuple(targets), outdir=outdir, projector=projector,
                                 loss=loss, vgg_weights=vgg_weights, seed=seed, batch_size=batch_size, strip=strip,
                                 video=video, device=device, overwrite=overwrite, camera=cam, cameras_file=cameras,
                                 estimate_camera=estimate_camera)
    if dry_run:
        typer.echo(json.dumps(config.to_dict(), indent=2))
        return
    res = project_images(config, progress=True)
    losses = ", ".join(f"{v:.4g}" for v in res.final_losses.tolist()[:8])
    typer.echo(f"{len(config.targets)} targets projected into {res.outdir} (final loss {losses}"
               f"{', ...' if len(config.targets) > 8 else ''})")


def register(app: typer.Typer) -> None:
    app.command("project")(project_command)
