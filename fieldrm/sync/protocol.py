"""The sync protocol's constants, wire shapes and errors, shared by server and client.

Version 1, under `/v1/`; every request and response carries the `X-Fieldrm-Protocol`
header and a peer speaking another version is refused with a clear message.

    POST /v1/push      {"device": id, "ops": [[device_seq, op, nonce], ...],
                        "acked"?: n, "top"?: n, "cursor"?: n, "mark"?: m}  (op: changelog.py)
                       -> {"results": [{"seq": n, "status": "applied" | "duplicate" |
                           "rejected", "reason"?: str, "r": {register: [value, version]}}]}
    GET  /v1/pull?device=&cursor=&limit=&mark=&acked=&top=
                       -> {"changes": [{"id", "kind", "seq", "r": {...}}], "next_cursor": n,
                           "has_more": bool, "mark": m}
    GET  /v1/snapshot?after=&seq=&limit=
                       -> {"records": [{"id", "kind", "r": {...}}], "seq": n, "next": id|null,
                           "mark": m}
    POST /v1/held      {"device": id, "ops": [[device_seq, nonce], ...]} -> {"held": [seq]}
    POST /v1/marks     {"marks": [[cursor, mark], ...]} -> {"known": cursor}
    GET  /v1/me        -> {"user", "workspace"}
    GET  /v1/health    -> {"ok": true, "protocol": 1}   (no token)

Recovery (SPEC §5.12).  A device is bound to the user who first pushed under its id (403
`device_owner` for anyone else).  Each op carries a random `nonce`; the server keeps the
nonce of every op it acknowledged, so a replayed number with another nonce, or a server
that holds numbers the device never gave (`top`, its highest number), is a restored or
cloned copy: 409 `forked` (nothing applied).  `acked` is the device's own acknowledged
high-water mark; above what the server holds (or a pull cursor above the server's newest
change, or whose `mark` differs) the server was restored from a backup: 409 `rewound`.
A `mark` names the change at a cursor: a hash chained over every change up to it.

`r` maps register names (a field, `field\\x00element` for a set element, `deleted`) to
`[value, server version]`.  Ops travel as the device stored them, never re-encoded.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from fieldrm.models import kind_info
from fieldrm.sync.merge import SEP
from fieldrm.validation import field_reason, values_reason

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Fieldrm-Protocol"
MAX_BATCH_OPS = 500
MAX_BATCH_BYTES = 1024 * 1024  # the uncompressed JSON of one push
MAX_BODY_BYTES = MAX_BATCH_BYTES + 64 * 1024  # room for the envelope around a full batch
PULL_PAGE = 1000
SNAPSHOT_PAGE = 2000
MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000
MAX_SEQ = 2**63 - 1  # sequence numbers and cursors are 64-bit integers in both databases
MAX_DEVICE_SEQ = 2**53 - 1  # a device's numbering: exact in every JSON reader, floats too

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
            or not 2 <= len(entry) <= 3
            or not _integral(entry[0])
            or not isinstance(entry[1], dict)
            or (len(entry) == 3 and not _nonce(entry[2]))
        ):
            raise ProtocolError(422, "bad_request", f"ops[{index}]: expected [seq, op, nonce]")
        if not 1 <= entry[0] <= MAX_DEVICE_SEQ:
            raise ProtocolError(
                422, "bad_request", f"ops[{index}]: seq must be from 1 to {MAX_DEVICE_SEQ}"
            )
        seq, op = int(entry[0]), entry[1]
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


def _integral(value: Any) -> bool:
    """An integer as JSON Schema counts one: `3` or `3.0`, never `true` or `3.5`."""
    return type(value) is int or (type(value) is float and value.is_integer())


def _nonce(value: Any) -> bool:
    return value is None or (isinstance(value, str) and 1 <= len(value) <= 64)


def _counter(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _integral(value) or not 0 <= value <= MAX_DEVICE_SEQ:
        raise ProtocolError(422, "bad_request", f"{name}: a number from 0 to {MAX_DEVICE_SEQ}")
    return int(value)


def push_identity(body: dict[str, Any]) -> tuple[list[str | None], dict[str, Any]]:
    """A checked push body's (`parse_push`) nonces, one per op (None when not sent), and
    what it says of the device's history: `acked`, `top`, and its pull `cursor` with that
    change's `mark` (each None when not sent: an older device)."""
    nonces = [entry[2] if len(entry) == 3 else None for entry in body["ops"]]
    mark = body.get("mark")
    if mark is not None and (not isinstance(mark, str) or len(mark) > 64):
        raise ProtocolError(422, "bad_request", "mark: text of at most 64 characters")
    history = {name: _counter(body, name) for name in ("acked", "top", "cursor")}
    return nonces, {**history, "mark": mark}


def parse_held(body: Any) -> tuple[str, list[tuple[int, str]]]:
    """`/v1/held`'s body: a device and up to MAX_BATCH_OPS (seq, nonce) pairs."""
    device = body.get("device") if isinstance(body, dict) else None
    if not isinstance(device, str) or not 1 <= len(device) <= 64:
        raise ProtocolError(422, "bad_request", "device: a device id (text) is required")
    pairs = _pairs(body, "ops", MAX_BATCH_OPS, 1, "[seq, nonce]")
    if not all(_nonce(nonce) for _seq, nonce in pairs):
        raise ProtocolError(422, "bad_request", "ops: expected [seq, nonce] pairs")
    return device, pairs


MAX_MARKS = 64


def parse_marks(body: Any) -> list[tuple[int, str]]:
    """`/v1/marks`'s body: up to MAX_MARKS (cursor, mark) pairs."""
    return _pairs(body, "marks", MAX_MARKS, 0, "[cursor, mark]")


def _pairs(body: Any, key: str, most: int, low: int, shape: str) -> list[tuple[int, str]]:
    """`body[key]`: a list of at most `most` [number from `low`, text of ≤ 64] pairs."""
    pairs = body.get(key) if isinstance(body, dict) else None
    if not isinstance(pairs, list) or len(pairs) > most:
        raise ProtocolError(422, "bad_request", f"{key}: a list of at most {most}")
    for pair in pairs:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and _integral(pair[0])
            and low <= pair[0] <= MAX_DEVICE_SEQ
            and isinstance(pair[1], str)
            and len(pair[1]) <= 64
        ):
            raise ProtocolError(422, "bad_request", f"{key}: expected {shape} pairs")
    return [(int(number), text) for number, text in pairs]


# ---------------------------------------------------------------- one op's shape

OP_KEYS = frozenset(
    ("id", "kind", "hlc", "by", "seen", "new", "set", "base", "add", "rem", "del", "too_large")
    + ("was",)
)  # too_large: the stand-in for a change too large to travel (sync/replica.py); was: a
# re-send after a server restore, with each field's version in the lost history (merge.py)
SIDE_KEYS = frozenset(("value", "by", "device", "at"))  # a conflict's side (merge.side)
RESOLUTION_FIELDS = frozenset(("status", "resolution", "resolved_by", "resolved_at", "updated_at"))
_NOT_SET = ("id", "kind", "deleted")


def _version(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_SEQ


def op_reason(op: dict[str, Any]) -> str | None:
    """Why the server refuses one op (kind known, envelope checked), or None (SPEC §5.14).

    The op's keys and shape (store/changelog.py) and every value in it, checked by the same
    `validation.field_reason` the device runs before it writes.
    """
    unknown = op.keys() - OP_KEYS
    if unknown:
        return f"unknown op key {min(unknown)!r} (an op has only {', '.join(sorted(OP_KEYS))})"
    kind = op["kind"]
    fields = kind_info(kind).fields
    if (reason := field_reason(kind, "id", op["id"])) is not None:
        return reason
    if "by" in op and not isinstance(op["by"], str):
        return "by: must be text"
    if "seen" in op and not _version(op["seen"]):
        return "seen: must be a version number"
    for flag in ("new", "del"):
        if flag in op and type(op[flag]) is not bool:
            return f"{flag}: must be true or false"
    values = op.get("set", {})
    if not isinstance(values, dict):
        return "set: must be an object of field values"
    bases = op.get("base", {})
    if not isinstance(bases, dict) or not all(_version(v) for v in bases.values()):
        return "base: must map fields to version numbers"
    lost = op.get("was", {})
    if not isinstance(lost, dict) or not all(_version(v) and k in values for k, v in lost.items()):
        return "was: must map set fields to version numbers"
    for name in values:
        if name in _NOT_SET or SEP in name:
            return f"{name}: cannot be set"
        if name in fields and fields[name].is_set:
            return f"{name}: a set field changes through add and rem"
    if (reason := values_reason(kind, values)) is not None:
        return reason
    for part in ("add", "rem"):
        changes = op.get(part, {})
        if not isinstance(changes, dict):
            return f"{part}: must be an object of set fields"
        for name, items in changes.items():
            if name not in fields or not fields[name].is_set:
                return f"{part}: {kind} has no set field {name!r}"
            if not isinstance(items, list):
                return f"{part}.{name}: must be a list"
            if part == "rem":
                if not all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _version(p[1])
                    for p in items
                ):
                    return f"rem.{name}: must be a list of [element, version]"
                items = [p[0] for p in items]
            if not all(isinstance(item, str) for item in items):
                return f"{part}.{name}: elements must be text"
            if (reason := field_reason(kind, name, items)) is not None:
                return f"{part}.{reason}"
    if kind == "conflict":
        return _resolution_reason(op, values)
    return None


def _resolution_reason(op: dict[str, Any], values: dict[str, Any]) -> str | None:
    """A conflict changes only through a resolution, which keeps both values (SPEC §5.3);
    one the server lost in a restore comes back whole, as a re-send (`was`)."""
    if op.get("new") is True and "was" in op and not (op.get("add") or op.get("rem")):
        for name in ("current", "other"):
            side = values.get(name)
            if not isinstance(side, dict) or not side.keys() >= SIDE_KEYS:
                return f"{name}: must hold {', '.join(sorted(SIDE_KEYS))}"
        return None
    if op.get("add") or op.get("rem") or "del" in op or op.get("new"):
        return "a conflict changes only through a resolution"
    changed = set(values) - RESOLUTION_FIELDS
    if changed:
        return f"a conflict's {', '.join(sorted(changed))} cannot change (only its resolution)"
    if values.get("status", "resolved") != "resolved":
        return "a resolved conflict stays resolved"
    return None


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
    mark: str


class SnapshotResponse(BaseModel):
    records: list[dict[str, Any]]
    seq: int
    next: str | None
    mark: str


class HeldResponse(BaseModel):
    held: list[int]
    refused: list[PushResult] = []  # the held ones the server refused, as a push answers


class MarksResponse(BaseModel):
    known: int


class ErrorResponse(BaseModel):
    error: str
    detail: str


# What `parse_push` checks, as JSON Schema for the OpenAPI document (one place: a new
# envelope field is one line in PUSH_FIELDS, a new element of a push item one line in
# PUSH_ITEM).  Values inside an op are checked op by op: a bad one is refused alone in the
# 200 answer (SPEC §5.8), so the document gives the op's keys and the envelope's types.
OP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "hlc"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string"},
        "hlc": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    },
    "description": "an op as stored in the device's outbox (store/changelog.py); keys: "
    + ", ".join(sorted(OP_KEYS)),
}
NONCE_SCHEMA: dict[str, Any] = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": 64,
    "description": "the op's random identity, to tell a restored or cloned copy's op from "
    "the original's at one number (absent: an older device)",
}
PUSH_ITEM: list[dict[str, Any]] = [
    {"type": "integer", "minimum": 1, "maximum": MAX_DEVICE_SEQ, "description": "device seq"},
    OP_SCHEMA,
    NONCE_SCHEMA,
]
COUNTER_SCHEMA: dict[str, Any] = {
    "type": ["integer", "null"],
    "minimum": 0,
    "maximum": MAX_DEVICE_SEQ,
}
MARK_SCHEMA: dict[str, Any] = {"type": ["string", "null"], "maxLength": 64}
PUSH_FIELDS: dict[str, Any] = {
    "device": {"type": "string", "minLength": 1, "maxLength": 64},
    "acked": {**COUNTER_SCHEMA, "description": "the device's acknowledged high-water"},
    "top": {**COUNTER_SCHEMA, "description": "the highest number the device has given"},
    "cursor": {**COUNTER_SCHEMA, "description": "the device's pull position"},
    "mark": {**MARK_SCHEMA, "description": "the mark of the change at `cursor`"},
    "ops": {
        "type": "array",
        "maxItems": MAX_BATCH_OPS,
        "items": {
            "type": "array",
            "prefixItems": PUSH_ITEM,
            "minItems": len(PUSH_ITEM) - 1,
            "maxItems": len(PUSH_ITEM),
            "description": "[device seq, op, nonce]; the seqs of one push are consecutive",
        },
    },
}
PUSH_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["device", "ops"],
    "properties": PUSH_FIELDS,
}
HELD_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["device", "ops"],
    "properties": {
        "device": PUSH_FIELDS["device"],
        "ops": {
            "type": "array",
            "maxItems": MAX_BATCH_OPS,
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_DEVICE_SEQ},
                    {"type": "string", "minLength": 1, "maxLength": 64},
                ],
                "minItems": 2,
                "maxItems": 2,
                "description": "[device seq, nonce] of a change the device still holds",
            },
        },
    },
}
MARKS_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["marks"],
    "properties": {
        "marks": {
            "type": "array",
            "maxItems": MAX_MARKS,
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_DEVICE_SEQ},
                    {"type": "string", "maxLength": 64},
                ],
                "minItems": 2,
                "maxItems": 2,
                "description": "[cursor, mark] a device once held",
            },
        },
    },
}
