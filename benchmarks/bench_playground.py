"""The playground's slider round trip: six optimizers x 500 steps over HTTP, as the page asks.

A real ``optiscope serve`` runs in a subprocess on 127.0.0.1 (a fresh store in a temporary
folder); this process posts ``/api/playground/paths`` bodies like the page's and times each
round trip (request, exact paths on the batched engine, JSON, response). Two cases:

- ``slider move``: one optimizer's lr changes (the other five come from the server's cache),
  which is what a dragged slider sends;
- ``cold``: every optimizer is new (the start moves), all six run (batched by kind);
- ``slider drag``: slider moves back to back, as a dragged slider sends them (the two cases
  above alternate with each other and with the baseline, which leaves the server's caches and
  the CPU to the other work between two moves).

Baseline, in this process: :func:`optiscope.race` of the same six optimizers (one path after
another, no HTTP, no cache), so the ratios hold on a busy machine where absolute times do not.
Reported: median and p95 in ms, and the ratio of the medians to the baseline's.

Usage::

    .venv/bin/python benchmarks/bench_playground.py              # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_playground.py --repeats 5  # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from optiscope import race

TOKEN = "bench-playground-token"
STEPS = 500
OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("momentum", {"lr": 0.001, "beta": 0.9}),
    ("sgd", {"lr": 0.001, "momentum": 0.9}),
    ("adam", {"lr": 0.02, "beta1": 0.9}),
    ("adamw", {"lr": 0.02, "beta1": 0.9, "weight_decay": 0}),
    ("rmsprop", {"lr": 0.001, "momentum": 0.9}),
    ("adagrad", {"lr": 0.4}),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(start: tuple[float, float], lr_scale: float) -> dict[str, Any]:
    optimizers = []
    for index, (name, settings) in enumerate(OPTIMIZERS):
        given = dict(settings)
        if index == 0:
            given["lr"] = settings["lr"] * lr_scale  # the slider that moved
        optimizers.append({"name": name, "settings": given})
    return {
        "function": "rosenbrock",
        "start": list(start),
        "steps": STEPS,
        "optimizers": optimizers,
    }


def _cpu() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _stats(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p95 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    port = _free_port()
    env = {**os.environ, "OPTISCOPE_TOKEN": TOKEN}
    command = [sys.executable, "-m", "optiscope", "serve", "--store", str(folder / "r.sqlite")]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"X-Optiscope-Token": TOKEN}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/api/playground/options").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)

            def timed(body: dict[str, Any]) -> float:
                started = time.perf_counter()
                answer = client.post("/api/playground/paths", json=body)
                elapsed = time.perf_counter() - started
                answer.raise_for_status()
                return elapsed

            timed(_body((-1.0, 2.0), 1.0))  # warm: the server's first request imports torch paths
            moves, colds, baseline = [], [], []
            for repeat in range(args.repeats):
                moves.append(timed(_body((-1.0, 2.0), 1.0 + 0.01 * (repeat + 1))))
                colds.append(timed(_body((-1.0 - 0.001 * (repeat + 1), 2.0), 1.0)))
                started = time.perf_counter()
                race("rosenbrock", OPTIMIZERS, steps=STEPS, start=(-1.0, 2.0))
                baseline.append(time.perf_counter() - started)
            timed(_body((-1.0, 2.0), 2.0))  # back at the slider's start: five paths cached
            drags = [timed(_body((-1.0, 2.0), 2.0 + 0.01 * (r + 1))) for r in range(args.repeats)]
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(
        f"CPU: {_cpu()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; "
        f"{args.repeats} repeats; 6 optimizers x {STEPS} steps on Rosenbrock"
    )
    base_median, base_p95 = _stats(baseline)
    print(f"{'case':<34}{'median ms':>10}{'p95 ms':>10}{'x race()':>10}")
    for name, seconds in (
        ("slider move (1 of 6 recomputed)", moves),
        ("cold (all 6 recomputed)", colds),
        ("slider drag (moves back to back)", drags),
    ):
        median, p95 = _stats(seconds)
        print(f"{name:<34}{median:>10.1f}{p95:>10.1f}{median / base_median:>10.2f}")
    print(f"{'baseline: race() in-process':<34}{base_median:>10.1f}{base_p95:>10.1f}{1.0:>10.2f}")


if __name__ == "__main__":
    main()
