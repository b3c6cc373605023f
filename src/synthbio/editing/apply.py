"""Applying a direction: ws' = ws + alpha * n on a range of layers, and the `synthbio edit` job.

`edit_latents` is the pure core. `run_edit` loads a generator, takes latents
from seeds or from a file (samples.h5, .npy, .npz), writes one image per
(sample, strength), one strip per sample (strengths left to right), the edited
latents as `samples.h5` and `config.json`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.editing.directions import Direction, format_layer_range, parse_layer_range, resolve_direction
from synthbio.errors import InputError, OutputDirError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LINSPACE_RE = re.compile(rf"^\s*({_NUM})\s*:\s*({_NUM})\s*:\s*(\d+)\s*$")
_MAX_STRENGTHS = 1000


def parse_strengths(spec: str) -> list[float]:
    """'-3:3:7' (start:stop:count, both ends included) or '-2,0,1.5' -> list of floats."""
    text = spec.strip() if isinstance(spec, str) else ""
    m = _LINSPACE_RE.match(text)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if not 1 <= n <= _MAX_STRENGTHS:
            raise InputError(f"strengths {spec!r}: count must be in 1-{_MAX_STRENGTHS}, got {n}")
        return [lo] if n == 1 else np.linspace(lo, hi, n).round(10).tolist()
    items = [t.strip() for t in text.split(",")] if text else []
    if not items or not all(re.fullmatch(_NUM, t) for t in items):
        raise InputError(f"strengths {spec!r} must be 'start:stop:count' (e.g. '-3:3:7') or numbers like '-2,0,2'")
    return [float(t) for t in items]


def edit_latents(ws: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float] | torch.Tensor,
                 layers: Sequence[int] | range | None = None) -> torch.Tensor:
    """ws [N, num_ws, w_dim] -> edited ws [N, S, num_ws, w_dim], row s = ws + strengths[s] * direction.

    direction: [w_dim] (added to every layer in `layers`) or [num_ws, w_dim]
    (row l added to layer l, for l in `layers`). layers: ws indices to edit
    (None = all). Layers outside `layers` are returned unchanged; the input is
    not modified.
    """
    if ws.ndim != 3:
        raise InputError(f"ws must be [N, num_ws, w_dim], got {list(ws.shape)}")
    _, num_ws, w_dim = ws.shape
    d = direction.to(device=ws.device, dtype=ws.dtype)
    if d.shape == (w_dim,):
        d = d.expand(num_ws, w_dim)
    elif d.shape != (num_ws, w_dim):
        raise InputError(f"direction of shape {list(direction.shape)} does not fit ws [N, {num_ws}, {w_dim}] "
                         f"(expected [{w_dim}] or [{num_ws}, {w_dim}])")
    mask = torch.zeros(num_ws, 1, dtype=ws.dtype, device=ws.device)
    idx = list(range(num_ws)) if layers is None else list(layers)
    if any(not 0 <= i < num_ws for i in idx):
        raise InputError(f"layers {idx} are out of bounds: ws layers are 0-{num_ws - 1}")
    mask[idx] = 1
    s = torch.as_tensor(strengths, dtype=ws.dtype, device=ws.device).reshape(1, -1, 1, 1)
    return ws.unsqueeze(1) + s * (mask * d).unsqueeze(0).unsqueeze(0)


def edit_layers(direction: Direction, num_ws: int, layers: str | None) -> range:
    """The ws range to edit: `layers` ('a-b') if given, else the direction's own range, else all."""
    if layers:
        return parse_layer_range(layers, num_ws)
    return direction.layer_range(num_ws) or range(num_ws)


# --- latents files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatentSet:
    """Latents read from a file: keys [N] (names to join labels on), ws [N, num_ws, w_dim], z [N, z_dim] or None.

    identities: an integer per sample (the seed for generated samples).
    aliases: further names of each sample (file stems such as 'seed0003').
    w: the one w [N, w_dim] a samples.h5 records per sample, or None. Usually ws[:, 0];
        not for a StyleGAN3 projection anchored at w_avg, whose ws[:, 0] is w_avg for all.
    """

    keys: list[str]
    identities: list[int]
    ws: torch.Tensor
    z: torch.Tensor | None
    aliases: list[tuple[str, ...]]
    w: torch.Tensor | None = None


def _broadcast(arr: np.ndarray, num_ws: int | None, path: str) -> torch.Tensor:
    """[N, w_dim] or [N, L, w_dim] -> [N, num_ws, w_dim] (num_ws None: 1 for W, L for W+)."""
    t = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    if t.ndim == 2:
        t = t.unsqueeze(1).repeat(1, num_ws or 1, 1)
    if t.ndim != 3 or (num_ws is not None and t.shape[1] != num_ws) or t.shape[0] == 0:
        want = f"[N, {num_ws}, w_dim]" if num_ws is not None else "[N, num_ws, w_dim]"
        raise InputError(f"latents in {path!r} have shape {list(arr.shape)}: expected [N, w_dim] or {want}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"latents in {path!r} contain NaN or inf values")
    return t


def read_latents(path: str | os.PathLike[str], *, num_ws: int | None = None) -> LatentSet:
    """samples.h5 (w_plus_latent of every sample), .npy or .npz ('ws' or 'w') -> LatentSet.

    num_ws: the generator's layer count (W latents are broadcast to it, W+ ones
    must match); None keeps what the file holds (W as one layer).
    """
    p = Path(path)
    name = os.fspath(p)
    if not p.is_file():
        raise InputError(f"latents file {name!r} does not exist")
    if p.suffix in (".h5", ".hdf5"):
        from synthbio.io.samples import read_samples

        _, samples = read_samples(p)
        if not samples:
            raise InputError(f"latents file {name!r} holds no samples")
        ws = _broadcast(np.stack([s.w_plus for s in samples]), num_ws, name)
        zs = [np.asarray(s.z, dtype=np.float32) for s in samples]
        z = torch.from_numpy(np.stack(zs)) if all(len(x) == len(zs[0]) and len(x) for x in zs) else None
        keys = [f"{s.identity:05d}/{s.label}" for s in samples]
        aliases = []
        for s in samples:
            seed = s.attrs.get("seed")
            names = [str(s.identity), f"{s.identity:05d}_{s.label}"]
            if seed is not None:
                names.append(f"seed{int(seed):04d}")
            aliases.append(tuple(names))
        w = torch.from_numpy(np.stack([np.asarray(s.w, dtype=np.float32) for s in samples])) \
            if all(s.w is not None for s in samples) else None
        return LatentSet(keys=keys, identities=[s.identity for s in samples], ws=ws, z=z, aliases=aliases, w=w)
    try:
        if p.suffix == ".npz":
            with np.load(p) as data:
                key = "ws" if "ws" in data else "w" if "w" in data else None
                if key is None:
                    raise InputError(f"latents file {name!r} has no 'ws' or 'w' array (has {sorted(data.files)})")
                arr = data[key]
        else:
            arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read latents file {name!r}: {exc}") from None
    ws = _broadcast(arr, num_ws, name)
    n = ws.shape[0]
    return LatentSet(keys=[str(i) for i in range(n)], identities=list(range(n)), ws=ws, z=None,
                     aliases=[(f"{i:05d}",) for i in range(n)])


# --- the edit job ----------------------------------------------------------------------------------


def _make_outdir(outdir: Path) -> None:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {os.fspath(outdir)!r} as output directory: {exc.strerror}") from None


@dataclass(frozen=True)
class EditConfig:
    """Everything `synthbio edit` needs; saved as DIR/config.json.

    Exactly one of `seeds` / `latents` (a samples.h5, .npy or .npz file).
    direction: a direction file or a NAME looked up in `directions_dir`.
    layers: 'a-b' ws range to edit (None = the direction's own range, else all).
    truncation_psi: applied to seed latents only (file latents are used as stored).
    """

    model: str
    outdir: str
    direction: str
    strengths: tuple[float, ...]
    seeds: tuple[int, ...] = ()
    latents: str | None = None
    layers: str | None = None
    truncation_psi: float = 1.0
    class_idx: int | None = None
    noise_mode: str = "const"
    batch_size: int = 8
    device: str = "auto"
    directions_dir: str = "."

    def __post_init__(self) -> None:
        from synthbio.generation.sampling import check_noise_mode
        from synthbio.utils.seeds import check_seed

        if bool(self.seeds) == bool(self.latents):
            raise InputError("give either seeds or a latents file (exactly one)")
        object.__setattr__(self, "seeds", tuple(check_seed(s) for s in self.seeds))
        strengths = tuple(float(s) for s in self.strengths)
        if not strengths or not all(np.isfinite(strengths)):
            raise InputError(f"strengths must be a non-empty list of finite numbers, got {list(self.strengths)}")
        object.__setattr__(self, "strengths", strengths)
        check_noise_mode(self.noise_mode)
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"], d["strengths"] = list(self.seeds), list(self.strengths)
        return d


@dataclass(frozen=True)
class EditResult:
    outdir: Path
    images: list[Path]
    strips: list[Path]
    samples: Path
    layers: range


def run_edit(config: EditConfig) -> EditResult:
    """Load the model and direction named in `config`, write edited images, strips and latents."""
    from synthbio.checkpoints import load_generator
    from synthbio.utils.devices import resolve_device

    direction = resolve_direction(config.direction, search_dirs=(config.directions_dir,))
    G = load_generator(config.model, device=resolve_device(config.device))
    G.eval().requires_grad_(False)
    return edit_with(G, direction, config)


def _source_latents(G: Any, config: EditConfig) -> tuple[list[str], list[int], torch.Tensor, torch.Tensor | None]:
    """(names, noise seeds / identities, ws [N, L, D] on G's device, z or None)."""
    from synthbio.generation.sampling import check_truncation, map_seeds

    device = next(G.parameters()).device
    if config.seeds:
        check_truncation(G, config.truncation_psi, None)
        z, ws = map_seeds(G, list(config.seeds), class_idx=config.class_idx, truncation_psi=config.truncation_psi)
        return [f"seed{s:04d}" for s in config.seeds], list(config.seeds), ws, z.cpu()
    assert config.latents is not None
    lat = read_latents(config.latents, num_ws=G.num_ws)
    if lat.ws.shape[2] != G.w_dim:
        raise InputError(f"latents in {config.latents!r} have w_dim {lat.ws.shape[2]}, the model has {G.w_dim}")
    names = [k.replace("/", "_") for k in lat.keys]
    return names, lat.identities, lat.ws.to(device), lat.z


def edit_with(G: Any, direction: Direction, config: EditConfig) -> EditResult:
    """The edit job with a loaded generator and direction (see `run_edit`)."""
    import synthbio
    from synthbio.generation.sampling import synthesize
    from synthbio.io.images import png_planes, save_grid, to_uint8, write_png
    from synthbio.io.samples import SampleLatents, write_samples
    from synthbio.utils.hashing import atomic_write_json

    if direction.vector.shape[-1] != G.w_dim:
        raise InputError(f"direction {config.direction!r} has w_dim {direction.vector.shape[-1]}, "
                         f"the model has {G.w_dim}")
    layers = edit_layers(direction, G.num_ws, config.layers)
    names, idents, ws, z = _source_latents(G, config)
    strengths = list(config.strengths)
    outdir = Path(config.outdir)
    multi = len(G.branch_names) > 1
    _make_outdir(outdir)
    atomic_write_json(outdir / "config.json", {
        "command": "edit", "config": config.to_dict(), "layers": format_layer_range(layers),
        "direction_metadata": dict(direction.metadata), "synthbio_version": synthbio.__version__})
    images: list[Path] = []
    strips: list[Path] = []
    records: list[SampleLatents] = []
    for i, name in enumerate(names):
        edited = edit_latents(ws[i:i + 1], direction.vector, strengths, layers)[0]  # [S, L, D]
        tiles: dict[str, list[np.ndarray]] = {b: [] for b in G.branch_names}
        for start in range(0, len(strengths), config.batch_size):
            chunk = edited[start:start + config.batch_size]
            out = synthesize(G, chunk, seeds=[idents[i]] * chunk.shape[0], noise_mode=config.noise_mode)
            for b, x in out.items():
                tiles[b].extend(to_uint8(x))
        for b, arrs in tiles.items():
            base = outdir / b if multi else outdir
            for j, img in enumerate(arrs):
                for suffix, plane in png_planes(img):
                    path = base / f"{name}_edit{j:02d}{suffix}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_png(path, plane)
                    images.append(path)
            strips += save_grid(base / f"strip_{name}.png", arrs, cols=len(arrs))
        w_plus = edited.float().cpu().numpy()
        zi = z[i].numpy() if z is not None else np.zeros([0], dtype=np.float32)
        for j, s in enumerate(strengths):
            records.append(SampleLatents(identity=i, label=f"edit_{j:02d}", z=zi, w=w_plus[j, 0], w_plus=w_plus[j],
                                         attrs={"source": name, "source_identity": idents[i], "strength": s}))
    samples = outdir / "samples.h5"
    write_samples(samples, records, attrs={
        "generator_path": config.model, "direction": config.direction, "direction_method": direction.method,
        "direction_label": direction.label, "layers": format_layer_range(layers),
        "strengths": np.asarray(strengths, dtype=np.float64), "synthbio_version": synthbio.__version__})
    return EditResult(outdir=outdir, images=images, strips=strips, samples=samples, layers=layers)
