"""``sweep``: a durable, multi-seed sweep of optimizer settings.

A sweep trains every combination of the listed values (and every seed), commits each
finished config to the results store, and skips configs the store already holds. Its result
(:class:`~optiscope.api.SweepResult`) is read back from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optiscope.api._sweep_result import SweepResult
from optiscope.settings import SETTINGS, is_value_list
from optiscope.storage import SqliteStore
from optiscope.sweeps import MAX_CONFIGS, Backend, SweepSpec, plan, run_sweep

__all__ = ["sweep"]

StoreArg = SqliteStore | str | Path | None


def sweep(
    spec: SweepSpec | str | Path | None = None,
    *,
    optimizer: Any = None,
    lr: Any = None,
    weight_decay: Any = None,
    betas: Any = None,
    beta1: Any = None,
    beta2: Any = None,
    eps: Any = None,
    momentum: Any = None,
    dampening: Any = None,
    nesterov: Any = None,
    alpha: Any = None,
    centered: Any = None,
    lr_decay: Any = None,
    initial_accumulator_value: Any = None,
    momentum_decay: Any = None,
    decoupled_weight_decay: Any = None,
    batch_size: Any = None,
    epochs: Any = None,
    hidden: Any = None,
    activation: Any = None,
    metric: Any = None,
    shuffle: Any = None,
    schedule: Any = None,
    warmup: Any = None,
    warmup_start: Any = None,
    step_size: Any = None,
    gamma: Any = None,
    milestones: Any = None,
    eta_min: Any = None,
    pct_start: Any = None,
    div_factor: Any = None,
    final_div_factor: Any = None,
    dataset: Any = None,
    n: Any = None,
    noise: Any = None,
    d: Any = None,
    data_seed: Any = None,
    train_fraction: Any = None,
    standardize: Any = None,
    seed: int | None = None,
    seeds: int | Sequence[int] | None = None,
    configs: Sequence[Mapping[str, Any]] = (),
    name: str | None = None,
    store: StoreArg = None,
    engine: str | None = None,
    device: str = "cpu",
    workers: int | None = None,
    progress: bool = False,
    max_configs: int | None = MAX_CONFIGS,
    extend: bool = False,
    backend: str | Backend | None = None,
) -> SweepResult:
    """Train a grid of settings over several seeds; results persist and resume.

    Every setting takes one value or a list of values; lists are swept (every combination).
    For ``hidden`` and ``betas`` a list of sequences is swept (``hidden=[(50, 50), (100,)]``).
    Settings left out take their defaults: AdamW with ``torch.optim``'s defaults,
    friedman3 (n=1000), the exercise's MLP 50-50, batch size 16, 30 epochs, seed 123.

    Args:
        spec: a :class:`SweepSpec` or a spec file (TOML, YAML, JSON); settings passed here
            override it.
        optimizer: ``adamw``, ``adam``, ``sgd``, ``rmsprop``, ``adagrad``, ``nadam``,
            ``radam`` or ``adamax``.
        lr, weight_decay, betas, beta1, beta2, eps, momentum, dampening, nesterov, alpha,
            centered, lr_decay, initial_accumulator_value, momentum_decay,
            decoupled_weight_decay: optimizer hyperparameters in
            ``torch.optim`` spelling (``beta1``/``beta2`` as in the exercise). A
            hyperparameter only some swept optimizers take applies to those.
        batch_size, epochs, hidden, activation, metric, shuffle: training settings.
        schedule: the lr schedule, one of ``torch.optim.lr_scheduler``'s (``constant``,
            ``step``, ``multistep``, ``exponential``, ``cosine``, ``linear``, ``onecycle``),
            equal to it bit for bit in either engine; ``lr`` is its base lr.
        warmup, warmup_start, step_size, gamma, milestones, eta_min, pct_start, div_factor,
            final_div_factor: the schedules' settings (``milestones=[10, 20]``; a list of
            lists is swept). A setting only some swept schedules take applies to those.
        dataset, n, noise, d, data_seed, train_fraction, standardize: the data; ``d`` is
            mlbench's dimension of the sets that take one (``circle``, ``xor``, ``twonorm``,
            ``threenorm``, ``ringnorm``, ``hypercube``, ``peak``; ``d=[10, 20]`` is swept),
            ``None`` the set's own.
        seed: one seed for every config (when ``seeds`` is not given).
        seeds: ``5`` for seeds 0-4, or a list; seeds are paired across configs (same initial
            weights, same batch order) and averaged into bands.
        configs: explicit configs (dicts of settings), each crossed with the swept values.
        name: the sweep's name in the store (default: from the swept settings and a hash).
        store: the results store: a path, a :class:`~optiscope.storage.SqliteStore`, or
            ``None`` for ``$OPTISCOPE_STORE`` or ``./.optiscope/results.sqlite``.
        engine: training engine (``None``: the default of
            :func:`optiscope.sweeps.run_configs`).
        device: where to train.
        workers: processes for the local process-pool backend.
        progress: a progress bar on stderr.
        max_configs: refuse a spec that counts more configs than this, before expanding it
            (``None``: no cap); see :data:`optiscope.sweeps.MAX_CONFIGS`.
        extend: add configs to a stored sweep of the same ``name`` whose spec differs (the
            new spec must keep every config it has); otherwise such a name is refused.
        backend: where to train: ``None``/``"local"`` (this process or a local pool),
            ``"ray"`` (a Ray started here, or the cluster ``$RAY_ADDRESS`` names; needs
            ``pip install 'optiscope[ray]'``), or a backend object such as
            ``optiscope.sweeps.RayBackend("HOST:PORT")``.

    Returns:
        A :class:`SweepResult`, read back from the store.

    Raises:
        ConfigError: listing every invalid value with its config numbers; nothing is run.
        TooManyConfigsError: above ``max_configs``.
        MissingExtraError: ``backend="ray"`` without Ray installed.
        StorageError: when the store cannot be used (finished configs are kept).

    Examples:
        >>> result = sweep(lr=[0.1, 0.01], weight_decay=[0, 0.1], seeds=3)  # doctest: +SKIP
        >>> result.summary()  # doctest: +SKIP
    """
    arguments = locals()  # every setting is a keyword argument (tests/test_settings_registry.py)
    given = {name: arguments[name] for name in SETTINGS if arguments[name] is not None}
    if spec is None:
        wanted = SweepSpec.from_values(given, seeds=seeds, configs=configs, name=name)
    else:
        base = spec if isinstance(spec, SweepSpec) else SweepSpec.load(spec)
        if configs:
            base = SweepSpec.from_dict({**base.to_dict(), "configs": list(configs)})
        overrides = {k: (list(v) if is_value_list(k, v) else [v]) for k, v in given.items()}
        wanted = base.with_overrides(overrides, seeds=seeds, name=name)
    # Every config is checked, once, before the store is opened (or created).
    checked = plan(wanted, max_configs=max_configs)
    run = run_sweep(
        checked,
        store=store,
        engine=engine,
        device=device,
        workers=workers,
        progress=progress,
        extend=extend,
        backend=backend,
    )
    return SweepResult.load(run.name, store=store, run=run)
