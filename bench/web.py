"""`synthbio serve` speed: slider-to-image latency of the editor and page loads of a 10,000-identity dataset.

    python bench/web.py [--threads 2] [--renders 15] [--identities 10000] [--browser]

1. Editor: a random-weight 256x256 StyleGAN2 with the official paper256
   generator shape (z = w = 512, 8 mapping layers, channel_base 16384,
   channel_max 512; 14 ws), saved natively in a served folder. Each "slider
   move" is one POST /api/editor/render with a new direction strength (the
   browser's request: edit, synthesis, PNG, base64, JSON) through Starlette's
   test client, so HTTP transport is left out. Baseline in the same run:
   `G.synthesis` alone on the same ws (the network's share). Runs are
   interleaved (app, bare, app, bare, ...); medians are reported.
2. Dataset pages: a 10,000-identity dataset folder synthesised cheaply
   (2 tiny PNGs per identity, manifest.jsonl, samples.h5 with 64-d
   embeddings). Times: the first page of a new server (the index is built by
   one pass over the manifest and cached), the first page of another new
   server (index read from the cache), a page deep in the list, the
   'closest other identity' sort (all 10,000 x 10,000 reference similarities
   in blocks, once), and, as a baseline, parsing the whole manifest with
   `synthbio.io.manifest.read_manifest`. With --browser, also the time from
   navigation to a grid of 48 thumbnails drawn in headless chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def synthesize(outdir: Path, identities: int, samples: int = 2, emb_dim: int = 64) -> None:
    """The files of an identity dataset, cheaply: one 8x8 PNG reused, random unit embeddings."""
    from synthbio.io.images import encode_png
    from synthbio.io.samples import SampleLatents, write_samples

    rng = np.random.default_rng(0)
    png = encode_png(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    lines, h5 = [], []
    for i in range(identities):
        d = outdir / f"{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        emb = rng.standard_normal((samples, emb_dim)).astype(np.float32)
        for k in range(samples):
            label = "reference" if k == 0 else f"variation_{k - 1}"
            (d / f"{label}.png").write_bytes(png)
            lines.append(json.dumps({"identity": i, "label": label, "seed": i * 100 + k, "path": f"{d.name}/{label}.png",
                                     "sha256": "0" * 64, "latents": f"{d.name}/latents.safetensors",
                                     "latents_sha256": "0" * 64, "model_sha256": "0" * 64,
                                     "attrs": {"similarity_to_reference": float(rng.uniform(0.3, 0.9)), "passed": True,
                                               "nearest_real": float(rng.uniform(0, 0.6))}}))
            h5.append(SampleLatents(identity=i, label=label, z=None, w=None, w_plus=None, embedding=emb[k]))
    (outdir / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    write_samples(outdir / "samples.h5", h5)
    (outdir / "config.json").write_text(json.dumps({"command": "dataset generate", "config": {},
                                                    "content": {"modality": "face", "identities": identities}}))


def client_for(roots: list[Path], cache: Path):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from synthbio.web.app import create_app
    from synthbio.web.config import ServeConfig

    return TestClient(create_app(ServeConfig(roots=tuple(map(str, roots)), cache_dir=str(cache))),
                      base_url="http://127.0.0.1:8000")


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def bench_editor(tmp: Path, renders: int) -> dict[str, float]:
    import torch

    from synthbio.checkpoints import save_generator
    from synthbio.generation.sampling import synthesize
    from synthbio.nn.config import GeneratorConfig
    from synthbio.pipelines.images import build_demo_generator
    from synthbio.web.editor import EditorState

    served = tmp / "models"
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=256, channel_base=16384, channel_max=512,
                          mapping_layers=8)
    save_generator(build_demo_generator(cfg), served / "paper256-random")
    client = client_for([served], tmp / "cache-editor")
    model = str((served / "paper256-random").resolve())
    info = client.post("/api/editor/load", json={"model": model}).json()
    direction = info["directions"][0]["id"]
    G = client.app.state.workspace.model(model).backend.G

    def state(strength: float) -> dict:
        return {"x": 7, "y": 0, "truncation_psi": 0.7,
                "directions": [{"id": direction, "strength": strength, "layers": [0, info["num_ws"] - 1]}]}

    app_ms, bare_ms = [], []
    loaded = client.app.state.workspace.model(model)
    _, ws = loaded.backend.latents(EditorState.from_json(state(0.5), num_ws=G.num_ws), loaded.directions)
    ws = ws.contiguous()
    def bare() -> float:
        """The network alone, as the editor calls it, in a worker thread as the app's renders are."""
        t0 = time.perf_counter()
        with torch.inference_mode():
            synthesize(G, ws, seeds=[7])
        return ms(t0)

    pool = ThreadPoolExecutor(1)
    for _ in range(2):  # warm-up of both paths (oneDNN weight packing, caches)
        client.post("/api/editor/render", json={"model": model, "state": state(0.0), "client": "b", "rid": 0})
        pool.submit(bare).result()
    for k in range(1, renders + 1):
        # A pause before each timed call: OpenMP workers of the other thread (the app renders in a worker
        # thread) spin for a while after their work and would otherwise steal cores from the next run.
        time.sleep(0.5)
        t0 = time.perf_counter()
        r = client.post("/api/editor/render", json={"model": model, "state": state(0.1 * k), "client": "b",
                                                    "rid": k + 10})
        app_ms.append(ms(t0))
        assert r.status_code == 200, r.text
        time.sleep(0.5)
        bare_ms.append(pool.submit(bare).result())
        time.sleep(0.5)
    a, b = statistics.median(app_ms), statistics.median(bare_ms)
    return {"render_median_ms": a, "render_best_ms": min(app_ms), "synthesis_median_ms": b, "ratio": a / b,
            "num_ws": info["num_ws"]}


def bench_pages(tmp: Path, identities: int, browser: bool) -> dict[str, float]:
    from synthbio.io.manifest import read_manifest

    root = tmp / "big"
    t0 = time.perf_counter()
    synthesize(root / "ds", identities)
    made_s = ms(t0) / 1000
    out: dict[str, float] = {"synthesis_s": made_s}
    t0 = time.perf_counter()
    read_manifest(root / "ds" / "manifest.jsonl")
    out["baseline_read_manifest_ms"] = ms(t0)
    cache = tmp / "cache-pages"
    t0 = time.perf_counter()
    c1 = client_for([root], cache)
    out["server_start_ms"] = ms(t0)
    t0 = time.perf_counter()
    r = c1.get("/api/items", params={"ds": "big/ds", "size": 48})
    out["first_page_cold_ms"] = ms(t0)
    assert r.json()["total"] == identities
    t0 = time.perf_counter()
    c1.get("/api/items", params={"ds": "big/ds", "size": 48, "page": identities // 48 - 1})
    out["deep_page_ms"] = ms(t0)
    t0 = time.perf_counter()
    c1.get("/api/items", params={"ds": "big/ds", "size": 48, "sort": "closest-other"})
    out["closest_other_first_ms"] = ms(t0)
    t0 = time.perf_counter()
    c1.get("/api/items", params={"ds": "big/ds", "size": 48, "sort": "closest-other", "page": 3})
    out["closest_other_again_ms"] = ms(t0)
    c2 = client_for([root], cache)
    t0 = time.perf_counter()
    c2.get("/api/items", params={"ds": "big/ds", "size": 48})
    out["first_page_index_cached_ms"] = ms(t0)
    if browser:
        out["browser_grid_ms"] = browser_grid(root, tmp / "cache-browser")
    return out


def browser_grid(root: Path, cache: Path) -> float:
    """Navigation to 48 drawn thumbnails in headless chromium (a fresh server and cache)."""
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from synthbio.web.app import create_app
    from synthbio.web.config import ServeConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(ServeConfig(roots=(str(root),), cache_dir=str(cache))),
                                        host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(bypass_csp=True)  # the wait below is evaluated JS, which the app's CSP forbids
        t0 = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/#/ds?ds=big/ds")
        page.wait_for_selector("[data-testid=tile] img")
        page.wait_for_function("[...document.querySelectorAll('[data-testid=tile] img')].length === 48 && "
                               "[...document.querySelectorAll('[data-testid=tile] img')].every(i => i.complete)")
        took = ms(t0)
        b.close()
    srv.should_exit = True
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--renders", type=int, default=15)
    ap.add_argument("--identities", type=int, default=10000)
    ap.add_argument("--browser", action="store_true")
    ap.add_argument("--only", choices=("editor", "pages"), default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "editor"):
            e = bench_editor(Path(tmp), args.renders)
            print(f"editor, 256x256 paper256-shaped random G ({e['num_ws']} ws): slider->image "
                  f"{e['render_median_ms']:.0f} ms median (best {e['render_best_ms']:.0f}); G.synthesis alone "
                  f"{e['synthesis_median_ms']:.0f} ms (app / bare = {e['ratio']:.2f})")
        if args.only in (None, "pages"):
            p = bench_pages(Path(tmp), args.identities, args.browser)
            print(json.dumps({k: round(v, 1) for k, v in p.items()}, indent=1))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
