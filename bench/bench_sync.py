"""Sync benchmarks (SPEC §10), run by hand: `python bench/bench_sync.py [--records N]`.

Starts a real `fieldrm server run` on 127.0.0.1 (SQLite, or `--db postgresql://…`), then:

1. one device pushes 10,000 observations (~570 bytes of JSON each);
2. a fresh device pulls them all (snapshot);
3. a sync with nothing to do (median of 50, and how many requests it makes);
4. 1,000 records edited in the same field on two devices, both sync (every conflict kept);
5. bytes on the wire (bodies, after gzip) per record pushed and pulled, and per
   single-field edit; and the device's sync metadata against its records' size.

Targets: push ≤ 0.5 s, pull ≤ 0.5 s, nothing-to-do ≤ 5 ms and ≤ 2 requests, two-device
round ≤ 0.3 s, single-field edit ≤ 250 bytes.  Prints figures; asserts only correctness.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldrm.models import new_id  # noqa: E402
from fieldrm.store import Store  # noqa: E402
from fieldrm.sync import client as sync_client  # noqa: E402
from fieldrm.sync.conflicts import open_conflicts  # noqa: E402

TEXT = (
    "Team 4 team leaders are not doing side-by-sides with the new hires on the collections "
    "queue; QA scores for the cohort dropped from 87 to 79 over two weeks and the floor "
    "supervisor says the TLs are covering for two open positions."
)


class Metered(httpx.BaseTransport):
    """Counts requests and body bytes as they cross the wire (compressed)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0
        self.sent = 0
        self.received = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.sent += len(request.read())
        response = self.inner.handle_request(request)
        raw = b"".join(response.stream)
        response.close()
        self.received += len(raw)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            request=request,
        )

    def reset(self) -> None:
        self.requests = self.sent = self.received = 0

    def close(self) -> None:
        self.inner.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fieldrm(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "fieldrm", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def start_server(db: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldrm", "server", "run", "--db", db, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start")


def device(home: Path, url: str, token: str, http: httpx.Client) -> Store:
    store = Store.open(home / "fieldrm.db")
    sync_client.login(store, url, token, client=http)
    return store


SERVER_PID = 0  # the server process, whose CPU time is read from /proc (Linux)


def server_cpu() -> float:
    """CPU seconds the server process has used (0 where /proc is not there)."""
    try:
        fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU seconds used by this process (the device, all its threads) and by the server."""

    def __init__(self) -> None:
        self.device = time.process_time()
        self.server = server_cpu()

    def __str__(self) -> str:
        device = time.process_time() - self.device
        server = server_cpu() - self.server
        return f"CPU device {device:.3f} s, server {server:.3f} s"


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--edited", type=int, default=1_000)
    parser.add_argument("--db", help="server database (default: a temporary SQLite file)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        db = options.db or str(base / "server.db")
        token = fieldrm("server", "add-user", "alice", "--workspace", "bench", "--db", db)
        other_token = fieldrm("server", "add-user", "bob", "--workspace", "bench", "--db", db)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(db, port)
        global SERVER_PID
        SERVER_PID = server.pid
        meter = Metered()
        http = httpx.Client(transport=meter, timeout=sync_client.TIMEOUT)
        try:
            run(options, base, url, token, other_token, http, meter)
        finally:
            http.close()
            server.terminate()
            server.wait(timeout=10)


def run(options, base, url, token, other_token, http, meter) -> None:
    count = options.records
    writer = device(base / "writer", url, token, http)
    sync_client.sync_once(writer, client=http)  # empty server: cursor set, nothing to do
    visit, program = new_id(), new_id()
    with writer.transaction():
        for number in range(count):
            writer.create(
                "observation",
                {
                    "text": f"{number}: {TEXT}",
                    "visit_id": visit,
                    "program_id": program,
                    "category": "training",
                    "severity": "concern",
                    "tags": ["cohort-12", "collections"],
                },
            )
    sample = writer.get_raw(writer.list("observation", limit=1)[0].id)
    import json

    record_bytes = len(json.dumps(sample))
    print(f"records: {count} observations, ~{record_bytes} bytes of JSON each")

    meter.reset()
    cpu = Cpu()
    seconds, result = timed(lambda: sync_client.sync_once(writer, client=http))
    assert result.pushed == count and writer.pending_count() == 0, result
    print(
        f"push device -> server: {seconds:.3f} s ({meter.requests} requests, "
        f"{meter.sent / count:.0f} B/record sent, {meter.received / count:.0f} B/record back; "
        f"{cpu})"
    )

    reader = device(base / "reader", url, token, http)
    meter.reset()
    cpu = Cpu()
    seconds, result = timed(lambda: sync_client.sync_once(reader, client=http))
    assert reader.count("observation") == count, result
    print(
        f"fresh device pulls all: {seconds:.3f} s ({meter.requests} requests, "
        f"{meter.received / count:.0f} B/record received; {cpu})"
    )

    data_bytes, meta_bytes = reader.conn.execute(
        "SELECT sum(length(data)), sum(length(meta)) FROM records"
    ).fetchone()
    print(f"sync metadata on the device: {meta_bytes / data_bytes:.0%} of the records' JSON")

    times = []
    requests = []
    for _ in range(50):
        meter.reset()
        seconds, result = timed(lambda: sync_client.sync_once(reader, client=http))
        times.append(seconds)
        requests.append(meter.requests)
    print(
        f"sync with nothing to do: median {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {sorted(times)[int(len(times) * 0.95)] * 1000:.2f} ms, "
        f"{max(requests)} request(s)"
    )

    edited = options.edited
    other = device(base / "other", url, other_token, http)
    sync_client.sync_once(other, client=http)
    ids = [record.id for record in writer.list("observation", limit=edited)]
    with writer.transaction():
        for record_id in ids:
            writer.update(record_id, set={"severity": "critical"})
    with other.transaction():
        for record_id in ids:
            other.update(record_id, set={"severity": "positive"})
    meter.reset()
    cpu = Cpu()
    started = time.perf_counter()
    sync_client.sync_once(writer, client=http)
    sync_client.sync_once(other, client=http)
    sync_client.sync_once(writer, client=http)
    seconds = time.perf_counter() - started
    kept = (len(open_conflicts(writer)), len(open_conflicts(other)))
    assert kept == (edited, edited), kept
    same = all(
        writer.get(record_id).severity == other.get(record_id).severity  # type: ignore[attr-defined]
        for record_id in ids
    )
    assert same
    print(
        f"{edited} records edited on two devices, both sync: {seconds:.3f} s "
        f"({meter.requests} requests; {cpu}), conflicts kept {kept[0]}/{edited} on both"
    )

    target = ids[0]
    meter.reset()
    writer.update(target, set={"category": "quality"})
    sync_client.sync_once(writer, client=http)
    print(
        f"single-field edit: {meter.sent} B sent + {meter.received} B received "
        f"= {meter.sent + meter.received} B of bodies ({meter.requests} requests)"
    )
    for store in (writer, reader, other):
        store.close()


if __name__ == "__main__":
    main()
