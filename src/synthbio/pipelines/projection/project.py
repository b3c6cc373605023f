"""`synthbio project`: target files in; latents, noise maps, images and config out.

Output folder (targets t0.png, t1.png):

    OUT/config.json               ProjectImagesConfig and the generator's weight hash
    OUT/samples.h5                /<i:05d>/projected/ w_latent, w_plus_latent per target
                                  (z_latent is NaN: projection finds no z; in W+ the
                                  w_latent is the mean of the layers' ws)
    OUT/projection.safetensors    ws [N, num_ws, w_dim] and noise.<layer> [N, 1, R, R]
    OUT/target_0000.png ...       the crop each target was matched against
    OUT/proj_0000.png ...         G(ws, optimised noise maps)
    OUT/strip_0000.png ...        with strip: target, then the projection at 0, 10, 25, 50, 100% of steps
    OUT/proj_0000.mp4 ...         with video (needs imageio-ffmpeg): target | projection, ~100 frames
    OUT/checkpoints/batch_*.pt    optimiser state of each batch; a killed run continues from them

Target i draws its random numbers from seed + i, so its result does not depend
on the other targets or the batch size (see synthbio.inversion.projector).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch import Tensor

from synthbio.errors import CheckpointError, InputError
from synthbio.io.arrays import read_npy
from synthbio.io.images import read_image
from synthbio.inversion.projector import (
    ProjectionResult,
    ProjectorConfig,
    ReconstructionLossLike,
    branch_index,
    compute_w_stats,
    project,
    synthesize_with_noise,
)
from synthbio.utils.hashing import atomic_write, module_sha256
from synthbio.utils.jsonio import read_json_file



def load_target(path: str | os.PathLike[str], *, resolution: int, channels: int) -> Tensor:
    """One target file -> [1, channels, resolution, resolution] float32 in [-1, 1].

    Image files (PNG, JPEG, ...) are center-cropped to a square, resized with
    Lanczos (as the official projector does) and converted to grayscale (1
    channel) or RGB (3 channels). A `.npy` file holds a float array [C, H, W]
    (or [H, W]) already in [-1, 1] at the generator's resolution, for branches
    with other channel counts; it is used as is.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise InputError(f"target {name!r} does not exist or is not a file")
    if name.lower().endswith(".npy"):
        a = read_npy(name, what="target")
        a = a[None] if a.ndim == 2 else a
        if a.ndim != 3 or a.shape != (channels, resolution, resolution) or a.dtype.kind != "f":
            raise InputError(f"target {name!r}: expected a float array [{channels}, {resolution}, {resolution}], "
                             f"got {a.dtype} {tuple(a.shape)}")
        t = torch.from_numpy(a.astype(np.float32))[None]
        if not torch.isfinite(t).all():
            raise InputError(f"target {name!r} contains NaN or infinite values")
        return t
    if channels not in (1, 3):
        raise InputError(f"target {name!r}: image files fit 1- or 3-channel generators; this branch has "
                         f"{channels} channels (give a .npy array [{channels}, H, W] instead)")
    img = PIL.Image.fromarray(read_image(name, mode="L" if channels == 1 else "RGB"))
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
    img = img.resize((resolution, resolution), PIL.Image.LANCZOS)
    a = np.asarray(img, dtype=np.float32).reshape(resolution, resolution, channels)
    return torch.from_numpy(a).permute(2, 0, 1)[None] / 127.5 - 1


@dataclass(frozen=True)
class ProjectImagesConfig:
    """`synthbio project`: saved as OUT/config.json.

    seed: target i draws its noise from seed + i, so a target's result does not
        depend on the others. batch_size: targets optimised together.
    strip: also write a PNG per target of the target and the projection at a few steps.
    video: also write an MP4 per target (needs the imageio-ffmpeg package).
    camera / cameras_file / estimate_camera: EG3D only, the camera each target was
        taken from: (yaw, pitch, fov) degrees for all targets; or a JSON file with one
        entry per target (25 numbers, or {"yaw", "pitch", "fov"}); or estimated from
        the target's face landmarks (dlib, `faces` extra; OpenCV) with the model's mean
        face (`synthbio.faces.head_pose`). None of them: the front camera. The cameras
        used are written to OUT/cameras.json.
    """

    model: str
    targets: tuple[str, ...]
    outdir: str
    projector: ProjectorConfig = ProjectorConfig()
    loss: str = "vgg"
    vgg_weights: str | None = None
    seed: int = 303
    batch_size: int = 4
    strip: bool = False
    video: bool = False
    device: str = "auto"
    overwrite: bool = False
    camera: tuple[float, float, float] | None = None
    cameras_file: str | None = None
    estimate_camera: bool = False

    def __post_init__(self) -> None:
        from synthbio.utils.seeds import check_seed

        if self.camera is not None:
            object.__setattr__(self, "camera", tuple(float(v) for v in self.camera))
            if len(self.camera) != 3:
                raise InputError(f"--camera takes yaw,pitch[,fov] degrees, got {list(self.camera)}")
        if sum([self.camera is not None, self.cameras_file is not None, self.estimate_camera]) > 1:
            raise InputError("give one of --camera, --cameras and --estimate-camera")

        object.__setattr__(self, "targets", tuple(os.fspath(t) for t in self.targets))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        if not self.targets:
            raise InputError("no target images given")
        check_seed(self.seed)
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")
        if self.video and not video_available():
            raise InputError("--video needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                             "run without --video, or use --strip for a PNG of the progress")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["targets"] = list(self.targets)
        d["projector"] = self.projector.to_dict()
        d["camera"] = None if self.camera is None else list(self.camera)
        return d


@dataclass(frozen=True)
class ProjectImagesResult:
    outdir: Path
    ws: Tensor  # [N, num_ws, w_dim]
    final_losses: Tensor  # [N]
    files: list[Path]


def video_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("imageio_ffmpeg") is not None


def strip_steps(num_steps: int) -> list[int]:
    """Steps shown in a progress strip: start, 10%, 25%, 50%, end."""
    return sorted({0, num_steps // 10, num_steps // 4, num_steps // 2, num_steps})


def _render(G: torch.nn.Module, ws: Tensor, noise: list[Tensor], branch: int,
            cameras: Tensor | None = None) -> np.ndarray:
    from synthbio.io.images import to_uint8

    with torch.no_grad():
        return to_uint8(synthesize_with_noise(G, ws, noise, branch=branch, cameras=cameras))[0]


def _camera_entry(entry: Any, where: str) -> Tensor:
    """One camera of a cameras file: 25 numbers, or {"yaw", "pitch", "fov"} (degrees) on the model's orbit."""
    from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG, camera

    if isinstance(entry, dict):
        try:
            return camera(float(entry.get("yaw", 0.0)), float(entry.get("pitch", 0.0)),
                          float(entry.get("fov", DEFAULT_FOV_DEG)))
        except (TypeError, ValueError):
            raise InputError(f"{where}: yaw / pitch / fov must be numbers, got {entry}") from None
    if isinstance(entry, list) and len(entry) == 25 and all(isinstance(v, (int, float)) for v in entry):
        return torch.tensor(entry, dtype=torch.float32)
    raise InputError(f"{where}: a camera is 25 numbers or {{\"yaw\": .., \"pitch\": .., \"fov\": ..}}, got {entry!r}")


def resolve_cameras(G: torch.nn.Module, config: ProjectImagesConfig, targets: Tensor) -> Tensor | None:
    """The camera of every target [N, 25] for an EG3D model (None for other models)."""
    import json

    from synthbio.generation.sampling import is_camera_conditioned

    wanted = config.camera is not None or config.cameras_file is not None or config.estimate_camera
    if not is_camera_conditioned(G):
        if wanted:
            raise InputError("--camera, --cameras and --estimate-camera are for camera-controlled (EG3D) models")
        return None
    n = targets.shape[0]
    if config.camera is not None:
        yaw, pitch, fov = config.camera
        return G.default_camera(n, yaw=yaw, pitch=pitch, fov_deg=fov)  # type: ignore[operator]
    if config.cameras_file is not None:
        path = config.cameras_file
        try:
            data = json.loads(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read cameras file {path!r}: {exc}") from None
        if not isinstance(data, list) or len(data) != n:
            raise InputError(f"{path}: expected a list of {n} cameras (one per target), got "
                             f"{len(data) if isinstance(data, list) else type(data).__name__}")
        return torch.stack([_camera_entry(e, f"{path} entry {i}") for i, e in enumerate(data)])
    if config.estimate_camera:
        from synthbio.faces.detection import detect_faces
        from synthbio.faces.head_pose import model_face_points, solve_camera
        from synthbio.io.images import to_uint8
        from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG

        def landmarks(image: np.ndarray) -> np.ndarray | None:
            faces = detect_faces(image)
            if not faces:
                return None
            best = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            return best.landmarks

        face3d = model_face_points(G, landmarks)
        cams = []
        for i, image in enumerate(to_uint8(targets)):
            points = landmarks(image)
            if points is None:
                raise InputError(f"{config.targets[i]}: no face found to estimate its camera")
            cams.append(solve_camera(points, face3d, image_size=image.shape[0], fov_deg=DEFAULT_FOV_DEG))
        return torch.stack(cams)
    return G.default_camera(n)  # type: ignore[operator]


def _write_image(path: Path, image_uint8: np.ndarray) -> list[Path]:
    from synthbio.io.images import png_planes, write_png

    out = []
    for suffix, plane in png_planes(image_uint8):
        p = path.with_name(f"{path.stem}{suffix}{path.suffix}")
        write_png(p, plane)
        out.append(p)
    return out


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    partial = path.with_name(f".{path.stem}.partial.mp4")  # renamed when complete: a kill leaves no half video
    writer = imageio_ffmpeg.write_frames(os.fspath(partial), (w, h), fps=10, codec="libx264", quality=8)
    writer.send(None)
    for f in frames:
        rgb = f if f.shape[2] == 3 else np.repeat(f[:, :, :1], 3, axis=2)
        writer.send(np.ascontiguousarray(rgb))
    writer.close()
    os.replace(partial, path)


def _build_loss(config: ProjectImagesConfig, device: torch.device) -> ReconstructionLossLike:
    from synthbio.errors import ModelNotFoundError
    from synthbio.inversion.losses import build_reconstruction_loss

    try:
        return build_reconstruction_loss(config.loss, device=device, vgg_weights=config.vgg_weights)
    except (ModelNotFoundError, CheckpointError) as exc:
        if "vgg" not in config.loss and "lpips" not in config.loss:
            raise
        raise type(exc)(f"{exc}\nThe projection loss {config.loss!r} needs VGG16 weights: pass --vgg-weights "
                        "FILE (torchvision's vgg16-397923af.pth), or project with --loss l2") from None


def project_images(config: ProjectImagesConfig, *, loss: ReconstructionLossLike | None = None,
                   progress: bool = True) -> ProjectImagesResult:
    """Project every target file; write OUT/samples.h5, OUT/projection.safetensors (ws and
    noise maps), OUT/target_XXXX.png (the crop that was matched), OUT/proj_XXXX.png,
    optional strip/video, OUT/config.json. Resumable: per-batch checkpoints in
    OUT/checkpoints/ are continued after a kill (finished batches are not redone).
    loss: a ready loss (None = build `config.loss`).
    """

    from safetensors.torch import save_file

    from synthbio.checkpoints.loading import load_generator
    from synthbio.errors import OutputDirError
    from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
    from synthbio.utils.devices import resolve_device
    from synthbio.utils.hashing import atomic_write_json

    device = resolve_device(config.device)
    G = load_generator(config.model, device=device).eval()
    b = branch_index(G, config.projector.branch)
    channels = dict(G.branches)[G.branch_names[b]]
    targets = torch.cat([load_target(t, resolution=G.img_resolution, channels=channels) for t in config.targets])
    out = Path(config.outdir)
    cfg_path = out / "config.json"
    record = {"command": "project", "config": config.to_dict(), "generator_sha256": module_sha256(G)}
    if cfg_path.exists() and not config.overwrite:
        try:
            previous = read_json_file(cfg_path)
        except (OSError, ValueError):
            previous = None
        def settings(d: Any) -> Any:  # what changes results (not the checkpoint interval, device, outputs)
            d = dict(d.get("config", {})) if isinstance(d, dict) else {}
            d["projector"] = {"precision": "float32", "anchor_input": True,  # runs written before the options
                              **{k: v for k, v in dict(d.get("projector", {})).items() if k != "checkpoint_every"}}
            keys = ("model", "targets", "projector", "loss", "vgg_weights", "seed", "batch_size", "camera",
                    "cameras_file", "estimate_camera")
            return [d.get(k) for k in keys]

        if not isinstance(previous, dict) or previous.get("generator_sha256") != record["generator_sha256"] or \
                settings(previous) != settings(record):
            raise OutputDirError(f"{out} holds another projection run; use another --outdir or --overwrite")
    loss = loss if loss is not None else _build_loss(config, device)  # before any file is written
    cameras = resolve_cameras(G, config, targets)
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot use {os.fspath(out)!r} as output directory: {exc}") from None
    if config.overwrite:
        for old in (out / "checkpoints").glob("batch_*.pt"):
            old.unlink()
    atomic_write_json(cfg_path, record)
    if cameras is not None:
        atomic_write_json(out / "cameras.json", [c.tolist() for c in cameras])

    pc = config.projector
    c = None
    if G.c_dim:
        from synthbio.generation.sampling import conditioning
        c = conditioning(G, pc.class_idx)
    w_stats = compute_w_stats(G, num_samples=pc.w_avg_samples, seed=pc.w_avg_seed, c=c)
    keep = sorted(set(strip_steps(pc.num_steps) if config.strip else []) |
                  (set(range(0, pc.num_steps, max(1, pc.num_steps // 100))) | {pc.num_steps} if config.video
                   else set()))
    results: list[ProjectionResult] = []
    n = len(config.targets)
    for k, lo in enumerate(range(0, n, config.batch_size)):
        idx = list(range(lo, min(n, lo + config.batch_size)))
        gens = [torch.Generator().manual_seed(config.seed + i) for i in idx]
        results.append(project(G, targets[idx], config=pc, loss=loss, generator=gens, progress=progress,
                               checkpoint_path=out / "checkpoints" / f"batch_{k:04d}.pt", keep_steps=keep,
                               w_stats=w_stats, cameras=None if cameras is None else cameras[idx]))
    ws = torch.cat([r.ws.cpu() for r in results])
    noise = {name: torch.cat([r.noise[name].cpu() for r in results]) for name in results[0].noise}
    final = torch.cat([r.losses[-1] for r in results])
    snaps = {s: torch.cat([r.snapshots[s] for r in results]) for s in keep}

    files = []
    tensors = {"ws": ws.contiguous(), **{f"noise.{k}": v.contiguous() for k, v in noise.items()}}
    atomic_write(out / "projection.safetensors", lambda tmp: save_file(tensors, os.fspath(tmp)))
    files.append(out / "projection.safetensors")
    from synthbio.io.images import to_uint8

    for i in range(n):
        nz = [v[i:i + 1].to(device) for v in noise.values()]
        cam = None if cameras is None else cameras[i:i + 1].to(device)
        target_u8 = to_uint8(targets[i:i + 1])[0]
        proj_u8 = _render(G, ws[i:i + 1].to(device), nz, b, cam)
        files += _write_image(out / f"target_{i:04d}.png", target_u8)
        files += _write_image(out / f"proj_{i:04d}.png", proj_u8)
        if config.strip:
            frames = [target_u8] + [_render(G, snaps[s][i:i + 1].to(device), nz, b, cam)
                                    for s in strip_steps(pc.num_steps)]
            files += _write_image(out / f"strip_{i:04d}.png", np.concatenate(frames, axis=1))
        if config.video:
            video = out / f"proj_{i:04d}.mp4"
            _write_video(video, [np.concatenate([target_u8, _render(G, snaps[s][i:i + 1].to(device), nz, b, cam)],
                                                axis=1) for s in sorted(snaps)])
            files.append(video)
    # W: every row is w but an anchored StyleGAN3 ws[0] (w_avg), so the last row; W+: the layer mean.
    w_rows = ws[:, -1] if pc.space == "w" else ws.mean(dim=1)
    write_samples(out / SAMPLES_NAME, [
        SampleLatents(identity=i, label="projected", z=np.full([G.z_dim], np.nan, dtype=np.float32),
                      w=w_rows[i].numpy(), w_plus=ws[i].numpy(),
                      attrs={"target": config.targets[i], "seed": config.seed + i, "space": pc.space,
                             "final_loss": float(final[i]), "w_is_layer_mean": pc.space == "wplus"})
        for i in range(n)], attrs={"generator": config.model, "generator_sha256": record["generator_sha256"],
                                  "loss": config.loss, "space": pc.space, "z_latent": "unknown (NaN)"})
    files.append(out / SAMPLES_NAME)
    return ProjectImagesResult(outdir=out, ws=ws, final_losses=final, files=files)
