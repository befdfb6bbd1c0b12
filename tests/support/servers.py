"""Real `fieldrm server run` processes for end-to-end tests and benchmarks.

`ServerProcess(db_url).start()` runs the server on a free port on 127.0.0.1 exactly as a
user would (`python -m fieldrm server run --db URL --port N`) and waits until `/v1/health`
answers; `stop()` ends it (SIGTERM, then SIGKILL), `kill()` is the crash.  `add_user` runs
`fieldrm server add-user` and returns the printed token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def fieldrm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fieldrm", *args]


def add_user(db_url: str, name: str, workspace: str, home: Path) -> str:
    """`fieldrm server add-user NAME --workspace W --db URL`; returns the token."""
    done = subprocess.run(
        fieldrm_command("server", "add-user", name, "--workspace", workspace, "--db", db_url),
        cwd=ROOT,
        env={**os.environ, "FIELDRM_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"server add-user failed: {done.stderr.strip()}")
    return done.stdout.strip().split()[-1]


class ServerProcess:
    """One `fieldrm server run` process; `url` is its base address once started."""

    def __init__(self, db_url: str, home: Path, *options: str) -> None:
        self.db_url = db_url
        self.options = options  # more `server run` options, e.g. --publish-docs
        self.home = home
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                fieldrm_command("server", "run", "--db", self.db_url, *address, *self.options),
                cwd=ROOT,
                env={**os.environ, "FIELDRM_HOME": str(self.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server did not answer: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)  # wait-ok: poll interval inside a deadline-bounded wait

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
