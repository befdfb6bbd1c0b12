"""The sync protocol's constants, wire shapes and errors, shared by server and client.

Version 1, under `/v1/`; every request and response carries the `X-Fieldrm-Protocol`
header and a peer speaking another version is refused with a clear message.

    POST /v1/push      {"device": id, "ops": [[device_seq, op], ...]}   (op: changelog.py)
                       -> {"results": [{"seq": n, "status": "applied" | "duplicate" |
                           "rejected", "reason"?: str, "r": {register: [value, version]}}]}
    GET  /v1/pull?device=&cursor=&limit=
                       -> {"changes": [{"id", "kind", "seq", "r": {...}}], "next_cursor": n,
                           "has_more": bool}
    GET  /v1/snapshot?after=&seq=&limit=
                       -> {"records": [{"id", "kind", "r": {...}}], "seq": n, "next": id|null}
    GET  /v1/me        -> {"user", "workspace"}
    GET  /v1/health    -> {"ok": true, "protocol": 1}   (no token)

`r` maps register names (a field, `field\\x00element` for a set element, `deleted`) to
`[value, server version]`.  Ops travel as the device stored them, never re-encoded.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Fieldrm-Protocol"
MAX_BATCH_OPS = 500
MAX_BATCH_BYTES = 1024 * 1024  # the uncompressed JSON of one push
MAX_BODY_BYTES = MAX_BATCH_BYTES + 64 * 1024  # room for the envelope around a full batch
PULL_PAGE = 1000
SNAPSHOT_PAGE = 2000
MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000

_HLC = re.compile(r"^[0-9a-f]{16}$")


class ProtocolError(Exception):
    """The server refuses a request: an HTTP status, a short code and a readable reason."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


def parse_push(body: Any) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """Check a push body's envelope; raises ProtocolError(422) naming what is wrong.

    Field values are not checked here: a bad value refuses only its own op (see storage).
    """
    if not isinstance(body, dict):
        raise ProtocolError(422, "bad_request", "the body must be a JSON object")
    device = body.get("device")
    if not isinstance(device, str) or not 1 <= len(device) <= 64:
        raise ProtocolError(422, "bad_request", "device: a device id (text) is required")
    ops = body.get("ops")
    if not isinstance(ops, list):
        raise ProtocolError(422, "bad_request", "ops: a list is required")
    if len(ops) > MAX_BATCH_OPS:
        raise ProtocolError(
            413, "too_large", f"a push holds at most {MAX_BATCH_OPS} changes, not {len(ops)}"
        )
    parsed: list[tuple[int, dict[str, Any]]] = []
    previous = None
    for index, entry in enumerate(ops):
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], int)
            or not isinstance(entry[1], dict)
        ):
            raise ProtocolError(422, "bad_request", f"ops[{index}]: expected [seq, op]")
        seq, op = entry
        if previous is not None and seq != previous + 1:
            raise ProtocolError(422, "bad_request", f"ops[{index}]: seq {seq} out of order")
        previous = seq
        if not isinstance(op.get("id"), str) or not isinstance(op.get("kind"), str):
            raise ProtocolError(422, "bad_request", f"ops[{index}]: id and kind are required")
        hlc = op.get("hlc")
        if not isinstance(hlc, str) or not _HLC.match(hlc):
            raise ProtocolError(422, "bad_request", f"ops[{index}]: hlc must be 16 hex digits")
        parsed.append((seq, op))
    return device, parsed


# ---------------------------------------------------------------- documented shapes


class Health(BaseModel):
    ok: bool
    protocol: int


class Me(BaseModel):
    user: str
    workspace: str


class PushResult(BaseModel):
    seq: int
    status: str
    reason: str | None = None
    r: dict[str, list[Any]] = {}


class PushResponse(BaseModel):
    results: list[PushResult]


class PullResponse(BaseModel):
    changes: list[dict[str, Any]]
    next_cursor: int
    has_more: bool


class SnapshotResponse(BaseModel):
    records: list[dict[str, Any]]
    seq: int
    next: str | None


class ErrorResponse(BaseModel):
    error: str
    detail: str


PUSH_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["device", "ops"],
    "properties": {
        "device": {"type": "string"},
        "ops": {
            "type": "array",
            "maxItems": MAX_BATCH_OPS,
            "items": {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "object"}],
                "description": "[device seq, op as stored in the device's outbox]",
            },
        },
    },
}
