"""The playground's slider round trip: six optimizers x 500 steps, as the user sees it.

A real ``optiscope serve`` runs in a subprocess on 127.0.0.1 (a fresh store in a temporary
folder). Two ways of getting a moved slider's path are timed:

In the page (Debian's Chromium under Playwright, the playground with six optimizers and 500
steps on Rosenbrock): the page computes the moved path itself (``pathsteps.js``, float64) and
redraws; the page records the time from the input event's time stamp to the redrawn canvas
(``window.playground.lastMove``, ``performance.now()``). Three cases:

- ``page: slider drag``: key presses on the first lr slider back to back (the server is asked
  only once the slider rests);
- ``page: slider move``: one key press, then a pause in which the server's answer arrives (its
  work shares the CPU with the page's);
- ``page: start click``: a click on the contour moves the start, all six paths are new.

Over HTTP (this process posts ``/api/playground/paths`` bodies like the page's): the request
the page sends when the slider rests, which before pathsteps.js was the round trip itself.

- ``slider move``: one optimizer's lr changes (the other five come from the server's cache);
- ``cold``: every optimizer is new (the start moves), all six run (batched by kind);
- ``slider drag``: slider moves back to back (the two cases above alternate with each other and
  with the baseline, which leaves the server's caches and the CPU to the other work).

Baseline, in this process: :func:`optiscope.race` of the same six optimizers (float64, one
path after another, no HTTP, no cache), so the ratios hold on a busy machine where absolute
times do not. Reported: median and p95 in ms, and the ratio of the medians to the baseline's.

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

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the suite's Chromium settings (kept off the network)

from web_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

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


def page_round_trips(page: Any, url: str, repeats: int) -> dict[str, Any]:
    """The playground's own round trips in an open Playwright ``page`` (ms, as the page
    measured them: input event to redrawn path) with six optimizers of 500 steps, and how far
    its paths were from the server's (``window.playground.agreement``).

    Args:
        page: a Playwright page.
        url: the playground's URL with the token.
        repeats: moves per case.

    Returns:
        ``drag``, ``move`` and ``click`` lists of ms; ``agreement``; ``shape`` (optimizers,
        steps).
    """
    page.goto(url)
    idle = "() => !window.playground.busy && window.playground.paths"
    page.wait_for_function(idle)
    while page.evaluate("() => window.playground.optimizers.length") < 6:
        page.click("#add")
        page.wait_for_function(idle)
    page.evaluate(  # 500 steps, as a user drags the steps slider to its end
        "() => { const s = document.getElementById('steps'); s.value = 500;"
        " s.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_function(idle)

    def move(act: Any) -> float:
        count = page.evaluate("() => window.playground.moves")
        act()
        page.wait_for_function(f"() => window.playground.moves > {count}")
        return float(page.evaluate("() => window.playground.lastMove.ms"))

    slider = page.locator(".opt[data-index='0'] input.lr")
    slider.focus()
    press = lambda: page.keyboard.press("ArrowRight")  # noqa: E731
    move(press)  # warm: the first call compiles the step rules
    drags = [move(press) for _ in range(repeats)]
    moves = []
    for _ in range(repeats):
        moves.append(move(press))
        page.wait_for_function(idle)  # the server's answer arrives in between
    box = page.locator("#contour").bounding_box()
    assert box is not None
    clicks = []
    for r in range(repeats):
        at = (box["x"] + box["width"] * (0.2 + 0.01 * r), box["y"] + box["height"] * 0.3)
        clicks.append(move(lambda at=at: page.mouse.click(*at)))
        page.wait_for_function(idle)
    return {
        "drag": drags,
        "move": moves,
        "click": clicks,
        "agreement": page.evaluate("() => window.playground.agreement"),
        "shape": (
            page.evaluate("() => window.playground.paths.paths.length"),
            page.evaluate("() => window.playground.paths.steps"),
        ),
    }


def _page_moves(base: str, repeats: int) -> dict[str, Any]:
    """:func:`page_round_trips` in a Chromium of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            return page_round_trips(page, f"{base}/playground?token={TOKEN}", repeats)
        finally:
            browser.close()


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
                race("rosenbrock", OPTIMIZERS, steps=STEPS, start=(-1.0, 2.0), dtype="float64")
                baseline.append(time.perf_counter() - started)
            timed(_body((-1.0, 2.0), 2.0))  # back at the slider's start: five paths cached
            drags = [timed(_body((-1.0, 2.0), 2.0 + 0.01 * (r + 1))) for r in range(args.repeats)]
        page = _page_moves(base, args.repeats) if CHROMIUM.exists() else None
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(
        f"CPU: {_cpu()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; "
        f"{args.repeats} repeats; 6 optimizers x {STEPS} steps on Rosenbrock"
    )
    base_median, base_p95 = _stats(baseline)
    print(f"{'case':<44}{'median ms':>10}{'p95 ms':>10}{'x race()':>10}")
    rows: list[tuple[str, list[float]]] = []
    if page is None:
        print(f"(no page rows: {CHROMIUM} is missing; apt-get install -y chromium)")
    else:
        count, steps = page["shape"]
        print(f"in the page ({count} optimizers x {steps} steps, input event to redrawn path):")
        rows += [
            ("page: slider drag (1 of 6 computed)", [ms / 1e3 for ms in page["drag"]]),
            ("page: slider move (server answers between)", [ms / 1e3 for ms in page["move"]]),
            ("page: start click (all 6 computed)", [ms / 1e3 for ms in page["click"]]),
        ]
    rows += [
        ("server: slider move (1 of 6 recomputed)", moves),
        ("server: cold (all 6 recomputed)", colds),
        ("server: slider drag (moves back to back)", drags),
    ]
    for name, seconds in rows:
        median, p95 = _stats(seconds)
        print(f"{name:<44}{median:>10.1f}{p95:>10.1f}{median / base_median:>10.3f}")
    baseline_name = "baseline: race() in-process, float64"
    print(f"{baseline_name:<44}{base_median:>10.1f}{base_p95:>10.1f}{1.0:>10.3f}")
    if page is not None:
        worst = page["agreement"]
        shown = "nothing compared" if worst is None else f"{worst:.3g} (relative above 1)"
        print(f"page vs server paths: largest difference {shown}")


if __name__ == "__main__":
    main()
