"""Identity-labelled datasets: `synthbio dataset generate | merge | report`.

config.py (what to make), layout.py (the folder), engines.py (references and
variations from a generator or procedural fingerprints), generate.py (the
resumable, shardable job and its Ray backend), merge.py, report.py.
"""

from synthbio.pipelines.dataset.config import DatasetConfig, DatasetResult
from synthbio.pipelines.dataset.generate import generate_dataset
from synthbio.pipelines.dataset.merge import MergeResult, merge_datasets
from synthbio.pipelines.dataset.report import DatasetReport, DatasetReportConfig, evaluate_dataset

__all__ = [
    "DatasetConfig",
    "DatasetReport",
    "DatasetReportConfig",
    "DatasetResult",
    "MergeResult",
    "evaluate_dataset",
    "generate_dataset",
    "merge_datasets",
]
