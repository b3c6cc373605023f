"""Semantic masks for synthetic images: `synthbio masks export | train | generate | merge | evaluate`.

layout.py (the annotation folder), export.py (samples to annotate), train.py
(the pixel classifier from painted annotations), run.py (what a generate run
is: config, folder names, loading, the end-of-run filter), generate.py (the
resumable, shardable job and its Ray backend), merge.py (shards into one
folder), evaluate.py (scores against held-out annotations, HTML report).
"""

from synthbio.pipelines.masks.evaluate import MasksEvaluateConfig, MasksEvaluation, evaluate_masks
from synthbio.pipelines.masks.export import ExportConfig, ExportResult, export_annotations, export_with
from synthbio.pipelines.masks.generate import generate_masks
from synthbio.pipelines.masks.merge import merge_mask_shards
from synthbio.pipelines.masks.run import MasksGenerateConfig, MasksGenerateResult
from synthbio.pipelines.masks.train import MasksTrainConfig, MasksTrainResult, train_masks

__all__ = [
    "ExportConfig",
    "ExportResult",
    "MasksEvaluateConfig",
    "MasksEvaluation",
    "MasksGenerateConfig",
    "MasksGenerateResult",
    "MasksTrainConfig",
    "MasksTrainResult",
    "evaluate_masks",
    "export_annotations",
    "export_with",
    "generate_masks",
    "merge_mask_shards",
    "train_masks",
]
