"""One launched sweep, in its own process: ``python -m optiscope.web._job SPEC.json STORE``.

The server's runner (:mod:`optiscope.web._runner`) starts this so training never holds the
server's interpreter (its pages and live updates stay responsive) and a cancel is immediate:
SIGTERM stops the sweep like Ctrl-C, and the pipeline gives unfinished configs back to the
store as ``pending`` with their checkpoints, so ``optiscope resume NAME`` goes on from there.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_with_the_server(parent: int) -> None:
    """A server that dies without cancelling (SIGKILL) leaves no one to stop this job: stop
    it like a cancel as soon as the parent is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    """Run the spec in ``argv[0]`` (JSON) into the store ``argv[1]``; 0 on success, 130 when
    cancelled, 1 with the error's message on stderr otherwise."""
    signal.signal(signal.SIGTERM, _interrupt)
    threading.Thread(
        target=_stop_with_the_server, args=(os.getppid(),), name="optiscope-parent", daemon=True
    ).start()
    from optiscope.api import sweep
    from optiscope.errors import OptiscopeError
    from optiscope.sweeps import SweepSpec

    spec_path, store = Path(argv[0]), Path(argv[1])
    try:
        spec = SweepSpec.from_dict(json.loads(spec_path.read_text()))
        sweep(spec, store=store, max_configs=None)  # the server checked the size
    except KeyboardInterrupt:
        return 130
    except OptiscopeError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover (run as a process by the tests)
    sys.exit(main(sys.argv[1:]))
