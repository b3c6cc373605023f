"""`synthbio masks evaluate`: a trained classifier scored against annotations it never saw.

Reads a classifier folder and an export folder whose annotations are painted
(samples of the same generator, annotated but not used for training), predicts
every annotated sample's mask from its exported ws, and writes a report
outside the annotation folder (default `<ANNOTATIONS>_report`), marked as derived
(`synthbio.io.derived`: no reader of the annotations counts it, wherever it is):

    REPORT/index.html        summary, per-class IoU, figures, settings
    REPORT/metrics.json      mIoU, per-class IoU, pixel accuracy, confusion matrix,
                             per-sample mIoU and uncertainty
    REPORT/overlays.png      up to 16 samples: image | annotation | prediction | errors
    REPORT/confusion.png     the confusion matrix, rows normalised (annotation -> prediction)
    REPORT/iou.png           IoU per class
    REPORT/uncertainty.png   per-sample mIoU against the ensemble's uncertainty score
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.checkpoints import load_generator, model_hash
from synthbio.errors import InputError
from synthbio.io.derived import mark_derived, sibling_folder
from synthbio.io.images import make_grid, to_uint8, write_png
from synthbio.metrics.segmentation import pixel_accuracy
from synthbio.pipelines.common import report_html as R
from synthbio.pipelines.masks.layout import read_annotation_folder
from synthbio.segmentation.classes import MaskClass, classes_from_json, colour_mask
from synthbio.segmentation.pixel_classifier import VOTES, load_pixel_classifier
from synthbio.segmentation.predict import check_compatible, synthesize_with_masks
from synthbio.segmentation.training import score_masks
from synthbio.segmentation.uncertainty import image_uncertainty
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.progress import Progress

OVERLAY_MAX = 16


@dataclass(frozen=True)
class MasksEvaluateConfig:
    """classifier: a `masks train` folder. annotations: a `masks export` folder with painted annotations.

    outdir: None = `<annotations>_report`. annotation_dir: where the painted
    files are (None = the annotation folder). model: the generator when it has
    moved (its weights must hash as recorded). tolerance: see `masks train`.
    """

    classifier: str
    annotations: str
    outdir: str | None = None
    annotation_dir: str | None = None
    model: str | None = None
    tolerance: int = 0
    vote: str = "mean"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.vote not in VOTES:
            raise InputError(f"--vote {self.vote!r} is not one of {', '.join(VOTES)}")

    @property
    def report_dir(self) -> Path:
        return Path(self.outdir) if self.outdir else sibling_folder(self.annotations, "report")


@dataclass(frozen=True)
class MasksEvaluation:
    report_dir: Path
    html: Path
    metrics_json: Path
    metrics: dict[str, Any]


def _error_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """White where the prediction is right, red where wrong, grey where not annotated."""
    out = np.full(pred.shape + (3,), 255, dtype=np.uint8)
    out[(pred != target) & (target != 255)] = (220, 30, 30)
    out[target == 255] = (128, 128, 128)
    return out


def evaluate_masks(config: MasksEvaluateConfig, *, log: Callable[[str], None] | None = None,
                   progress: bool = False) -> MasksEvaluation:
    """Score the classifier on the annotated samples and write the report (see module docstring).

    progress: report the scored samples on stderr (a bar on a terminal, periodic lines otherwise).
    """
    t0 = time.monotonic()
    device = resolve_device(config.device)
    model, meta = load_pixel_classifier(config.classifier, device=device)
    classes = classes_from_json(meta.get("classes"), where=os.fspath(Path(config.classifier) / "config.json"))
    folder = read_annotation_folder(config.annotations)
    if [c.name for c in folder.classes] != [c.name for c in classes]:
        raise InputError(f"{config.annotations} is annotated with classes {[c.name for c in folder.classes]}, "
                         f"the classifier predicts {[c.name for c in classes]}")
    samples, missing = folder.annotated(annotation_dir=Path(config.annotation_dir) if config.annotation_dir else None,
                                        classes=folder.classes, tolerance=config.tolerance)
    if not samples:
        raise InputError(f"no painted annotations in {config.annotation_dir or config.annotations} to score against")
    model_path = config.model or folder.run["model"]
    G = load_generator(model_path, device=device).eval().requires_grad_(False)
    sha = model_hash(G)
    trained_on = (meta.get("generator") or {}).get("model_sha256")
    if trained_on and sha != trained_on:
        raise InputError(f"the classifier was trained on another generator than {model_path!r} "
                         f"(weights sha256 {trained_on[:12]}... vs {sha[:12]}...)")
    if sha != folder.run["model_sha256"]:
        raise InputError(f"{config.annotations} was exported from another generator than {model_path!r}")
    check_compatible(G, model)
    trained = set((meta.get("report") or {}).get("annotated") or [])
    if (meta.get("train") or {}).get("annotations") and os.path.abspath(meta["train"]["annotations"]) == \
            os.path.abspath(config.annotations):
        overlap = sorted(trained & {s.seed for s in samples})
        if overlap:
            raise InputError(f"seeds {overlap[:8]} of {config.annotations} were used to train the classifier: "
                             "evaluate on annotations it has not seen (another export)")
    preds, uncertainty = [], []
    first_branch = G.branch_names[0]
    images = []
    bar = Progress(progress).start()
    task = bar.add_task("samples scored", total=len(samples))
    for i, s in enumerate(samples):
        imgs, pred = synthesize_with_masks(G, model, s.ws[None].to(device), seeds=[s.seed],
                                           noise_mode=folder.run["noise_mode"], vote=config.vote)
        preds.append(pred[0].labels.cpu().numpy().astype(np.uint8))
        uncertainty.append(image_uncertainty(pred[0].js))
        if i < OVERLAY_MAX:
            img = to_uint8(imgs[first_branch])[0]
            images.append(img[:, :, 0] if img.shape[2] == 1 else img[:, :, :3])
        bar.advance(task)
    bar.stop()
    scores = score_masks(preds, [s.labels for s in samples], len(classes))
    names = [c.name for c in classes]
    metrics = R.json_safe({
        "classifier": os.fspath(config.classifier), "annotations": os.fspath(config.annotations),
        "samples": len(samples), "not_annotated": missing, "pixel_accuracy": pixel_accuracy(scores.confusion),
        **scores.to_dict(names), "seeds": [s.seed for s in samples], "uncertainty": uncertainty,
        "uncertainty_miou_correlation": _spearman(uncertainty, scores.per_image_miou),
        "config": asdict(config), "seconds": round(time.monotonic() - t0, 1),
        "synthbio_version": synthbio.__version__,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    out = mark_derived(config.report_dir, command="masks evaluate", source=config.annotations)
    figures = _figures(out, images, samples, preds, scores, uncertainty, classes)
    atomic_write_json(out / "metrics.json", metrics)
    html = R.write_text(out / "index.html", _render(metrics, classes, figures))
    return MasksEvaluation(report_dir=out, html=html, metrics_json=out / "metrics.json", metrics=metrics)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    rx, ry = np.argsort(np.argsort(x[ok])), np.argsort(np.argsort(y[ok]))
    c = np.corrcoef(rx, ry)[0, 1]
    return float(c) if np.isfinite(c) else None


def _figures(out: Path, images: list[np.ndarray], samples: list[Any], preds: list[np.ndarray], scores: Any,
             uncertainty: list[float], classes: Sequence[MaskClass]) -> list[tuple[str, str]]:
    figs = []
    rows = []
    for img, s, p in zip(images, samples, preds):
        rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        rows += [rgb, colour_mask(s.labels, classes), colour_mask(p, classes), _error_map(p, s.labels)]
    if rows:
        write_png(out / "overlays.png", make_grid(rows, cols=4, pad=2))
        figs.append(("overlays.png", f"First {len(images)} samples, one a row: image, annotation, prediction, "
                                     "errors (red; grey = not annotated)."))
    k = len(classes)
    names = [c.name for c in classes]
    cm = scores.confusion.astype(np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = R.new_figure(1.2 + 0.55 * k, 1.0 + 0.5 * k)
    ax = fig.add_subplot()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    for i in range(k):
        for j in range(k):
            if cm[i].sum():
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    R.save_figure(fig, out / "confusion.png")
    figs.append(("confusion.png", "Confusion matrix, each row (annotated class) normalised to 1."))
    fig = R.new_figure(6, 3)
    ax = fig.add_subplot()
    iou = np.nan_to_num(scores.iou, nan=0.0)
    ax.bar(range(k), iou, color=[np.array(c.color) / 255 for c in classes], edgecolor="black")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.axhline(scores.miou, color="grey", linestyle="--", label=f"mIoU {scores.miou:.3f}")
    ax.legend(loc="lower right")
    R.save_figure(fig, out / "iou.png")
    figs.append(("iou.png", "IoU per class over every scored pixel; dashed: the mean."))
    fig = R.new_figure(5, 3.5)
    ax = fig.add_subplot()
    ax.scatter(uncertainty, scores.per_image_miou, s=10)
    ax.set_xlabel("uncertainty (mean JS of the 10% most uncertain pixels, nats)")
    ax.set_ylabel("mIoU of the sample")
    R.save_figure(fig, out / "uncertainty.png")
    figs.append(("uncertainty.png", "Per-sample mIoU against the ensemble's uncertainty: the filter of "
                                    "`masks generate --drop-uncertain` drops samples from the right."))
    return figs


def _render(m: dict[str, Any], classes: Sequence[MaskClass], figures: list[tuple[str, str]]) -> str:
    summary = R.table(["measure", "value"], [
        ["samples scored", m["samples"]],
        ["mIoU", R.fmt_number(m["miou"])],
        ["pixel accuracy", R.fmt_number(m["pixel_accuracy"], percent=True)],
        ["uncertainty vs sample mIoU (Spearman)", R.fmt_number(m["uncertainty_miou_correlation"])],
    ])
    swatch = '<span style="display:inline-block;width:1em;height:1em;background:{};border:1px solid #999"></span>'
    per_class = R.table(["", "class", "IoU"], [
        [swatch.format("#" + "".join(f"{v:02x}" for v in c.color)), R.esc(c.name), R.fmt_number(m["iou"][c.name])]
        for c in classes], raw_html=True)
    sections = [
        ("Summary", summary),
        ("IoU per class", per_class),
        ("Figures", "\n".join(R.figure_html(src, cap, width=560) for src, cap in figures)),
        ("About", f"<p>Classifier <code>{R.esc(m['classifier'])}</code> scored against the annotations of "
                  f"<code>{R.esc(m['annotations'])}</code> by synthbio {R.esc(m['synthbio_version'])} on "
                  f"{R.esc(m['generated_at'])}; every number is in <a href=\"metrics.json\">metrics.json</a>. "
                  "IoU counts every scored pixel of every sample (dataset-level, as DatasetGAN reports it).</p>"),
    ]
    return R.page("Mask classifier evaluation", sections,
                  subtitle=f"mIoU {R.fmt_number(m['miou'])} on {m['samples']} held-out annotated samples")
