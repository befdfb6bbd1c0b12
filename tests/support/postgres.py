"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

`PostgresCluster` runs `initdb` into a fresh temp dir and `pg_ctl start` on a free port,
listening on 127.0.0.1 only with its unix socket inside that dir, and removes it all on
`stop()`.  PostgreSQL refuses to run as root, so when we are root the cluster runs as an
unprivileged user (`fieldrm-pg`, created with `useradd` when missing) through `runuser`.
When `initdb` is nowhere to be found, Debian's `postgresql` package is installed with the
same code `dev.py` uses.

Fixtures (import them into a conftest): `postgres_cluster` (one per session, or per xdist
worker) and `postgres_url` (a fresh, empty database for each test, created from a template,
which takes a few milliseconds).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_USER = "fieldrm-pg"
SUPERUSER = "fieldrm"
TEMPLATE_DB = "fieldrm_template"

# For tests durability buys nothing and costs seconds: a crash loses the temp dir anyway.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _dev() -> ModuleType:
    """dev.py (the bootstrap) knows how to find PostgreSQL's tools and install them."""
    spec = importlib.util.spec_from_file_location("fieldrm_dev", ROOT / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def postgres_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and postgres; installs them when missing."""
    dev = _dev()
    found = dev.find_tool("initdb")
    if not found:
        try:
            dev.apt_install("postgresql")
        except (SystemExit, subprocess.CalledProcessError) as error:
            raise RuntimeError(f"PostgreSQL is not installed and could not be: {error}") from None
        found = dev.find_tool("initdb")
    if not found:
        raise RuntimeError("PostgreSQL's initdb is still missing after installing postgresql")
    # /usr/local/bin/initdb may be a symlink into /usr/lib/postgresql/N/bin, where the
    # server binary lives beside it; pg_ctl finds `postgres` next to its own real path.
    return Path(found).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _temp_parent(as_root: bool) -> str | None:
    """Where the cluster's temp dir goes: the usual temp dir, unless the cluster's user
    could not reach it (a root-only TMPDIR) or the unix socket path would be too long."""
    usual = Path(tempfile.gettempdir()).resolve()
    too_long = len(str(usual)) > 60  # sockets are limited to ~107 bytes of path
    reachable = all(part.stat().st_mode & 0o001 for part in [usual, *usual.parents])
    if too_long or (as_root and not reachable):
        return "/tmp"
    return None


def _ensure_user(name: str) -> None:
    if subprocess.run(["id", "-u", name], capture_output=True).returncode == 0:
        return
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )


class PostgresCluster:
    """One initdb'd cluster in a temp dir; `start()`, `url(db)`, `create_database()`, `stop()`.

    `durable=False` (tests) turns fsync and synchronous commit off; benchmarks pass
    `durable=True` so their figures are what a real server would see.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 200) -> None:
        self.durable = durable
        self.max_connections = max_connections
        self.bin_dir = postgres_bin_dir()
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="fieldrm-pg-", dir=_temp_parent(self.as_root)))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = 0
        self._names = itertools.count(1)
        self._running = False

    # ------------------------------------------------------------ running the tools

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", CLUSTER_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.base, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        try:
            return "postgres.log: " + self.log.read_text()[-2000:]
        except OSError:
            return ""

    # ------------------------------------------------------------ life cycle

    def start(self) -> PostgresCluster:
        if self.as_root:
            _ensure_user(CLUSTER_USER)
            shutil.chown(self.base, CLUSTER_USER, CLUSTER_USER)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.base),
            "max_connections": str(self.max_connections),
            # Containers often give /dev/shm only 64 MB; mmap'd files need none of it.
            "dynamic_shared_memory_type": "mmap",
            **({} if self.durable else FAST_SETTINGS),
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")
        # A free port can be taken between the probe and postgres binding it: retry.
        for attempt in range(5):
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                    "-o", f"-p {self.port}", "start",
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self._running = True
        self.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        return self

    def restart(self) -> None:
        """Restart the server on the same port (every client connection breaks)."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
            "-o", f"-p {self.port}", "restart",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once and remove every file of the cluster."""
        if self._running:
            self._running = False
            # Already gone is fine: removing the files is what matters.
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ databases

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        name = name or f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE_DB}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        # FORCE: a server process a test killed may still hold a connection.
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_shared: list[PostgresCluster] = []  # the session's cluster, once started
_users = [0]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the whole session (each xdist worker starts its own).

    Several conftests import this fixture (tests/pg, tests/sync), which makes each its own
    session fixture: they share one cluster, stopped when the last of them is done.
    """
    if not _shared:
        cluster = PostgresCluster()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _shared.append(cluster)
    _users[0] += 1
    try:
        yield _shared[0]
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            _shared.pop().stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)
