"""Who holds a ``running`` row, and whether that holder is still alive.

A runner marks the configs it trains as ``running`` with an owner text
``host:pid:start:nonce``. After a crash (Ctrl-C that could not clean up, SIGKILL, power loss)
those rows stay ``running``; the next runner asks :func:`owner_alive` and puts rows whose
owner is gone back to ``pending``.

``start`` is the process's start time as the kernel counts it (Linux ``/proc/PID/stat``), so
a new process that happens to get a dead runner's pid is not mistaken for it. ``nonce`` tells
runners of one long-lived process apart (a notebook kernel runs many sweeps): a row owned by
this very process is alive only while its runner is active.
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["new_owner", "owner_alive", "release_owner"]

_ACTIVE: set[str] = set()


def _proc_stat(pid: int) -> list[str]:
    """Fields 3 onwards of Linux ``/proc/PID/stat`` (state first), or ``[]`` where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return []
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text.rsplit(")", 1)[-1].split()


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), or ``""`` where unknown."""
    fields = _proc_stat(pid)
    return fields[19] if len(fields) > 19 else ""


def new_owner() -> str:
    """A fresh owner text for one runner of this process; active until :func:`release_owner`."""
    pid = os.getpid()
    owner = f"{socket.gethostname()}:{pid}:{_process_start(pid)}:{uuid.uuid4().hex[:8]}"
    _ACTIVE.add(owner)
    return owner


def release_owner(owner: str) -> None:
    """Mark a runner of this process as finished: its leftover rows count as stale."""
    _ACTIVE.discard(owner)


def owner_alive(owner: str) -> bool | None:
    """Whether the runner that wrote ``owner`` may still be training.

    Returns:
        ``True`` or ``False`` for owners on this host; ``None`` for another host or an owner
        text that cannot be read (nobody can tell from here).
    """
    parts = owner.split(":")
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    host, pid_text, start, _nonce = parts
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return owner in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a live process of another user
    fields = _proc_stat(pid)
    if fields and fields[0] in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return not start or len(fields) <= 19 or fields[19] == start
