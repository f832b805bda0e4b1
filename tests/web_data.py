"""Stores for the web tests and the web benchmark, written through the store's API (fast:
no training), and a writer that adds epochs to a store from ANOTHER process.

Losses are made from a formula, so each test can compute the expected numbers itself:
config ``lr`` with seed ``s`` has validation loss ``loss(lr, s, e) = base(lr) * (1 + 0.1 s) / e``
at epoch ``e`` (``base(lr) = 1 + |log10(lr) + 2|``: best at lr = 0.01).

Run as a script it is the other process: ``python web_data.py STORE KEY EPOCHS [--finish]``
claims the run, writes a checkpoint per epoch (as a training process does), and with
``--finish`` stores the final record.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from optiscope.engine import Checkpoint
from optiscope.records import Curve, DataSpec, RunConfig, RunRecord
from optiscope.settings import format_value
from optiscope.storage import SavedCheckpoint, SqliteStore, SweepEntry, new_owner, release_owner

EPOCHS = 4


def base(lr: float) -> float:
    return 1.0 + abs(math.log10(lr) + 2.0)


def loss(lr: float, seed: int, epoch: int) -> float:
    """The validation loss the stores below record."""
    return base(lr) * (1.0 + 0.1 * seed) / epoch


def config(lr: float, seed: int, weight_decay: float = 0.0) -> RunConfig:
    return RunConfig(
        hparams={"lr": lr, "weight_decay": weight_decay},
        epochs=EPOCHS,
        seed=seed,
        data=DataSpec(n=200),
    )


def curve(lr: float, seed: int, epochs: int = EPOCHS) -> Curve:
    values = tuple(loss(lr, seed, e) for e in range(1, epochs + 1))
    return Curve(
        epoch=tuple(range(1, epochs + 1)),
        step=tuple(10 * e for e in range(1, epochs + 1)),
        samples=tuple(140 * e for e in range(1, epochs + 1)),
        seconds=tuple(0.5 * e for e in range(1, epochs + 1)),
        valid_loss=values,
        train_loss=tuple(2 * v for v in values),
    )


def label(lr: float, weight_decay: float | None = None) -> str:
    text = f"lr = {format_value(lr)}"
    return text if weight_decay is None else f"{text}, weight_decay = {format_value(weight_decay)}"


def make_store(
    path: Path,
    *,
    name: str = "demo",
    lrs: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
    weight_decays: Sequence[float] | None = None,
    seeds: int = 3,
    finished: bool = True,
    diverged: Sequence[float] = (),
) -> list[SweepEntry]:
    """A sweep over ``lrs`` (x ``weight_decays``) x ``seeds``; every run done (``finished``)
    or all pending; configs with an lr in ``diverged`` diverge at their last epoch (seed 0)."""
    grid: dict[str, list[float]] = {"lr": list(lrs)}
    if weight_decays is not None:
        grid["weight_decay"] = list(weight_decays)
    entries = []
    for lr in lrs:
        for wd in weight_decays if weight_decays is not None else [None]:
            settings = {"lr": lr} if wd is None else {"lr": lr, "weight_decay": wd}
            for seed in range(seeds):
                entries.append(
                    SweepEntry(
                        config(lr, seed, wd or 0.0),
                        {"settings": settings, "seed": seed, "label": label(lr, wd)},
                    )
                )
    spec = {"name": name, "seeds": seeds, "grid": grid, "fixed": {"epochs": EPOCHS, "n": 200}}
    with SqliteStore(path) as store:
        store.save_sweep(name, spec, entries)
        if finished:
            owner = new_owner()
            store.claim([e.config.key() for e in entries], owner)
            for entry in entries:
                lr, seed = entry.config.hparam_dict["lr"], entry.config.seed
                record_curve = curve(lr, seed)
                status = "done"
                if lr in diverged and seed == 0:
                    values = (*record_curve.valid_loss[:-1], math.nan)
                    record_curve = Curve(
                        epoch=record_curve.epoch,
                        step=record_curve.step,
                        samples=record_curve.samples,
                        seconds=record_curve.seconds,
                        valid_loss=values,
                        train_loss=values,
                    )
                    status = "diverged"
                store.put_record(
                    RunRecord(
                        entry.config,
                        record_curve,
                        status=status,  # type: ignore[arg-type]
                        diverged_epoch=EPOCHS if status == "diverged" else None,
                        engine="reference",
                    )
                )
            release_owner(owner)
    return entries


def write_epochs(store_path: Path, key: str, epochs: int, *, finish: bool, pause: float) -> None:
    """What a training process does: claim the run, checkpoint each epoch, store the record."""
    with SqliteStore(store_path, create=False) as store:
        run = next(r for s in store.sweeps() for r in store.runs(s.name) if r.key == key)
        lr, seed = run.config.hparam_dict["lr"], run.config.seed
        owner = new_owner()
        assert store.claim([key], owner) == [key]
        for epoch in range(1, epochs + 1):
            state = Checkpoint(engine="reference", epoch=epoch, curve=curve(lr, seed, epoch))
            store.put_checkpoints([SavedCheckpoint(key, epoch, "reference", state.to_bytes())])
            print(f"epoch {epoch} {time.time()!r}", flush=True)
            time.sleep(pause)
        if finish:
            store.put_record(RunRecord(run.config, curve(lr, seed), engine="reference"))
            print(f"finished {time.time()!r}", flush=True)
        release_owner(owner)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    write_epochs(
        Path(arguments[0]),
        arguments[1],
        int(arguments[2]),
        finish="--finish" in arguments,
        pause=float(next((a.split("=")[1] for a in arguments if a.startswith("--pause=")), 0.3)),
    )
