"""The one `name key=value` grammar: optimizers, test functions and axes parse the same way."""

from __future__ import annotations

import pytest

from optiscope.engine import parse_optimizer_text
from optiscope.errors import ConfigError
from optiscope.grammar import parse_named
from optiscope.landscapes import parse_landscape


def test_named_text_gives_typed_values() -> None:
    name, settings = parse_named("adam lr=1e-3 betas=0.9,0.99 amsgrad=true steps=3", example="x")
    assert name == "adam"
    assert settings == {"lr": 0.001, "betas": (0.9, 0.99), "amsgrad": True, "steps": 3}
    assert type(settings["steps"]) is int and type(settings["lr"]) is float


@pytest.mark.parametrize("text", ["rosenbrock b", "rosenbrock b=", "b=2", ""])
def test_optimizers_and_functions_refuse_the_same_bad_grammar(text: str) -> None:
    for parse in (parse_optimizer_text, parse_landscape):
        with pytest.raises(ConfigError, match=r"is not key=value|does not start with a name"):
            parse(text)


def test_a_key_given_twice_is_refused_not_overwritten() -> None:
    with pytest.raises(ConfigError, match="'a' is given twice"):
        parse_named("rosenbrock a=1 a=2", example="'rosenbrock a=1 b=2'")
