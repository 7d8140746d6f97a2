"""The names docs/from-eventsourcing.md gives for the `eventsourcing` library's exist.

The page maps each of the library's names to a retell name. This imports every
dotted retell name it mentions (`retell.errors.ConcurrencyError`), and every name of
a row that says "`retell.module`, the same names", so that a rename in retell turns
the page's claim red instead of leaving it wrong.
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
    for line in text.splitlines():
        match = SAME_NAMES.match(line)
        if match:
            module = match["module"]
            names.update(f"{module}.{m['name']}" for m in NAME.finditer(match["names"]))
    return sorted(names)


def test_the_page_names_some() -> None:
    assert len(claimed()) > 50


@pytest.mark.parametrize("path", claimed())
def test_name_exists(path: str) -> None:
    lookup(path)
