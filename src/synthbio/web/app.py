"""The Starlette application: JSON API, file and thumbnail routes, the static single-page UI.

Every route only reads: the served folders are opened read-only and the app
has no route that writes, moves or deletes a file there (thumbnails, indexes
and MINDTCT results go to the cache folder). Errors are JSON `{"error": ...}`
with 400 (bad input), 403 (outside the served folders), 404, 409 (a render
superseded by a newer one), 413 / 415 (uploads).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from synthbio.errors import InputError, SynthbioError
from synthbio.fingerprints.minutiae import read_template
from synthbio.io.images import encode_png
from synthbio.translation.apply import parse_direction
from synthbio.web.config import ServeConfig
from synthbio.web.editor import EditorState, RenderGate, StaleRender, command_lines, export_latents, render_timed
from synthbio.web.fingerprint_tools import extracted_overlay, read_uploaded_template, reconstruct, truth_overlay
from synthbio.web.safety import (
    IMAGE_TYPES,
    TEMPLATE_TYPES,
    TOKEN_COOKIE,
    AccessError,
    UploadError,
    allowed_hosts,
    check_content_type,
    host_allowed,
    image_kind,
    template_kind,
    token_matches,
)
from synthbio.web.thumbs import colorize_mask, thumbnail
from synthbio.web.tools import available_tools
from synthbio.web.translate_tool import TranslatorCache, decode_image, find_translators, translate_image
from synthbio.web.workspace import Workspace

# The UI's own pages: scripts and styles from this server only, images also as data:/blob: URLs.
UI_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
          "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
# Served files (reports, images, a dataset's own HTML): no scripts at all, same origin kept for their images.
FILE_CSP = "sandbox allow-same-origin; default-src 'self' data:; script-src 'none'; style-src 'self' 'unsafe-inline'"


def static_dir() -> Path:
    return Path(str(resources.files("synthbio.web") / "static"))


class GuardMiddleware:
    """Host check, token check and security headers on every HTTP response (module `safety`)."""

    def __init__(self, app: ASGIApp, *, config: ServeConfig) -> None:
        self.app = app
        self.token = config.token
        # With a token, the token is the guard (a rebinding page cannot know it); without one, only loopback names.
        self.hosts = {"*"} if config.token is not None else allowed_hosts(config.host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not host_allowed(request.headers.get("host"), self.hosts):
            await PlainTextResponse("unknown Host header", status_code=421)(scope, receive, send)
            return
        set_cookie = False
        if self.token is not None:
            given = request.query_params.get("token")
            auth = request.headers.get("authorization", "")
            bearer = auth[7:] if auth.lower().startswith("bearer ") else None
            if token_matches(given, self.token):
                set_cookie = True
            elif not (token_matches(bearer, self.token)
                      or token_matches(request.cookies.get(TOKEN_COOKIE), self.token)):
                await JSONResponse({"error": "this server needs its access token (printed at start): open the URL "
                                             "with ?token=..."}, status_code=401)(scope, receive, send)
                return
        is_file = scope["path"].startswith("/files/")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {
                    b"content-security-policy": (FILE_CSP if is_file else UI_CSP).encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"cross-origin-resource-policy": b"same-origin",
                }
                if not is_file:
                    extra[b"x-frame-options"] = b"DENY"
                if set_cookie:
                    extra[b"set-cookie"] = (f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict").encode()
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in names or k == b"set-cookie"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, UploadError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    if isinstance(exc, AccessError):
        status = 404 if "does not exist" in str(exc) else 403
        return JSONResponse({"error": str(exc)}, status_code=status)
    if isinstance(exc, StaleRender):
        return JSONResponse({"error": "stale: a newer render of this client replaced it"}, status_code=409)
    return JSONResponse({"error": str(exc)}, status_code=400)


Handler = Callable[[Request], Awaitable[Response]]


def guarded(fn: Handler) -> Handler:
    """Turn synthbio's user errors into JSON error responses (never a traceback)."""

    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except (SynthbioError, StaleRender) as exc:
            return _error(exc)

    wrapper.__name__ = fn.__name__
    return wrapper


def _int(request: Request, name: str, default: int) -> int:
    v = request.query_params.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise InputError(f"query parameter {name} must be an integer, got {v!r}") from None


def _param(request: Request, name: str) -> str:
    v = request.query_params.get(name)
    if not v:
        raise InputError(f"missing query parameter {name!r}")
    return v


async def _json_body(request: Request, limit: int) -> Any:
    data = await read_body(request, limit)
    try:
        return json.loads(data or b"{}")
    except ValueError:
        raise InputError("the request body is not JSON") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(f"the upload is {int(declared)} bytes; the limit is {limit}", status=413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise UploadError(f"the upload is over the limit of {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: ServeConfig, *, workspace: Workspace | None = None) -> Starlette:
    """The app for `config` (discovers the served folders once, now)."""
    ws = workspace or Workspace.open(config)
    gate = RenderGate()
    body_limit = 256 << 10  # JSON requests of the editor are small
    translators = TranslatorCache(device=config.device)

    async def overview(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(ws.overview))

    async def rescan(request: Request) -> Response:
        await run_in_threadpool(ws.rescan)
        return JSONResponse(await run_in_threadpool(ws.overview))

    async def dataset(request: Request) -> Response:
        view = ws.view(_param(request, "ds"))
        return JSONResponse(await run_in_threadpool(view.summary))

    async def items(request: Request) -> Response:
        view = ws.view(_param(request, "ds"))
        filters = {k[7:]: v for k, v in request.query_params.items() if k.startswith("filter.")}
        page = await run_in_threadpool(
            lambda: view.list_items(page=_int(request, "page", 0), size=_int(request, "size", 48),
                                    query=request.query_params.get("q", ""), sort=request.query_params.get("sort", ""),
                                    filters=filters))
        return JSONResponse({"total": page.total, "page": page.page, "size": page.size, "items": page.items})

    async def item(request: Request) -> Response:
        view = ws.view(_param(request, "ds"))
        return JSONResponse(await run_in_threadpool(view.item, _param(request, "key")))

    async def histograms(request: Request) -> Response:
        view = ws.view(_param(request, "ds"))
        out = await run_in_threadpool(view.histograms)
        return JSONResponse(out if out is not None else {"available": False, "note": "no scores for this folder"})

    async def compare(request: Request) -> Response:
        view = ws.view(_param(request, "ds"))
        return JSONResponse(await run_in_threadpool(view.compare, _param(request, "a"), _param(request, "b")))

    async def minutiae(request: Request) -> Response:
        path = ws.roots.resolve(_param(request, "f"))
        source = request.query_params.get("source", "truth")
        if source == "truth":
            return JSONResponse(await run_in_threadpool(truth_overlay, path))
        if source == "mindtct":
            return JSONResponse(await run_in_threadpool(extracted_overlay, path, ws.context.cache_dir))
        raise InputError(f"source must be truth or mindtct, got {source!r}")

    async def thumb(request: Request) -> Response:
        path = ws.roots.resolve(_param(request, "f"))
        data = await run_in_threadpool(thumbnail, ws.context.cache_dir, path, _int(request, "size", 160))
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def mask(request: Request) -> Response:
        data = await run_in_threadpool(colorize_mask, ws.roots.resolve(_param(request, "f")))
        return Response(data, media_type="image/png")

    async def files(request: Request) -> Response:
        path = ws.roots.resolve(request.path_params["ref"])
        if not path.is_file():
            raise AccessError(f"{request.path_params['ref']!r} does not exist as a file")
        return FileResponse(path, headers={"cache-control": "private, max-age=60"})

    async def editor_load(request: Request) -> Response:
        body = await _json_body(request, body_limit)
        model = await run_in_threadpool(ws.model, str(body.get("model") or ""))
        return JSONResponse(model.info())

    def _state(body: dict[str, Any]) -> tuple[Any, EditorState]:
        model = ws.model(str(body.get("model") or ""))
        num_ws = int(model.backend.info()["num_ws"])
        return model, EditorState.from_json(body.get("state"), num_ws=num_ws)

    async def editor_render(request: Request) -> Response:
        body = await _json_body(request, body_limit)
        client = str(body.get("client") or "anonymous")[:64]
        rid = body.get("rid", 0)
        if not isinstance(rid, int):
            raise InputError("rid must be an integer")

        def work() -> dict[str, Any]:
            model, state = _state(body)
            images, ms = gate.run(client, rid, lambda: render_timed(model, state))
            return {"rid": rid, "ms": round(ms, 1), "seed": state.single_seed(),
                    "images": {b: "data:image/png;base64," + base64.b64encode(encode_png(a)).decode()
                               for b, a in images.items()}}

        return JSONResponse(await run_in_threadpool(work))

    async def editor_export(request: Request) -> Response:
        body = await _json_body(request, body_limit)

        def work() -> dict[str, Any]:
            model, state = _state(body)
            return {"commands": command_lines(model, state, ws.direction_paths(model))}

        return JSONResponse(await run_in_threadpool(work))

    async def editor_latents(request: Request) -> Response:
        body = await _json_body(request, body_limit)
        data = await run_in_threadpool(lambda: export_latents(*_state(body)))
        return Response(data, media_type="application/octet-stream",
                        headers={"content-disposition": 'attachment; filename="latents.npz"'})

    async def tools(request: Request) -> Response:
        return JSONResponse({"tools": available_tools()})

    async def reconstruct_route(request: Request) -> Response:
        w, h = _int(request, "xyt_width", 0), _int(request, "xyt_height", 0)
        picked = request.query_params.get("f")
        if picked:

            path = ws.roots.resolve(picked)
            template = await run_in_threadpool(lambda: read_template(path, width=w, height=h))
        else:
            check_content_type(request.headers.get("content-type"), TEMPLATE_TYPES)
            data = await read_body(request, config.max_upload_bytes)
            kind = template_kind(data, request.headers.get("x-filename", ""))
            template = await run_in_threadpool(lambda: read_uploaded_template(data, kind, xyt_width=w, xyt_height=h))
        return JSONResponse(await run_in_threadpool(reconstruct, template))

    async def translators_route(request: Request) -> Response:
        return JSONResponse({"translators": await run_in_threadpool(find_translators, ws.roots)})

    async def translate_route(request: Request) -> Response:
        folder = ws.roots.resolve(_param(request, "model"))
        direction = request.query_params.get("direction", "a2b")
        styles, style_seed = _int(request, "styles", 1), _int(request, "style_seed", 0)
        picked = request.query_params.get("f")
        if picked:
            path = ws.roots.resolve(picked)
            if not path.is_file():
                raise AccessError(f"{picked!r} does not exist as a file")
            data = await run_in_threadpool(path.read_bytes)
        else:
            check_content_type(request.headers.get("content-type"), IMAGE_TYPES)
            data = await read_body(request, config.max_upload_bytes)
            image_kind(data)

        def work() -> dict[str, Any]:
            translator = translators.get(folder)
            src, _ = parse_direction(direction)
            pixels = decode_image(data, channels=translator.config.channels(src),
                                  what=repr(picked) if picked else "the upload")
            result = translate_image(translator, pixels, direction=direction, styles=styles, style_seed=style_seed)
            return {"model": ws.roots.ref_of(translator.path or folder), **result}

        return JSONResponse(await run_in_threadpool(work))

    async def index(request: Request) -> Response:
        return FileResponse(static_dir() / "index.html", headers={"cache-control": "no-cache"})

    routes = [
        Route("/", index),
        Route("/api/overview", guarded(overview)),
        Route("/api/rescan", guarded(rescan), methods=["POST"]),
        Route("/api/dataset", guarded(dataset)),
        Route("/api/items", guarded(items)),
        Route("/api/item", guarded(item)),
        Route("/api/histograms", guarded(histograms)),
        Route("/api/compare", guarded(compare)),
        Route("/api/minutiae", guarded(minutiae)),
        Route("/api/thumb", guarded(thumb)),
        Route("/api/mask", guarded(mask)),
        Route("/api/editor/load", guarded(editor_load), methods=["POST"]),
        Route("/api/editor/render", guarded(editor_render), methods=["POST"]),
        Route("/api/editor/export", guarded(editor_export), methods=["POST"]),
        Route("/api/editor/latents", guarded(editor_latents), methods=["POST"]),
        Route("/api/tools", guarded(tools)),
        Route("/api/tools/reconstruct", guarded(reconstruct_route), methods=["POST"]),
        Route("/api/tools/translate/models", guarded(translators_route)),
        Route("/api/tools/translate", guarded(translate_route), methods=["POST"]),
        Route("/files/{ref:path}", guarded(files)),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, config=config)])
    app.state.workspace = ws
    return app
