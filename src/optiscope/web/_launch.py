"""From the launch form's values to a checked plan: the registry's checks, the server's bounds.

The form sends each setting as a list of values (one value fixes it, several sweep it), as
JSON. Everything is checked where the Python API and the command line check it
(:class:`~optiscope.sweeps.SweepSpec`, :func:`~optiscope.sweeps.plan`,
:func:`~optiscope.api.compared_setting`, the store's name rule), so the page shows the same
refusals; only the server's own bounds (``--max-configs``, ``--max-epochs``) are checked here,
and their words are this layer's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optiscope.api import compared_setting
from optiscope.errors import ConfigError, TooManyConfigsError
from optiscope.settings import COMPARED, EXERCISE, SETTINGS
from optiscope.storage import SqliteStore
from optiscope.sweeps import Plan, SweepSpec, plan

__all__ = ["LAUNCH_KINDS", "checked_plan", "launch_plan", "setting_fields"]

#: What the form starts: a seeded sweep of any settings, or the exercise's compare (AdamW,
#: exactly one of its five settings varied, one curve per value).
LAUNCH_KINDS = ("sweep", "compare")


def setting_fields() -> list[dict[str, Any]]:
    """The form's fields, made from the registry: name, kind, help, default, choices, range,
    and whether the compare form shows it."""
    fields = []
    for setting in SETTINGS.values():
        fields.append(
            {
                "name": setting.name,
                "kind": setting.kind,
                "target": setting.target,
                "help": setting.help,
                "default": setting.default_text,
                "choices": list(setting.choices),
                "low": setting.low,
                "high": setting.high,
                "compare": setting.name in COMPARED or setting.name in ("epochs", "seed"),
                "exercise": EXERCISE.get(setting.name),
            }
        )
    return fields


def _value(name: str, value: Any) -> Any:
    """One JSON value as the registry's type: widths and pairs are tuples."""
    setting = SETTINGS.get(name)
    if setting is not None and setting.nested and isinstance(value, list):
        return tuple(value)
    return value


def _values(settings: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """``{name: [values]}`` -> one value (fixed) or a list (swept), as ``sweep()`` takes them."""
    values: dict[str, Any] = {}
    for name, given in settings.items():
        if not given:
            raise ConfigError(f"`{name}` has no value; give one, or several to sweep.")
        items = [_value(name, v) for v in given]
        values[name] = items if len(items) > 1 else items[0]
    return values


def _spec(
    kind: str, settings: Mapping[str, Sequence[Any]], seeds: Any, name: str | None
) -> SweepSpec:
    values = _values(settings)
    if kind == "compare":
        unknown = sorted(set(values) - set(COMPARED) - {"epochs", "seed"})
        if unknown:
            raise ConfigError(
                f"a compare varies one of {', '.join(COMPARED)} (with epochs and seed); "
                f"{', '.join(unknown)} belong to a sweep. Nothing was run."
            )
        given = {k: values.get(k, EXERCISE[k]) for k in COMPARED}
        varied = compared_setting(given)
        fixed = {k: v for k, v in given.items() if k != varied}
        fixed.update(
            optimizer=EXERCISE["optimizer"],
            epochs=values.get("epochs", EXERCISE["epochs"]),
            seed=values.get("seed", EXERCISE["seed"]),
        )
        return SweepSpec(grid={varied: given[varied]}, fixed=fixed, name=name)
    return SweepSpec.from_values(values, seeds=seeds, name=name)


def launch_plan(
    kind: str,
    settings: Mapping[str, Sequence[Any]],
    *,
    seeds: int | Sequence[int] | None = None,
    name: str | None = None,
    store: Path,
    max_configs: int,
    max_epochs: int,
) -> Plan:
    """Check a launch completely, before anything is queued.

    Args:
        kind: ``sweep`` or ``compare``.
        settings: setting -> its values (one fixes it, several sweep it).
        seeds: a count or a list (sweeps only).
        name: the sweep's name in the store (default: from its settings).
        store: the server's store (a name taken by another spec is refused).
        max_configs: the server's cap on configs (seeds included).
        max_epochs: the server's cap on epochs per run.

    Returns:
        The checked plan.

    Raises:
        ConfigError: with the registry's message, or the server's bound.
        SweepExistsError: when the store holds another sweep of that name.
    """
    if kind not in LAUNCH_KINDS:
        raise ConfigError(f"kind = {kind!r}; choose one of: {', '.join(LAUNCH_KINDS)}.")
    if kind == "compare" and seeds is not None:
        raise ConfigError("a compare trains one seed (the exercise's); give seeds to a sweep.")
    return checked_plan(
        _spec(kind, settings, seeds, name),
        store=store,
        max_configs=max_configs,
        max_epochs=max_epochs,
    )


def checked_plan(spec: SweepSpec, *, store: Path, max_configs: int, max_epochs: int) -> Plan:
    """Plan ``spec`` within the server's bounds; a name another spec holds is refused.

    Raises:
        ConfigError: the registry's message, or the server's bound.
        SweepExistsError: when the store holds another sweep of that name.
    """
    try:
        checked = plan(spec, max_configs=max_configs)
    except TooManyConfigsError as err:
        raise ConfigError(
            f"the sweep has {err.size:,} configs (seeds included), more than this server's "
            f"limit of {err.cap:,} (optiscope serve --max-configs); sweep fewer values or "
            "seeds, or run it with `optiscope sweep`. Nothing was run."
        ) from err
    longest = max(point.config.epochs for point in checked.points)
    if longest > max_epochs:
        raise ConfigError(
            f"epochs = {longest} is above this server's limit of {max_epochs} epochs per run "
            f"(optiscope serve --max-epochs); use at most {max_epochs}, or run it with "
            "`optiscope sweep`. Nothing was run."
        )
    if store.exists():  # a name another spec holds is refused now, not after queueing
        with SqliteStore(store, create=False) as target:
            target.check_sweep(checked.name, checked.spec.to_dict(), checked.keys)
    return checked
