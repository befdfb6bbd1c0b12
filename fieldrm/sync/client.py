"""The device's sync client (httpx): push until the outbox is empty, then pull until done
(a fresh device first takes the server's snapshot of current records).

One `httpx.Client` is injected (tests pass one with `transport=`) or made per sync.  Every
call has a timeout; a request that cannot reach the server, or a 5xx, is retried with
backoff and then reported as `Offline` (retry later); a server that says no — bad token,
another protocol version, a clock too far ahead — is `Refused`.  Either way every local
change stays queued and the reason is kept in the `last_error` state.  Conflicts are not
errors: they arrive as records of kind `conflict`.

Device configuration lives in the store's `state` table: `server`, `token`, `user`,
`pull_cursor`, `last_sync`, `last_error`, `rejected` (see sync/replica.py).

Recovery (SPEC §5.12): a refused push never prevents the pull (the refusal is still
reported).  A server that answers 409 `forked` (this is a restored or cloned copy of a
device) or `rewound` (the server was restored from a backup) is healed here without a
person, then the sync goes on; see `_recover`.  Queued changes a clock that was ahead
stamped are re-stamped before each push once the clock is right (`replica.restamp`).
"""

from __future__ import annotations

import gc
import gzip
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from fieldrm import jsonio
from fieldrm.clock import now_ms
from fieldrm.errors import FieldrmError
from fieldrm.models import format_timestamp, now_utc
from fieldrm.store import Store
from fieldrm.sync import replica, workspace
from fieldrm.sync.protocol import (
    MAX_BATCH_BYTES,
    MAX_BATCH_OPS,
    MAX_MARKS,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    PULL_PAGE,
    SNAPSHOT_PAGE,
)
from fieldrm.sync.replica import is_configured as is_configured  # without httpx: see there

TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # waits for a byte, per attempt
REQUEST_DEADLINE = 15.0
"""Seconds one request may take, its retries included (SPEC §5.13): a hung server (one that
accepts the connection and never answers) is reported within this, not after minutes."""
BACKOFF = (0.25, 0.5, 1.0)  # seconds before each retry of a failed call
GZIP_OVER = 200  # request bodies larger than this travel compressed (a one-field edit does)


@dataclass
class SyncResult:
    pushed: int
    pulled: int
    conflicts: int
    rejected: int
    rejections: list[str] = field(default_factory=list)  # "record <id>: <reason>"

    def to_json(self) -> dict[str, int]:
        return {
            "pushed": self.pushed,
            "pulled": self.pulled,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
        }


class SyncError(FieldrmError):
    """Sync did not complete; `str()` is one readable line.  Local changes stay queued."""

    exit_code = 4


class Offline(SyncError):
    """The server could not be reached (or failed): try again later."""


class Refused(SyncError):
    """The server said no: a bad token, another protocol version, a clock too far ahead."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # the server's error code (`forked`, `rewound`, …), if it gave one


class StartedAfresh(Refused):
    """The device was emptied or logged in again while a sync travelled: its answers were
    for the device as it was, and are dropped."""


RECOVERABLE = ("forked", "rewound")
GC_THRESHOLD = 20_000  # young objects between collections while syncing (default 700)
MAX_RECOVERIES = 2  # per sync: a fork and a rewind at once at most


class NotConfigured(SyncError):
    """No server yet: `fieldrm login` first."""


def make_client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT)


Progress = Callable[[str, int, int | None], None]
"""Called per pushed batch and pulled page: ("push" or "pull", done, total or None)."""


class _Session:
    """One sync's calls: base URL, auth headers, retries and error mapping."""

    def __init__(self, http: httpx.Client, server: str, token: str) -> None:
        self.http = http
        self.server = server.rstrip("/")
        self.identity = (server, token)
        self.headers = {
            "Authorization": f"Bearer {token}",
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            "Accept-Encoding": "gzip",
        }
        self.requests = 0
        self.progress: Progress | None = None  # sync_once's callback, if any

    def report(self, phase: str, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        error: SyncError | None = None
        headers = {**self.headers, **kwargs.pop("headers", {})}
        limit = REQUEST_DEADLINE
        deadline = time.monotonic() + limit
        for attempt in range(len(BACKOFF) + 1):
            if attempt:
                if time.monotonic() + BACKOFF[attempt - 1] >= deadline:
                    break  # no time left for another try: report now, retry later
                time.sleep(BACKOFF[attempt - 1])
            left = deadline - time.monotonic()
            if left <= 0:
                break  # retries stop at the deadline: the last error is reported
            self.requests += 1
            timeout = httpx.Timeout(min(TIMEOUT.read or left, left), connect=min(5.0, left))
            try:
                response = self.http.request(
                    method, self.server + path, headers=headers, timeout=timeout, **kwargs
                )
            except httpx.TimeoutException:
                error = Offline(
                    f"the server at {self.server} did not answer within {limit:g} s "
                    "(it may be hung or the link too slow); will retry later"
                )
                continue
            except httpx.RequestError as problem:
                error = Offline(f"cannot reach the server at {self.server}: {_reason(problem)}")
                continue
            if response.status_code >= 500:
                error = Offline(
                    f"the server at {self.server} failed (HTTP {response.status_code}); "
                    "will retry later"
                )
                continue
            return self._check(response)
        assert error is not None
        raise error

    def _check(self, response: httpx.Response) -> Any:
        spoken = response.headers.get(PROTOCOL_HEADER)
        if spoken is not None and spoken != str(PROTOCOL_VERSION):
            raise Refused(
                f"the server speaks sync protocol {spoken}, this fieldrm speaks "
                f"{PROTOCOL_VERSION}: upgrade the older one (your changes stay queued)"
            )
        if response.status_code == 401:
            raise Refused(
                "the server refused the token (invalid or revoked): "
                "run `fieldrm login --server URL --token TOKEN` again"
            )
        if response.status_code >= 400:
            raise Refused(f"the server refused the sync: {_detail(response)}", _code(response))
        try:
            return jsonio.loads(response.content)
        except ValueError:
            raise Refused(f"{self.server} did not answer like a fieldrm server") from None

    def check(self, store: Store) -> None:
        """Refused when the device was started afresh, or logged in elsewhere, since this
        sync began (the app's login form runs beside its background sync)."""
        if (store.get_state(replica.SERVER), store.get_state(replica.TOKEN)) != self.identity:
            raise StartedAfresh(
                "this device was started afresh or logged in again while it synced; "
                "nothing from that sync was kept"
            )

    @contextmanager
    def landing(self, store: Store) -> Iterator[None]:
        """The transaction an answer is written in, refused as `check` is: nothing meant
        for the device as it was lands in the device as it is now."""
        with store.transaction():
            self.check(store)
            yield


def _reason(problem: httpx.RequestError) -> str:
    text = str(problem) or type(problem).__name__
    return " ".join(text.split())


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return f"HTTP {response.status_code}: {body}"


def _session(store: Store, http: httpx.Client) -> _Session:
    server = store.get_state(replica.SERVER)
    token = store.get_state(replica.TOKEN)
    if not server or not token:
        raise NotConfigured(
            "no sync server yet: run `fieldrm login --server URL --token TOKEN` first"
        )
    return _Session(http, server, token)


def login(
    store: Store,
    server: str,
    token: str,
    *,
    client: httpx.Client | None = None,
    fresh: bool = False,
) -> dict[str, str]:
    """Check `token` against `server`, then keep both and the user name it returns.

    Refused (`workspace.WorkspaceSwitchRefused`) when the device holds another workspace's
    data, or another user's queued changes, unless `fresh`: then the database is backed up
    beside itself (the result's `backup`) and starts empty.  See sync/workspace.py."""
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise Refused(f"not a server address: {server!r} (use http://host:port)")
    http = client or make_client()
    try:
        me = _Session(http, server, token).call("GET", "/v1/me")
    finally:
        if client is None:
            http.close()
    plan = workspace.plan_login(store, me["workspace"], me["user"], fresh=fresh)
    backup = workspace.start_fresh(store) if plan is workspace.Plan.FRESH else None
    with store.transaction():
        if plan in (workspace.Plan.NEW_USER, workspace.Plan.NEW_WORKSPACE):
            store.renew_device_id()  # a device id belongs to one user of one workspace
        if store.get_state(replica.SERVER) != server or plan is workspace.Plan.NEW_WORKSPACE:
            # Another server or workspace: its history is not ours, start from its snapshot.
            for key in (
                replica.PULL_CURSOR,
                replica.PULL_MARK,
                replica.CHECKPOINTS,
                replica.SNAPSHOT_AFTER,
                replica.SNAPSHOT_SEQ,
            ):
                store.set_state(key, None)
        store.set_state(replica.SERVER, server)
        store.set_state(replica.TOKEN, token)
        store.set_state(replica.USER, me["user"])
        store.set_state(workspace.WORKSPACE, me["workspace"])
    who = {"user": me["user"], "workspace": me["workspace"]}
    if backup is not None:
        who["backup"] = str(backup)
    return who


def sync_once(
    store: Store, *, client: httpx.Client | None = None, progress: Progress | None = None
) -> SyncResult:
    """Push every pending change, then pull everything new; see the module docstring.

    `progress`, when given, is told how far the push and the pull have got (SPEC §10)."""
    with _fewer_collections():
        return _sync_once(store, client, progress)


def _sync_once(store: Store, client: httpx.Client | None, progress: Progress | None) -> SyncResult:
    http = client or make_client()
    try:
        session = _session(store, http)
        result = SyncResult(0, 0, 0, 0)
        session.progress = progress
        if store.get_state(replica.PULL_CURSOR) is None:
            # A fresh device takes the server's snapshot first: pushed afterwards, its own
            # work never has to come back down (pull skips a device's own changes).
            _snapshot(store, session, result)
        refusal = _push_and_pull(store, session, result)
        if refusal is not None:
            raise refusal
    except StartedAfresh:
        raise  # the device it would be noted on is gone
    except SyncError as error:
        store.set_state(replica.LAST_ERROR, str(error))
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # An answer of the wrong shape (a proxy's page, another program on the port).
        problem = Refused(f"the server's answer was not understood ({type(error).__name__})")
        store.set_state(replica.LAST_ERROR, str(problem))
        raise problem from error
    finally:
        if client is None:
            http.close()
    with session.landing(store):
        store.set_state(replica.LAST_SYNC, format_timestamp(now_utc()))
        store.set_state(replica.LAST_ERROR, None)
    return result


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A sync makes tens of thousands of short-lived objects; at the collector's default
    pace walking them took ~15 % of a first sync.  Young collections come less often
    while it runs."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _push_and_pull(store: Store, session: _Session, result: SyncResult) -> Refused | None:
    """Push, then pull even when the push was refused (the refusal is returned, to be
    reported once the pull is done); a forked device or a rewound server is healed first."""
    recoveries = 0
    while True:
        refusal: Refused | None = None
        try:
            try:
                _push_all(store, session, result)
            except Refused as error:
                if error.code in RECOVERABLE:
                    raise
                refusal = error
            pulled = result.pulled
            _pull_all(store, session, result)
            if recoveries:
                replica.count_pulled_back(store, result.pulled - pulled)
            return refusal
        except Refused as error:
            if error.code not in RECOVERABLE or recoveries >= MAX_RECOVERIES:
                raise
            recoveries += 1
            _recover(store, session, error.code)


def _recover(store: Store, session: _Session, code: str) -> None:
    """Heal without a person (SPEC §5.12).

    `forked`: this is a restored or cloned copy of a device: the queued changes the server
    acknowledged from this id (same number and nonce) are dropped, the rest keep their
    place and the device takes a new id; the pull then brings back the old id's changes.
    `rewound`: the server was restored from a backup: the last point both still share is
    found from the device's checkpoints, and `replica.rebase_on` re-queues what the server
    lacks from the device's own state, under a new id; the pull resumes from that point.
    """
    if code == "forked":
        device = store.device_id
        held: list[int] = []
        after = 0
        while entries := store.outbox(after, MAX_BATCH_OPS):
            after = entries[-1][0]
            pairs = [[seq, nonce] for seq, _id, _op, nonce in entries if nonce]
            answer = session.call("POST", "/v1/held", json={"device": device, "ops": pairs})
            held += [int(seq) for seq in answer["held"]]
            refused = answer.get("refused") or []
            if refused:
                # Refused when the other copy sent them: this copy is told, as that one was.
                batch = [
                    replica.OutboxEntry(seq, record_id, op) for seq, record_id, op, _n in entries
                ]
                replica.apply_push_results(store, batch, refused, session.check)
        with session.landing(store):
            replica.forget_held(store, held)
        return
    kept = replica.checkpoints(store)[-MAX_MARKS:]
    answer = session.call("POST", "/v1/marks", json={"marks": kept})
    point = int(answer["known"])
    marks = {cursor: mark for cursor, mark in kept}
    with session.landing(store):
        replica.rebase_on(store, point, marks.get(point, "") if point else "")


def _push_all(store: Store, session: _Session, result: SyncResult) -> None:
    """Push batch after batch; while one travels, the next is read and encoded, and the
    answer before it is applied.

    One request at a time (the server needs a device's batches in order), answers applied
    in the order they were sent; each is acknowledged by the server in its own transaction.
    """
    replica.restamp(store, now_ms())
    device = store.device_id

    def encode(batch: list[replica.OutboxEntry]) -> tuple[bytes, dict[str, str]]:
        body = replica.push_body(device, batch, replica.push_history(store))
        headers = {"Content-Type": "application/json"}
        if len(body) > GZIP_OVER:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return body, headers

    def send(body: bytes, headers: dict[str, str]) -> Any:
        session.check(store)  # never send a fresh start's changes under the old login
        return session.call("POST", "/v1/push", content=body, headers=headers)

    batch = replica.next_batch(store, MAX_BATCH_OPS, MAX_BATCH_BYTES)
    if not batch:
        return
    done, total = 0, store.pending_count()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldrm-push") as pool:
        in_flight: Future[Any] | None = pool.submit(send, *encode(batch))
        while in_flight is not None:
            sent = batch
            batch = replica.next_batch(store, MAX_BATCH_OPS, MAX_BATCH_BYTES, after=sent[-1].seq)
            encoded = encode(batch) if batch else None
            answer = in_flight.result()
            in_flight = pool.submit(send, *encoded) if encoded else None
            try:
                results = answer.get("results", [])
                outcome = replica.apply_push_results(store, sent, results, session.check)
            except BaseException:
                if in_flight is not None:
                    in_flight.cancel()
                raise
            result.pushed += outcome.pushed
            done += len(sent)
            session.report("push", done, total)
            result.rejected += len(outcome.rejections)
            result.rejections.extend(outcome.rejections)


def _pull_all(store: Store, session: _Session, result: SyncResult) -> None:
    """Pull page after page, fetching the next while this one is stored."""
    cursor = int(store.get_state(replica.PULL_CURSOR) or "0")
    mark = store.get_state(replica.PULL_MARK)
    device = store.device_id
    identity = {"acked": replica.acknowledged(store), "top": store.top_seq()}

    def fetch(after: int, mark: str | None) -> Any:
        params: dict[str, Any] = {"device": device, "cursor": after, "limit": PULL_PAGE}
        if mark is not None:
            params["mark"] = mark
        return session.call("GET", "/v1/pull", params={**params, **identity})

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldrm-pull") as pool:
        in_flight: Future[Any] | None = pool.submit(fetch, cursor, mark)
        while in_flight is not None:
            page = in_flight.result()
            next_cursor = int(page["next_cursor"])
            next_mark = page.get("mark")
            more = page.get("has_more")
            in_flight = pool.submit(fetch, next_cursor, next_mark) if more else None
            changes = page.get("changes", [])
            if changes or next_cursor != cursor or (next_mark and next_mark != mark):
                state = {replica.PULL_CURSOR: str(next_cursor)}
                if isinstance(next_mark, str):
                    state = replica.position_state(store, next_cursor, next_mark)
                stats = replica.apply_changes(store, changes, state, session.check)
                result.pulled += stats.records
                result.conflicts += stats.new_conflicts
                session.report("pull", result.pulled)
            cursor, mark = next_cursor, next_mark


def _snapshot(store: Store, session: _Session, result: SyncResult) -> None:
    """A fresh device starts from the server's current records, then pulls from there."""
    after = store.get_state(replica.SNAPSHOT_AFTER)
    seq = store.get_state(replica.SNAPSHOT_SEQ)

    def fetch(after: str | None, seq: str | None) -> Any:
        params: dict[str, Any] = {"limit": SNAPSHOT_PAGE}
        if after:
            params["after"] = after
        if seq is not None:
            params["seq"] = seq
        return session.call("GET", "/v1/snapshot", params=params)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldrm-snapshot") as pool:
        in_flight: Future[Any] | None = pool.submit(fetch, after, seq)
        while in_flight is not None:
            page = in_flight.result()
            seq = str(page["seq"])
            after = page.get("next")
            done = after is None
            in_flight = None if done else pool.submit(fetch, after, seq)
            state = {
                replica.SNAPSHOT_AFTER: None if done else after,
                replica.SNAPSHOT_SEQ: None if done else seq,
                replica.PULL_CURSOR: seq if done else None,
            }
            if done and isinstance(page.get("mark"), str):
                state.update(replica.position_state(store, int(seq), page["mark"]))
            records = page.get("records", [])
            stats = replica.apply_changes(store, records, state, session.check)
            result.pulled += stats.records
            result.conflicts += stats.new_conflicts
            session.report("pull", result.pulled)


def sync_status(store: Store) -> dict[str, Any]:
    """What `fieldrm status --json` prints (SPEC §4), plus the last error and refusals."""
    from fieldrm.sync.conflicts import open_conflicts

    return {
        "device_id": store.device_id,
        "server": store.get_state(replica.SERVER),
        "last_sync": store.get_state(replica.LAST_SYNC),
        "pending_changes": store.pending_count(),
        "open_conflicts": len(open_conflicts(store)),
        "last_error": store.get_state(replica.LAST_ERROR),
        "rejected": replica.rejections(store),
        "recovered": [replica.describe_recovery(note) for note in replica.recoveries(store)],
    }
