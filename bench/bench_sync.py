"""Sync benchmarks (SPEC §10), run by hand: `python bench/bench_sync.py [--records N]`.

Starts a real `fieldrm server run` on 127.0.0.1 (SQLite, or `--db postgresql://…`), then:

1. one device pushes 10,000 observations (~570 bytes of JSON each);
2. a fresh device pulls them all (snapshot);
3. a sync with nothing to do (median of 50, and how many requests it makes);
4. 1,000 records edited in the same field on two devices, both sync (every conflict kept);
5. bytes on the wire (bodies, after gzip) per record pushed and pulled, and per
   single-field edit; and the device's sync metadata against its records' size;
6. the same push and pull as whole `fieldrm sync` processes, and a `fieldrm sync` with
   nothing to do against `fieldrm status` (process start included);
7. with `--peers DIR` (the peer harness: DIR/pouch-only.sh installs PouchDB and
   express-pouchdb from npm, pinned, and prints its figures), PouchDB on the same records
   in the same run, and the ratios.

Each figure is printed beside its SPEC §10 target (per 10,000 records where it scales).
The records' text is varied words (a repeated sentence compresses unrealistically well).
`--records 100000` checks that time per record stays within 10 % of 10k.  Prints figures;
asserts only correctness.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

_SENTENCE = (
    "team leaders side-by-sides new hires collections queue QA scores cohort dropped two "
    "weeks floor supervisor covering open positions coaching calibration handle time "
    "escalations backlog attrition schedule adherence nesting wave trainer refresher "
    "knowledge base outage callbacks first contact resolution sentiment survey billing "
    "dispute retention offer compliance script disclosure headset latency CRM screen "
    "frozen workaround manager shift overtime absenteeism morale huddle wallboard service "
    "level abandoned calls chat email backlog after-call work transfer rate"
)
WORDS = _SENTENCE.split()


def varied_text(rng: random.Random, number: int) -> str:
    """About 300 characters of words drawn at random (as the peers' records carry)."""
    words = [f"{number}:"]
    while sum(len(word) + 1 for word in words) < 300:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def against(figure: str, goal: str, met: bool) -> str:
    return f"{figure}  [target {goal}: {'met' if met else 'NOT met'}]"


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
    parser.add_argument("--peers", type=Path, help="the peer harness folder (pouch-only.sh)")
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
            figures = run(options, base, url, token, other_token, http, meter)
            figures.update(run_processes(options, base, url, db))
            if options.peers:
                compare_with_peer(options, figures)
        finally:
            http.close()
            server.terminate()
            server.wait(timeout=10)


def run(options, base, url, token, other_token, http, meter) -> dict[str, float]:
    count = options.records
    scale = count / 10_000  # targets are per 10,000 records
    rng = random.Random(7)
    figures: dict[str, float] = {}
    writer = device(base / "writer", url, token, http)
    sync_client.sync_once(writer, client=http)  # empty server: cursor set, nothing to do
    visit, program = new_id(), new_id()
    with writer.transaction():
        for number in range(count):
            writer.create(
                "observation",
                {
                    "text": varied_text(rng, number),
                    "visit_id": visit,
                    "program_id": program,
                    "category": "training",
                    "severity": "concern",
                    "tags": ["cohort-12", "collections"],
                },
            )
    sample = writer.get_raw(writer.list("observation", limit=1)[0].id)
    record_bytes = len(json.dumps(sample))
    print(f"records: {count} observations, ~{record_bytes} bytes of JSON each")

    meter.reset()
    cpu = Cpu()
    seconds, result = timed(lambda: sync_client.sync_once(writer, client=http))
    assert result.pushed == count and writer.pending_count() == 0, result
    figures["push"] = seconds
    line = (
        f"push device -> server: {seconds:.3f} s = {seconds / count * 1e6:.1f} µs/record "
        f"({meter.requests} requests, {meter.sent / count:.0f} B/record sent, "
        f"{meter.received / count:.0f} B/record back; {cpu})"
    )
    print(against(line, f"≤ {0.3 * scale:.2f} s", seconds <= 0.3 * scale))

    reader = device(base / "reader", url, token, http)
    meter.reset()
    cpu = Cpu()
    seconds, result = timed(lambda: sync_client.sync_once(reader, client=http))
    assert reader.count("observation") == count, result
    figures["pull"] = seconds
    line = (
        f"fresh device pulls all: {seconds:.3f} s = {seconds / count * 1e6:.1f} µs/record "
        f"({meter.requests} requests, {meter.received / count:.0f} B/record received; {cpu})"
    )
    print(against(line, f"≤ {0.3 * scale:.2f} s", seconds <= 0.3 * scale))
    if count >= 100_000:
        print(against(f"first sync of a fresh device: {seconds:.2f} s", "≤ 3 s", seconds <= 3))
    reader.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    disk = sum(path.stat().st_size for path in (base / "reader").iterdir())
    print(against(f"device disk: {disk / count:.0f} B/record", "≤ 1,200", disk / count <= 1200))

    data_bytes, meta_bytes = reader.conn.execute(
        "SELECT sum(length(data)), sum(length(meta)) FROM records"
    ).fetchone()
    share = meta_bytes / data_bytes
    line = f"sync metadata on the device: {share:.0%} of the records' JSON"
    print(against(line, "≤ 30 %", share <= 0.30))

    times = []
    requests = []
    for _ in range(50):
        meter.reset()
        seconds, result = timed(lambda: sync_client.sync_once(reader, client=http))
        times.append(seconds)
        requests.append(meter.requests)
    figures["noop"] = statistics.median(times)
    line = (
        f"sync with nothing to do: median {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {sorted(times)[int(len(times) * 0.95)] * 1000:.2f} ms, "
        f"{max(requests)} request(s)"
    )
    print(against(line, "≤ 5 ms, 1 request", figures["noop"] <= 0.005 and max(requests) == 1))

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
    figures["conflicts"] = seconds
    line = (
        f"{edited} records edited on two devices, both sync: {seconds:.3f} s "
        f"({meter.requests} requests; {cpu}), conflicts kept {kept[0]}/{edited} on both"
    )
    print(against(line, f"≤ {0.3 * edited / 1000:.2f} s", seconds <= 0.3 * edited / 1000))

    target = ids[0]
    meter.reset()
    writer.update(target, set={"category": "quality"})
    sync_client.sync_once(writer, client=http)
    wire = meter.sent + meter.received
    line = (
        f"single-field edit: {meter.sent} B sent + {meter.received} B received "
        f"= {wire} B of bodies ({meter.requests} requests)"
    )
    print(against(line, "≤ 250 B", wire <= 250))
    for store in (writer, reader, other):
        store.close()
    return figures


def cli(home: Path, *args: str) -> float:
    """Seconds one `fieldrm` process takes, start to exit, with this FIELDRM_HOME."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FIELDRM_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "fieldrm", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def run_processes(options, base: Path, url: str, db: str) -> dict[str, float]:
    """Push and pull as whole `fieldrm sync` processes (another workspace, same server)."""
    count = options.records
    token = fieldrm("server", "add-user", "carol", "--workspace", "processes", "--db", db)
    writer_home, reader_home = base / "process-writer", base / "process-reader"
    cli(writer_home, "login", "--server", url, "--token", token)
    cli(reader_home, "login", "--server", url, "--token", token)
    cli(reader_home, "sync")  # an empty workspace: the reader's first sync is done
    writer = Store.open(writer_home / "fieldrm.db")
    rng = random.Random(11)
    with writer.transaction():
        for number in range(count):
            writer.create("observation", {"text": varied_text(rng, number), "severity": "concern"})
    writer.close()
    push = cli(writer_home, "sync")
    pull = cli(reader_home, "sync")
    print(f"as processes: `fieldrm sync` pushes {count} in {push:.2f} s, pulls in {pull:.2f} s")
    status = statistics.median(cli(reader_home, "status") for _ in range(10))
    noop = statistics.median(cli(reader_home, "sync") for _ in range(10))
    over = noop - status
    line = (
        f"as processes: nothing to do {noop * 1000:.0f} ms against `fieldrm status` "
        f"{status * 1000:.0f} ms (+{over * 1000:.0f} ms)"
    )
    print(against(line, "≤ +30 ms", over <= 0.030))
    return {"process_push": push, "process_pull": pull}


def compare_with_peer(options, figures: dict[str, float]) -> None:
    """PouchDB → express-pouchdb on the same number of records, run now (SPEC §10)."""
    script = options.peers / "pouch-only.sh"
    done = subprocess.run(
        ["bash", str(script), str(options.records)], capture_output=True, text=True, check=True
    )
    peer = json.loads(done.stdout.strip().splitlines()[-1])
    push, pull = peer["b_push_ms"] / 1000, peer["c_pull_ms"] / 1000
    print(
        f"PouchDB, same run: push {push:.2f} s, pull {pull:.2f} s, "
        f"nothing to do {peer['d_noop_sync_ms']:.1f} ms, "
        f"conflicts {peer['e_sync_total_ms'] / 1000:.2f} s"
    )
    ours = figures["process_push"] + figures["process_pull"]
    ratio = (push + pull) / ours
    line = f"push + pull as processes: {ratio:.1f}× faster than PouchDB"
    print(against(line, "≥ 6×", ratio >= 6))
    for name, key, theirs in (
        ("push in-process", "push", push),
        ("pull in-process", "pull", pull),
        ("nothing to do", "noop", peer["d_noop_sync_ms"] / 1000),
        ("1,000 conflicts", "conflicts", peer["e_sync_total_ms"] / 1000),
    ):
        print(f"{name}: {theirs / figures[key]:.1f}× faster than PouchDB")


if __name__ == "__main__":
    main()
