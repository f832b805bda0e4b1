"""``SweepSpec``: which configs a sweep trains, checked whole before anything runs.

A spec is a grid (every combination of the swept values), an explicit list of configs, or
both (each explicit config crossed with the grid), plus settings shared by all, plus seeds.
Seeds vary innermost and are paired: seed ``s`` means the same initial weights and the same
batch order in every config, so configs can be compared seed by seed.

It round-trips through JSON, TOML and YAML::

    name = "lr-wd"
    seeds = 5                      # or a list: [0, 1, 2]

    [fixed]
    epochs = 30
    dataset = "friedman3"

    [grid]
    lr = [0.1, 0.01, 0.001]
    weight_decay = [0.0, 0.01, 0.1]

    [[configs]]                    # optional: explicit configs, each crossed with the grid
    optimizer = "sgd"
    momentum = 0.9
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optiscope.errors import ConfigError
from optiscope.records import DataSpec, RunConfig
from optiscope.settings import SETTINGS, default, format_value, is_value_list, unknown_setting
from optiscope.sweeps._settings import applies, build_config

__all__ = ["SPEC_FORMATS", "SweepPoint", "SweepSpec"]

#: File suffixes :meth:`SweepSpec.load` and :meth:`SweepSpec.save` understand.
SPEC_FORMATS: dict[str, str] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP_KEYS = ("name", "seeds", "fixed", "grid", "configs")

# Numbers of this many configs or more are listed as "1-3, 7, ..." in error messages.
_MAX_LISTED = 12


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if type(value).__name__ == "ndarray":
        return _freeze(value.tolist())
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()  # numpy scalars become Python numbers (JSON, keys)
    return value


def _thaw(value: Any) -> Any:
    """Tuples back to lists, for JSON, TOML and YAML."""
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _numbers(numbers: Sequence[int], total: int) -> str:
    """``"configs 1-3, 7 of 45"``: config numbers as compact ranges."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = [f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs]
    shown = ", ".join(parts)
    if len(parts) > _MAX_LISTED:
        shown = ", ".join(parts[:_MAX_LISTED]) + f", ... ({len(numbers)} configs)"
    if len(numbers) == total and total > 1:
        return f"every config (all {total})"
    word = "config" if len(numbers) == 1 else "configs"
    return f"{word} {shown} of {total}"


def _label(settings: Mapping[str, Any]) -> str:
    """``lr = 0.01, weight_decay = 0``; text where a number belongs is quoted (``lr = 'x'``)."""
    return ", ".join(
        f"{k} = {v!r}"
        if isinstance(v, str) and SETTINGS.get(k, SETTINGS["lr"]).kind != "str"
        else f"{k} = {format_value(v)}"
        for k, v in settings.items()
    )


@dataclass(frozen=True)
class SweepPoint:
    """One config of an expanded sweep.

    Attributes:
        number: its number in the sweep (1-based, the order runs are stored and shown in).
        settings: the values that make it differ from the other configs of the sweep (the
            grid's values, and an explicit config's own settings), seed excluded.
        seed: its seed.
        config: the complete run config.
    """

    number: int
    settings: Mapping[str, Any]
    seed: int
    config: RunConfig

    @property
    def label(self) -> str:
        """The config without its seed (``lr = 0.01, weight_decay = 0``): a band's label."""
        return _label(self.settings) or "config"

    @property
    def labels(self) -> dict[str, Any]:
        """JSON-ready labels, as the store keeps them."""
        return {
            "settings": {k: _thaw(v) for k, v in self.settings.items()},
            "seed": self.seed,
            "label": self.label,
        }


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: a grid and/or explicit configs, shared settings, seeds.

    Setting names are listed in ``optiscope.sweeps.SETTINGS``: ``optimizer``, ``lr``,
    ``weight_decay``, ``betas`` (or ``beta1``/``beta2``), ``eps``, ``momentum``,
    ``dampening``, ``nesterov``, ``alpha``, ``centered``, ``lr_decay``,
    ``initial_accumulator_value``, ``batch_size``, ``epochs``, ``hidden``, ``activation``,
    ``metric``, ``shuffle``, ``dataset``, ``n``, ``noise``, ``d``, ``data_seed``,
    ``train_fraction``, ``standardize``, ``seed``.

    Args:
        grid: setting -> list of values; the sweep trains every combination, in this order
            (the last setting varies fastest).
        fixed: setting -> one value, shared by every config (missing settings take defaults:
            the optimizer's own hyperparameter defaults, AdamW, friedman3, 30 epochs, ...).
        configs: explicit configs, each a dict of settings; each is crossed with the grid.
        seeds: ``5`` for seeds 0-4, or a list of seeds; ``None`` for the single ``seed``
            setting (default 123, the exercise's).
        name: the sweep's name in the store; ``None`` picks one from the swept settings and
            a hash of the spec (:meth:`default_name`).

    Examples:
        >>> spec = SweepSpec(grid={"lr": [0.1, 0.01], "weight_decay": [0, 0.1]}, seeds=3)
        >>> spec.size
        12
        >>> spec.describe()
        '2 lr × 2 weight_decay × 3 seeds = 12 configs'
    """

    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    configs: Sequence[Mapping[str, Any]] = ()
    seeds: int | Sequence[int] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        grid = {
            str(k): (_freeze(v) if isinstance(v, list | tuple) or is_value_list(k, v) else v)
            for k, v in dict(self.grid).items()
        }
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "fixed", {str(k): _freeze(v) for k, v in dict(self.fixed).items()})
        configs = tuple({str(k): _freeze(v) for k, v in dict(c).items()} for c in self.configs)
        object.__setattr__(self, "configs", configs)
        seeds = self.seeds
        if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
            seeds = tuple(range(seeds))
        elif isinstance(seeds, list | tuple) or type(seeds).__name__ == "ndarray":
            seeds = _freeze(seeds)
        object.__setattr__(self, "seeds", seeds)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_values(
        cls,
        values: Mapping[str, Any],
        *,
        seeds: int | Sequence[int] | None = None,
        configs: Sequence[Mapping[str, Any]] = (),
        name: str | None = None,
    ) -> SweepSpec:
        """A spec from settings where a list means "sweep these values".

        Args:
            values: setting -> one value or a list of values (for ``hidden`` and ``betas``,
                a list of sequences); lists go to the grid, single values to ``fixed``.
            seeds, configs, name: as in :class:`SweepSpec`.
        """
        grid = {k: v for k, v in values.items() if is_value_list(k, v)}
        fixed = {k: v for k, v in values.items() if k not in grid}
        return cls(grid=grid, fixed=fixed, configs=configs, seeds=seeds, name=name)

    def with_overrides(
        self,
        values: Mapping[str, Sequence[Any]],
        *,
        seeds: int | Sequence[int] | None = None,
        name: str | None = None,
    ) -> SweepSpec:
        """A copy where some settings are replaced (command-line flags over a spec file).

        Args:
            values: setting -> list of values; one value fixes the setting, several sweep it.
                Either way it replaces the setting in the grid, in ``fixed`` and in every
                explicit config.
            seeds: replaces the seeds when given.
            name: replaces the name when given.
        """
        grid = dict(self.grid)
        fixed = dict(self.fixed)
        for key, given in values.items():
            listed = list(given)
            if len(listed) == 1:
                fixed[key] = listed[0]
                grid.pop(key, None)
            else:
                grid[key] = listed
                fixed.pop(key, None)
        configs = [{k: v for k, v in c.items() if k not in values} for c in self.configs]
        return SweepSpec(
            grid=grid,
            fixed=fixed,
            configs=[c for c in configs if c] if any(configs) else [],
            seeds=self.seeds if seeds is None else seeds,
            name=self.name if name is None else name,
        )

    # -- size and names ------------------------------------------------------------------------

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The seeds every config is trained with (``seeds``, or the one ``seed`` setting)."""
        if isinstance(self.seeds, tuple):
            return self.seeds
        return (self.fixed.get("seed", default("seed")),)

    @property
    def size(self) -> int:
        """How many configs the spec describes (before duplicates are dropped)."""
        count = max(len(self.configs), 1) * len(self.seed_list)
        for values in self.grid.values():
            count *= len(values) if isinstance(values, tuple) else 1
        return count

    def describe(self, distinct: int | None = None) -> str:
        """The size as a product: ``3 lr × 3 weight_decay × 5 seeds = 45 configs``.

        Where combinations coincide (``momentum`` in an ``adamw,sgd`` sweep leaves the AdamW
        configs equal), it says how many distinct configs there are.

        Args:
            distinct: how many configs :meth:`expand` gives, where the caller already knows
                (``None``: expand the spec to count them).
        """
        parts = [f"{len(v) if isinstance(v, tuple) else 1} {k}" for k, v in self.grid.items()]
        if self.configs:
            parts.insert(0, f"{len(self.configs)} explicit configs")
        if len(self.seed_list) > 1:
            parts.append(f"{len(self.seed_list)} seeds")
        total = f"{self.size} config{'s' if self.size != 1 else ''}"
        if distinct is None:
            try:
                distinct = len(self.expand())
            except ConfigError:  # (reported where it is run)
                distinct = self.size
        if distinct != self.size:  # a setting one optimizer takes leaves another's equal
            total = f"{self.size} combinations, {distinct} distinct configs"
        return f"{' × '.join(parts)} = {total}" if len(parts) > 1 else total

    def default_name(self) -> str:
        """A name from the swept settings and a hash of the spec: ``lr-weight_decay-3fa2c1``.

        Equal specs get equal names, so running a spec again continues the same sweep.
        """
        words = list(self.grid)
        if self.configs:
            words.insert(0, "configs")
        stem = "-".join(words) or "sweep"
        content = {k: v for k, v in self.to_dict().items() if k != "name"}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:6]
        return f"{stem[:56]}-{digest}"

    @property
    def resolved_name(self) -> str:
        """``name``, or :meth:`default_name` when it is ``None``."""
        return self.name if self.name is not None else self.default_name()

    # -- checking and expanding ----------------------------------------------------------------

    def problems(self) -> list[str]:
        """Problems with the spec itself (names, lists, seeds); per-config ones come from
        :meth:`expand`."""
        problems: list[str] = []
        if self.name is not None and not (isinstance(self.name, str) and _NAME.match(self.name)):
            problems.append(
                f"name = {self.name!r} must be 1-64 letters, digits, '-', '_' or '.', starting "
                "with a letter or digit"
            )
        places = [("grid", self.grid), ("fixed", self.fixed)]
        places += [(f"configs[{i}]", c) for i, c in enumerate(self.configs)]
        for where, settings in places:
            for key in settings:
                if key not in SETTINGS:
                    problems.append(f"{where}: {unknown_setting(key)}")
        for key, values in self.grid.items():
            if not isinstance(values, tuple):
                problems.append(f"grid: `{key}` = {values!r} must be a list of values")
            elif not values:
                problems.append(f"grid: `{key}` is an empty list; give at least one value")
            else:
                repeated = sorted({repr(v) for v in values if values.count(v) > 1})
                if repeated:
                    problems.append(f"grid: `{key}` lists {', '.join(repeated)} more than once")
            if key in self.fixed:
                problems.append(f"`{key}` is both in grid and in fixed; keep one")
            for i, config in enumerate(self.configs):
                if key in config:
                    problems.append(f"`{key}` is set by both grid and configs[{i}]; keep one")
        if "seed" in self.grid:
            problems.append(
                "grid: `seed` cannot be swept; use seeds=[...] (seeds are paired and averaged "
                "into bands)"
            )
        if self.seeds is not None:
            problems += self._seed_problems()
        return problems

    def _seed_problems(self) -> list[str]:
        seeds = self.seeds
        if not isinstance(seeds, tuple):
            return [
                f"seeds = {seeds!r} must be a count of at least 1 (5 gives seeds 0-4) or a list "
                "of seeds"
            ]
        problems = []
        if not seeds:
            problems.append("seeds is an empty list; give at least one seed")
        bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if bad:
            problems.append(f"seeds {bad!r} must be integers >= 0")
        repeated = sorted({s for s in seeds if seeds.count(s) > 1}, key=repr)
        if repeated:
            problems.append(f"seeds list {repeated!r} more than once")
        if "seed" in self.fixed or any("seed" in c for c in self.configs):
            problems.append("give either `seed` (one seed) or `seeds` (several), not both")
        return problems

    def _combinations(self) -> list[tuple[dict[str, Any], dict[str, Any], frozenset[str]]]:
        """``(values, settings, own)`` per config before seeds: all values, the varying ones,
        and the names its explicit config sets.

        Settings that are not sweep settings are left out, and a grid entry that is not a
        list counts as one value, so that the values can be checked even when the spec
        itself has problems (reported by :meth:`problems`).
        """
        grid = {k: v for k, v in self.grid.items() if k in SETTINGS and v != ()}
        keys = list(grid)
        lists = [grid[k] if isinstance(grid[k], tuple) else (grid[k],) for k in keys]
        fixed = {k: v for k, v in self.fixed.items() if k in SETTINGS}
        found = []
        for explicit in self.configs or ({},):
            own = {k: v for k, v in explicit.items() if k in SETTINGS}
            for combo in itertools.product(*lists):
                varying = {**own, **dict(zip(keys, combo, strict=True))}
                found.append(({**fixed, **varying}, varying, frozenset(own)))
        return found

    def _checked_seeds(self, values: Mapping[str, Any]) -> tuple[int, ...]:
        """The seeds to check a config with: its seeds, or the default seed when unusable (the
        seeds' own problems are reported once, by :meth:`problems`)."""
        if self.seeds is None:
            return (values.get("seed", default("seed")),)
        if isinstance(self.seeds, tuple):
            usable = tuple(s for s in self.seeds if isinstance(s, int) and not isinstance(s, bool))
            return tuple(dict.fromkeys(s for s in usable if s >= 0)) or (default("seed"),)
        return (default("seed"),)

    def expand(self, *, data: DataSpec | None = None) -> list[SweepPoint]:
        """Every config of the sweep, checked all at once.

        Each combination of settings is checked once; its seeds share that check (a seed
        changes nothing else about a config).

        Args:
            data: the data spec of arrays the user passed (``None``: the data settings).

        Returns:
            The configs in order (explicit configs, then grid combinations with the last
            setting fastest, then seeds); a config equal to an earlier one (an SGD-only
            setting in an ``adamw,sgd`` sweep) is kept once.

        Raises:
            ConfigError: listing every problem: the spec's own, then each bad value with the
                numbers of the configs it affects. Nothing has been run.
        """
        problems = self.problems()
        combinations = self._combinations()
        total = sum(len(self._checked_seeds(values)) for values, _, _ in combinations)
        optimizers = sorted(
            {values.get("optimizer", default("optimizer")) for values, _, _ in combinations}
        )
        optimizers = [o for o in optimizers if isinstance(o, str)]
        schedules = sorted(
            {values.get("schedule", default("schedule")) for values, _, _ in combinations},
            key=str,
        )
        schedules = [s for s in schedules if isinstance(s, str)]
        points: list[SweepPoint] = []
        failures: dict[str, list[int]] = {}
        labels: dict[int, str] = {}  # config number -> its settings, for one-config problems
        seen: set[str] = set()
        number = 0
        for values, settings, own in combinations:
            seeds = self._checked_seeds(values)
            first = {**values, "seed": seeds[0]}
            config, found = build_config(first, optimizers, own=own, data=data, schedules=schedules)
            numbers = range(number + 1, number + 1 + len(seeds))
            for problem in found:
                failures.setdefault(problem, []).extend(numbers)
                if len(seeds) == 1:
                    labels[number + 1] = _label(settings)
            number += len(seeds)
            if config is None:
                continue
            shown = {
                k: v
                for k, v in settings.items()
                if applies(k, config.optimizer, config.schedule.name)
            }
            for seed in seeds:
                seeded = config if seed == config.seed else config.replace(seed=seed)
                key = seeded.key()
                if key in seen:
                    continue
                seen.add(key)
                points.append(SweepPoint(len(points) + 1, shown, seed, seeded))
        lines = [f"sweep spec: {'; '.join(problems)}"] if problems else []
        for problem, nums in failures.items():
            where = _numbers(nums, total)
            if len(nums) == 1 and labels.get(nums[0]):
                where += f" ({labels[nums[0]]})"
            lines.append(f"{where}: {problem}")
        if lines:
            raise ConfigError(f"{'; '.join(lines)}. Nothing was run.")
        return points

    def validate(self) -> None:
        """Raise :class:`ConfigError` listing every problem (see :meth:`expand`)."""
        self.expand()

    # -- round trips -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML/YAML-ready data (lists, no ``None``); :meth:`from_dict` reverses it."""
        data: dict[str, Any] = {}
        if self.name is not None:
            data["name"] = self.name
        if isinstance(self.seeds, tuple) and self.seeds == tuple(range(len(self.seeds))):
            data["seeds"] = len(self.seeds)  # seeds=5 stays 5
        elif self.seeds is not None:
            data["seeds"] = _thaw(self.seeds)
        if self.fixed:
            data["fixed"] = {k: _thaw(v) for k, v in self.fixed.items()}
        if self.grid:
            data["grid"] = {k: _thaw(v) for k, v in self.grid.items()}
        if self.configs:
            data["configs"] = [{k: _thaw(v) for k, v in c.items()} for c in self.configs]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """A spec from :meth:`to_dict`'s layout.

        Raises:
            ConfigError: for unknown top-level keys or sections of the wrong type, together
                with every problem of the rest of the spec.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"a sweep spec must be a table/mapping with keys {', '.join(_TOP_KEYS)}; got "
                f"{type(data).__name__}."
            )
        problems = []
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            hint = ""
            if all(k in SETTINGS for k in unknown):
                hint = "; put settings under [fixed] (one value) or [grid] (lists of values)"
            problems.append(
                f"unknown keys {', '.join(map(repr, unknown))}; a spec has "
                f"{', '.join(_TOP_KEYS)}{hint}"
            )
        sections = {}
        for section in ("fixed", "grid"):
            sections[section] = data.get(section, {})
            if not isinstance(sections[section], Mapping):
                problems.append(f"`{section}` must be a table of settings")
                sections[section] = {}
        configs = data.get("configs", [])
        if not isinstance(configs, list | tuple) or not all(
            isinstance(c, Mapping) for c in configs
        ):
            problems.append("`configs` must be a list of tables of settings")
            configs = []
        spec = cls(
            grid=dict(sections["grid"]),
            fixed=dict(sections["fixed"]),
            configs=[dict(c) for c in configs],
            seeds=data.get("seeds"),
            name=data.get("name"),
        )
        if problems:
            rest = ""
            try:
                spec.expand()
            except ConfigError as err:  # reported with the spec's own problems
                rest = "; " + str(err).removesuffix(" Nothing was run.").rstrip(".")
                rest = rest.replace("; sweep spec: ", "; ", 1)
            raise ConfigError(f"sweep spec: {'; '.join(problems)}{rest}. Nothing was run.")
        return spec

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"the sweep spec is not valid JSON: {err}.") from err
        return cls.from_dict(data)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> SweepSpec:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"the sweep spec is not valid TOML: {err}.") from err
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, text: str) -> SweepSpec:
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
        except yaml.YAMLError as err:
            raise ConfigError(f"the sweep spec is not valid YAML: {_yaml_problem(err)}.") from err
        return cls.from_dict(data if data is not None else {})

    def save(self, path: str | Path) -> Path:
        """Write the spec as TOML, YAML or JSON, chosen by the file's suffix."""
        path = Path(path)
        form = _format_of(path)
        text = {"toml": self.to_toml, "yaml": self.to_yaml, "json": self.to_json}[form]()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        """Read a spec from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file.

        Raises:
            ConfigError: for a missing file, another suffix, or a malformed spec; the
                message names the file.
        """
        path = Path(path)
        form = _format_of(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read the sweep spec {path}: {err.strerror}.") from err
        reader = {"toml": cls.from_toml, "yaml": cls.from_yaml, "json": cls.from_json}[form]
        try:
            return reader(text)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err


def _format_of(path: Path) -> str:
    form = SPEC_FORMATS.get(path.suffix.lower())
    if form is None:
        raise ConfigError(
            f"{path.name!r}: a sweep spec file must end in {', '.join(SPEC_FORMATS)}."
        )
    return form


@functools.cache
def _yaml_problem(err: Exception) -> str:
    """PyYAML's error on one line: what is wrong and where (its own text spans several, with
    carets under a quoted line)."""
    problem = getattr(err, "problem", None)
    if not problem:
        return " ".join(str(err).split())
    text = f"{problem}{_yaml_place(getattr(err, 'problem_mark', None))}"
    context = getattr(err, "context", None)
    if context:
        text += f" ({context}{_yaml_place(getattr(err, 'context_mark', None))})"
    return text


def _yaml_place(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_loader() -> Any:
    """PyYAML's SafeLoader, reading ``1e-3`` as a number as YAML 1.2 does (1.1 reads text)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    number = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", number, list("-+0123456789"))
    return Loader
