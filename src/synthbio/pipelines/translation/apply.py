"""`synthbio translate apply | sample`: translate a folder (or a synthbio dataset) with a trained translator.

apply layout (one style, the default):

    OUT/config.json              TranslateConfig + the translator's identity (path, weights sha256)
    OUT/manifest.jsonl           one line per source image, after its outputs are written
    OUT/<same relative path>.png one translation per source: same folders (identity labels), same stems

With `--styles N` (N > 1) each source gives `<stem>_s<k>.png`, k = 0..N-1;
style k is the same code for every source (seed style_seed + k). With
`--reference IMG` the style of that image of the target domain is used
instead. A killed run resumes: sources whose manifest line is intact (files
present, sha256 equal) are skipped. A folder made by another command is
refused unless `--overwrite`.

sample: a single grid PNG, one row per input: the source, then one
translation per style (and the reference-guided one when a reference is given).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import encode_png, save_grid, to_uint8
from synthbio.io.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    read_manifest,
    rewrite_manifest,
)
from synthbio.translation.apply import (
    encode_styles,
    parse_direction,
    style_bank,
    translate,
)
from synthbio.translation.checkpoint import Translator, load_translator
from synthbio.translation.data import DomainConfig, DomainDataset, uint8_to_float
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import (
    atomic_write_bytes,
    atomic_write_json,
    sha256_bytes,
    sha256_file,
)
from synthbio.utils.progress import Progress

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class TranslateConfig:
    """One `synthbio translate apply` (or `sample`) run.

    input: a folder of images (searched recursively; a synthbio identity dataset
        keeps its <identity>/ folders) or one image file.
    model: a translator folder or a training run (its latest/ snapshot).
    direction: 'a2b' or 'b2a' (the model's domains A and B).
    styles: translations per source, style k drawn from seed style_seed + k.
    reference: an image of the target domain whose style every translation takes.
    channels: convert inputs to 1 or 3 channels first (None = they must match the model).
    """

    input: str
    model: str
    outdir: str
    direction: str = "a2b"
    styles: int = 1
    style_seed: int = 0
    reference: str | None = None
    channels: int | None = None
    batch_size: int = 8
    device: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("input", "model", "outdir"):
            object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if self.reference is not None:
            object.__setattr__(self, "reference", os.fspath(self.reference))
        parse_direction(self.direction)
        if self.styles < 1:
            raise InputError(f"--styles must be >= 1, got {self.styles}")
        if self.style_seed < 0:
            raise InputError(f"--style-seed must be >= 0, got {self.style_seed}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.channels not in (None, 1, 3):
            raise InputError(f"--channels must be 1 or 3, got {self.channels}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TranslateResult:
    outdir: Path
    translated: int
    kept: int
    outputs: int
    manifest: Path


# --------------------------------------------------------------------------- inputs


class _Sources:
    """The input images (a folder or one file): names, labels, uint8 loading."""

    def __init__(self, path: str, channels: int | None, *, min_size: int) -> None:
        self.dataset = DomainDataset(DomainConfig(path=path, channels=channels, crop=0, mirror=False,
                                                  min_size=min_size), what="input")
        self.indices = list(range(len(self.dataset)))

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, i: int) -> str:
        return self.dataset.names[self.indices[i]]

    def label(self, i: int) -> str:
        return self.dataset.labels[self.indices[i]]

    def image(self, i: int) -> torch.Tensor:
        """[1, C, H, W] in [-1, 1]."""
        return uint8_to_float(self.dataset[self.indices[i]][None])


def _check_channels(sources: _Sources, translator: Translator, domain: str, what: str) -> None:
    want = translator.config.channels(domain)
    got = sources.dataset.channels
    if got != want:
        name = translator.domains.get(domain, domain)
        raise InputError(f"{what} {sources.dataset.config.path!r} holds {got}-channel images but domain "
                         f"{domain.upper()} ({name}) of the translator takes {want}-channel images; "
                         f"convert them with --channels {want}")


def _styles(config: TranslateConfig, translator: Translator) -> torch.Tensor:
    _, dst = parse_direction(config.direction)
    if config.reference is None:
        return style_bank(translator.config.style_dim, config.styles, seed=config.style_seed)
    ref = _Sources(config.reference, config.channels, min_size=translator.config.min_generator_size)
    _check_channels(ref, translator, dst, "--reference")
    return encode_styles(translator, ref.image(0), domain=dst)


def output_names(source_name: str, count: int) -> list[str]:
    """Output paths (posix, relative) of one source: same folder and stem, .png; _s<k> per style when several."""
    p = PurePosixPath(source_name)
    if count == 1:
        return [str(p.with_suffix(".png"))]
    return [str(p.with_name(f"{p.stem}_s{k:02d}.png")) for k in range(count)]


# --------------------------------------------------------------------------- apply


def _run_meta(config: TranslateConfig, translator: Translator) -> dict[str, Any]:
    weights = translator.path / "model.safetensors" if translator.path is not None else None
    return {"translate": config.to_dict(), "input_resolved": str(Path(config.input).resolve()), "model": {
        "path": str(translator.path), "domains": translator.domains,
        "weights_sha256": sha256_file(weights) if weights is not None and weights.is_file() else None}}


def _prepare_outdir(config: TranslateConfig, meta: dict[str, Any]) -> Path:
    outdir = Path(config.outdir)
    inp, out = Path(config.input).resolve(), outdir.resolve()
    if inp == out or inp in out.parents or out in inp.parents:
        raise OutputDirError(f"--outdir {config.outdir!r} is inside the input or holds it; write translations "
                             "to a folder of their own")
    config_path = outdir / CONFIG_NAME
    if config_path.is_file() and not config.overwrite:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        same = {k: v for k, v in saved.get("translate", {}).items() if k not in ("device", "batch_size", "overwrite")}
        mine = {k: v for k, v in meta["translate"].items() if k not in ("device", "batch_size", "overwrite")}
        if same != mine or saved.get("model", {}).get("weights_sha256") != meta["model"]["weights_sha256"]:
            raise OutputDirError(f"--outdir {config.outdir!r} holds translations made with other settings or "
                                 "another model; choose another folder or pass --overwrite")
    elif outdir.exists() and any(outdir.iterdir()) and not config_path.is_file() and not config.overwrite:
        raise OutputDirError(f"--outdir {config.outdir!r} is not empty; choose another folder or pass --overwrite")
    if config.overwrite and (outdir / MANIFEST_NAME).exists():
        (outdir / MANIFEST_NAME).unlink()
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, meta)
    return outdir


def _intact(outdir: Path, record: dict[str, Any]) -> bool:
    try:
        return all((outdir / o["path"]).is_file() and sha256_file(outdir / o["path"]) == o["sha256"]
                   for o in record["outputs"])
    except (KeyError, TypeError, OSError):
        return False


def _uint8_planes(images: torch.Tensor) -> list[np.ndarray]:
    """[N, C, H, W] in [-1, 1] -> PNG-ready [H, W] or [H, W, 3] uint8 arrays."""
    arrays = to_uint8(images)
    return [a[:, :, 0] if a.shape[2] == 1 else a for a in arrays]


def translate_folder(config: TranslateConfig, *, log: bool = False) -> TranslateResult:
    """Translate every input image as configured (see the module docstring); resumable."""
    device = resolve_device(config.device)
    translator = load_translator(config.model, device=device)
    src, _ = parse_direction(config.direction)
    sources = _Sources(config.input, config.channels, min_size=translator.config.min_generator_size)
    _check_channels(sources, translator, src, "input")
    styles = _styles(config, translator)
    count = styles.shape[0]
    # the command and the input count are for `synthbio info` (which job, how far it got)
    meta = {"command": "translate apply", **_run_meta(config, translator), "inputs": len(sources)}
    outdir = _prepare_outdir(config, meta)
    manifest_path = outdir / MANIFEST_NAME
    contents = read_manifest(manifest_path)
    kept = [r for r in contents.records if _intact(outdir, r)]
    if len(kept) != len(contents.records) or contents.dropped_lines:
        rewrite_manifest(manifest_path, kept)
    done = {r["source"] for r in kept}
    todo = [i for i in range(len(sources)) if sources.name(i) not in done]
    written = 0
    with ManifestWriter(manifest_path) as manifest, Progress(log and bool(todo)) as bar:
        task = bar.add_task("images translated", total=len(sources), completed=len(sources) - len(todo))
        for start in range(0, len(todo), config.batch_size):
            chunk = todo[start:start + config.batch_size]
            groups: dict[tuple[int, ...], list[int]] = {}
            images = {i: sources.image(i) for i in chunk}
            for i in chunk:
                groups.setdefault(tuple(images[i].shape), []).append(i)  # one size per forward pass
            for members in groups.values():
                out = translate(translator, torch.cat([images[i] for i in members]), styles,
                                direction=config.direction)
                for row, i in enumerate(members):
                    outputs = []
                    for k, (name, plane) in enumerate(zip(output_names(sources.name(i), count),
                                                          _uint8_planes(out[row]))):
                        data = encode_png(plane)
                        (outdir / name).parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_bytes(outdir / name, data)
                        outputs.append({"path": name, "sha256": sha256_bytes(data), "style": k})
                    manifest.append({"source": sources.name(i), "label": sources.label(i),
                                     "direction": config.direction, "outputs": outputs})
                    written += 1
            bar.advance(task, len(chunk))
    return TranslateResult(outdir=outdir, translated=written, kept=len(done), outputs=(written + len(done)) * count,
                           manifest=manifest_path)


# --------------------------------------------------------------------------- sample


@dataclass(frozen=True)
class SampleConfig:
    """One `synthbio translate sample` grid: input, model, output PNG, direction, styles, reference, rows."""

    input: str
    model: str
    output: str
    direction: str = "a2b"
    styles: int = 4
    style_seed: int = 0
    reference: str | None = None
    rows: int = 8
    channels: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("input", "model", "output"):
            object.__setattr__(self, name, os.fspath(getattr(self, name)))
        parse_direction(self.direction)
        if self.styles < 1 or self.rows < 1:
            raise InputError(f"--styles and --rows must be >= 1, got {self.styles}, {self.rows}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sample_grid(config: SampleConfig) -> Path:
    """One grid PNG: per input (the first `rows`) the source and its translations."""
    device = resolve_device(config.device)
    translator = load_translator(config.model, device=device)
    src, dst = parse_direction(config.direction)
    sources = _Sources(config.input, config.channels, min_size=translator.config.min_generator_size)
    _check_channels(sources, translator, src, "input")
    styles = style_bank(translator.config.style_dim, config.styles, seed=config.style_seed)
    if config.reference is not None:
        ref = _Sources(config.reference, config.channels, min_size=translator.config.min_generator_size)
        _check_channels(ref, translator, dst, "--reference")
        styles = torch.cat([styles, encode_styles(translator, ref.image(0), domain=dst)])
    cells: list[np.ndarray] = []
    size = None
    for i in range(min(len(sources), config.rows)):
        x = sources.image(i)
        size = size or tuple(x.shape[-2:])
        if tuple(x.shape[-2:]) != size:
            raise InputError(f"sample: {sources.name(i)} is {x.shape[-1]}x{x.shape[-2]}, the first input "
                             f"{size[1]}x{size[0]}: a grid needs one size")
        y = translate(translator, x, styles, direction=config.direction)[0]
        row = torch.cat([x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x,
                         y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y])
        cells += list(to_uint8(row))
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(out, cells, cols=1 + styles.shape[0])
    return out
