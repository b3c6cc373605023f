"""Fingerprint reconstruction from minutiae templates (template inversion).

Two methods sit behind one interface (`Reconstructor`, `load_reconstructor`):
'gabor' grows ridges from the minutiae themselves, no learned model
(`synthbio.fingerprints.ridge_reconstruction`; the default, since it is the
one that reproduces a finger's identity), and 'encoder', below, which draws
the print with a GAN from a trained minutiae encoder.

For 'encoder', a template is rendered as a minutiae map on the generator's square canvas
(`synthbio.fingerprints.minutiae_map.render_minutiae_maps`), a trained
encoder maps it to ws [N, num_ws, w_dim], and the frozen generator draws the
fingerprint (noise_mode='const', so a template always gives the same image):

    maps = render_minutiae_maps(templates, size=G.img_resolution)   # [N, 3, R, R]
    ws   = encoder(maps)                                             # [N, num_ws, w_dim]
    img  = G.synthesis(ws, noise_mode="const")                       # [N, 1, R, R]

Geometry back to the template (`to_template_geometry`): the map puts template
pixel (x, y) at canvas point
    u = x * s + ox,  v = y * s + oy      (s, ox, oy from `template_to_canvas`)
so the reconstruction is resampled at exactly those points for every output
pixel: the template's width x height at its dpi (or at `dpi_out`, scaled by
f = dpi_out / dpi around pixel centres, x = (x_out + 0.5) / f - 0.5). The
padding of the square canvas is cropped away, and the minutiae of the
template line up with the image written (bicubic resampling; when an
output pixel spans more than one canvas pixel the canvas is first resized
with antialiasing).

`reconstruct_files` is the batch job behind `synthbio fingerprints
reconstruct` (either method): one template file or a folder of them (relative paths mirrored,
one PNG per template stem, the PNG carrying the dpi).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from synthbio.errors import CheckpointError, InputError
from synthbio.fingerprints.minutiae_map import render_minutiae_maps, template_to_canvas
from synthbio.fingerprints.types import MinutiaeTemplate
from synthbio.utils.hashing import atomic_write_bytes

DEFAULT_ENCODER = "fingerprint-minutiae-encoder"
DEFAULT_GENERATOR = "fingerprint-default"
METHODS: tuple[str, ...] = ("gabor", "encoder")
# Template file extensions, in the order kept when one folder holds several files of a stem.
TEMPLATE_EXTENSIONS: tuple[str, ...] = (".json", ".iso", ".fmr", ".ist", ".ansi", ".ansi378", ".378", ".xyt")


# --- the networks -------------------------------------------------------------------------


def _primary_image(G: Any, out: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    if isinstance(out, dict):
        names = getattr(G, "branch_names", None) or list(out)
        return out[names[0]]
    return out


def check_compatible(encoder: torch.nn.Module, generator: Any, *, encoder_name: str = "encoder",
                     generator_name: str = "generator") -> None:
    """CheckpointError unless the encoder's ws and input size fit the generator."""
    cfg = getattr(encoder, "config", None)
    if cfg is None:
        return  # a bare module: shapes are checked when it runs
    want = {"num_ws": generator.num_ws, "w_dim": generator.w_dim, "resolution": generator.img_resolution,
            "in_channels": 3}
    have = {k: getattr(cfg, k, want[k]) for k in want}
    if have != want:
        bad = ", ".join(f"{k} {have[k]} (generator needs {want[k]})" for k in want if have[k] != want[k])
        raise CheckpointError(f"encoder {encoder_name} does not fit generator {generator_name}: {bad}")


def reconstruct(
    templates: Sequence[MinutiaeTemplate],
    *,
    encoder: torch.nn.Module,
    generator: Any,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Fingerprints drawn from templates: float32 [N, 1, R, R] in [-1, 1], on CPU.

    encoder: [N, 3, R, R] minutiae maps -> ws [N, num_ws, w_dim].
    generator: a synthbio Generator (R = G.img_resolution); a 3-channel
    output is averaged to grayscale. Both modules are moved to `device` and
    put in eval mode. Each template's image depends only on that template
    (the networks run in eval mode, noise_mode='const').
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    encoder.to(device).eval()
    generator.to(device).eval()
    check_compatible(encoder, generator)
    res = int(generator.img_resolution)
    out = []
    with torch.no_grad():
        for start in range(0, len(templates), batch_size):
            chunk = list(templates[start : start + batch_size])
            maps = render_minutiae_maps(chunk, size=res, device=device)  # [B, 3, R, R]
            ws = encoder(maps)  # [B, num_ws, w_dim]
            if ws.ndim != 3 or ws.shape[1:] != (generator.num_ws, generator.w_dim):
                raise CheckpointError(f"encoder gave ws of shape {tuple(ws.shape)}, the generator needs "
                                      f"[N, {generator.num_ws}, {generator.w_dim}]")
            img = _primary_image(generator, generator.synthesis(ws, noise_mode="const"))
            if img.shape[1] != 1:
                img = img.mean(dim=1, keepdim=True)
            out.append(img.float().clamp(-1, 1).cpu())
    if not out:
        return torch.zeros(0, 1, res, res)
    return torch.cat(out)


# --- geometry -----------------------------------------------------------------------------


def output_size(template: MinutiaeTemplate, *, dpi_out: int | None = None) -> tuple[int, int]:
    """(height, width) in pixels of a template's image written at dpi_out (None = its own dpi)."""
    w = template.width or _extent(template, 0)
    h = template.height or _extent(template, 1)
    if dpi_out is not None and dpi_out <= 0:
        raise InputError(f"dpi_out must be positive, got {dpi_out}")
    f = 1.0 if dpi_out is None else dpi_out / template.dpi
    return max(1, round(h * f)), max(1, round(w * f))


def _extent(template: MinutiaeTemplate, axis: int) -> int:
    pts = [(m.x, m.y) for m in template.minutiae] + [(s.x, s.y) for s in template.singularities]
    return int(max((p[axis] for p in pts), default=0.0)) + 1


def to_template_geometry(image: torch.Tensor, template: MinutiaeTemplate, *,
                         dpi_out: int | None = None) -> torch.Tensor:
    """A canvas image [C, R, R] resampled onto the template's frame: [C, H, W] (module docstring).

    The point drawn at template pixel (x, y) on the minutiae map lands at
    output pixel (x, y) * dpi_out / dpi. Values stay in the input's range.
    """
    if image.ndim != 3 or image.shape[1] != image.shape[2]:
        raise InputError(f"expected a square canvas image [C, R, R], got {tuple(image.shape)}")
    res = image.shape[-1]
    h_out, w_out = output_size(template, dpi_out=dpi_out)
    f = 1.0 if dpi_out is None else dpi_out / template.dpi
    s, ox, oy = template_to_canvas(template, res)
    canvas = image[None].float()
    step = s / f  # canvas pixels per output pixel
    if step > 1.0:  # shrinking: low-pass first so the bicubic taps do not alias
        small = max(1, round(res / step))
        canvas = F.interpolate(canvas, size=(small, small), mode="bilinear", align_corners=False, antialias=True)
        r = small / res  # pixel centres to pixel centres: u' = (u + 0.5) r - 0.5
        s, ox, oy, res = s * r, (ox + 0.5) * r - 0.5, (oy + 0.5) * r - 0.5, small
    xs = (torch.arange(w_out, dtype=torch.float64) + 0.5) / f - 0.5
    ys = (torch.arange(h_out, dtype=torch.float64) + 0.5) / f - 0.5
    u = xs * s + ox
    v = ys * s + oy
    # grid_sample (align_corners=False): normalised -1/+1 are the outer edges of the canvas.
    gx = ((u + 0.5) / res * 2 - 1).to(torch.float32)
    gy = ((v + 0.5) / res * 2 - 1).to(torch.float32)
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]  # [1, H, W, 2] as (x, y)
    out = F.grid_sample(canvas, grid.to(canvas.device), mode="bicubic", padding_mode="border", align_corners=False)
    lo, hi = float(image.min()), float(image.max())
    return out[0].clamp(lo, hi)  # bicubic overshoot stays within the input's range


def images_to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 1, H, W] in [-1, 1] -> [N, H, W] uint8 (synthbio's PNG rounding, x * 127.5 + 128)."""
    return (images[:, 0].float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def fingerprint_uint8(image: torch.Tensor, template: MinutiaeTemplate, *, dpi_out: int | None = None) -> np.ndarray:
    """One reconstruction [1, R, R] in [-1, 1] -> uint8 [H, W] in the template's frame."""
    return images_to_uint8(to_template_geometry(image, template, dpi_out=dpi_out)[None])[0]


def minutiae_map_preview(template: MinutiaeTemplate, *, size: int, dpi_out: int | None = None) -> np.ndarray:
    """The minutiae map the encoder sees, in the template's frame: uint8 RGB [H, W, 3].

    Channels as rendered (red bifurcations, green endings, blue cores/deltas),
    scaled so the brightest half of the strongest point saturates.
    """
    maps = render_minutiae_maps([template], size=size)[0]  # [3, R, R]
    peak = float(maps.max())
    scaled = maps / (0.5 * peak) if peak > 0 else maps
    framed = to_template_geometry(scaled.clamp(0, 1), template, dpi_out=dpi_out)
    return (framed.permute(1, 2, 0) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def encode_png_dpi(image_uint8: np.ndarray, dpi: int) -> bytes:
    """PNG bytes of an [H, W] or [H, W, 3] uint8 image, with its resolution in the pHYs chunk."""
    import PIL.Image

    a = np.ascontiguousarray(image_uint8)
    mode = "L" if a.ndim == 2 else "RGB"
    buf = io.BytesIO()
    PIL.Image.fromarray(a, mode).save(buf, format="PNG", dpi=(dpi, dpi), compress_level=6)
    return buf.getvalue()


# --- loading ------------------------------------------------------------------------------


@dataclass
class ReconstructionModels:
    """An encoder, its generator, and where each came from."""

    encoder: torch.nn.Module
    generator: Any
    encoder_config: dict[str, Any]
    encoder_source: str
    generator_source: str


def generator_of_encoder(encoder_config: dict[str, Any], encoder_path: str | None = None) -> str:
    """The generator an encoder's config.json names (a path relative to the encoder folder is
    resolved there), else DEFAULT_GENERATOR."""
    name = encoder_config.get("generator")
    if not isinstance(name, str) or not name:
        return DEFAULT_GENERATOR
    if encoder_path is not None and not Path(name).is_absolute():
        beside = Path(encoder_path) / name
        if beside.exists() and not Path(name).exists():
            return str(beside)
    return name


def load_reconstruction_models(encoder: str = DEFAULT_ENCODER, *, model: str | None = None,
                               device: torch.device | str = "cpu") -> ReconstructionModels:
    """Encoder (path or registry name) and generator (`model`, default: the one the encoder names).

    Raises ModelNotFoundError / CheckpointError naming the bad input, and
    CheckpointError when the encoder was not trained for minutiae maps or does
    not fit the generator.
    """
    from synthbio.checkpoints.encoders import load_encoder
    from synthbio.checkpoints.loading import load_generator

    enc, cfg = load_encoder(encoder, device=device)
    task = cfg.get("task")
    if task is not None and task != "minutiae":
        raise CheckpointError(f"encoder {encoder} was trained for task {task!r}, not 'minutiae' (template inversion)")
    encoder_dir = str(encoder) if Path(encoder).exists() else None
    gen_source = model or generator_of_encoder(cfg, encoder_dir)
    G = load_generator(gen_source, device=device)
    check_compatible(enc, G, encoder_name=str(encoder), generator_name=gen_source)
    return ReconstructionModels(encoder=enc.eval(), generator=G, encoder_config=cfg,
                                encoder_source=str(encoder), generator_source=gen_source)


# --- one interface for both methods ---------------------------------------------------------


class Reconstructor(Protocol):
    """Templates -> fingerprint images in each template's frame (minutiae line up)."""

    method: str
    map_size: int  # size of the minutiae-map previews drawn in reports

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance: method, encoder, generator, settings."""
        ...

    def cache_key(self) -> dict[str, Any]:
        """What the images depend on besides the templates (for resumable jobs)."""
        ...

    def images_uint8(self, templates: Sequence[MinutiaeTemplate], *, dpi_out: int | None = None) -> list[np.ndarray]:
        """One uint8 [H, W] image per template (dark ridges), at dpi_out (None = the template's)."""
        ...


class EncoderReconstructor:
    """The 'encoder' method: `reconstruct` + `fingerprint_uint8` over loaded models."""

    method = "encoder"

    def __init__(self, models: ReconstructionModels, *, device: torch.device | str = "cpu",
                 batch_size: int = 16) -> None:
        self.models, self.device, self.batch_size = models, device, batch_size
        self.map_size = int(models.generator.img_resolution)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "encoder": self.models.encoder_source,
                "generator": self.models.generator_source, "settings": None}

    def cache_key(self) -> dict[str, Any]:
        from synthbio.utils.hashing import module_sha256

        return {"encoder": module_sha256(self.models.encoder), "generator": module_sha256(self.models.generator)}

    def images_uint8(self, templates: Sequence[MinutiaeTemplate], *, dpi_out: int | None = None) -> list[np.ndarray]:
        images = reconstruct(templates, encoder=self.models.encoder, generator=self.models.generator,
                             batch_size=self.batch_size, device=self.device)
        return [fingerprint_uint8(img, t, dpi_out=dpi_out) for img, t in zip(images, templates)]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InputError(f"unknown reconstruction method {method!r}: use one of {', '.join(METHODS)}")
    return method


def load_reconstructor(method: str = "gabor", *, encoder: str = DEFAULT_ENCODER, model: str | None = None,
                       device: torch.device | str = "cpu", batch_size: int = 16) -> Reconstructor:
    """The reconstructor of `method` ('gabor' needs no model; 'encoder' loads `encoder` and its generator)."""
    if check_method(method) == "gabor":
        from synthbio.fingerprints.ridge_reconstruction import RidgeReconstructor

        return RidgeReconstructor()
    models = load_reconstruction_models(encoder, model=model, device=device)
    return EncoderReconstructor(models, device=device, batch_size=batch_size)


# --- batch job over files -----------------------------------------------------------------


def _is_template_file(path: Path) -> bool:
    """Template files of a folder; JSON only when it declares the synthbio template format."""
    if path.suffix.lower() not in TEMPLATE_EXTENSIONS or not path.is_file():
        return False
    if path.suffix.lower() != ".json":
        return True
    from synthbio.fingerprints.minutiae import JSON_FORMAT_NAME

    try:
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return JSON_FORMAT_NAME in head  # config.json, metrics.json, caches: not templates


def collect_templates(source: str | os.PathLike[str]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """([(template file, relative output PNG path)], [files skipped as other formats of a stem]).

    A file gives [(file, <stem>.png)]. A folder is searched recursively; when
    several formats of one stem exist (a dataset's .json/.iso/.xyt), the first
    in TEMPLATE_EXTENSIONS order is used.
    """
    root = Path(source)
    if not root.exists():
        raise InputError(f"{root}: no such template file or folder")
    if root.is_file():
        return [(root, Path(root.stem + ".png"))], []
    rank = {ext: i for i, ext in enumerate(TEMPLATE_EXTENSIONS)}
    chosen: dict[Path, Path] = {}
    skipped: list[Path] = []
    for path in sorted(p for p in root.rglob("*") if _is_template_file(p)):
        rel = path.relative_to(root).with_suffix(".png")
        prev = chosen.get(rel)
        if prev is None or rank[path.suffix.lower()] < rank[prev.suffix.lower()]:
            if prev is not None:
                skipped.append(prev)
            chosen[rel] = path
        else:
            skipped.append(path)
    if not chosen:
        raise InputError(f"{root}: no template files ({', '.join(TEMPLATE_EXTENSIONS)}) in this folder")
    return [(chosen[rel], rel) for rel in sorted(chosen)], sorted(skipped)


@dataclass(frozen=True)
class ReconstructConfig:
    """`synthbio fingerprints reconstruct`.

    template: a template file (ISO 19794-2, ANSI 378, .xyt, JSON) or a folder.
    out: the PNG to write (one template) or a folder (a folder of templates,
        relative paths mirrored; also accepted for one template).
    method: 'gabor' (ridges grown from the minutiae) or 'encoder' (GAN via the
        minutiae encoder); see the module docstring.
    encoder / model ('encoder' method): encoder path or registry name; generator (None = the one
        the encoder's config.json names, else DEFAULT_GENERATOR).
    dpi_out: resolution of the PNGs (None = each template's own dpi).
    xyt_width / xyt_height / xyt_dpi: geometry for .xyt files, which store none
        (NIST .xyt needs the height to flip y).
    batch_size: templates per encoder/generator pass.
    impressions: 0 = one reconstruction per template; N > 0 ('gabor' only) =
        N mated impressions per template instead, written to a folder named
        after the output PNG (<name>/00.png, 00.json with their ground-truth
        minutiae, ...), drawn with `seed`.
    """

    template: str
    out: str
    method: str = "gabor"
    encoder: str = DEFAULT_ENCODER
    model: str | None = None
    device: str = "auto"
    dpi_out: int | None = None
    xyt_width: int = 0
    xyt_height: int = 0
    xyt_dpi: int = 500
    batch_size: int = 16
    impressions: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", os.fspath(self.template))
        object.__setattr__(self, "out", os.fspath(self.out))
        check_method(self.method)
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.dpi_out is not None and self.dpi_out <= 0:
            raise InputError(f"--dpi-out must be positive, got {self.dpi_out}")
        if self.impressions < 0 or self.seed < 0:
            raise InputError(f"--impressions and --seed must be >= 0, got {self.impressions}, {self.seed}")
        if self.impressions and self.method != "gabor":
            raise InputError("--impressions needs --method gabor (mated impressions are drawn from a grown master)")
        if self.impressions and self.dpi_out is not None:
            raise InputError("--impressions writes at the template's own dpi; leave out --dpi-out")


@dataclass
class ReconstructResult:
    written: list[Path]
    skipped: list[Path] = field(default_factory=list)
    encoder: str = ""
    generator: str = ""
    method: str = ""


def _output_paths(config: ReconstructConfig, items: list[tuple[Path, Path]]) -> list[Path]:
    out = Path(config.out)
    folder_input = Path(config.template).is_dir()
    if folder_input or out.is_dir() or config.out.endswith(("/", os.sep)):
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is a file, but a folder is needed for {config.template}")
        return [out / rel for _, rel in items]
    if out.suffix.lower() != ".png":
        raise InputError(f"--out {out}: give a .png file name (or an existing folder)")
    return [out]


def read_templates(config: ReconstructConfig, files: Sequence[Path]) -> list[MinutiaeTemplate]:
    """Read every template before any work, so a malformed file fails fast, named."""
    from synthbio.fingerprints.minutiae import TemplateError, read_template

    out = []
    for p in files:
        try:
            out.append(read_template(p, width=config.xyt_width, height=config.xyt_height, dpi=config.xyt_dpi))
        except InputError as exc:
            if str(p) in str(exc):
                raise
            raise TemplateError(str(p), str(exc)) from None  # some readers only say '<bytes>'
    return out


def reconstruct_files(config: ReconstructConfig, *, progress: bool = False,
                      models: ReconstructionModels | None = None,
                      reconstructor: Reconstructor | None = None) -> ReconstructResult:
    """Read the templates, reconstruct them in batches, write one PNG each (atomically).

    models: preloaded encoder + generator for the 'encoder' method;
    reconstructor: any preloaded reconstructor (overrides config.method).
    """
    from synthbio.utils.devices import resolve_device

    items, skipped = collect_templates(config.template)
    outputs = _output_paths(config, items)
    templates = read_templates(config, [p for p, _ in items])
    if config.impressions:
        return _write_mated(config, items, outputs, templates, skipped, progress=progress)
    device = resolve_device(config.device)
    if reconstructor is None and models is not None and config.method == "encoder":
        reconstructor = EncoderReconstructor(models, device=device, batch_size=config.batch_size)
    if reconstructor is None:
        reconstructor = load_reconstructor(config.method, encoder=config.encoder, model=config.model,
                                           device=device, batch_size=config.batch_size)
    written: list[Path] = []
    from rich.progress import Progress

    with Progress(disable=not progress) as bar:
        job = bar.add_task("reconstructing", total=len(templates))
        for start in range(0, len(templates), config.batch_size):
            chunk = templates[start : start + config.batch_size]
            images = reconstructor.images_uint8(chunk, dpi_out=config.dpi_out)
            for k, (pixels, template) in enumerate(zip(images, chunk)):
                path = outputs[start + k]
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, encode_png_dpi(pixels, config.dpi_out or template.dpi))
                written.append(path)
            bar.advance(job, len(chunk))
    info = reconstructor.describe()
    return ReconstructResult(written=written, skipped=skipped, encoder=info.get("encoder") or "",
                             generator=info.get("generator") or "", method=reconstructor.method)


def _write_mated(config: ReconstructConfig, items: list[tuple[Path, Path]], outputs: list[Path],
                 templates: list[MinutiaeTemplate], skipped: list[Path], *, progress: bool) -> ReconstructResult:
    """config.impressions mated impressions per template, each with its ground-truth JSON."""
    from rich.progress import Progress

    from synthbio.fingerprints.minutiae import write_template
    from synthbio.fingerprints.ridge_reconstruction import mated_impressions

    empty = [str(src) for (src, _), t in zip(items, templates) if not t.minutiae]
    if empty:  # before anything is written
        raise InputError(f"{', '.join(empty[:3])}: the template has no minutiae, so no impression can be drawn")
    written: list[Path] = []
    with Progress(disable=not progress) as bar:
        job = bar.add_task("mated impressions", total=len(templates))
        for (src, _), out, template in zip(items, outputs, templates):
            folder = out.with_suffix("")
            folder.mkdir(parents=True, exist_ok=True)
            for k, imp in enumerate(mated_impressions(template, config.impressions, seed=config.seed)):
                png = folder / f"{k:02d}.png"
                atomic_write_bytes(png, encode_png_dpi(imp.image, imp.dpi))
                write_template(imp.template(), folder / f"{k:02d}.json", metadata={
                    "source_template": str(src), "seed": config.seed, "impression": k, "transform": imp.transform})
                written.append(png)
            bar.advance(job)
    return ReconstructResult(written=written, skipped=skipped, method="gabor")


def describe(config: ReconstructConfig) -> dict[str, Any]:
    """The resolved settings as JSON-ready data (for --dry-run)."""
    items, skipped = collect_templates(config.template)
    return {"config": json.loads(json.dumps(config.__dict__)), "templates": len(items), "skipped": len(skipped),
            "outputs": [str(p) for p in _output_paths(config, items)][:10]}

