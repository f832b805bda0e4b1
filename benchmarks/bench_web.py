"""The web lab in a real browser: page loads, a 4,096-config sweep page, live latency.

A real ``optiscope serve`` (a subprocess on 127.0.0.1) and Debian's Chromium under Playwright,
with the test suite's fixtures (tests/web_server.py) and stores written through the store API
(tests/web_data.py: no training, losses from a formula). Measured, each the median (and p95)
of ``--repeats`` runs in this one process:

- ``list page``: the sweeps list, navigation to the table drawn;
- ``sweep page (12 runs)``: the baseline every other page load is divided by;
- ``sweep page (4,096 configs)``: 64 lr x 64 weight-decay values, one seed, 4 epochs: the
  summary of all 4,096 configs is sent, the curves of the 50 best are drawn;
- ``view JSON (4,096)``: the ``/view`` request alone, first (store read) and cached;
- ``live latency``: another process commits an epoch's checkpoint (it prints the time of the
  commit); the open page's event handler stamps its arrival (``Date.now()``): the difference,
  per epoch, over ``--epochs`` epochs. The target is under 1 s; the watcher looks every
  0.2 s, so about 0.1 s plus the work is expected.

- ``slider round trip (page)``: the playground with six optimizers of 500 steps; a key press
  on an lr slider, from the input event to the redrawn path, as the page measures it (it
  computes the path itself, pathsteps.js); ``benchmarks/bench_playground.py`` has the other
  cases and the server's request beside it.

Absolute times depend on the machine and its load; the ratios to the small sweep page, taken
in the same process, travel better.

Usage::

    .venv/bin/python benchmarks/bench_web.py              # about 2 minutes (the 4,096 store)
    .venv/bin/python benchmarks/bench_web.py --quick      # a smoke run: 256 configs, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the suite's server and browser fixtures, and its stores

import web_data  # noqa: E402
from bench_playground import page_round_trips  # noqa: E402  (this folder is on sys.path)
from web_server import CHROMIUM, CHROMIUM_ARGS, Server, chromium_missing, serve  # noqa: E402


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _stats(values: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    return statistics.median(values), float(np.percentile(values, 95))


def _timed(repeats: int, action: Callable[[], None]) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def _load(page: Any, url: str, ready: str) -> Callable[[], None]:
    def action() -> None:
        page.goto("about:blank")
        page.goto(url)
        page.wait_for_selector(ready, timeout=120_000)

    return action


def live_latency(server: Server, page: Any, entry: Any, epochs: int) -> list[float]:
    """Seconds from each checkpoint's commit (in another process) to the page's handler."""
    page.goto(server.url("/sweeps/live"))
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_selector("#live-dot.on")
    writer = subprocess.Popen(
        [
            sys.executable,
            str(TESTS / "web_data.py"),
            str(server.store),
            entry.config.key(),
            str(epochs),
            "--pause=0.4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    committed: dict[int, float] = {}
    arrived: dict[int, float] = {}
    assert writer.stdout is not None
    for line in writer.stdout:
        word, value, stamp = line.split()
        if word != "epoch":
            continue
        committed[int(value)] = float(stamp)
        deadline = time.monotonic() + 10
        while int(value) not in arrived and time.monotonic() < deadline:
            last = page.evaluate("() => window.optiscopeSweep.state.lastLive")
            if last and last["epochs"] >= int(value):
                arrived.setdefault(int(value), last["at"] / 1000)
            time.sleep(0.01)
    writer.wait(timeout=30)
    missing = sorted(set(committed) - set(arrived))
    if missing:
        raise RuntimeError(f"epochs {missing} never reached the page")
    return [arrived[e] - committed[e] for e in sorted(committed)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20, help="live epochs to time")
    parser.add_argument("--quick", action="store_true", help="256 configs, 1 repeat, 3 epochs")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    side = 16 if args.quick else 64
    repeats = 1 if args.quick else args.repeats
    epochs = 3 if args.quick else args.epochs
    reason = chromium_missing()
    if reason is not None:
        sys.exit(f"bench_web: {reason}")

    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="optiscope-bench-web-") as folder:
        store = Path(folder) / "results.sqlite"
        started = time.perf_counter()
        web_data.make_store(store)
        web_data.make_store(
            store,
            name="big",
            lrs=[float(v) for v in np.geomspace(1e-4, 1.0, side)],
            weight_decays=[float(v) for v in np.linspace(0.0, 0.1, side)],
            seeds=1,
        )
        (entry,) = web_data.make_store(store, name="live", lrs=(0.003,), seeds=1, finished=False)
        print(f"stores written in {time.perf_counter() - started:.1f} s ({side * side} configs)")
        with serve(store) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            ready = "body[data-ready='true']"
            view = "/api/sweeps/big/view"
            first = _timed(1, lambda: server.get(view).raise_for_status())
            cached = _timed(repeats, lambda: server.get(view).raise_for_status())
            size = len(server.get(view).content)
            rows = {
                "list page": _timed(repeats, _load(page, server.url("/"), "tr[data-sweep]")),
                "sweep page (12 runs)": _timed(
                    repeats, _load(page, server.url("/sweeps/demo"), ready)
                ),
                f"sweep page ({side * side:,} configs)": _timed(
                    repeats, _load(page, server.url("/sweeps/big"), ready)
                ),
                f"view JSON ({side * side:,}), first": first,
                f"view JSON ({side * side:,}), cached": cached,
            }
            latency = live_latency(server, page, entry, epochs)
            # -- slider round trip (landscape playground) ---------------------------------
            trips = page_round_trips(page, server.url("/playground"), max(repeats, 25))
            rows["slider round trip (page)"] = [ms / 1e3 for ms in trips["drag"] + trips["move"]]
            browser.close()

    base = statistics.median(rows["sweep page (12 runs)"])
    print(f"CPU: {_cpu()}; {platform.python_version()}; median and p95 of {repeats} run(s)")
    print(f"{'measure':<30} {'median s':>9} {'p95 s':>8} {'ratio':>7}")
    for name, times in rows.items():
        median, p95 = _stats(times)
        print(f"{name:<30} {median:9.3f} {p95:8.3f} {median / base:7.2f}")
        results[name] = {"median": median, "p95": p95, "ratio": median / base}
    print(f"view JSON size at {side * side:,} configs: {size / 1e6:.2f} MB")
    median, p95 = _stats(latency)
    print(
        f"live latency, commit -> page, {len(latency)} epochs: median {median * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(latency) * 1000:.0f} ms (target < 1000 ms)"
    )
    results["live latency"] = {"median": median, "p95": p95, "max": max(latency)}
    if args.json is not None:
        args.json.write_text(json.dumps({"cpu": _cpu(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
