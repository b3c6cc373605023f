"""`synthbio fingerprints reconstruct`: fingerprints drawn from a template file or a folder of them.

One template file or a folder of them (relative paths mirrored, one PNG per
template stem, the PNG carrying the dpi), through either reconstruction method
(`synthbio.fingerprints.reconstruction.load_reconstructor`); with
`impressions` N > 0, N mated impressions of the finger each template describes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.fingerprints.minutiae import (
    JSON_FORMAT_NAME,
    TemplateError,
    read_template,
    write_template,
)
from synthbio.fingerprints.reconstruction import (
    DEFAULT_ENCODER,
    EncoderReconstructor,
    ReconstructionModels,
    Reconstructor,
    check_method,
    load_reconstructor,
)
from synthbio.fingerprints.ridge_reconstruction import mated_impressions
from synthbio.fingerprints.types import MinutiaeTemplate
from synthbio.fingerprints.validation import (
    MAX_DRAW_DPI,
    MAX_IMAGE_SIDE,
    MIN_DRAW_DPI,
    check_drawable,
)
from synthbio.io.derived import walk_files
from synthbio.io.images import encode_png
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_bytes
from synthbio.utils.progress import Progress

# Template file extensions, in the order kept when one folder holds several files of a stem.
TEMPLATE_EXTENSIONS: tuple[str, ...] = (".json", ".iso", ".fmr", ".ist", ".ansi", ".ansi378", ".378", ".xyt")


def _is_template_file(path: Path) -> bool:
    """Template files of a folder; JSON only when it declares the synthbio template format."""
    if path.suffix.lower() not in TEMPLATE_EXTENSIONS or not path.is_file():
        return False
    if path.suffix.lower() != ".json":
        return True
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
    for path in sorted(p for p in walk_files(root) if _is_template_file(p)):  # reports / caches skipped
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
        if self.dpi_out is not None and not MIN_DRAW_DPI <= self.dpi_out <= MAX_DRAW_DPI:
            raise InputError(f"--dpi-out {self.dpi_out}: must be in {MIN_DRAW_DPI}..{MAX_DRAW_DPI}")
        for flag, value, top in (("--xyt-width", self.xyt_width, MAX_IMAGE_SIDE),
                                 ("--xyt-height", self.xyt_height, MAX_IMAGE_SIDE)):
            if not 0 <= value <= top:
                raise InputError(f"{flag} {value}: must be in 0..{top} (0 = unknown)")
        if not MIN_DRAW_DPI <= self.xyt_dpi <= MAX_DRAW_DPI:
            raise InputError(f"--xyt-dpi {self.xyt_dpi}: must be in {MIN_DRAW_DPI}..{MAX_DRAW_DPI}")
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
            raise InputError(f"--output {out} is a file, but a folder is needed for {config.template}")
        return [out / rel for _, rel in items]
    if out.suffix.lower() != ".png":
        raise InputError(f"--output {out}: give a .png file name (or an existing folder)")
    return [out]


def read_templates(config: ReconstructConfig, files: Sequence[Path]) -> list[MinutiaeTemplate]:
    """Read every template before any work, so a malformed file, or one too large to draw, fails fast, named."""
    out = []
    for p in files:
        if p.suffix.lower() == ".xyt" and config.xyt_height <= 0:
            raise TemplateError(str(p), "a NIST .xyt file stores no image size: give --xyt-height (and --xyt-width) "
                                "of the image its minutiae came from, e.g. --xyt-width 416 --xyt-height 560")
        try:
            template = read_template(p, width=config.xyt_width, height=config.xyt_height, dpi=config.xyt_dpi)
        except InputError as exc:
            if str(p) in str(exc):
                raise
            raise TemplateError(str(p), str(exc)) from None  # some readers only say '<bytes>'
        check_drawable(template, dpi_out=config.dpi_out, source=str(p))
        out.append(template)
    return out


def reconstruct_files(config: ReconstructConfig, *, progress: bool = False,
                      models: ReconstructionModels | None = None,
                      reconstructor: Reconstructor | None = None) -> ReconstructResult:
    """Read the templates, reconstruct them in batches, write one PNG each (atomically).

    models: preloaded encoder + generator for the 'encoder' method;
    reconstructor: any preloaded reconstructor (overrides config.method).
    """
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
    with Progress(progress) as bar:
        job = bar.add_task("reconstructing", total=len(templates))
        for start in range(0, len(templates), config.batch_size):
            chunk = templates[start : start + config.batch_size]
            images = reconstructor.images_uint8(chunk, dpi_out=config.dpi_out)
            for k, (pixels, template) in enumerate(zip(images, chunk)):
                path = outputs[start + k]
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, encode_png(pixels, dpi=config.dpi_out or template.dpi))
                written.append(path)
            bar.advance(job, len(chunk))
    info = reconstructor.describe()
    return ReconstructResult(written=written, skipped=skipped, encoder=info.get("encoder") or "",
                             generator=info.get("generator") or "", method=reconstructor.method)


def _write_mated(config: ReconstructConfig, items: list[tuple[Path, Path]], outputs: list[Path],
                 templates: list[MinutiaeTemplate], skipped: list[Path], *, progress: bool) -> ReconstructResult:
    """config.impressions mated impressions per template, each with its ground-truth JSON."""
    empty = [str(src) for (src, _), t in zip(items, templates) if not t.minutiae]
    if empty:  # before anything is written
        raise InputError(f"{', '.join(empty[:3])}: the template has no minutiae, so no impression can be drawn")
    written: list[Path] = []
    with Progress(progress) as bar:
        job = bar.add_task("mated impressions", total=len(templates))
        for (src, _), out, template in zip(items, outputs, templates):
            folder = out.with_suffix("")
            folder.mkdir(parents=True, exist_ok=True)
            for k, imp in enumerate(mated_impressions(template, config.impressions, seed=config.seed)):
                png = folder / f"{k:02d}.png"
                atomic_write_bytes(png, encode_png(imp.image, dpi=imp.dpi))
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

