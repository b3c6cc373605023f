"""Fixtures of the masks job tests: a saved tiny two-branch generator, an export with planted
annotations, and a classifier trained on it (module scope: built once per test module)."""

from __future__ import annotations

import pytest
import torch
from masks_job_helpers import CLASSES, FAST_FIT, paint_planted, tiny_generator

from synthbio.checkpoints import save_generator


@pytest.fixture(scope="module")
def masks_env(tmp_path_factory):
    """{'G': generator, 'model': saved path, 'ann': painted export of seeds 0-3, 'clf': classifier folder}."""
    from synthbio.pipelines.masks import ExportConfig, MasksTrainConfig, export_annotations, train_masks

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("masks")
        G = tiny_generator()
        save_generator(G, root / "G")
        export_annotations(ExportConfig(model=str(root / "G"), outdir=str(root / "ann"), seeds=(0, 1, 2, 3),
                                        classes=CLASSES, device="cpu"))
        paint_planted(root / "ann", G)
        train_masks(MasksTrainConfig(annotations=str(root / "ann"), outdir=str(root / "clf"), fit=FAST_FIT,
                                     device="cpu"))
    finally:
        torch.set_num_threads(before)
    return {"G": G, "model": root / "G", "ann": root / "ann", "clf": root / "clf", "root": root}
