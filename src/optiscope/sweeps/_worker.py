"""A worker process of the local pool: reads tasks from one pipe, writes records to another.

Started by :class:`optiscope.sweeps._pool.LocalPool` in one of two ways:

- forked from the parent (:func:`serve_forked`), where that is safe (see
  :func:`optiscope.sweeps._pool.start_method`): the child has torch and optiscope loaded
  already and is ready in about 10 ms instead of the second or so a fresh ``python`` takes to
  import torch;
- as ``python -c`` with the parent's ``sys.path`` (:func:`main`, tasks on stdin, records on
  stdout), so it never imports the parent's ``__main__`` (``multiprocessing``'s ``spawn``
  re-runs an unguarded script in every worker).

Each message is a pickle preceded by its length (8 bytes, big-endian). One intra-op thread:
parallelism comes from the processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from functools import partial
from typing import IO, Any, NoReturn

__all__ = ["main", "read_message", "serve", "serve_forked", "write_message"]

_HEADER = struct.Struct(">Q")


def write_message(stream: IO[bytes], value: Any) -> None:
    """Write one length-prefixed pickle and flush."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """Read one length-prefixed pickle; raises ``EOFError`` when the stream has ended."""
    header = _read_exactly(stream, _HEADER.size)
    return pickle.loads(_read_exactly(stream, _HEADER.unpack(header)[0]))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _die_with_parent(parent: int | None = None) -> None:
    """End this worker soon after the process that started it ends, even by SIGKILL.

    A thread checks every 0.2 s whether the parent is still the one that started this
    worker (an orphan is adopted by another process). Linux's ``PR_SET_PDEATHSIG`` is not
    used: it fires when the parent's *thread* that started the worker ends, which would kill
    a warm pool started from a short-lived thread (a web server's, say).
    """
    if parent is None:
        parent = int(os.environ.get("OPTISCOPE_PARENT_PID", "0"))
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)  # nobody reads the result any more; skip interpreter shutdown

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    """Serve tasks from stdin until it closes, answering on stdout (a spawned worker)."""
    _die_with_parent()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the message stream
    serve(requests, replies)


def serve_forked(requests: int, replies: int, parent: int, inherited: Sequence[int]) -> NoReturn:
    """The body of a forked worker: serve tasks on these pipe ends, then end the process.

    Never returns into the parent's code that forked it: whatever happens, the child ends
    with :func:`os._exit` (no ``atexit`` handlers of the parent, no flushing of its buffers).

    Args:
        requests, replies: the child's ends of its two pipes.
        parent: the parent's pid (the worker ends soon after the parent does).
        inherited: the parent's ends of other workers' pipes, closed here so that a worker
            sees the end of its input when the parent closes it.
    """
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler of the parent's
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        _die_with_parent(parent)
        sys.stdout = sys.stderr  # stray prints stay off the parent's standard output
        with os.fdopen(requests, "rb", buffering=0) as inp, os.fdopen(replies, "wb") as out:
            serve(inp, out)
        code = 0
    except BaseException:  # reported on stderr; the parent sees the pipe close
        traceback.print_exc()
    finally:
        os._exit(code)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Serve tasks until ``requests`` ends: each request is ``(task, data, device, choices)``,
    each answer ``("ok", records, choices)`` or ``("error", text, {})``, after any number of
    ``("checkpoint", checkpoints)`` notes while the task trains (checkpoints by the configs'
    positions in the task); ``choices`` are the exactness probe's answers
    (:func:`optiscope.engine.known_choices`), shared so that no process probes a kernel
    another has already checked."""
    import torch

    from optiscope.engine import known_choices, learn_choices
    from optiscope.sweeps._backends import run_task

    torch.set_num_threads(1)
    write_message(replies, ("ready", os.getpid()))
    while True:
        try:
            task, data, device, choices = read_message(requests)
        except EOFError:
            return
        learn_choices(choices)  # kernels the parent or other workers have already checked
        try:
            records = run_task(task, data, device, partial(_send_checkpoints, replies))
            answer: tuple[str, Any, Any] = ("ok", records, known_choices())
        except Exception as err:  # reported to the parent, which raises EngineError
            answer = ("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}", {})
        write_message(replies, answer)


def _send_checkpoints(replies: IO[bytes], checkpoints: dict[int, Any]) -> None:
    write_message(replies, ("checkpoint", checkpoints))


if __name__ == "__main__":
    main()
