"""Translator training on 2 gloo processes: both ranks end with identical, finite weights; rank 0 writes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from translation_helpers import tiny_train_kwargs, write_folder

from synthbio.translation.train_config import TranslationTrainConfig
from synthbio.translation.training import train_translator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = TranslationTrainConfig(data_a=f"{root}/A", data_b=f"{root}/B", outdir=f"{root}/run", crop=32, batch=2,
                                 steps=3, snap=3, tick=3, grid=0, device="cpu", **tiny_train_kwargs())  # type: ignore[arg-type]
    result = train_translator(cfg, log=False)
    assert result.trainer is not None
    torch.save({"G": result.trainer.G.state_dict(), "D": result.trainer.D.state_dict(), "step": result.step},
               Path(root) / f"rank{rank}.pt")


def test_two_gloo_processes_end_identical(tmp_path: Path) -> None:
    write_folder(tmp_path / "A", 6, seed=1)
    write_folder(tmp_path / "B", 6, seed=2, pattern="stripes")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["step"] == r1["step"] == 3
    for net in ("G", "D"):
        for k in r0[net]:
            assert torch.equal(r0[net][k], r1[net][k]), f"{net}.{k} differs between ranks"
            assert bool(torch.isfinite(r0[net][k]).all()), f"{net}.{k} not finite"
    assert [p.name for p in (tmp_path / "run").glob("snapshot-*")] == ["snapshot-00000003"]
    assert (tmp_path / "run" / "latest" / "training_state.pt").is_file()
