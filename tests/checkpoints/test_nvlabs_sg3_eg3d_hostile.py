"""Official StyleGAN3 / EG3D records with parts missing or hostile values: one CheckpointError naming the file
(never IndexError, KeyError or a 10^9-sample renderer), and nothing of the pickle runs."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ckpt_helpers import (
    _FakeModules,
    eg3d_persistent,
    rendering_kwargs,
    sg3_init_kwargs,
)

from synthbio.checkpoints.loading import load_generator
from synthbio.errors import CheckpointError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_generators import tiny_eg3d, tiny_sg3

SG3 = tiny_sg3(1)
EG3D = tiny_eg3d(1)
LAYERS = list(SG3.synthesis._modules)


def _pickle(tmp_path: Path, make: Callable[[_FakeModules], Any]) -> Path:
    fakes = _FakeModules(tmp_path / "marker")
    try:
        path = tmp_path / "network.pkl"
        path.write_bytes(pickle.dumps({"G_ema": make(fakes)}, protocol=4))
    finally:
        fakes.remove()
    return path


def _sg3(drop: tuple[str, ...] = (), drop_layers: tuple[str, ...] = (), **kwargs: Any) -> Callable[..., Any]:
    def make(fakes: _FakeModules) -> Any:
        layers = {k: fakes.persistent(v) for k, v in SG3.synthesis._modules.items() if k not in drop_layers}
        parts = {"synthesis": fakes.persistent(SG3.synthesis, modules=layers), "mapping": fakes.persistent(SG3.mapping)}
        return fakes.persistent(SG3, {**sg3_init_kwargs(SG3.config, fakes.EasyDict), **kwargs}, class_name="Generator",
                                modules={k: v for k, v in parts.items() if k not in drop})
    return make


def _eg3d(rendering: dict[str, Any] | None = None, drop: str | None = None) -> Callable[..., Any]:
    def make(fakes: _FakeModules) -> Any:
        real = fakes.persistent

        def without_part(module: Any, init_kwargs: Any = None, **kw: Any) -> Any:
            if drop and kw.get("class_name") == "TriPlaneGenerator":
                kw["modules"] = {k: v for k, v in kw["modules"].items() if k != drop}
            return real(module, init_kwargs, **kw)

        fakes.persistent = without_part  # type: ignore[method-assign]
        rk = rendering_kwargs(EG3D.config)
        return eg3d_persistent(fakes, EG3D, rendering=None if rendering is None else {**rk, **rendering})
    return make


@pytest.mark.parametrize("make, message", [
    (_sg3(drop=("synthesis",)), "has no mapping/synthesis networks"),
    (_sg3(drop=("mapping",)), "does not fit the architecture: missing mapping"),
    (_sg3(drop_layers=tuple(LAYERS)), "has no synthesis blocks"),
    (_sg3(drop_layers=(LAYERS[-1],)), "but its recorded options imply"),
    (_sg3(img_resolution=2**20), "img_resolution must be an integer in 4..4096"),
    (_sg3(z_dim=-1), "z_dim must be an integer"),
    (_eg3d(drop="backbone"), r"'G_ema.backbone' is nothing"),
    (_eg3d(drop="decoder"), r"'G_ema.decoder' is nothing"),
    (_eg3d({"depth_resolution": 10**9}), "depth_resolution must be an integer in 2..1024"),
    (_eg3d({"ray_start": float("nan")}), "ray_start must be a finite number"),
    (_eg3d({"box_warp": 0}), "box_warp must be a finite number"),
    (_eg3d({"avg_camera_pivot": [1]}), "avg_camera_pivot must be three numbers"),
], ids=["sg3-no-synthesis", "sg3-no-mapping", "sg3-no-layers", "sg3-no-torgb", "sg3-resolution-2^20", "sg3-z_dim",
        "eg3d-no-backbone", "eg3d-no-decoder", "eg3d-depth-10^9", "eg3d-ray_start-nan", "eg3d-box_warp-0",
        "eg3d-pivot"])
def test_hostile_official_records(tmp_path: Path, make: Callable[..., Any], message: str) -> None:
    path = _pickle(tmp_path, make)
    with pytest.raises(CheckpointError, match=message) as info:
        load_generator(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "marker").exists()  # nothing of the pickle ran
