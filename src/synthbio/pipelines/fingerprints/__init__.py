"""Fingerprint jobs: `synthbio fingerprints generate | evaluate | reconstruct | attack`.

generate.py (procedural masters and impressions with ground truth),
evaluate.py (NFIQ2, minutiae recovery, NBIS verification report),
reconstruct.py (fingerprints from template files), attack.py with
attack_data.py and attack_report.py (the template-inversion audit).
"""

from synthbio.pipelines.fingerprints.attack import AttackReport, run_attack
from synthbio.pipelines.fingerprints.attack_data import FingerprintAttackConfig
from synthbio.pipelines.fingerprints.evaluate import FingerprintReport, FingerprintReportConfig, evaluate_dataset
from synthbio.pipelines.fingerprints.generate import (
    FingerprintDatasetConfig,
    FingerprintDatasetResult,
    generate_dataset,
    load_dataset_index,
)
from synthbio.pipelines.fingerprints.reconstruct import ReconstructConfig, ReconstructResult, reconstruct_files

__all__ = [
    "AttackReport",
    "FingerprintAttackConfig",
    "FingerprintDatasetConfig",
    "FingerprintDatasetResult",
    "FingerprintReport",
    "FingerprintReportConfig",
    "ReconstructConfig",
    "ReconstructResult",
    "evaluate_dataset",
    "generate_dataset",
    "load_dataset_index",
    "reconstruct_files",
    "run_attack",
]
