"""Environment parsing and topic resolution."""

from __future__ import annotations

import pytest

from retell.config import Environment
from retell.errors import ConfigurationError, TopicError
from retell.topics import get_topic, resolve_topic


def test_layers_and_prefix() -> None:
    env = Environment("Shop", {"A": "1", "B": "1"}, {"B": "2", "SHOP_C": "3"}, None, {"C": "4"})
    assert (env["A"], env["B"], env["C"]) == ("1", "2", "3")
    assert "C" in env and "D" not in env and 5 not in env
    assert env.describe("C") == "SHOP_C" and env.describe("A") == "A"
    assert env.get("D", "x") == "x"


@pytest.mark.parametrize(
    ("text", "value"),
    [("y", True), ("YES", True), ("1", True), ("n", False), ("off", False), ("", False)],
)
def test_get_bool(text: str, value: bool) -> None:
    assert Environment("a", {"K": text}).get_bool("K") is value


def test_get_bool_default_and_error() -> None:
    assert Environment("a").get_bool("K", True) is True
    with pytest.raises(ConfigurationError, match="K='perhaps' is not a yes/no value"):
        Environment("a", {"K": "perhaps"}).get_bool("K")


def test_get_int_and_float() -> None:
    env = Environment("a", {"I": "5", "F": "0.5", "BAD": "x", "NEG": "-2", "EMPTY": " "})
    assert env.get_int("I", 0) == 5 and env.get_int("EMPTY", 7) == 7
    assert env.get_float("F", 1.0) == 0.5 and env.get_float("MISSING", 1.5) == 1.5
    with pytest.raises(ConfigurationError, match="not a whole number"):
        env.get_int("BAD", 0)
    with pytest.raises(ConfigurationError, match="at least 0"):
        env.get_int("NEG", 0)
    with pytest.raises(ConfigurationError, match="not a number"):
        env.get_float("BAD", 0.0)
    with pytest.raises(ConfigurationError, match="at least 0"):
        env.get_float("NEG", 0.0)


def test_topics_resolve_and_errors_name_the_topic() -> None:
    assert resolve_topic(get_topic(Environment)) is Environment
    assert resolve_topic("retell.config:Environment.get_int") is Environment.get_int
    with pytest.raises(TopicError, match=r"'nomodule_xyz:Thing'.*cannot be imported"):
        resolve_topic("nomodule_xyz:Thing")
    with pytest.raises(TopicError, match="has no 'Nothing'"):
        resolve_topic("retell.config:Nothing")
    with pytest.raises(TopicError, match="is not a topic"):
        resolve_topic("retell.config")
