"""Translator training step time on CPU at 128x128: synthbio vs NVlabs MUNIT's own trainer.

    python bench/translation_speed.py                                  # synthbio only
    SYNTHBIO_REF_MUNIT=/work/ext/MUNIT SYNTHBIO_REF_MUNIT_STANDINS=/work/ext/munit_standins \
        python bench/translation_speed.py --threads 2 --rounds 5

Both sides get the same data and settings: MUNIT's released configuration
(dim 64, 4 residual blocks, MLP 256, style 8, D 64 x 4 layers x 3 scales,
LSGAN, Adam 1e-4 (0.5, 0.999), weight decay 1e-4, batch 1) on 128x128 grey
crops of procedural fingerprints in two impression styles, with the explicit
cycle loss at the given weight. synthbio runs `--reference munit` (no
attention, no spectral norm) for the like-for-like column and its defaults
(SATNet additions) beside it, with and without the fingerprint identity
loss. A MUNIT step is `dis_update` then `gen_update` on one image of each
domain (the body of its train.py, which itself assumes CUDA); a synthbio
step is `TranslationTrainer.step()`, data loading included. Steps are
interleaved (one of each per round, in one process, same thread count)
after a warm-up step each, and the medians are reported: wall time, and the
process's CPU time, which a machine shared with other jobs distorts far less
(with one thread, CPU time is the work done; more threads add OpenMP
spin-waits to it).

The MUNIT checkout is NVlabs/MUNIT at any commit; it imports torchvision,
tensorboardX and the long-removed `torch.utils.serialization` at module
level and calls `.cuda()`. The bench writes empty stand-ins for those
imports and a `munit_cpu` module that keeps everything on the CPU into a
temporary folder (`STANDINS`; none of it is MUNIT's code), so a plain clone
of NVlabs/MUNIT is all it needs; SYNTHBIO_REF_MUNIT_STANDINS may name a
folder of your own stand-ins instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import torch

RES = 128
VARIANTS = ("munit", "ours-munit", "ours-satnet", "ours-satnet-identity")
LABELS = {"munit": "NVlabs MUNIT", "ours-munit": "synthbio --reference munit",
          "ours-satnet": "synthbio (SATNet defaults)",
          "ours-satnet-identity": "synthbio (SATNet) + fingerprint-ridges identity"}


def make_data(root: Path, fingers: int = 8) -> dict[str, Path]:
    """Two impression styles of procedural fingers at 128x128 (domain A clean, domain B inked)."""
    from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
    from synthbio.fingerprints.master import MasterConfig, generate_master

    styles = {"A": ImpressionConfig(width=RES, height=RES, max_creases=0, max_scratches=0),
              "B": ImpressionConfig(width=RES, height=RES, noise_std_range=(8, 14), blur_sigma_range=(1.0, 1.6),
                                    background_range=(150, 190), ridge_grey_range=(60, 110))}
    out = {}
    for name, style in styles.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(fingers):
            master = generate_master(f, MasterConfig(width=240, height=300))
            PIL.Image.fromarray(make_impression(master, f, 0, style).image).save(folder / f"{f:03d}.png")
        out[name] = folder
    return out


def munit_config(cycle_weight: float) -> dict:
    """MUNIT's edges2handbags_folder.yaml values, grey 128x128 inputs."""
    return {"display_size": 1, "batch_size": 1, "weight_decay": 0.0001, "beta1": 0.5, "beta2": 0.999,
            "init": "kaiming", "lr": 0.0001, "lr_policy": "step", "step_size": 100000, "gamma": 0.5,
            "gan_w": 1, "recon_x_w": 10, "recon_s_w": 1, "recon_c_w": 1, "recon_x_cyc_w": cycle_weight,
            "vgg_w": 0, "input_dim_a": 1, "input_dim_b": 1,
            "gen": {"dim": 64, "mlp_dim": 256, "style_dim": 8, "activ": "relu", "n_downsample": 2, "n_res": 4,
                    "pad_type": "reflect"},
            "dis": {"dim": 64, "norm": "none", "activ": "lrelu", "n_layer": 4, "gan_type": "lsgan",
                    "num_scales": 3, "pad_type": "reflect"}}


# Stand-ins that let MUNIT's modules import on a CPU-only machine with current PyTorch (file -> text).
STANDINS = {
    "munit_cpu.py": (
        '"""Import before MUNIT: provides the removed torch.utils.serialization and makes .cuda() a no-op."""\n'
        "import sys\nimport types\n\nimport torch\n\n"
        'serialization = types.ModuleType("torch.utils.serialization")\n'
        "serialization.load_lua = None\n"
        'sys.modules.setdefault("torch.utils.serialization", serialization)\n'
        "torch.Tensor.cuda = lambda self, *args, **kwargs: self\n"
        "torch.nn.Module.cuda = lambda self, *args, **kwargs: self\n"),
    "tensorboardX.py": '"""Empty stand-in: only MUNIT\'s train.py logs to TensorBoard."""\n',
    "torchvision/__init__.py": ('"""Empty stand-in: the bench feeds tensors to MUNIT_Trainer, not its loaders or grids."""\n'
                                "from . import transforms, utils  # noqa: F401\n"),
    "torchvision/transforms.py": '"""Empty stand-in."""\n',
    "torchvision/utils.py": '"""Empty stand-in."""\n',
}


def write_standins(folder: Path) -> Path:
    for name, text in STANDINS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def reference_step(data: dict[str, Path], cycle_weight: float, scratch: Path) -> Callable[[], None] | None:
    """One MUNIT training step as a closure, or None when no checkout is given."""
    root = os.environ.get("SYNTHBIO_REF_MUNIT")
    if not root:
        return None
    if not os.path.isfile(os.path.join(root, "trainer.py")):
        sys.exit(f"SYNTHBIO_REF_MUNIT={root} holds no trainer.py: not a MUNIT checkout")
    standins = os.environ.get("SYNTHBIO_REF_MUNIT_STANDINS") or str(write_standins(scratch / "munit_standins"))
    sys.path[:0] = [standins, root]
    import munit_cpu  # noqa: F401  (stand-ins: CPU instead of .cuda(), removed torch modules)
    from trainer import MUNIT_Trainer

    config = munit_config(cycle_weight)
    torch.manual_seed(0)
    trainer = MUNIT_Trainer(config)
    trainer.train()
    images = {d: [torch.from_numpy(np.array(PIL.Image.open(p))).float()[None, None] / 127.5 - 1
                  for p in sorted(folder.glob("*.png"))] for d, folder in data.items()}
    counter = [0]

    def step() -> None:
        i = counter[0]
        x_a, x_b = images["A"][i % len(images["A"])], images["B"][(i + 1) % len(images["B"])]
        trainer.update_learning_rate()
        trainer.dis_update(x_a, x_b, config)
        trainer.gen_update(x_a, x_b, config)
        counter[0] += 1

    return step


def synthbio_step(data: dict[str, Path], out: Path, *, reference: str, cycle_weight: float,
                  identity: str | None) -> Callable[[], None]:
    from synthbio.training.distributed import DistInfo
    from synthbio.translation.identity import build_identity_loss
    from synthbio.translation.train_config import TranslationTrainConfig, resolve_plan
    from synthbio.translation.trainer import TranslationTrainer
    from synthbio.translation.training import open_domains

    config = TranslationTrainConfig(data_a=data["A"], data_b=data["B"], outdir=out, crop=RES, reference=reference,
                                    cycle_weight=cycle_weight, identity_model=identity, device="cpu")
    domains = open_domains(config)
    plan = resolve_plan(config, channels_a=1, channels_b=1)
    loss = build_identity_loss(identity) if identity else None
    trainer = TranslationTrainer(config, plan, domains, DistInfo(), torch.device("cpu"), identity=loss)
    return trainer.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed steps of each variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument("--cycle-weight", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chosen = [v for v in args.variants.split(",") if v]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}: use {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp))
        variants: dict[str, Callable[[], None]] = {}
        for v in chosen:
            if v == "munit":
                ref = reference_step(data, args.cycle_weight, Path(tmp))
                if ref is not None:
                    variants[LABELS[v]] = ref
                continue
            reference = "munit" if v == "ours-munit" else "satnet"
            identity = "fingerprint-ridges" if v.endswith("identity") else None
            variants[LABELS[v]] = synthbio_step(data, Path(tmp) / v, reference=reference,
                                                cycle_weight=args.cycle_weight, identity=identity)
        for step in variants.values():  # warm-up: allocator, oneDNN kernel choice
            step()
        wall: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for name, step in variants.items():
                t0, c0 = time.perf_counter(), time.process_time()
                step()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    med_wall = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {"resolution": RES, "threads": args.threads, "rounds": args.rounds, "cycle_weight": args.cycle_weight,
              "median_wall_sec_per_step": med_wall, "median_cpu_sec_per_step": med_cpu, "wall": wall, "cpu": cpu,
              "torch": torch.__version__}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    base_c = med_cpu.get(LABELS["munit"])
    print(f"CPU step time at {RES}x{RES}, batch 1, {args.threads} thread(s), median of {args.rounds} interleaved steps")
    print(f"  {'':50s} {'wall s/step':>12s} {'CPU s/step':>11s}  speed vs MUNIT (CPU time)")
    for name in variants:
        ratio = f"{base_c / med_cpu[name]:.2f}x" if base_c else "-"
        print(f"  {name:50s} {med_wall[name]:12.2f} {med_cpu[name]:11.2f}  {ratio}")

if __name__ == "__main__":
    main()
