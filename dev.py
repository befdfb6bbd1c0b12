#!/usr/bin/env python3
"""Set up fieldrm in a local virtual environment, then run the app or the tests.

    python3 dev.py app     set up, load the demo data, open fieldrm
    python3 dev.py test    set up (with test tools, tmux and PostgreSQL) and run every test

Needs only Python 3.11+: it never installs into the system Python (which may be
externally managed), only into `.venv` beside this file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
SYSTEM_PACKAGES = {"tmux": "tmux", "initdb": "postgresql"}


def say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], check=True, **kwargs)  # type: ignore[call-overload]


def apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None:
        raise SystemExit(f"[dev] please install {' '.join(packages)} with your package manager")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(packages)} (apt-get)")
    run(*sudo, "apt-get", "update", "-qq", env=env)
    run(*sudo, "apt-get", "install", "-y", "-qq", *packages, env=env)


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    say("creating .venv")
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    except (subprocess.CalledProcessError, OSError):
        # Debian splits ensurepip into python3-venv.
        version = f"python3.{sys.version_info.minor}-venv"
        apt_install(version)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)


def ensure_installed(extras: str) -> None:
    ensure_venv()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".fieldrm-installed"
    if stamp.exists() and stamp.read_text() == digest:
        return
    say(f"installing fieldrm{extras} into .venv")
    run(PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip")
    run(
        PYTHON,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "-e",
        f".{extras}",
        # A plain path entry: the default editable finder costs ~25 ms on every start-up.
        "--config-settings",
        "editable_mode=compat",
        cwd=ROOT,
    )
    stamp.write_text(digest)


def ensure_system_tools() -> None:
    missing = [pkg for tool, pkg in SYSTEM_PACKAGES.items() if not find_tool(tool)]
    if missing:
        apt_install(*missing)


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def app(args: list[str]) -> int:
    ensure_installed("")
    fieldrm = BIN / "fieldrm"
    run(fieldrm, "demo")
    return subprocess.call([str(fieldrm), *args])


def test(args: list[str]) -> int:
    ensure_installed("[test]")
    ensure_system_tools()
    run(BIN / "ruff", "check", "fieldrm", "tests", "bench", "dev.py", cwd=ROOT)
    run(BIN / "ruff", "format", "--check", "fieldrm", "tests", "bench", "dev.py", cwd=ROOT)
    # One worker per core (pytest-xdist) unless the caller chose: the suite is mostly
    # waiting on servers, terminals and subprocesses.
    parallel = [] if any(a == "-n" or a.startswith("-n") for a in args) else ["-n", "auto"]
    code = subprocess.call([str(PYTHON), "-m", "pytest", *parallel, *args], cwd=ROOT)
    if code == 5:
        say("pytest collected no tests: that is a failure")
        return 1
    return code


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("app", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    try:
        return app(rest) if command == "app" else test(rest)
    except subprocess.CalledProcessError as error:
        say(f"step failed: {' '.join(map(str, error.cmd))} (exit {error.returncode})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
