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
