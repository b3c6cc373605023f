"""The latent editor: a generator, a state (seed pad, truncation, mixing, directions), an image.

State (what the browser sends, `EditorState.from_json`):

    x, y                 position on the seed pad; the grid point (i, j) is seed
                         (i + j * PAD_STRIDE) mod 2**32, and a point between grid
                         points blends the ws of its 4 neighbours bilinearly, as
                         the StyleGAN3 visualizer's latent pad does
    truncation_psi, truncation_cutoff, noise_mode, class_idx
    mix_seed, mix_layers style mixing: these ws layers come from mix_seed
    directions           [{id, strength, layers: [lo, hi]}]: ws += strength * n
                         on ws layers lo..hi (inclusive)
    extra                controls a backend adds (StyleGAN3 translate / rotate,
                         EG3D yaw / pitch / fov / output), by name

Backends: `GeneratorBackend` renders a state with one kind of generator; the
first entry of `BACKENDS` whose test accepts a loaded G is used, so a new
generator family (StyleGAN3, EG3D) plugs in with `register_backend` and lists
its own controls, which the browser draws without changes.

Stale renders: every render carries (client, request id); a render that
waited for the (single) render lock while a newer request of the same client
arrived is dropped (`StaleRender`) instead of run, and the browser aborts the
fetch of a superseded request, so a moving slider costs one render at a time.
"""

from __future__ import annotations

import io
import math
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from synthbio.editing.apply import edit_latents
from synthbio.editing.directions import parse_layer_range
from synthbio.editing.sefa import sefa
from synthbio.errors import InputError
from synthbio.generation.sampling import map_seeds, mix_styles, synthesize
from synthbio.io.images import to_uint8
from synthbio.utils.seeds import z_from_seeds

PAD_STRIDE = 1000  # seed of pad point (i, j) = i + j * PAD_STRIDE
MAX_DIRECTIONS = 16
PSI_RANGE = (-2.0, 2.0)
STRENGTH_RANGE = (-50.0, 50.0)


class StaleRender(Exception):
    """A newer request of the same client arrived while this one waited: it is not rendered."""


@dataclass(frozen=True)
class Control:
    """A backend-specific control the browser draws: a slider ('range') or a choice ('select')."""

    name: str
    label: str
    kind: str = "range"
    min: float = 0.0
    max: float = 1.0
    step: float = 0.01
    default: float | str = 0.0
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "min": self.min, "max": self.max,
                "step": self.step, "default": self.default, "options": list(self.options)}


@dataclass(frozen=True)
class DirectionEdit:
    id: str
    strength: float
    layers: tuple[int, int]


@dataclass(frozen=True)
class EditorState:
    x: float = 0.0
    y: float = 0.0
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None
    noise_mode: str = "const"
    class_idx: int | None = None
    mix_seed: int | None = None
    mix_layers: tuple[int, ...] = ()
    directions: tuple[DirectionEdit, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, *, num_ws: int) -> EditorState:
        """Validate what the browser sent; InputError naming the bad field."""
        if not isinstance(data, dict):
            raise InputError("editor state must be a JSON object")
        x, y = _number(data, "x", 0.0), _number(data, "y", 0.0)
        if not (abs(x) < 2**32 and abs(y) < 2**32):
            raise InputError("pad position x, y must lie within +-2**32")
        psi = _number(data, "truncation_psi", 1.0)
        if not PSI_RANGE[0] <= psi <= PSI_RANGE[1]:
            raise InputError(f"truncation_psi must be in {PSI_RANGE[0]}..{PSI_RANGE[1]}, got {psi}")
        cutoff = _int_or_none(data, "truncation_cutoff")
        if cutoff is not None and not 0 <= cutoff <= num_ws:
            raise InputError(f"truncation_cutoff must be in 0..{num_ws}, got {cutoff}")
        noise = data.get("noise_mode", "const")
        if noise not in ("const", "random", "none"):
            raise InputError(f"noise_mode must be const, random or none, got {noise!r}")
        mix_seed = _int_or_none(data, "mix_seed")
        if mix_seed is not None and not 0 <= mix_seed < 2**32:
            raise InputError(f"mix_seed must be in 0..2**32-1, got {mix_seed}")
        layers = data.get("mix_layers") or []
        if not isinstance(layers, list) or not all(isinstance(i, int) and 0 <= i < num_ws for i in layers):
            raise InputError(f"mix_layers must be a list of ws layers in 0..{num_ws - 1}")
        dirs = data.get("directions") or []
        if not isinstance(dirs, list) or len(dirs) > MAX_DIRECTIONS:
            raise InputError(f"directions must be a list of at most {MAX_DIRECTIONS}")
        edits = tuple(_direction_edit(d, num_ws) for d in dirs)
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            raise InputError("extra must be an object of control values")
        return cls(x=x, y=y, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode=noise,
                   class_idx=_int_or_none(data, "class_idx"), mix_seed=mix_seed, mix_layers=tuple(sorted(set(layers))),
                   directions=edits, extra=dict(extra))

    def pad_weights(self) -> list[tuple[int, float]]:
        """(seed, weight) of the pad's grid neighbours with non-zero weight (one seed on a grid point)."""
        x0, y0 = math.floor(self.x), math.floor(self.y)
        fx, fy = self.x - x0, self.y - y0
        out = []
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if w > 1e-9:
                out.append((pad_seed(x0 + dx, y0 + dy), w))
        return out

    def single_seed(self) -> int | None:
        """The seed when the pad sits on a grid point (then a `synthbio` command reproduces the image)."""
        weights = self.pad_weights()
        return weights[0][0] if len(weights) == 1 else None


def pad_seed(i: int, j: int) -> int:
    return (i + j * PAD_STRIDE) % 2**32


def _number(data: dict[str, Any], key: str, default: float) -> float:
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{key} must be a finite number, got {v!r}")
    return float(v)


def _int_or_none(data: dict[str, Any], key: str) -> int | None:
    v = data.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{key} must be an integer or null, got {v!r}")
    return v


def _direction_edit(d: Any, num_ws: int) -> DirectionEdit:
    if not isinstance(d, dict) or not isinstance(d.get("id"), str):
        raise InputError("each direction must be an object with an 'id'")
    strength = _number(d, "strength", 0.0)
    if not STRENGTH_RANGE[0] <= strength <= STRENGTH_RANGE[1]:
        raise InputError(f"direction strength must be in {STRENGTH_RANGE[0]}..{STRENGTH_RANGE[1]}, got {strength}")
    layers = d.get("layers") or [0, num_ws - 1]
    if (not isinstance(layers, list) or len(layers) != 2 or not all(isinstance(i, int) for i in layers)
            or not 0 <= layers[0] <= layers[1] < num_ws):
        raise InputError(f"direction layers must be [lo, hi] with 0 <= lo <= hi <= {num_ws - 1}, got {layers!r}")
    return DirectionEdit(id=d["id"], strength=strength, layers=(layers[0], layers[1]))


# --- backends -----------------------------------------------------------------------------------


class GeneratorBackend(Protocol):
    family: str

    def info(self) -> dict[str, Any]: ...

    def controls(self) -> list[Control]: ...

    def latents(self, state: EditorState, directions: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(z [K, z_dim] of the pad seeds, ws [1, num_ws, w_dim] after blending, mixing and edits)."""
        ...

    def render(self, state: EditorState, directions: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """{branch or output name: uint8 [H, W] or [H, W, 3]}."""
        ...


class StyleGAN2Backend:
    """Any StyleGAN2-family synthbio Generator (single or multi-branch)."""

    family = "stylegan2"

    def __init__(self, G: Any) -> None:
        self.G = G
        self._ws_cache: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()

    def info(self) -> dict[str, Any]:
        G = self.G
        return {"family": self.family, "z_dim": G.z_dim, "w_dim": G.w_dim, "c_dim": G.c_dim, "num_ws": G.num_ws,
                "resolution": G.img_resolution, "branches": list(G.branch_names)}

    def controls(self) -> list[Control]:
        return []

    def _ws_of_seed(self, seed: int, state: EditorState) -> torch.Tensor:
        """Mapped, truncated ws [1, num_ws, w_dim] of one seed (memoised: the pad revisits seeds)."""
        key = (seed, state.truncation_psi, state.truncation_cutoff, state.class_idx)
        if key not in self._ws_cache:
            _, ws = map_seeds(self.G, [seed], class_idx=state.class_idx, truncation_psi=state.truncation_psi,
                              truncation_cutoff=state.truncation_cutoff)
            self._ws_cache[key] = ws
            while len(self._ws_cache) > 256:
                self._ws_cache.popitem(last=False)
        self._ws_cache.move_to_end(key)
        return self._ws_cache[key]

    def latents(self, state: EditorState, directions: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        weights = state.pad_weights()
        ws = sum(w * self._ws_of_seed(seed, state) for seed, w in weights)
        assert isinstance(ws, torch.Tensor)
        if state.mix_seed is not None and state.mix_layers:
            ws = mix_styles(ws, self._ws_of_seed(state.mix_seed, state), state.mix_layers)
        for edit in state.directions:
            if edit.strength == 0:
                continue
            vector = directions.get(edit.id)
            if vector is None:
                raise InputError(f"unknown direction {edit.id!r}; load the model again to list its directions")
            ws = edit_latents(ws, vector, [edit.strength], range(edit.layers[0], edit.layers[1] + 1))[:, 0]
        z = z_from_seeds([s for s, _ in weights], self.G.z_dim, device=ws.device)
        return z, ws

    def render(self, state: EditorState, directions: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        _, ws = self.latents(state, directions)
        base = state.pad_weights()[0][0]
        out = synthesize(self.G, ws, seeds=[base], noise_mode=state.noise_mode)
        images = {}
        for branch, x in out.items():
            u8 = to_uint8(x)[0]
            images[branch] = u8[:, :, 0] if u8.shape[2] == 1 else u8 if u8.shape[2] == 3 else u8[:, :, 0]
        return images


BackendFactory = Callable[[Any], GeneratorBackend]
BACKENDS: list[tuple[str, Callable[[Any], bool], BackendFactory]] = [
    ("stylegan2", lambda G: hasattr(G, "mapping") and hasattr(G, "synthesis"), StyleGAN2Backend),
]


def register_backend(name: str, test: Callable[[Any], bool], factory: BackendFactory) -> None:
    """A generator family's backend, tried before the ones registered earlier (StyleGAN2 last)."""
    BACKENDS[:] = [(name, test, factory)] + [b for b in BACKENDS if b[0] != name]


def backend_for(G: Any) -> GeneratorBackend:
    for _name, test, factory in BACKENDS:
        if test(G):
            return factory(G)
    raise InputError(f"no editor backend for a {type(G).__name__}")


# --- one loaded model, renders, exports ----------------------------------------------------------


@dataclass
class EditorModel:
    spec: str
    backend: GeneratorBackend
    directions: dict[str, torch.Tensor]  # id -> vector [w_dim] or [num_ws, w_dim]
    direction_info: list[dict[str, Any]]

    def info(self) -> dict[str, Any]:
        return {"model": self.spec, **self.backend.info(), "controls": [c.to_json() for c in self.backend.controls()],
                "directions": self.direction_info, "pad_stride": PAD_STRIDE}


def sefa_directions(G: Any, *, count: int = 5) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """The model's top SeFa directions, computed on the spot (closed form, milliseconds)."""
    try:
        result = sefa(G, num_directions=count)
    except (InputError, RuntimeError, AttributeError):
        return {}, []
    vectors, info = {}, []
    for k in range(result.directions.shape[0]):
        did = f"sefa:{k}"
        vectors[did] = result.directions[k]
        info.append({"id": did, "label": f"SeFa {k} (computed)", "method": "sefa", "layers": None, "file": None})
    return vectors, info


class RenderGate:
    """One render at a time; a request superseded by a newer one of its client while waiting is dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta = threading.Lock()
        self._latest: OrderedDict[str, int] = OrderedDict()

    def run(self, client: str, rid: int, fn: Callable[[], Any]) -> Any:
        with self._meta:
            if rid < self._latest.get(client, -1):
                raise StaleRender()
            self._latest[client] = rid
            self._latest.move_to_end(client)
            while len(self._latest) > 1024:
                self._latest.popitem(last=False)
        with self._lock:
            with self._meta:
                if self._latest.get(client, -1) != rid:
                    raise StaleRender()
            return fn()


def render_timed(model: EditorModel, state: EditorState) -> tuple[dict[str, np.ndarray], float]:
    t0 = time.perf_counter()
    with torch.inference_mode():
        images = model.backend.render(state, model.directions)
    return images, (time.perf_counter() - t0) * 1000.0


def export_latents(model: EditorModel, state: EditorState) -> bytes:
    """An .npz with ws [1, num_ws, w_dim] (what `synthbio edit --latents` reads) and z of the pad seeds."""
    with torch.inference_mode():
        z, ws = model.backend.latents(state, model.directions)
    buf = io.BytesIO()
    weights = state.pad_weights()
    np.savez(buf, ws=ws.cpu().numpy().astype(np.float32), z=z.cpu().numpy().astype(np.float32),
             seeds=np.asarray([s for s, _ in weights], dtype=np.int64),
             seed_weights=np.asarray([w for _, w in weights], dtype=np.float64))
    return buf.getvalue()


def _q(text: str) -> str:
    return shlex.quote(text)


def command_lines(model: EditorModel, state: EditorState, files: dict[str, str | None]) -> list[dict[str, str]]:
    """`synthbio` commands that reproduce the image, with a note on what each covers.

    files: direction id -> its file path (None for directions computed here).
    """
    m = _q(model.spec)
    seed = state.single_seed()
    common = f" --truncation {state.truncation_psi:g}"
    if state.class_idx is not None:
        common += f" --class-idx {state.class_idx}"
    if state.noise_mode != "const":
        common += f" --noise-mode {state.noise_mode}"
    edits = [e for e in state.directions if e.strength != 0]
    mixing = state.mix_seed is not None and bool(state.mix_layers)
    # Backend controls (StyleGAN3 transform, EG3D view) as generate flags; mix and edit have none.
    view = getattr(model.backend, "command_options", lambda _state: "")(state)
    out = []
    if seed is not None and not edits and not mixing:
        cut = f" --truncation-cutoff {state.truncation_cutoff}" if state.truncation_cutoff is not None else ""
        out.append({"command": f"synthbio generate -m {m} --seeds {seed}{common}{cut}{view} -o out",
                    "note": "reproduces this image exactly"})
    elif view:
        pass  # mix and edit render without the backend's controls: no exact command for this state
    elif seed is not None and mixing and not edits and state.truncation_cutoff is None:
        styles = ",".join(str(i) for i in state.mix_layers)
        out.append({"command": f"synthbio mix -m {m} --rows {seed} --cols {state.mix_seed} --styles {styles}{common} "
                               "-o mix", "note": f"the image is mix/{seed}-{state.mix_seed}.png"})
    elif seed is not None and len(edits) == 1 and not mixing and state.truncation_cutoff is None:
        e = edits[0]
        path = files.get(e.id)
        if path is not None:
            out.append({"command": f"synthbio edit -m {m} -d {_q(path)} --seeds {seed} --strengths {e.strength:g} "
                                   f"--layers {e.layers[0]}-{e.layers[1]}{common} -o edits",
                        "note": "reproduces this image exactly"})
    last = edits[-1] if edits else None
    d = _q(files.get(last.id) or "DIRECTION") if last is not None else "DIRECTION"
    out.append({"command": f"synthbio edit -m {m} --latents latents.npz -d {d} --strengths 0 -o edits"
                           + ("" if state.noise_mode == "const" else f" --noise-mode {state.noise_mode}"),
                "note": "renders the exported latents.npz (ws after blending, mixing and every edit) unchanged: "
                        "strength 0 along any direction file of this model"
                        + (" (edit has no view or transform flags: it draws the default view)" if view else "")})
    return out


def check_directions(num_ws: int, w_dim: int, vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep the directions whose shape fits the model ([w_dim] or [num_ws, w_dim])."""
    return {k: v for k, v in vectors.items() if tuple(v.shape) in ((w_dim,), (num_ws, w_dim))}


def layer_range(meta_layers: str | None, num_ws: int) -> list[int] | None:
    if not meta_layers:
        return None
    try:
        r = parse_layer_range(meta_layers, num_ws)
    except InputError:
        return None
    return [r.start, r.stop - 1]


__all__: Sequence[str] = ("BACKENDS", "Control", "EditorModel", "EditorState", "GeneratorBackend", "RenderGate",
                          "StaleRender", "StyleGAN2Backend", "command_lines", "export_latents", "register_backend",
                          "render_timed", "sefa_directions")
