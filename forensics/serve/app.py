"""The HTTP side of ``forensics serve``: a Starlette application over a :class:`~.work.Dispatcher`.

Every error is JSON, ``{"error": {"type", "message"}}``. A body over the limit is refused as
it streams in (413), never buffered past the limit; a full queue answers 503 with
``Retry-After``; with a token, every ``/v1`` route but ``/v1/health`` needs
``Authorization: Bearer <token>``, compared in constant time.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from forensics.analysis import SCHEMA, SCHEMA_VERSION
from forensics.signals import signal_names, signal_table
from forensics.version import __version__

from .page import docs_page, openapi_schema, web_page
from .work import MAX_BATCH_FILES, Dispatcher, QueueFull, Upload, status_of

access_log = logging.getLogger("forensics.serve.access")

#: Room for the multipart framing and form fields around the files.
FORM_SLACK = 64 * 1024
#: Once a body is refused as too large, at most this many more bytes are read and dropped,
#: so that a client still sending can read the 413 (closing on it shows as a reset instead).
DRAIN_BYTES = 16 * 1024 * 1024
#: The longest file name kept from an upload.
MAX_NAME = 255
OPTIONS = {"signals", "heatmaps", "panel", "name"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """What the routes need besides the dispatcher: the token (``None``: no auth), the
    per-file byte limit and the per-file time limit (reported in ``/v1/health``)."""

    token: str | None
    max_bytes: int
    timeout: float | None


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers or {}


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def create_app(dispatcher: Dispatcher, settings: Settings) -> Starlette:
    """The application; the lifespan starts the dispatcher's workers and stops them."""

    def authorize(request: Request) -> None:
        same_site(request, loopback_only=settings.token is None)
        if settings.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
            raise ApiError(401, "Unauthorized", "this service needs `Authorization: Bearer <token>` (the token of its "
                           "--token-file)", {"WWW-Authenticate": 'Bearer realm="forensics"'})

    async def health(request: Request) -> Response:
        ready = dispatcher.ready
        status = "failed" if dispatcher.error else "ok" if ready == dispatcher.workers else "starting"
        return JSONResponse({"status": status, "version": __version__, "workers": dispatcher.workers,
                             "workers_ready": ready, "models_loaded": ready == dispatcher.workers,
                             "queue": {"depth": dispatcher.depth, "waiting": dispatcher.waiting, "limit": dispatcher.queue},
                             "max_bytes": settings.max_bytes, "timeout": settings.timeout, "error": dispatcher.error})

    async def version(request: Request) -> Response:
        authorize(request)
        return JSONResponse({"forensics": __version__, "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "api": "v1"})

    async def signals(request: Request) -> Response:
        authorize(request)
        return JSONResponse({"signals": signal_table()})

    async def openapi(request: Request) -> Response:
        authorize(request)
        return JSONResponse(openapi_schema())

    async def docs(request: Request) -> Response:
        authorize(request)
        html, csp = docs_page()
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    async def page(request: Request) -> Response:
        same_site(request, loopback_only=settings.token is None)
        html, csp = web_page(token=settings.token is not None)
        return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"})

    async def analyze(request: Request) -> Response:
        authorize(request)
        opts = _options(request)
        (name, data), = await _uploads(request, settings.max_bytes, many=False)
        if data is None:
            raise ApiError(413, "TooLarge", f"{name}: the file is larger than the {settings.max_bytes:,}-byte limit (--max-bytes)")
        result = await _submit(dispatcher, Upload(data, name, **opts))
        failure = status_of(result)
        if failure is not None:
            raise ApiError(failure.status, failure.type, failure.message)
        return JSONResponse(result)

    async def batch(request: Request) -> Response:
        authorize(request)
        opts = _options(request)
        opts.pop("panel")
        files = await _uploads(request, settings.max_bytes, many=True)
        if dispatcher.waiting + len(files) > dispatcher.queue:
            raise ApiError(503, "QueueFull", f"the queue has no room for {len(files)} more file(s); retry later",
                           {"Retry-After": str(dispatcher.retry_after())})

        async def one(name: str, data: bytes | None) -> dict[str, Any]:
            if data is None:
                return _error_row(name, 413, "TooLarge", f"{name}: the file is larger than the {settings.max_bytes:,}-byte limit")
            try:
                result = await _submit(dispatcher, Upload(data, name, **opts))
            except ApiError as exc:
                return _error_row(name, exc.status, exc.kind, exc.message)
            failure = status_of(result)
            return result if failure is None else _error_row(name, failure.status, failure.type, failure.message)

        return JSONResponse({"results": list(await asyncio.gather(*(one(n, d) for n, d in files)))})

    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.kind, exc.message, exc.headers)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        return error_response(exc.status_code, kind, str(exc.detail), dict(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        logging.getLogger(__name__).error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "InternalError", f"the service failed on this request ({type(exc).__name__})")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        dispatcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(dispatcher.close)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/version", version, methods=["GET"]),
        Route("/v1/signals", signals, methods=["GET"]),
        Route("/v1/openapi.json", openapi, methods=["GET"]),
        Route("/v1/docs", docs, methods=["GET"]),
        Route("/v1/analyze", analyze, methods=["POST"]),
        Route("/v1/analyze/batch", batch, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error})


def same_site(request: Request, *, loopback_only: bool) -> None:
    """Refuse (403) what a web page elsewhere could make a browser send here: a request from
    another origin (than the Host, or a proxy's X-Forwarded-Host, which a page cannot set on a
    cross-origin request), and (without a token) one addressed to a name other than a loopback
    one, which is how DNS rebinding would reach a service on 127.0.0.1."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc not in (host, request.headers.get("x-forwarded-host")):
        raise ApiError(403, "Forbidden", "requests from another origin are refused")
    if loopback_only and urlsplit(f"//{host}").hostname not in LOOPBACK_NAMES:
        raise ApiError(403, "Forbidden", "without a token this service answers only to 127.0.0.1, localhost and [::1]")


async def _submit(dispatcher: Dispatcher, up: Upload) -> Any:
    try:
        fut = dispatcher.submit(up)
    except QueueFull as exc:
        raise ApiError(503, "QueueFull", f"{exc}; retry later", {"Retry-After": str(exc.retry_after)}) from None
    except Exception as exc:  # the workers failed to start, or the service is stopping
        raise ApiError(503, "Unavailable", str(exc), {"Retry-After": "5"}) from None
    return await asyncio.wrap_future(fut)


def _error_row(name: str, status: int, kind: str, message: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "source": name, "status": status,
            "error": {"type": kind, "message": message}}


def _flag(q: Any, key: str, default: bool) -> bool:
    v = q.get(key)
    if v is None:
        return default
    if v.lower() in TRUE:
        return True
    if v.lower() in FALSE:
        return False
    raise ApiError(400, "BadRequest", f"{key}={v!r}: expected true or false")


def _options(request: Request) -> dict[str, Any]:
    """The query's options: ``signals`` (comma-separated names), ``heatmaps`` and ``panel``
    (true/false), ``name`` (the name of a raw-body upload). Anything else is a 400."""
    q = request.query_params
    unknown = sorted(set(q.keys()) - OPTIONS)
    if unknown:
        raise ApiError(400, "BadRequest", f"unknown option(s) {', '.join(unknown)}; expected {', '.join(sorted(OPTIONS))}")
    sigs: tuple[str, ...] | None = None
    if q.get("signals"):
        sigs = tuple(dict.fromkeys(s.strip() for s in q["signals"].split(",") if s.strip()))
        known = signal_names()
        for s in sigs:
            if s not in known:
                close = difflib.get_close_matches(s, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
                raise ApiError(400, "UnknownSignal", f"no signal named {s!r}{hint}")
        sigs = sigs or None
    return {"signals": sigs, "heatmaps": _flag(q, "heatmaps", True), "panel": _flag(q, "panel", False)}


def _clean_name(name: str | None) -> str:
    name = "".join(c for c in (name or "") if c.isprintable()).strip()
    return name[:MAX_NAME] or "upload"


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (by its Content-Length
    or while it streams in); what comes after the limit is read and dropped, up to
    :data:`DRAIN_BYTES`, never kept."""
    too_large = ApiError(413, "TooLarge", f"the request body is larger than the {limit:,}-byte limit (--max-bytes)",
                         {"Connection": "close"})
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ApiError(400, "BadRequest", f"Content-Length {declared!r} is not a number") from None
        if n > limit + DRAIN_BYTES:
            raise too_large
    buf = bytearray()
    seen = 0
    over = False
    async for chunk in request.stream():
        seen += len(chunk)
        if over:
            if seen > limit + DRAIN_BYTES:
                break
            continue
        buf += chunk
        if len(buf) > limit:
            over = True
            buf = bytearray()
    if over:
        raise too_large
    return bytes(buf)


async def _uploads(request: Request, max_bytes: int, *, many: bool) -> list[tuple[str, bytes | None]]:
    """``(name, bytes)`` of each uploaded file (``None`` for one over ``max_bytes``): multipart
    fields ``file``, or (one file) a raw ``image/*`` or ``application/octet-stream`` body."""
    ctype = request.headers.get("content-type", "")
    kind = ctype.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        n = MAX_BATCH_FILES if many else 1
        body = await _read_body(request, n * max_bytes + FORM_SLACK)

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=n, max_fields=16, max_part_size=n * max_bytes)
        except HTTPException as exc:
            raise ApiError(400, "BadRequest", f"the multipart body could not be read: {exc.detail}") from None
        try:
            files = []
            for key, value in form.multi_items():
                if key == "file" and not isinstance(value, str):
                    data = await value.read()
                    files.append((_clean_name(value.filename), data if len(data) <= max_bytes else None))
        finally:
            await form.close()
        if not files:
            raise ApiError(400, "BadRequest", "no file in the form: send the image as the multipart field `file`")
        return files
    if kind.startswith("image/") or kind == "application/octet-stream":
        if many:
            raise ApiError(415, "UnsupportedMediaType", "a batch is multipart/form-data with one `file` field per image")
        return [(_clean_name(request.query_params.get("name")), await _read_body(request, max_bytes))]
    raise ApiError(415, "UnsupportedMediaType", f"expected multipart/form-data with a `file` field, or an image/* body; "
                   f"got {kind or 'no Content-Type'}")


class AccessLog:
    """ASGI middleware: one line per request on the ``forensics.serve.access`` logger (client,
    method, path without the query, status, bytes in and out, milliseconds; never a body or a
    header), and ``nosniff`` and ``no-store`` on every response."""

    def __init__(self, app: Any, *, json_lines: bool = False):
        self.app = app
        self.json_lines = json_lines

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        n_in = n_out = 0
        status = 0
        logged = False

        def log_line() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            client = (scope.get("client") or ("-",))[0]
            path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in scope.get("path", ""))
            ms = round((time.perf_counter() - t0) * 1000, 1)
            if self.json_lines:
                access_log.info(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "client": client,
                                            "method": scope["method"], "path": path, "status": status,
                                            "bytes_in": n_in, "bytes_out": n_out, "ms": ms}))
            else:
                access_log.info('%s "%s %s" %d in=%d out=%d %.1fms', client, scope["method"], path, status, n_in, n_out, ms)

        async def counted_receive() -> dict[str, Any]:
            nonlocal n_in
            msg = await receive()
            n_in += len(msg.get("body", b""))
            return msg

        async def counted_send(msg: dict[str, Any]) -> None:
            nonlocal n_out, status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg["headers"] = list(msg.get("headers", [])) + [(b"x-content-type-options", b"nosniff"),
                                                                  (b"cache-control", b"no-store")]
            elif msg["type"] == "http.response.body":
                n_out += len(msg.get("body", b""))
                if not msg.get("more_body", False):
                    log_line()  # before the client has the whole answer: a client never outruns its log line
            await send(msg)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            log_line()
