"""`fieldrm capture` as a whole process (SPEC §10: ≤ 0.2 s), with `fieldrm status` beside it.

    python bench/bench_cli.py [--runs N]

Runs each command N times as a fresh process on a store of its own (created first) and
prints the median and p95 wall time, the median CPU time of the child, the target beside
the figure, and a bare `python -c pass` as the floor of this machine right now.  Run by
hand; not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CAPTURE_TARGET = 0.2


def run(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Median and p95 wall seconds, and the median CPU seconds of the child."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    walls.sort()
    p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
    return statistics.median(walls), p95, statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fieldrm-bench-cli-"))
    env = {**os.environ, "FIELDRM_HOME": str(home), "FIELDRM_USER": "bench"}
    fieldrm = [sys.executable, "-m", "fieldrm"]
    # The store exists before the first timed run, as on a device in use.
    subprocess.run([*fieldrm, "capture", "setup note #floor"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"load average now: {os.getloadavg()[0]:.1f} (2 cores; others share the machine)")
    rows = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
        ("fieldrm status", [*fieldrm, "status"], None),
        ("fieldrm capture", [*fieldrm, "capture", "Queue board shows 12 waiting #floor !concern"],
         CAPTURE_TARGET),
    ]  # fmt: skip
    for name, argv, target in rows:
        median, p95, cpu = run(argv, env, args.runs)
        goal = f"   target ≤ {target * 1000:.0f} ms" if target else ""
        print(
            f"{name:<24} median {median * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"
            f"   (CPU {cpu * 1000:5.1f} ms){goal}"
        )


if __name__ == "__main__":
    main()
