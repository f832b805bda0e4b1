"""Live updates: one watcher per store, fanned out to every page by Server-Sent Events.

A training process (any process: ``optiscope sweep`` in a terminal, the server's own runner)
commits a checkpoint row at each epoch end and a record when a run finishes. The :class:`Hub`
runs ONE thread per store that asks sqlite's ``PRAGMA data_version`` every ``poll_seconds``
(no table is read while nothing changed); when it moved, one query (``activity``) says which
runs gained an epoch or a status, their curves so far are read once, and the event goes to
every subscriber's queue. Clients never poll: N open pages cost N queues, not N query loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from optiscope.engine import Checkpoint
from optiscope.errors import StorageError
from optiscope.records import Curve
from optiscope.storage import RUN_STATUSES, SqliteStore
from optiscope.web._security import require_token

__all__ = [
    "KEEPALIVE_SECONDS",
    "MAX_LIVE_RUNS",
    "POLL_SECONDS",
    "Hub",
    "curve_json",
    "live_runs",
    "router",
]

#: How often the watcher asks the store whether anything was committed.
POLL_SECONDS = 0.2
#: A comment line this often keeps proxies and the browser from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: Runs whose curves one event carries at most; past it the event says ``reload``.
MAX_LIVE_RUNS = 256
#: Events a slow subscriber may have waiting before it is told to reload instead.
QUEUE_SIZE = 64

Activity = dict[str, dict[int, tuple[str, str, int]]]


def _finite(values: Any) -> Any:
    """NaN and inf become ``None`` (JSON has neither)."""
    return [v if v is None or math.isfinite(v) else None for v in values]


def curve_json(curve: Curve) -> dict[str, list[Any]]:
    """A curve as JSON-ready columns, no NaN."""
    data = curve.to_dict()
    for name in ("valid_loss", "train_loss", "seconds"):
        data[name] = _finite(data[name])
    return data


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    sweep: str | None
    overflowed: bool = False


@dataclass(eq=False)
class Hub:
    """The store's one watcher and its subscribers.

    Args:
        store_path: the store to watch.
        poll_seconds: seconds between two looks at ``PRAGMA data_version``.
    """

    store_path: Path
    poll_seconds: float = POLL_SECONDS
    _subscribers: set[_Subscriber] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    looks: int = 0  # how many times the watcher looked (the polling-storm test reads it)
    queries: int = 0  # how many times it read the tables

    def subscribe(self, sweep: str | None) -> _Subscriber:
        """A queue of events for one page (``sweep``: that sweep's curves too)."""
        subscriber = _Subscriber(asyncio.Queue(QUEUE_SIZE), asyncio.get_running_loop(), sweep)
        with self._lock:
            self._subscribers.add(subscriber)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._watch, name="optiscope-store-watcher", daemon=True
                )
                self._thread.start()
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def watching(self) -> bool:
        with self._lock:
            return self._thread is not None

    async def stop(self) -> None:
        """Stop the watcher thread (the server is shutting down)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 5.0)

    # -- the watcher thread ------------------------------------------------------------------

    def _watch(self) -> None:
        store: SqliteStore | None = None
        version: int | None = None
        before: Activity = {}
        while not self._stop.is_set():
            with self._lock:
                if not self._subscribers:  # nobody listens: stop looking; the next page
                    self._thread = None  # starts a new watcher (decided under the lock, so
                    break  # a page subscribing now cannot find this one still "alive")
            try:
                if store is None:
                    store = SqliteStore(self.store_path, create=False)
                    before = store.activity()
                    version = store.data_version()
                self.looks += 1
                now = store.data_version()
                if now != version:
                    version = now
                    self.queries += 1
                    after = store.activity()
                    self._publish(store, before, after)
                    before = after
            except StorageError as err:  # the file went away or is locked for long: try again
                self._broadcast({"type": "store-error", "error": str(err)}, None)
                if store is not None:
                    store.close()
                store = None
            self._stop.wait(self.poll_seconds)
        if store is not None:
            store.close()

    def _publish(self, store: SqliteStore, before: Activity, after: Activity) -> None:
        with self._lock:
            wanted = {s.sweep for s in self._subscribers if s.sweep is not None}
        for name in sorted(set(before) | set(after)):
            old, new = before.get(name, {}), after.get(name)
            if new is None:
                self._broadcast({"type": "removed", "sweep": name}, name)
                continue
            changed = sorted(p for p, run in new.items() if old.get(p) != run)
            if not changed:
                continue
            event: dict[str, Any] = {
                "type": "sweep",
                "sweep": name,
                "counts": _counts(new),
                "changed": len(changed),
            }
            if name in wanted:
                if len(changed) > MAX_LIVE_RUNS:
                    event["reload"] = True
                else:
                    event["runs"] = live_runs(store, {p: new[p] for p in changed})
            self._broadcast(event, name)

    def _broadcast(self, event: dict[str, Any], sweep: str | None) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            payload = event
            if subscriber.sweep != sweep and "runs" in event:
                payload = {k: v for k, v in event.items() if k != "runs"}
            subscriber.loop.call_soon_threadsafe(_offer, subscriber, payload)


def _offer(subscriber: _Subscriber, event: dict[str, Any]) -> None:
    """Queue an event; a page that fell behind gets one ``reload`` instead of a pile."""
    if subscriber.overflowed:
        return
    try:
        subscriber.queue.put_nowait(event)
    except asyncio.QueueFull:
        subscriber.overflowed = True
        with contextlib.suppress(asyncio.QueueEmpty):
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait({"type": "reload"})


def _counts(runs: Mapping[int, tuple[str, str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(RUN_STATUSES, 0)
    for _, status, _ in runs.values():
        counts[status] += 1
    return counts


def live_runs(store: SqliteStore, runs: Mapping[int, tuple[str, str, int]]) -> list[dict[str, Any]]:
    """The curve so far of each changed run: a finished run's record, a running one's
    checkpoint (its curve is in the checkpoint's header)."""
    finished = [key for key, status, _ in runs.values() if status not in ("pending", "running")]
    partial = [key for key, status, epoch in runs.values() if epoch and status == "running"]
    curves = store.curves(finished) if finished else {}
    for key, saved in (store.checkpoints(partial) if partial else {}).items():
        with contextlib.suppress(ValueError):
            curves[key] = Checkpoint.from_bytes(saved.data).curve
    return [
        {
            "position": position,
            "status": status,
            "epochs": epoch,
            "curve": curve_json(curves[key]) if key in curves else None,
        }
        for position, (key, status, epoch) in sorted(runs.items())
    ]


router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


@router.get("/events")
async def events(request: Request, sweep: str | None = None) -> StreamingResponse:
    """Server-Sent Events: ``sweep`` events (status counts; with ``?sweep=NAME`` that sweep's
    changed runs and their curves so far), ``reload`` when a page fell behind."""
    hub: Hub = request.app.state.hub
    keepalive: float = request.app.state.keepalive_seconds
    subscriber = hub.subscribe(sweep)

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"event: hello\ndata: {json.dumps({'sweep': sweep})}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), keepalive)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                subscriber.overflowed = False
                yield f"event: {event['type']}\ndata: {json.dumps(event, allow_nan=False)}\n\n"
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
