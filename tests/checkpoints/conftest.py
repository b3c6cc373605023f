"""Fixtures for checkpoint tests (helpers live in ckpt_helpers.py)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from ckpt_helpers import _FakeModules, d_init_kwargs, generator_persistent, perturb, tiny_g_config

from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator


@pytest.fixture
def tiny_G() -> Generator:
    return perturb(Generator(tiny_g_config()), 1)


@pytest.fixture
def official_pickle(tmp_path: Path):  # type: ignore[no-untyped-def]
    """official_pickle(G_ema, G=None, D=None, drop=(), override=None) -> path of a format-faithful network pickle.

    G_ema / G may be any synthbio generator (StyleGAN2, StyleGAN3, EG3D); each is written as its
    official family writes it. override(name, tensor) -> object pickled instead of G_ema's tensor
    `name` (StyleGAN2; see _FakeModules.persistent).
    """
    marker = tmp_path / "module_src_executed"

    def write(G_ema: torch.nn.Module, G: torch.nn.Module | None = None, D: Discriminator | None = None,
              name: str = "network-snapshot-000000.pkl", drop: tuple[str, ...] = (), override: Any = None) -> Path:
        fakes = _FakeModules(marker)
        try:
            ed = fakes.EasyDict
            snapshot: dict[str, Any] = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset",
                                                                     path="data.zip", use_labels=False))
            snapshot["G"] = generator_persistent(fakes, G or G_ema)
            snapshot["D"] = None if D is None else fakes.persistent(D, d_init_kwargs(D.config, ed))
            snapshot["G_ema"] = generator_persistent(fakes, G_ema, override=override)
            snapshot["augment_pipe"] = None
            for key in drop:
                snapshot.pop(key)
            path = tmp_path / name
            with path.open("wb") as f:
                pickle.dump(snapshot, f, protocol=4)  # Python >= 3.8 default, as the training loop used
        finally:
            fakes.remove()
        assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
        return path

    write.marker = marker  # type: ignore[attr-defined]
    return write
