"""Every code example in README.md and docs/ runs, as one test per file.

The ```python (or ```py) blocks of a file run in order in one namespace, as a
module of their own, with a fresh temporary directory as the working directory.
Shell blocks are checked, not run: ``python3 dev.py X`` must name a command of
dev.py. A block right after the line ``<!-- no-run -->`` is skipped. A file whose
Python blocks use ``retell.postgres`` is skipped when PostgreSQL is not on
127.0.0.1:5432, unless RETELL_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import subprocess
import sys
import traceback
import types
from pathlib import Path
from typing import NamedTuple

import pytest

from retell import Application

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
PYTHON = {"python", "py"}
SHELL = {"bash", "console", "sh", "shell"}
NO_RUN = re.compile(r"^\s*<!--\s*no-run\b.*-->\s*$")  # "<!-- no-run: why -->" works too
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
DEV_COMMAND = re.compile(r"\bpython3?\s+dev\.py(?:\s+(?P<command>\S+))?")


class Block(NamedTuple):
    lang: str
    line: int  # of the first line of code, counting from 1
    code: str
    run: bool  # False after <!-- no-run -->


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, dedented to their fence."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        run = i == 0 or not NO_RUN.match(lines[i - 1])
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        code = "\n".join(line[indent:] for line in lines[i + 1 : end])
        found.append(Block(match["lang"].lower(), i + 2, code + "\n", run))
        i = end + 1
    return found


@functools.cache
def dev_commands() -> frozenset[str]:
    """The commands dev.py names in its usage message (it prints it and exits, no venv)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev.py")], capture_output=True, text=True, check=False
    )
    return frozenset(m["command"] for m in DEV_COMMAND.finditer(result.stderr) if m["command"])


def postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def check_shell(path: str, block: Block, commands: frozenset[str]) -> None:
    for number, line in enumerate(block.code.splitlines(), start=block.line):
        match = DEV_COMMAND.search(line)
        if match and match["command"] not in commands:
            pytest.fail(
                f"{path}:{number}: {line.strip()!r} names no command of dev.py "
                f"(it has: {', '.join(sorted(commands))})",
                pytrace=False,
            )
        # `python -m retell ...` and `manage.py ...` lines are not checked yet.


def run_python(file: Path, block: Block, module: types.ModuleType) -> None:
    # Leading newlines make tracebacks give the line numbers of the Markdown file.
    source = "\n" * (block.line - 1) + block.code
    try:
        exec(compile(source, str(file), "exec"), module.__dict__)
    except Exception as error:
        # Drop this function's frame: the traceback starts in the example.
        frames = traceback.format_exception(error.with_traceback(error.__traceback__.tb_next))
    else:
        return
    path = file.relative_to(ROOT)
    pytest.fail(f"{path}: the block at line {block.line} failed:\n{''.join(frames)}", pytrace=False)


@pytest.mark.parametrize("file", FILES, ids=[str(f.relative_to(ROOT)) for f in FILES])
def test_examples_run(file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(file.relative_to(ROOT))
    found = [b for b in blocks(file.read_text(encoding="utf-8")) if b.run]
    for block in found:
        if block.lang in SHELL:
            check_shell(path, block, dev_commands())

    python = [b for b in found if b.lang in PYTHON]
    if any("retell.postgres" in b.code for b in python) and not postgres_reachable():
        if os.environ.get("RETELL_REQUIRE_SERVICES"):
            pytest.fail(f"{path} needs PostgreSQL on 127.0.0.1:5432: not reachable", pytrace=False)
        pytest.skip(f"{path} needs PostgreSQL on 127.0.0.1:5432")

    name = "docs_" + re.sub(r"\W", "_", path.removesuffix(".md"))
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)  # classes, dataclasses and topics need it
    monkeypatch.chdir(tmp_path)
    try:
        for block in python:
            run_python(file, block, module)
    finally:  # release connection pools the examples left open
        for value in list(vars(module).values()):
            if isinstance(value, Application):
                with contextlib.suppress(Exception):
                    value.close()
