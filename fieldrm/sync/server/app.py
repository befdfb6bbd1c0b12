"""The central sync server (FastAPI, run by uvicorn through `fieldrm server run`).

The server keeps no state of its own beyond its `Storage`, so several processes can share
one PostgreSQL.  Every endpoint but `/v1/health` needs `Authorization: Bearer <token>`;
every response carries the protocol version header and a request naming another version is
refused with 426.  Bodies over the limit get 413, malformed ones 422 with the reason,
responses are gzip-compressed.  The push body is read raw and checked by hand
(`protocol.parse_push`) rather than through pydantic models: it is the hot path.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldrm import jsonio
from fieldrm.sync.protocol import (
    HELD_REQUEST_SCHEMA,
    MARKS_REQUEST_SCHEMA,
    MAX_BODY_BYTES,
    MAX_SEQ,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    PULL_PAGE,
    PUSH_REQUEST_SCHEMA,
    SNAPSHOT_PAGE,
    ErrorResponse,
    Health,
    HeldResponse,
    MarksResponse,
    Me,
    ProtocolError,
    PullResponse,
    PushResponse,
    SnapshotResponse,
    parse_held,
    parse_marks,
    parse_push,
    push_identity,
)
from fieldrm.sync.server.storage import Account, Storage

JSON = "application/json"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing, invalid or revoked token"},
    426: {"model": ErrorResponse, "description": "another protocol version"},
}
QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: {"model": ErrorResponse, "description": "a parameter or body out of its range"},
}
DEVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    **QUERY_ERRORS,
    403: {"model": ErrorResponse, "description": "a device id registered to another user"},
    409: {
        "model": ErrorResponse,
        "description": "a restored or cloned device (forked), a server restored from a "
        "backup (rewound), or a gap in the device's numbering",
    },
}


class ProtocolVersion:
    """Refuses another protocol version with 426 and names ours on every response.

    Plain ASGI rather than `@app.middleware("http")`: it sits on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spoken = Headers(scope=scope).get(PROTOCOL_HEADER)

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)
            await send(message)

        if spoken is not None and spoken != str(PROTOCOL_VERSION):
            refusal = JSONResponse(
                {
                    "error": "protocol",
                    "detail": f"this server speaks sync protocol {PROTOCOL_VERSION}, the "
                    f"device {spoken}: upgrade the older one (the device keeps its changes)",
                },
                status_code=426,
            )
            await refusal(scope, receive, send_named)
            return
        await self.app(scope, receive, send_named)


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads and checks its JSON by hand."""
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


def _account(request: Request) -> Account:
    """The token's account, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProtocolError(401, "unauthorized", "a token is required (Authorization: Bearer)")
    found = request.app.state.storage.authenticate(token.strip())
    if found is None:
        raise ProtocolError(401, "unauthorized", "invalid or revoked token")
    return found


def create_app(
    storage: Storage, *, clock: Callable[[], int] | None = None, publish_docs: bool = False
) -> FastAPI:
    """The API over `storage`; `clock` (ms since the epoch) is for tests of clock skew.

    The OpenAPI document and its pages (`/openapi.json`, `/docs`, `/redoc`) need a token
    like every endpoint but health, unless the operator publishes them (`publish_docs`).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Stopping (SIGTERM, Ctrl+C): uvicorn ends by raising the signal again, so nothing
        # after `uvicorn.run` runs; the checkpoint happens here, once requests are done.
        storage.checkpoint()

    app = FastAPI(
        lifespan=lifespan,
        title="fieldrm sync server",
        version=str(PROTOCOL_VERSION),
        description="Push device changes, pull the workspace's changes (SPEC §5, §6).",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.storage = storage
    # Level 1: most of the saving for a fraction of the CPU (9, the default, costs more
    # time than a slow link saves on a 10,000-record first sync).
    app.add_middleware(GZipMiddleware, minimum_size=512, compresslevel=1)
    app.add_middleware(ProtocolVersion)

    @app.exception_handler(ProtocolError)
    async def protocol_error(_request: Request, error: ProtocolError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where}: {item.get('msg')}")
        return JSONResponse(
            {"error": "bad_request", "detail": "; ".join(parts) or "bad request"}, 422
        )

    @app.get("/v1/health", response_model=Health)
    def health() -> dict[str, Any]:
        return {"ok": True, "protocol": PROTOCOL_VERSION}

    @app.get("/v1/me", response_model=Me, responses=ERRORS)
    def me(request: Request) -> dict[str, Any]:
        who = _account(request)
        return {"user": who.user, "workspace": who.workspace}

    @app.post(
        "/v1/push",
        response_model=PushResponse,
        responses={
            **DEVICE_ERRORS,
            413: {"model": ErrorResponse, "description": "more than 500 changes or 1 MiB"},
            422: {"model": ErrorResponse, "description": "malformed, or a clock too far ahead"},
        },
        openapi_extra=_body_schema(PUSH_REQUEST_SCHEMA),
    )
    async def push(request: Request) -> Response:
        body = await _json_body(request)
        device, ops = parse_push(body)
        nonces, history = push_identity(body)
        now = clock() if clock is not None else None
        # The token is checked on the worker thread that pushes: one thread hop, not two.
        results = await run_in_threadpool(
            lambda: storage.push(_account(request), device, ops, now=now, nonces=nonces, **history)
        )
        content = jsonio.dumps_bytes({"results": results})
        return Response(content, media_type=JSON)

    @app.get("/v1/pull", response_model=PullResponse, responses=DEVICE_ERRORS)
    def pull(
        request: Request,
        device: Annotated[str, Query(max_length=64)] = "",
        cursor: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
        limit: Annotated[int, Query(ge=1, le=PULL_PAGE)] = PULL_PAGE,
        mark: Annotated[str | None, Query(max_length=64)] = None,
        acked: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
        top: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    ) -> Response:
        page = storage.pull(
            _account(request), device, cursor, limit, mark=mark, acked=acked, top=top
        )
        return Response(page.to_json(), media_type=JSON)

    @app.post(
        "/v1/held",
        response_model=HeldResponse,
        responses=DEVICE_ERRORS,
        openapi_extra=_body_schema(HELD_REQUEST_SCHEMA),
    )
    async def held(request: Request) -> dict[str, Any]:
        """Which of a device's queued changes (seq, nonce) the server acknowledged."""
        device, pairs = parse_held(await _json_body(request))
        held, refused = await run_in_threadpool(
            lambda: storage.held(_account(request), device, pairs)
        )
        return {"held": held, "refused": refused}

    @app.post(
        "/v1/marks",
        response_model=MarksResponse,
        responses=QUERY_ERRORS,
        openapi_extra=_body_schema(MARKS_REQUEST_SCHEMA),
    )
    async def marks(request: Request) -> dict[str, Any]:
        """The highest of a device's (cursor, mark) checkpoints this server still holds."""
        pairs = parse_marks(await _json_body(request))
        known = await run_in_threadpool(lambda: storage.known_mark(_account(request), pairs))
        return {"known": known}

    @app.get("/v1/snapshot", response_model=SnapshotResponse, responses=QUERY_ERRORS)
    def snapshot(
        request: Request,
        after: Annotated[str | None, Query(max_length=64)] = None,
        seq: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
        limit: Annotated[int, Query(ge=1, le=SNAPSHOT_PAGE)] = SNAPSHOT_PAGE,
    ) -> Response:
        page = storage.snapshot(_account(request), after, seq, limit)
        return Response(page.to_json(), media_type=JSON)

    _documents(app, publish_docs)
    return app


def _documents(app: FastAPI, public: bool) -> None:
    """The OpenAPI document and its two readers, behind the token unless `public`."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    def guard(request: Request) -> None:
        if not public:
            _account(request)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        guard(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        guard(request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> Response:
        guard(request)
        return get_redoc_html(openapi_url="/openapi.json", title=app.title)


async def _json_body(request: Request) -> Any:
    try:
        return jsonio.loads(await _read_body(request))
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(422, "bad_request", f"the body is not JSON: {error}") from None


async def _read_body(request: Request) -> bytes:
    """The request body, refused with 413 past the limit (compressed or not)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        # A sync stopped mid-request (killed, or the network went): nobody hears the
        # answer, and the operator's log gets no traceback for it.
        raise ProtocolError(400, "bad_request", "the client went away mid-request") from None
    raw = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error as error:
            raise ProtocolError(422, "bad_request", f"the body is not gzip: {error}") from None
        if len(raw) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise _too_large()
    return raw


def _too_large() -> ProtocolError:
    return ProtocolError(
        413, "too_large", f"the body is over the limit of {MAX_BODY_BYTES} bytes (uncompressed)"
    )


GC_THRESHOLD = 20_000  # young objects between collections (Python's default: 700)


def _tune_gc() -> None:
    """A push or pull makes tens of thousands of short-lived objects; the collector's
    default pace spent ~20 % of a 10,000-record push walking them.  What is loaded at
    start is frozen (never walked again), and young collections come less often."""
    import gc

    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def run(
    db_url: str, host: str = "127.0.0.1", port: int = 8765, *, publish_docs: bool = False
) -> None:
    """Serve until interrupted (what `fieldrm server run` does)."""
    import uvicorn

    from fieldrm.sync.server import open_storage

    storage = open_storage(db_url)
    _tune_gc()
    try:
        uvicorn.run(
            create_app(storage, publish_docs=publish_docs),
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        storage.close()
