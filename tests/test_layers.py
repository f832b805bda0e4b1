"""The layering of docs/architecture.md: a module imports only from layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "optiscope"

LAYERS: dict[str, int] = {
    "_version": 0,
    "records": 0,
    "settings": 0,
    "errors": 0,
    "grammar": 0,
    "data": 1,
    "models": 1,
    "optim": 1,
    "landscapes": 1,
    "engine": 2,
    "sweeps": 3,
    "storage": 3,
    "plotting": 4,
    "api": 5,
    "exercise": 5,
    "cli": 6,
    "web": 6,
    "__main__": 7,
}
# Imports allowed within one layer (importer -> imported).
SAME_LAYER = {("sweeps", "storage"), ("exercise", "api"), ("cli", "web")}
# Extra rules: the store has no torch; figures never train.
FORBIDDEN = {
    "storage": {"torch"},
    "records": {"torch"},
    "errors": {"torch"},
    "grammar": {"torch"},
    "plotting": {"optiscope.engine", "optiscope.sweeps"},
}


def _modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py"
    )


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _private_imports(path: Path) -> list[str]:
    """Imports of another package's private module (``optiscope.pkg._module``)."""
    part = _part(path)
    found = []
    for name in _imports(path):
        pieces = name.split(".")
        foreign = len(pieces) >= 3 and pieces[0] == "optiscope" and pieces[1] != part
        if foreign and any(piece.startswith("_") for piece in pieces[2:]):
            found.append(name)
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_public_names_of_another_package_are_imported(path: Path) -> None:
    """STYLE.md 18: a package's private modules are its own; others use its ``__init__``."""
    assert _private_imports(path) == []


def test_every_part_has_a_layer() -> None:
    parts = {_part(p) for p in _modules()}
    assert parts <= set(LAYERS), f"add {sorted(parts - set(LAYERS))} to LAYERS and the docs"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    part = _part(path)
    for name in _imports(path):
        for forbidden in FORBIDDEN.get(part, set()):
            assert name != forbidden and not name.startswith(forbidden + "."), (
                f"{path.name} ({part}) must not import {name}"
            )
        if not name.startswith("optiscope."):
            continue
        target = name.split(".")[1]
        if target == part or (part, target) in SAME_LAYER:
            continue
        where = f"{path.relative_to(PACKAGE)} (layer {LAYERS[part]})"
        assert LAYERS[target] < LAYERS[part] or LAYERS[target] == LAYERS[part] == 0, (
            f"{where} imports {name} (layer {LAYERS[target]})"
        )
