"""The names docs/from-eventsourcing.md gives for the `eventsourcing` library's exist.

The page maps each of the library's names to a retell name. This imports every
dotted retell name it mentions (`retell.errors.ConcurrencyError`), every name of an
import line it gives (`from retell.persistence import Recording, EventStore`), and
every name of a row that says "`retell.module`, the same names", so that a rename in
retell turns the page's claim red instead of leaving it wrong.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "from-eventsourcing.md"
DOTTED = re.compile(r"`(retell(?:\.[A-Za-z_]\w*)+)")
SAME_NAMES = re.compile(r"^\| (?P<names>.*) \| `(?P<module>retell[\w.]*)`, the same names")
NAME = re.compile(r"`(?:eventsourcing\.\w+\.)?(?P<name>[A-Za-z_]\w*)`")
IMPORT = re.compile(r"`from (?P<module>retell[\w.]*) import (?P<names>\w+(?:, \w+)*)`")


def lookup(path: str) -> Any:
    """The object `path` names: the longest importable module, then attributes."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for attribute in parts[end:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(path)


def claimed() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    names = set(DOTTED.findall(text))
    for match in IMPORT.finditer(text):
        names.update(f"{match['module']}.{name}" for name in match["names"].split(", "))
    for line in text.splitlines():
        match = SAME_NAMES.match(line)
        if match:
            module = match["module"]
            names.update(f"{module}.{m['name']}" for m in NAME.finditer(match["names"]))
    return sorted(names)


def test_the_page_names_some() -> None:
    names = claimed()
    assert len(names) > 50
    assert "retell.persistence.EventStore" in names  # from an import line
    assert "retell.memory.POPOProcessRecorder" in names  # from a "the same names" row


def test_the_page_says_nothing_is_missing_that_exists() -> None:
    """The section of what is not built yet names none of the library's names retell has."""
    text = PAGE.read_text(encoding="utf-8")
    missing = text.split("## Not built yet", 1)[1].split("\n## ", 1)[0]
    for name in (
        "run_forever",
        "is_interrupted",
        "Application[UUID]",
        "AggregateNotFoundError",
        "SQLiteFactory",
        "POPOApplicationRecorder",
    ):
        assert name not in missing, name


@pytest.mark.parametrize("path", claimed())
def test_name_exists(path: str) -> None:
    lookup(path)
