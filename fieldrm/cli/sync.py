"""The sync and server commands of the command line (login, sync, status, conflicts,
resolve, server run, server add-user, and the operator's server backup, users and revoke);
`commands.build_app` registers them on the main Typer app.

JSON shapes are those of SPEC §4.  A sync that fails (offline, refused) ends with one line
on stderr and a non-zero exit, and every local change stays queued.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from fieldrm.cli.output import dumps, fail, open_store, print_json, warn

server_app = typer.Typer(help="Run the central sync server and manage its users.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (shapes as in SPEC §4).")]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Server database: a SQLite file path or postgresql://… "
        "(default: server.db in the data dir).",
    ),
]


def _db_url(db: str | None) -> str:
    if db:
        return db
    from fieldrm.paths import data_dir

    return str(data_dir() / "server.db")


def login(
    server: Annotated[str, typer.Option("--server", help="The server, e.g. http://host:8765.")],
    token: Annotated[str, typer.Option("--token", help="Your token (from server add-user).")],
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start this device empty (a new device id), after backing its database up "
            "beside it: to switch workspace, or to drop another user's queued changes.",
        ),
    ] = False,
) -> None:
    """Check a token against the sync server and remember both on this device.

    Refused when this device holds another workspace's records, or changes another user
    made here that are not yet synced, unless --fresh."""
    from fieldrm.sync.client import login as do_login

    with open_store() as store:
        who = do_login(store, server, token, fresh=fresh)
    if "backup" in who:
        print(f"kept this device's earlier data in {who['backup']}; the device starts empty")
    print(f"logged in to {server.rstrip('/')} as {who['user']} (workspace {who['workspace']})")


def sync(as_json: JsonFlag = False) -> None:
    """Push this device's changes, then pull everyone else's."""
    from fieldrm.cli.progress import progress_bar
    from fieldrm.sync.client import sync_once

    with (
        open_store() as store,
        _stop_on_interrupt(store.path),
        progress_bar(as_json=as_json) as bar,
    ):
        result = sync_once(store, progress=bar)
    for reason in result.rejections:
        warn(f"refused by the server: {reason}")
    if as_json:
        print_json(result.to_json())
    else:
        print(
            f"pushed {result.pushed}, pulled {result.pulled}, "
            f"conflicts {result.conflicts}, rejected {result.rejected}"
        )


def status(as_json: JsonFlag = False) -> None:
    """This device, its server, the last sync, pending changes and open conflicts."""
    from fieldrm.sync.client import sync_status

    with open_store() as store:
        state = sync_status(store)
    if as_json:
        keys = ("device_id", "server", "last_sync", "pending_changes", "open_conflicts")
        if state["recovered"]:  # SPEC §4's shape, plus what sync healed when it did (§5.12)
            keys += ("recovered",)
        print_json({key: state[key] for key in keys})
        return
    print(f"device          {state['device_id']}")
    print(f"server          {state['server'] or 'none (fieldrm login --server URL --token T)'}")
    print(f"last sync       {state['last_sync'] or 'never'}")
    print(f"pending changes {state['pending_changes']}")
    print(f"open conflicts  {state['open_conflicts']}")
    if state["last_error"]:
        print(f"last error      {state['last_error']}")
    for reason in state["rejected"]:
        print(f"refused         {reason}")
    for healed in state["recovered"]:
        print(f"recovered       {healed}")


def conflicts(as_json: JsonFlag = False) -> None:
    """Open conflicts, with both values, who wrote them and when."""
    from fieldrm.sync.conflicts import conflict_json, open_conflicts

    with open_store() as store:
        items = [conflict_json(conflict) for conflict in open_conflicts(store)]
    if as_json:
        print_json(items)
        return
    if not items:
        print("no open conflicts")
    for item in items:
        print(f"{item['id']}  {item['record_kind']} {item['record_id']}  field {item['field']}")
        for name in ("current", "other"):
            side: dict[str, Any] = item[name]
            value = side.get("value")
            shown = value if isinstance(value, str) else dumps(value, indent=None)
            print(f"  {name:<8} {shown!s}  ({side.get('by')}, {side.get('at')})")


def resolve(
    conflict: Annotated[str, typer.Argument(help="Conflict id or unique id prefix.")],
    keep: Annotated[
        str | None,
        typer.Option("--keep", help="current (the winner), other (the loser), or both."),
    ] = None,
    value: Annotated[str | None, typer.Option("--value", help="A new value instead.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Close a conflict; the choice syncs like any edit and records who chose what."""
    from fieldrm.sync.conflicts import resolve_conflict

    if (keep is None) == (value is None):
        fail("give exactly one of --keep current|other|both or --value V", 2)
    if keep is not None and keep not in ("current", "other", "both"):
        fail(f"--keep must be current, other or both, not {keep!r}", 2)
    with open_store() as store:
        closed = resolve_conflict(store, conflict, keep or "value", value)
    if as_json:
        print_json(closed.to_json())
    else:
        print(closed.id)


def server_run(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    publish_docs: Annotated[
        bool,
        typer.Option(
            "--publish-docs",
            help="Serve /openapi.json, /docs and /redoc without a token (default: a token).",
        ),
    ] = False,
) -> None:
    """Serve the sync API (and its OpenAPI document at /docs) until interrupted."""
    from fieldrm.sync.server.app import run

    print(f"fieldrm server on http://{host}:{port} (database {_db_url(db)})", file=sys.stderr)
    run(_db_url(db), host=host, port=port, publish_docs=publish_docs)


def server_add_user(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    workspace: Annotated[str, typer.Option("--workspace", help="The team's workspace.")],
    db: DbOption = None,
) -> None:
    """Add a user to a workspace (made when new) and print the user's token."""
    from fieldrm.sync.server import open_storage

    storage = open_storage(_db_url(db))
    try:
        token = storage.add_user(name, workspace)
    except ValueError as error:
        fail(str(error), 2)
    finally:
        storage.close()
    print(token)


def server_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (a new file).")],
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """A consistent copy of the server's database while it runs (SQLite: one file that
    `server run --db FILE` serves as is; PostgreSQL: pg_dump's custom format)."""
    url = _db_url(db)
    try:
        if url.startswith(("postgresql://", "postgres://")):
            from fieldrm.sync.server.postgres import dump_database

            size = dump_database(url, file, replace=force)
            print(f"wrote {file} (pg_dump custom format, {size} bytes; restore: pg_restore)")
            return
        from fieldrm.sync.server.sqlite import backup_database

        records, size = backup_database(url, file, replace=force)
    except FileExistsError:
        fail(f"{file} exists: give another name, or --force to overwrite it", 2)
    print(f"wrote {file} ({records} records, {size} bytes)")


def server_users(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """Every user: workspace, created, tokens, devices registered and the last push."""
    storage = _existing_storage(db)
    try:
        users = storage.users()
    finally:
        storage.close()
    if as_json:
        print_json(users)
        return
    if not users:
        print("no users (fieldrm server add-user NAME --workspace W)")
    for user in users:
        tokens = f"{user['tokens']} token(s)"
        if user["tokens"] == 0:
            tokens = f"revoked {(user['revoked_at'] or '')[:10]}".rstrip()
        print(
            f"{user['user']:<16} {user['workspace']:<16} created {user['created_at'] or '-'}  "
            f"{tokens}, {user['devices']} device(s), last push {user['last_push'] or 'never'}"
        )


def server_revoke(
    user: Annotated[str, typer.Argument(help="The user's name.")],
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="The user's workspace, when ambiguous.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Remove the user's tokens: their devices' next sync is refused and keeps its queue."""
    storage = _existing_storage(db)
    try:
        where, count = storage.revoke(user, workspace)
    finally:
        storage.close()
    print(
        f"revoked {user} in workspace {where} ({count} token(s)); their devices keep their "
        "changes until a new token (server add-user) and fieldrm login"
    )


def _existing_storage(db: str | None) -> Any:
    """The server's storage for an operator's command, which never makes a new database."""
    from fieldrm.sync.server import open_storage
    from fieldrm.sync.server.sqlite import sqlite_path

    url = _db_url(db)
    if not url.startswith(("postgresql://", "postgres://")):
        path = sqlite_path(url)
        if path == ":memory:" or not Path(path).is_file():
            fail(f"no server database at {path} (give --db)", 2)
    return open_storage(url)


def register(app: typer.Typer) -> None:
    """Add the sync and server commands to `app`."""
    app.command()(login)
    app.command()(sync)
    app.command()(status)
    app.command()(conflicts)
    app.command()(resolve)
    server_app.command("run")(server_run)
    server_app.command("add-user")(server_add_user)
    server_app.command("backup")(server_backup)
    server_app.command("users")(server_users)
    server_app.command("revoke")(server_revoke)
    app.add_typer(server_app, name="server")


@contextmanager
def _stop_on_interrupt(path: Any) -> Iterator[None]:
    """Ctrl+C stops a sync at once (SPEC §5.13): exit 130, saying what is still queued.

    A request in flight runs on a worker thread that Python would wait for, so the first
    Ctrl+C ends the process here instead.  Nothing is lost: a change leaves the queue only
    in the transaction that records the server's acknowledgement, and SQLite rolls back
    any transaction the exit interrupts.
    """
    from fieldrm.store import Store

    def stop(_signum: int, _frame: Any) -> None:
        try:
            with Store.open(path) as reader:
                queued: object = reader.pending_count()
        except Exception:  # the count is a courtesy; stopping is what matters
            queued = "all unsent"
        sys.stderr.write(f"fieldrm: interrupted; {queued} changes still queued\n")
        sys.stderr.flush()
        os._exit(130)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
