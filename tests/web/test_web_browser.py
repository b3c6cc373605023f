"""`synthbio serve` in a real headless browser (Debian's chromium driven by Playwright).

One server and one browser launch for the module; every page fails the test
on a console error or an uncaught exception. Skipped, with the reason, where
Playwright or /usr/bin/chromium is missing (`make test` installs both when it
runs as root and online).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra (starlette, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(web_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(web_root, tmp_path_factory.mktemp("bcache"))


def _serve(root: Path, cache: Path) -> Iterator[str]:
    """`synthbio serve` of one folder on a free port, in a thread, until the generator is closed."""
    import uvicorn

    from synthbio.web.app import create_app
    from synthbio.web.config import ServeConfig

    port = _free_port()
    app = create_app(ServeConfig(roots=(str(root),), port=port, cache_dir=str(cache)))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _watched(browser: Any, *, bypass_csp: bool) -> tuple[Any, list[str]]:
    pg = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp)
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.set_default_timeout(60_000)
    return pg, problems


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page whose test may evaluate its own waits (Playwright's waits need eval, which the app's CSP forbids)."""
    pg, problems = _watched(browser, bypass_csp=True)
    yield pg
    pg.close()
    assert not problems, "\n".join(problems)


def test_pages_run_under_the_apps_content_security_policy(browser: Any, server: str) -> None:
    """The real CSP in force: no page of the app needs inline script, eval or a foreign source."""
    pg, problems = _watched(browser, bypass_csp=False)
    for url, ready in (("", "[data-testid=dataset-link]"), ("#/ds?ds=demo_out/fingerprints", "[data-testid=tile] img"),
                       ("#/item?ds=demo_out/fingerprints&key=00000", "[data-testid=toggle-truth]"),
                       ("#/editor?ds=demo_out/gan&seed=1", "[data-testid=render]"),
                       ("#/tool/reconstruct", "[data-testid=run-tool]"),
                       ("#/tool/translate", "[data-testid=run-tool]")):
        pg.goto(server + url)
        pg.wait_for_selector(ready)
    pg.close()
    assert not problems, "\n".join(problems)


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("document.getElementById('view').dataset.ready === location.hash")


def test_home_lists_the_folders_and_pages_through_a_dataset(page: Any, server: str) -> None:
    _open(page, server)
    links = page.locator("[data-testid=dataset-link]").all_inner_texts()
    assert "demo_out/faces" in links and "demo_out/fingerprints" in links
    page.click("text=demo_out/faces")
    page.wait_for_selector("[data-testid=tile]")
    _open(page, server + "#/ds?ds=demo_out/faces&size=12")
    first = page.locator("[data-testid=tile]").evaluate_all("els => els.map(e => e.dataset.key)")
    assert first[0] == "00000" and len(first) == 12
    page.click("[data-testid=next-page]")
    page.wait_for_function("document.querySelector('[data-testid=page-label]')?.textContent.startsWith('page 2')")
    second = page.locator("[data-testid=tile]").evaluate_all("els => els.map(e => e.dataset.key)")
    assert second[0] == "00012" and not set(first) & set(second)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=tile] img')].every(i => i.complete && i.naturalWidth > 0)")
    page.click("[data-testid=show-histograms]")
    page.wait_for_selector("[data-testid=histogram] rect", state="attached")


def test_fingerprint_overlays_toggle_on_and_off(page: Any, server: str) -> None:
    _open(page, server + "#/item?ds=demo_out/fingerprints&key=00000")
    page.check("[data-testid=toggle-truth]")
    page.wait_for_selector("[data-testid=overlay-truth]")
    counts = page.locator("[data-testid=overlay-truth]").evaluate_all("els => els.map(e => Number(e.dataset.count))")
    assert len(counts) == 2 and min(counts) > 0
    page.check("[data-testid=toggle-sing]")
    page.wait_for_selector("[data-testid=overlay-sing]")
    page.uncheck("[data-testid=toggle-truth]")
    page.wait_for_selector("[data-testid=overlay-truth]", state="detached")
    boxes = page.locator("[data-testid=select]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("[data-testid=compare]")
    page.wait_for_selector("[data-testid=pair-lines]")
    assert int(page.locator("[data-testid=pair-lines]").get_attribute("data-count")) > 0


def test_mask_overlay_on_an_image_folder(page: Any, server: str) -> None:
    _open(page, server + "#/item?ds=demo_out/mated&key=00")
    page.check("[data-testid=toggle-mask]")
    page.wait_for_function("document.querySelector('[data-testid=overlay-mask]')?.naturalWidth > 0")
    page.uncheck("[data-testid=toggle-mask]")
    page.wait_for_selector("[data-testid=overlay-mask]", state="detached")


def test_editor_slider_changes_the_image(page: Any, server: str) -> None:
    _open(page, server + "#/editor?ds=demo_out/gan&seed=3")
    page.wait_for_selector("[data-testid=render]")
    before = page.locator("[data-testid=render]").first.get_attribute("src")
    slider = page.locator("[data-testid=direction]").first
    slider.evaluate("(el) => { el.value = 6; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function("(src) => { const i = document.querySelector('[data-testid=render]'); return i && i.src !== src; }",
                           arg=before)
    after = page.locator("[data-testid=render]").first.get_attribute("src")
    assert after != before and after.startswith("data:image/png")  # a new picture for the new strength
    psi = page.locator("[data-testid=psi]")
    for v in (0.2, 0.4, 0.6, 0.8):  # a fast drag: only the last state must end on screen
        psi.evaluate(f"(el) => {{ el.value = {v}; el.dispatchEvent(new Event('input', {{bubbles: true}})); }}")
    page.wait_for_function("() => Number(document.querySelector('[data-testid=editor-output]').dataset.rid) === Editor.rid")
    page.click("[data-testid=export-command]")
    page.wait_for_function("document.querySelector('[data-testid=commands]').textContent.includes('synthbio edit')")
    assert "--latents latents.npz" in page.locator("[data-testid=commands]").inner_text()  # the edited ws, exported


@pytest.fixture(scope="module")
def server3d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server over a folder with a tiny EG3D model (its backend's camera controls)."""
    from tiny_generators import tiny_eg3d

    from synthbio.checkpoints import save_generator

    root = tmp_path_factory.mktemp("b3d") / "out3d"
    save_generator(tiny_eg3d(), root / "eg3d")
    yield from _serve(root, tmp_path_factory.mktemp("b3dcache"))


def test_editor_draws_the_eg3d_camera_controls(page: Any, server3d: str) -> None:
    _open(page, server3d + "#/editor?model=out3d/eg3d&seed=2")
    page.wait_for_selector("[data-testid=render][data-branch=image]")
    names = page.locator("[data-testid=control]").evaluate_all("els => els.map(e => e.dataset.name)")
    assert names == ["yaw", "pitch", "fov"]
    assert not page.locator("text=class").count()  # c is a camera: no class input
    before = page.locator("[data-testid=render]").first.get_attribute("src")
    page.locator("[data-testid=control][data-name=yaw]").evaluate(
        "(el) => { el.value = 30; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function("(src) => { const i = document.querySelector('[data-testid=render]'); return i && i.src !== src; }",
                           arg=before)
    page.select_option("[data-testid=control-select][data-name=output]", "depth")
    page.wait_for_selector("[data-testid=render][data-branch=depth]")
    page.click("[data-testid=export-command]")
    page.wait_for_function("document.querySelector('[data-testid=commands]').textContent.includes('--yaw=30')")
def test_translation_page_shows_the_source_and_one_output_per_style(page: Any, server: str) -> None:
    _open(page, server + "#/tool/translate")
    assert "demo_out/translator/latest" in page.locator("[data-testid=translator]").inner_text()
    page.fill("[data-testid=styles]", "2")
    page.fill("[data-testid=pick]", "demo_out/fingerprints/00000/00.png")
    page.click("[data-testid=run-tool]")
    page.wait_for_selector("[data-testid=translations]")
    assert page.locator("[data-testid=translations]").get_attribute("data-count") == "2"
    page.wait_for_function("[...document.querySelectorAll('[data-testid=translations] img')]"
                           ".every(i => i.complete && i.naturalWidth === 192)")
    assert page.locator("[data-testid=translations] img").count() == 3
    page.fill("[data-testid=pick]", "")  # no image chosen: said on the page, nothing sent
    page.click("[data-testid=run-tool]")
    page.wait_for_selector("[data-testid=tool-result] [data-testid=error]")
