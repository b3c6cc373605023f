"""Data-parallel training: 2 CPU processes on gloo end with identical, finite weights; only rank 0 writes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.multiprocessing as mp

from synthbio.training.configs import TrainConfig
from synthbio.training.loop import train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, data: str, outdir: str, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = TrainConfig(data=data, outdir=outdir, config="tiny", kimg=0.048, batch=8, snapshot_kimg=0.048,
                      device="cpu", grid=4, target=0.0, ada_interval=1)
    result = train(cfg)
    assert result.G is not None and result.D is not None and result.G_ema is not None
    torch.save({"G": result.G.state_dict(), "D": result.D.state_dict(), "G_ema": result.G_ema.state_dict(),
                "p": torch.tensor(result.augment_p), "step": result.step},
               Path(result_dir) / f"rank{rank}.pt")


def test_two_gloo_processes_end_identical(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        PIL.Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(data / f"{i:02d}.png")
    (tmp_path / "res").mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(tmp_path / "run"), str(tmp_path / "res")), nprocs=2,
             join=True)
    r0 = torch.load(tmp_path / "res" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "res" / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 6  # 48 images / global batch 8
    for net in ("G", "D", "G_ema"):
        assert r0[net].keys() == r1[net].keys()
        for k in r0[net]:
            assert torch.equal(r0[net][k], r1[net][k]), f"{net}.{k} differs between ranks"
            assert bool(torch.isfinite(r0[net][k]).all()), f"{net}.{k} not finite"
    # ADA statistics were reduced over both ranks: p moved identically (target 0 -> p rises).
    assert float(r0["p"]) == float(r1["p"]) > 0
    # The ranks drew different data and latents, yet hold one model: one set of files, from rank 0.
    assert len(list((tmp_path / "run").glob("network-snapshot-*"))) == 1
    assert (tmp_path / "run" / "latest" / "training_state.pt").is_file()
