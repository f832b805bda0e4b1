"""The public surface: optiscope.__all__ lists exactly the public names, sorted."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import optiscope


def _is_sorted(names: list[str]) -> bool:
    """Plain sorted, or ruff's isort-style order (CONSTANTS, then Classes, then functions)."""

    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    return names in (sorted(names), sorted(names, key=isort_key))


def test_all_is_sorted_and_matches_the_lazy_exports() -> None:
    assert _is_sorted(optiscope.__all__)
    assert set(optiscope.__all__) == set(optiscope._EXPORTS) | {"__version__"}


def test_every_public_name_resolves_to_its_module() -> None:
    for name, module in optiscope._EXPORTS.items():
        value = getattr(optiscope, name)
        assert value is getattr(importlib.import_module(module), name)


def test_subpackages_only_reexport_and_list_all_sorted() -> None:
    for info in pkgutil.iter_modules(optiscope.__path__):
        if not info.ispkg:
            continue
        package = importlib.import_module(f"optiscope.{info.name}")
        exported = getattr(package, "__all__", None)
        assert exported is not None, f"optiscope.{info.name} has no __all__"
        assert _is_sorted(exported), f"optiscope.{info.name}.__all__ is not sorted"
        for name in exported:
            assert hasattr(package, name), f"optiscope.{info.name}.{name} missing"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        optiscope.no_such_thing  # noqa: B018


# The stable public surface, pinned: a name added or removed here is a decision, made on
# purpose (STYLE.md 18). The other subpackages are implementation layers.
PUBLIC: dict[str, set[str]] = {
    "optiscope": {
        "__version__", "CompareResult", "PathResult", "RaceResult", "SensitivityMap",
        "SweepResult", "WeightDecayResult", "compare_configs", "race", "sensitivity_map",
        "sweep", "weight_decay_bias", "SweepSpec", "Plan", "plan", "run_configs",
        "MAX_CONFIGS", "SqliteStore", "Curve", "DataSpec", "RunConfig", "RunRecord",
        "Trajectory", "Dataset", "make_dataset", "Landscape", "get_landscape", "SETTINGS",
        "EXERCISE", "OptiscopeError", "ConfigError", "TooManyConfigsError", "DataError",
        "StorageError", "StoreNotFoundError", "NotAStoreError", "StoreDamagedError",
        "StoreUnavailableError", "DiskFullError", "SweepNotFoundError", "SweepExistsError",
        "EngineError", "TrainingFailedError",
        "OptimizerComparison", "LrFindResult", "lr_find",  # issue 13: tuning
    },
    "optiscope.exercise": {
        "EXERCISE_DOMAIN", "EXERCISE_START", "compare_configs", "optim_step",
        "optimize_rosenbrock", "plot_rosenbrock", "rosenbrock",
    },
    "optiscope.settings": {
        "ALIASES", "BETA_PARTS", "COMPARED", "EXERCISE", "METRICS", "OPTIMIZER_DEFAULT",
        "SCHEDULES", "SETTINGS", "Metric", "Setting", "check_number", "default", "format_value",
        "is_value_list", "unknown_setting",
    },
    "optiscope.records": {
        "RESULTS_VERSION", "STATUSES", "Curve", "DataSpec", "RunConfig", "RunRecord",
        "ScheduleSpec", "Status", "Trajectory",
    },
    "optiscope.errors": {
        "OptiscopeError", "ConfigError", "TooManyConfigsError", "DataError", "StorageError",
        "StoreNotFoundError", "NotAStoreError", "StoreDamagedError", "StoreUnavailableError",
        "DiskFullError", "SweepNotFoundError", "SweepExistsError", "EngineError",
        "InexactError", "TrainingFailedError", "TasksFailedError", "MissingExtraError",
    },
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_surface_is_exactly_the_pinned_names(module: str) -> None:
    assert set(importlib.import_module(module).__all__) == PUBLIC[module]


def test_the_public_surface_is_about_sixty_names() -> None:
    names = {name for names in PUBLIC.values() for name in names}
    # 63 after issue 10; issues 11-14 added nine, each a user task or a type users meet:
    # lr_find, LrFindResult, OptimizerComparison (new tasks), METRICS, Metric, SCHEDULES,
    # ScheduleSpec (new settings), TasksFailedError, MissingExtraError (the Ray backend's)
    assert 55 <= len(names) <= 75, len(names)


def test_every_exception_is_in_errors_and_derives_from_optiscope_error() -> None:
    import optiscope.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.OptiscopeError)
    for info in pkgutil.walk_packages(optiscope.__path__, "optiscope."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Exception):
                defined = value.__module__
                assert not defined.startswith("optiscope.") or defined == "optiscope.errors", (
                    f"{value.__name__} is defined in {defined}, not optiscope.errors"
                )
