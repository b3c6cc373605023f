"""Labelled faces -> latents -> attribute classifier -> InterFaceGAN directions.

`train_classifier_job` reads labels (CK+, or a CSV + images folder), inverts each
labelled image once (encoder or projector) into OUT/latents.npz (ws, label keys,
the inverter's fingerprint; rewritten atomically after every chunk, so a killed
job goes on where it stopped), trains `LatentAttributeClassifier` and writes
OUT/classifier/, OUT/config.json, OUT/report.json (held-out F1 per label), OUT/f1.png.

CK+ labels: action units 'AU12' (listed in the FACS file) and emotions 'happy',
... (one against the rest); a label a sequence is not coded for is NaN. The peak
frame is used as-is, or with `align` as an FFHQ crop from the sequence's own
landmarks (68-point indices 36/39/42/45/33 are dlib's 5 points): no download.

`classifier_directions` scores latents sampled from G (one torch.Generator) and
fits an InterFaceGAN direction per label on the top / bottom `fraction` of the
logits. Sampled ws are equal across layers, so directions live in W ([w_dim],
applied to every layer by `synthbio edit`) whatever the classifier's input mode.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from synthbio.errors import InputError, OutputDirError, library_message
from synthbio.io.images import read_image

SOURCES = ("ckplus", "csv", "database")
CACHE_NAME = "latents.npz"
CLASSIFIER_DIR = "classifier"
_DLIB5_FROM_68 = (45, 42, 36, 39, 33)  # dlib's 5 points (faces.alignment) in CK+'s 68-point scheme


@dataclass(frozen=True)
class TrainClassifierConfig:
    """`synthbio train-classifier`; saved as OUT/config.json.

    source: 'ckplus' (labels = CK+ root), 'csv' (labels = CSV, images = its folder) or
        'database' (labels = a database index or folder; its samples of protocol / group /
        where, labelled by their attributes).
    label_names: CK+ 'AU12', 'happy' or CSV columns; () = every CSV column, or every
        AU with >= min_positives positive and negative sequences. For a database: 0/1
        (or -1/1) attributes by name, or 'NAME=VALUE' (1 where the attribute equals VALUE).
    Latents from one of: encoder, project (into `generator`, `steps`, `loss`), latents
        (a file, one row per label row: CK+ sequences in load_ckplus order, CSV rows).
    seed: split, init, batches, and the projector (label row i draws from seed + i).
    """

    outdir: str
    source: str
    labels: str
    images: str | None = None
    key_column: str = "filename"
    protocol: str | None = None
    group: str | None = None
    where: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    min_positives: int = 5
    encoder: str | None = None
    project: bool = False
    generator: str | None = None
    steps: int = 200
    loss: str = "l2"
    latents: str | None = None
    align: bool = False
    input_mode: str = "w"
    hidden: tuple[int, ...] = (256, 128)
    epochs: int = 100
    lr: float = 1e-3
    val_fraction: float = 0.2
    seed: int = 0
    batch_size: int = 8
    device: str = "cpu"

    def __post_init__(self) -> None:
        from synthbio.editing.attributes import INPUT_MODES
        from synthbio.utils.seeds import check_seed

        object.__setattr__(self, "label_names", tuple(str(n) for n in self.label_names))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "where", tuple(self.where))
        if self.source == "database" and not self.label_names:
            raise InputError("a database source needs the attributes to learn (--labels smile or expression=smile)")
        if self.source != "database" and (self.protocol or self.group or self.where):
            raise InputError("--protocol, --group and --where select samples of a database (--database INDEX)")
        if self.source not in SOURCES:
            raise InputError(f"label source {self.source!r} is not one of {', '.join(SOURCES)}")
        if self.source == "csv" and not self.images and not self.latents:
            raise InputError("a labels CSV needs the images folder its file names point into (--images)")
        if self.align and self.source != "ckplus":
            raise InputError("--align uses the CK+ landmark files; a CSV source has no landmarks")
        if sum([self.encoder is not None, self.project, self.latents is not None]) != 1:
            raise InputError("give exactly one way to get latents: --encoder E, --project or --latents FILE")
        if self.project and not self.generator:
            raise InputError("--project needs the generator to project into (--model G)")
        if self.input_mode not in INPUT_MODES:
            raise InputError(f"input mode {self.input_mode!r} is not one of {', '.join(INPUT_MODES)}")
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"held-out fraction must be in [0, 1), got {self.val_fraction}")
        if min(self.steps, self.epochs, self.batch_size, self.min_positives) < 1:
            raise InputError("steps, epochs, batch size and min_positives must be >= 1")
        check_seed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["label_names"], d["hidden"], d["where"] = list(self.label_names), list(self.hidden), list(self.where)
        return d


@dataclass(frozen=True)
class LabelledImages:
    """Label rows: keys [N], image paths [N], names [K], values [N, K] (0/1, NaN = unknown), landmarks [68, 2]."""

    keys: list[str]
    paths: list[Path]
    names: list[str]
    values: np.ndarray
    landmarks: list[np.ndarray | None]


def _ckplus_label(name: str) -> tuple[str, int]:
    """'AU12' / 'au12' / '12' -> ('au', 12); 'happy' -> ('emotion', 5)."""
    from synthbio.io.labels import CKPLUS_EMOTIONS

    text = name.strip().lower()
    if m := re.fullmatch(r"(?:au)?\s*(\d+)", text):
        return "au", int(m.group(1))
    if text in CKPLUS_EMOTIONS:
        return "emotion", CKPLUS_EMOTIONS.index(text)
    raise InputError(f"unknown CK+ label {name!r}: use action units like 'AU12' or emotions "
                     f"({', '.join(CKPLUS_EMOTIONS)})")


def read_ckplus_labels(root: str, names: Sequence[str] = (), *, min_positives: int = 5) -> LabelledImages:
    """Every CK+ sequence (load_ckplus order) with the peak frame and the chosen labels."""
    from synthbio.io.labels import CKPLUS_EMOTIONS, load_ckplus

    seqs = load_ckplus(root)
    coded = [s for s in seqs if s.facs]
    occurring = sorted({au for s in coded for au in s.facs})
    if names:
        chosen = [_ckplus_label(n) for n in names]
        if missing := [f"'AU{c}'" for k, c in chosen if k == "au" and c not in occurring]:
            raise InputError(f"label {', '.join(missing)} never occurs in the FACS files under {root!r} "
                             f"(AUs there: {', '.join(f'AU{a}' for a in occurring) or 'none'})")
    else:  # learnable AUs only: an AU in 2 of 500 sequences gives no usable F1
        chosen = [("au", au) for au in occurring
                  if min_positives <= sum(au in s.facs for s in coded) <= len(coded) - min_positives]
        if not chosen:
            raise InputError(f"no action unit under {root!r} has {min_positives} positive and negative sequences; "
                             "name the labels to learn")
    values = np.full([len(seqs), len(chosen)], np.nan)
    for i, s in enumerate(seqs):
        for j, (kind, code) in enumerate(chosen):
            if kind == "au" and s.facs:
                values[i, j] = float(code in s.facs)
            elif kind == "emotion" and s.emotion is not None:
                values[i, j] = float(s.emotion == code)
    label_names = [f"AU{c}" if k == "au" else CKPLUS_EMOTIONS[c] for k, c in chosen]
    return LabelledImages(keys=[f"{s.subject}/{s.sequence}" for s in seqs], paths=[s.peak for s in seqs],
                          names=label_names, values=values, landmarks=[s.landmarks for s in seqs])


def read_csv_labels(path: str, images: str | None, names: Sequence[str] = (), *,
                    key_column: str = "filename") -> LabelledImages:
    """CSV rows -> images/<key>; columns in {0, 1} or {-1, 1} (CelebA style, -1 read as 0)."""
    from synthbio.io.labels import read_label_csv

    table = read_label_csv(path, key_column=key_column, columns=list(names) or None)
    values = table.values.copy()
    for j, name in enumerate(table.names):
        col = values[:, j]
        seen = set(np.unique(col[np.isfinite(col)]).tolist())
        if seen <= {-1.0, 1.0}:
            col[col == -1] = 0.0
        elif not seen <= {0.0, 1.0}:
            raise InputError(f"labels CSV {path!r}: column {name!r} holds {sorted(seen)[:5]}, not 0/1 (or -1/1)")
    root = Path(images) if images else Path(".")
    if images and not root.is_dir():
        raise InputError(f"images folder {images!r} (for labels CSV {path!r}) does not exist")
    return LabelledImages(keys=list(table.keys), paths=[root / k for k in table.keys], names=list(table.names),
                          values=values, landmarks=[None] * len(table.keys))


def read_database_labels(source: str, names: Sequence[str], *, protocol: str | None = None,
                         group: str | None = None, where: Sequence[str] = ()) -> LabelledImages:
    """Samples of a database selection labelled by attributes: NAME (0/1 or -1/1 values) or NAME=VALUE."""
    from synthbio.io.databases import ImageSelection, parse_where, select_samples
    from synthbio.io.databases.index import coerce_value

    samples = select_samples(ImageSelection(source, protocol=protocol, group=group, where=parse_where(list(where))))
    values = np.full([len(samples), len(names)], np.nan)
    for j, name in enumerate(names):
        attr, eq, wanted = name.partition("=")
        present = [s.attributes.get(attr) for s in samples]
        if all(v is None for v in present):
            known = sorted({k for s in samples for k in s.attributes})
            raise InputError(f"no selected sample of {source!r} has attribute {attr!r} "
                             f"(attributes: {', '.join(known) or 'none'})")
        for i, v in enumerate(present):
            if v is None:
                continue
            if eq:
                values[i, j] = float(v == coerce_value(wanted))
            elif v in (0, 1, -1):
                values[i, j] = float(v == 1)
            else:
                raise InputError(f"attribute {attr!r} of sample {samples[i].key!r} is {v!r}, not 0/1 (or -1/1); "
                                 f"learn one of its values with --labels {attr}=VALUE")
    return LabelledImages(keys=[s.key for s in samples], paths=[s.file for s in samples], names=list(names),
                          values=values, landmarks=[None] * len(samples))


def load_face(path: Path, *, resolution: int, channels: int, landmarks: np.ndarray | None = None) -> torch.Tensor:
    """Image file -> [channels, R, R] float32 in [-1, 1]; FFHQ crop from 68 landmarks when given."""
    rgb = read_image(path, mode="RGB")
    if landmarks is not None:
        from synthbio.faces.alignment import align_face

        rgb = align_face(rgb, np.asarray(landmarks)[list(_DLIB5_FROM_68)], style="ffhq", size=resolution)
    img = PIL.Image.fromarray(rgb).convert("L" if channels == 1 else "RGB")
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), PIL.Image.LANCZOS)
    return torch.from_numpy(np.asarray(img, np.float32).reshape(resolution, resolution, channels)
                            .transpose(2, 0, 1) / 127.5 - 1.0)


def read_cache(path: Path, fingerprint: str) -> dict[str, np.ndarray]:
    """{key: ws [num_ws, w_dim]} of a cache made by the same inverter; {} when there is none."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored, keys, ws = str(data["fingerprint"]), data["keys"].tolist(), data["ws"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise OutputDirError(f"latents cache {os.fspath(path)!r} is unreadable ({library_message(exc)}); "
                             "delete it") from None
    if stored != fingerprint:
        raise OutputDirError(f"latents cache {os.fspath(path)!r} was made by another inverter ({stored}); "
                             "use another --outdir or delete the cache")
    return dict(zip(keys, ws))


def write_cache(path: Path, cache: dict[str, np.ndarray], fingerprint: str) -> None:
    """Whole cache to a temporary file, then renamed: a kill leaves the previous chunk's cache."""
    from synthbio.utils.hashing import atomic_write

    keys, ws = list(cache), np.stack(list(cache.values())).astype(np.float32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append '.npz' to a bare name
            np.savez(f, ws=ws, keys=np.asarray(keys, dtype=str), fingerprint=np.asarray(fingerprint))

    atomic_write(path, write)


class _Inverter:
    """Images [N, C, R, R] -> ws [N, num_ws, w_dim] with an encoder or the projector."""

    def __init__(self, config: TrainClassifierConfig) -> None:
        from synthbio.utils.devices import resolve_device

        self.config = config
        self.device = resolve_device(config.device)
        if config.encoder is not None:
            from synthbio.checkpoints.encoders import load_encoder

            self.encoder, meta = load_encoder(config.encoder, device=self.device)
            c = self.encoder.config
            if c.in_channels not in (1, 3):
                raise InputError(f"encoder {config.encoder!r} reads {c.in_channels}-channel inputs, not face images")
            self.resolution, self.channels = c.resolution, c.in_channels
            self.generator = str(meta.get("generator", ""))
            self.fingerprint = json.dumps({"method": "encoder", "weights_sha256": meta.get("weights_sha256"),
                                           "align": config.align})
        else:
            from synthbio.checkpoints import load_generator
            from synthbio.inversion.losses import build_reconstruction_loss
            from synthbio.inversion.projector import ProjectorConfig, compute_w_stats

            self.G = load_generator(str(config.generator), device=self.device).eval().requires_grad_(False)
            self.resolution, self.channels = self.G.img_resolution, self.G.img_channels
            self.generator = config.generator
            # One w broadcast (the official projector) suits a 'w' classifier; W+ fits the others better.
            self.projector = ProjectorConfig(space="w" if config.input_mode == "w" else "wplus",
                                             num_steps=config.steps)
            self.loss = build_reconstruction_loss(config.loss, device=self.device)
            self.w_stats = compute_w_stats(self.G, num_samples=self.projector.w_avg_samples,
                                           seed=self.projector.w_avg_seed)
            self.fingerprint = json.dumps({"method": "project", "generator": config.generator, "steps": config.steps,
                                           "loss": config.loss, "space": self.projector.space, "seed": config.seed,
                                           "align": config.align})


def invert_chunk(inverter: _Inverter, images: torch.Tensor, indices: Sequence[int]) -> np.ndarray:
    """One chunk of images [n, C, R, R] (label rows `indices`) -> ws [n, num_ws, w_dim] float32."""
    if inverter.config.encoder is not None:
        with torch.no_grad():
            return inverter.encoder.eval()(images.to(inverter.device)).float().cpu().numpy()
    from synthbio.inversion.projector import project

    # Row i draws from seed + i, so its latent does not depend on the chunking or a resume.
    gens = [torch.Generator().manual_seed(inverter.config.seed + int(i)) for i in indices]
    res = project(inverter.G, images, config=inverter.projector, loss=inverter.loss, generator=gens,
                  progress=False, w_stats=inverter.w_stats)
    return res.ws.detach().float().cpu().numpy()


def cached_latents(config: TrainClassifierConfig, data: LabelledImages, rows: Sequence[int], *,
                   progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int, str]:
    """(ws [len(rows), num_ws, w_dim], images inverted now, generator name); inverts what the cache lacks."""
    if config.latents is not None:
        from synthbio.editing.apply import read_latents

        ws = read_latents(config.latents).ws.numpy()
        if ws.shape[0] != len(data.keys):
            raise InputError(f"latents file {config.latents!r} has {ws.shape[0]} rows, the labels have "
                             f"{len(data.keys)}: rows must follow the label rows one to one")
        return ws[list(rows)], 0, config.generator or ""
    inverter = _Inverter(config)
    path = Path(config.outdir) / CACHE_NAME
    cache = read_cache(path, inverter.fingerprint)
    todo = [i for i in rows if data.keys[i] not in cache]
    if bad := [data.keys[i] for i in todo if config.align and data.landmarks[i] is None][:3]:
        raise InputError(f"--align: CK+ sequences {bad} have no landmarks file for their peak frame")
    for start in range(0, len(todo), config.batch_size):
        chunk = todo[start:start + config.batch_size]
        images = torch.stack([load_face(data.paths[i], resolution=inverter.resolution, channels=inverter.channels,
                                        landmarks=data.landmarks[i] if config.align else None) for i in chunk])
        for i, w in zip(chunk, invert_chunk(inverter, images, chunk)):
            cache[data.keys[i]] = w
        write_cache(path, cache, inverter.fingerprint)
        if progress is not None:
            progress(len(rows) - len(todo) + start + len(chunk), len(rows))
    return np.stack([cache[data.keys[i]] for i in rows]), len(todo), inverter.generator


@dataclass(frozen=True)
class TrainClassifierResult:
    outdir: Path
    classifier: Path
    report: dict[str, Any]
    num_inverted: int


def _f1_chart(path: Path, names: Sequence[str], f1: Sequence[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # here, never at import (STYLE.md): a PNG file needs no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(3.0, 0.5 * len(names) + 1.5), 3.0))
    ax.bar(range(len(names)), [0.0 if not np.isfinite(v) else v for v in f1], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set(ylim=(0, 1), ylabel="held-out F1")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_classifier_job(config: TrainClassifierConfig, *,
                         progress: Callable[[int, int], None] | None = None) -> TrainClassifierResult:
    """Labels -> latents (cached in OUT) -> classifier in OUT/classifier, OUT/report.json, OUT/f1.png."""
    from synthbio.editing import attributes as attr
    from synthbio.pipelines.common.report_html import json_safe
    from synthbio.utils.hashing import atomic_write_json

    out = Path(config.outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {config.outdir!r} as output directory: {exc.strerror}") from None
    if config.source == "ckplus":
        data = read_ckplus_labels(config.labels, config.label_names, min_positives=config.min_positives)
    elif config.source == "database":
        data = read_database_labels(config.labels, config.label_names, protocol=config.protocol, group=config.group,
                                    where=config.where)
    else:
        data = read_csv_labels(config.labels, config.images, config.label_names, key_column=config.key_column)
    if not (rows := [i for i in range(len(data.keys)) if np.isfinite(data.values[i]).any()]):
        raise InputError(f"no label row of {config.labels!r} has a value for {', '.join(data.names)}")
    atomic_write_json(out / "config.json", config.to_dict())
    ws, num_inverted, generator = cached_latents(config, data, rows, progress=progress)
    values = data.values[rows].astype(np.float32)
    cls_cfg = attr.AttributeClassifierConfig(label_names=tuple(data.names), w_dim=ws.shape[2], num_ws=ws.shape[1],
                                        input_mode=config.input_mode, hidden=config.hidden)
    model, report = attr.train_attribute_classifier(ws, values, cls_cfg, epochs=config.epochs, lr=config.lr,
                                                    val_fraction=config.val_fraction, seed=config.seed)
    cls_dir = attr.save_attribute_classifier(model, out / CLASSIFIER_DIR, report=report, provenance={
        "generator": generator, "labels": os.fspath(config.labels), "source": config.source,
        "inverter": "encoder" if config.encoder else "project" if config.project else "latents"})
    summary = {
        "labels": [{"name": n, "f1": report.f1[j], "accuracy": report.accuracy[j],
                    "positives": int((values[:, j] == 1).sum()), "known": int(np.isfinite(values[:, j]).sum())}
                   for j, n in enumerate(data.names)],
        "num_rows": len(rows), "num_train": report.num_train, "num_val": report.num_val,
        "final_train_loss": report.final_train_loss, "num_inverted": num_inverted, "generator": generator,
        "keys": [data.keys[i] for i in rows],
    }
    atomic_write_json(out / "report.json", json_safe(summary))
    _f1_chart(out / "f1.png", data.names, report.f1)
    return TrainClassifierResult(outdir=out, classifier=cls_dir, report=summary, num_inverted=num_inverted)


def sample_ws(G: Any, num_samples: int, *, seed: int = 0, truncation_psi: float = 1.0,
              class_idx: int | None = None) -> torch.Tensor:
    """ws [N, num_ws, w_dim] (CPU): `pca.sample_w` (z from one torch.Generator(seed)) with truncation."""
    from synthbio.editing.pca import sample_w
    from synthbio.generation.sampling import check_truncation

    w = sample_w(G, num_samples, seed=seed, class_idx=class_idx)
    if truncation_psi != 1:  # w' = w_avg + psi (w - w_avg), as G.mapping truncates
        check_truncation(G, truncation_psi, None)
        w = torch.lerp(G.mapping.w_avg.detach().float().cpu(), w, truncation_psi)
    return w[:, None].repeat(1, G.num_ws, 1)


@dataclass(frozen=True)
class ClassifierDirectionsConfig:
    """`synthbio directions classifier`. labels: () = all; files are OUT/PREFIX<label>.direction.safetensors."""

    model: str
    classifier: str
    outdir: str
    labels: tuple[str, ...] = ()
    num_samples: int = 10000
    fraction: float = 0.02
    seed: int = 0
    truncation_psi: float = 1.0
    class_idx: int | None = None
    val_fraction: float = 0.3
    prefix: str = ""
    device: str = "cpu"


def classifier_directions(G: Any, classifier: Any, *, labels: Sequence[str] = (), num_samples: int = 10000,
                          fraction: float = 0.02, seed: int = 0, truncation_psi: float = 1.0,
                          class_idx: int | None = None, val_fraction: float = 0.3) -> dict[str, Any]:
    """{label: SVMDirection [w_dim]} fitted on the classifier's logits of N sampled latents."""
    from synthbio.editing.svm_directions import train_svm_direction

    names = list(classifier.config.label_names)
    if unknown := [n for n in labels if n not in names]:
        raise InputError(f"the classifier has no label {unknown}; its labels are {', '.join(names)}")
    if classifier.config.w_dim != G.w_dim:  # a classifier trained on another generator's latents
        raise InputError(f"the classifier reads w_dim {classifier.config.w_dim}, the generator has {G.w_dim}")
    ws = sample_ws(G, num_samples, seed=seed, truncation_psi=truncation_psi, class_idx=class_idx)
    with torch.no_grad():
        logits = classifier.eval()(ws.to(next(classifier.parameters()).device)).float().cpu().numpy()
    return {n: train_svm_direction(ws[:, 0], logits[:, names.index(n)], continuous=True, fraction=fraction,
                                   val_fraction=val_fraction, seed=seed)
            for n in (labels or names)}


def classifier_directions_job(config: ClassifierDirectionsConfig) -> dict[str, tuple[Path, Any]]:
    """Load G and the classifier, fit, save one direction file per label: {label: (path, SVMDirection)}."""
    from synthbio.checkpoints import load_generator
    from synthbio.editing.attributes import load_attribute_classifier
    from synthbio.editing.directions import save_direction
    from synthbio.utils.devices import resolve_device

    device = resolve_device(config.device)
    G = load_generator(config.model, device=device).eval().requires_grad_(False)
    classifier, _ = load_attribute_classifier(config.classifier)
    fits = classifier_directions(G, classifier.to(device), labels=config.labels, num_samples=config.num_samples,
                                 fraction=config.fraction, seed=config.seed, truncation_psi=config.truncation_psi,
                                 class_idx=config.class_idx, val_fraction=config.val_fraction)
    out: dict[str, tuple[Path, Any]] = {}
    for name, res in fits.items():
        file_name = config.prefix + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        extra = {"source": "classifier", "classifier": os.fspath(config.classifier), "space": "w",
                 "train_accuracy": f"{res.train_accuracy:.6f}", "num_samples": config.num_samples,
                 "fraction": config.fraction, "seed": config.seed, "truncation_psi": config.truncation_psi}
        path = save_direction(Path(config.outdir) / file_name, res.direction, method="svm", generator=config.model,
                              label=name, accuracy=res.val_accuracy, extra=extra)
        out[name] = (path, res)
    return out
