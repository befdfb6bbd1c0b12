"""Benchmark of the sync server on PostgreSQL beside SQLite (issue 5, SPEC §10): by hand.

    .venv/bin/python bench/bench_pg.py [--records 10000] [--devices 20] [--changes 1000]
                                       [--batch 25,100,500] [--pullers 2] [--only sync|storm]

Starts a throwaway PostgreSQL cluster (durable: fsync and synchronous commit on, as a real
server runs) and real `fieldrm server run` processes on 127.0.0.1, then prints:

- **sync**: bench/bench_sync.py (push 10,000 observations, a fresh device pulls them all,
  a sync with nothing to do, 1,000 records edited on two devices, bytes on the wire) on
  SQLite and then on PostgreSQL, one server process each;
- **storm**: `--devices` devices push `--changes` changes each at once, in pushes of
  `--batch` changes (the client's are at most 500), while `--pullers` devices pull; on
  SQLite with one server process and on PostgreSQL with one and with two.  Throughput is
  changes acknowledged per second of wall time; latency is per push request.  Devices are
  threads of this process sending ready-made bodies, so the clients cost little CPU; they
  still share the machine's two cores with the servers and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from fieldrm.store import Store  # noqa: E402
from fieldrm.sync.replica import next_batch  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.servers import ServerProcess, add_user  # noqa: E402

WORKSPACE = "bench"
STORM_TARGETS = {"throughput": 2000.0, "p95_ms": 200.0}  # issue 5


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextmanager
def servers(db_url: str, count: int, home: Path) -> Iterator[list[ServerProcess]]:
    started = [ServerProcess(db_url, home / f"server-{n}") for n in range(count)]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


# ---------------------------------------------------------------- the sync benchmark


def sync_benchmark(db_url: str | None, records: int) -> str:
    """bench_sync.py's figures (a real server process and devices) on one backend."""
    command = [sys.executable, str(ROOT / "bench" / "bench_sync.py"), "--records", str(records)]
    if db_url is not None:
        command += ["--db", db_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_sync.py failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


# ---------------------------------------------------------------- the storm


def device_ops(devices: int, changes: int) -> list[list[str]]:
    """Each device's ops as `[seq,op]` JSON, made by a real device store (creates)."""
    every: list[list[str]] = []
    for number in range(devices):
        with Store.memory() as store:
            for change in range(changes):
                text = f"Device {number} noticed thing {change} on the floor"
                store.create("observation", {"text": text, "tags": ["storm"]})
            ops: list[str] = []
            while len(ops) < changes:
                entries = next_batch(store, 500, 1 << 20)
                ops += [f"[{entry.seq},{entry.op}]" for entry in entries]
                with store.transaction() as conn:
                    conn.executemany(
                        "DELETE FROM outbox WHERE seq = ?", [(e.seq,) for e in entries]
                    )
        every.append(ops)
    return every


def device_bodies(every: list[list[str]], batch: int) -> list[list[bytes]]:
    """Each device's push bodies of `batch` ops."""
    bodies = []
    for number, ops in enumerate(every):
        head = f'{{"device":"device-{number:02d}","ops":['
        chunks = [",".join(ops[start : start + batch]) for start in range(0, len(ops), batch)]
        bodies.append([f"{head}{chunk}]}}".encode() for chunk in chunks])
    return bodies


def storm(
    db_url: str, server_count: int, bodies: list[list[bytes]], pullers: int, home: Path
) -> dict[str, Any]:
    tokens = [add_user(db_url, f"user-{n}", WORKSPACE, home) for n in range(2)]
    total = sum(len(json.loads(body)["ops"]) for device in bodies for body in device)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    with servers(db_url, server_count, home) as running:

        def client(number: int) -> httpx.Client:
            return httpx.Client(
                base_url=running[number % server_count].url,
                headers={
                    "Authorization": f"Bearer {tokens[number % 2]}",
                    "Content-Type": "application/json",
                },
                timeout=120,
            )

        start = threading.Barrier(len(bodies) + pullers + 1)
        pushing_done = threading.Event()
        pulled = [0] * pullers

        def push(number: int) -> None:
            with client(number) as http:
                start.wait()
                for body in bodies[number]:
                    began = time.perf_counter()
                    answer = http.post("/v1/push", content=body)
                    took = time.perf_counter() - began
                    with lock:
                        latencies.append(took)
                        if answer.status_code != 200:
                            failures.append(f"{answer.status_code} {answer.text[:200]}")

        def pull(number: int) -> None:
            cursor = 0
            with client(number + 1) as http:
                start.wait()
                while True:
                    done = pushing_done.is_set()
                    params = {"device": f"puller-{number}", "cursor": cursor, "limit": 1000}
                    page = http.get("/v1/pull", params=params).json()
                    pulled[number] += len(page["changes"])
                    cursor = page["next_cursor"]
                    if done and not page["has_more"]:
                        return

        threads = [threading.Thread(target=push, args=(n,)) for n in range(len(bodies))]
        readers = [threading.Thread(target=pull, args=(n,)) for n in range(pullers)]
        for thread in threads + readers:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        pushing_done.set()
        for thread in readers:
            thread.join()
    if failures:
        raise SystemExit(f"pushes failed: {failures[:3]}")
    if any(count != total for count in pulled):
        raise SystemExit(f"a puller got {pulled} changes, not {total} each")
    return {
        "throughput": total / wall,
        "wall": wall,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "max_ms": max(latencies) * 1000,
        "pushes": len(latencies),
        "pulled": pulled,
    }


def print_storm(results: dict[str, dict[str, Any]], devices: int, changes: int, batch: int):
    print(
        f"\nstorm: {devices} devices x {changes:,} changes at once, pushes of {batch}, "
        f"targets ≥ {STORM_TARGETS['throughput']:,.0f} changes/s, "
        f"p95 ≤ {STORM_TARGETS['p95_ms']:.0f} ms"
    )
    print(
        f"{'backend':<24}{'changes/s':>11}{'wall s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'max ms':>9}{'pushes':>8}  pulled by each puller"
    )
    for name, row in results.items():
        print(
            f"{name:<24}{row['throughput']:>11,.0f}{row['wall']:>9.2f}{row['p50_ms']:>9.0f}"
            f"{row['p95_ms']:>9.0f}{row['max_ms']:>9.0f}{row['pushes']:>8}  {row['pulled']}"
        )


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument(
        "--batch", default="25,100,500", help="changes per push, several comma-separated"
    )
    parser.add_argument("--pullers", type=int, default=2)
    parser.add_argument("--only", choices=["sync", "storm"])
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="PostgreSQL without fsync (not safe to run so): shows what durability costs",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="fieldrm-bench-") as temp,
        PostgresCluster(durable=not args.no_fsync) as cluster,
    ):
        home = Path(temp)
        if args.only != "storm":
            for name, db_url in (("SQLite", None), ("PostgreSQL", cluster.create_database())):
                print(f"\nsync (bench/bench_sync.py) on {name}, one server process")
                print(sync_benchmark(db_url, args.records), flush=True)
        if args.only != "sync":
            runs = {
                "sqlite, 1 server": ("sqlite", 1),
                "postgresql, 1 server": ("postgresql", 1),
                "postgresql, 2 servers": ("postgresql", 2),
            }
            every = device_ops(args.devices, args.changes)
            for batch in [int(size) for size in args.batch.split(",")]:
                bodies = device_bodies(every, batch)
                figures = {}
                for name, (backend, count) in runs.items():
                    place = home / f"storm-{batch}-{backend}-{count}"
                    db_url = (
                        str(place / "server.db")
                        if backend == "sqlite"
                        else cluster.create_database()
                    )
                    figures[name] = storm(db_url, count, bodies, args.pullers, place)
                print_storm(figures, args.devices, args.changes, batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
