"""Benchmark retell, and optionally compare it with the reference library, eventsourcing.

    python benchmarks/run.py [--stores memory,sqlite,postgres] [--compare]
                             [--chart PATH] [--json PATH] [--quick]

Run it with the interpreter that has retell installed (the project's .venv). Each
library runs in a subprocess of its own, one store at a time, and prints JSON: retell's
side with this interpreter, the reference's side with the interpreter of a separate
virtual environment (benchmarks/.venvs/eventsourcing, made on first use), so retell
never imports eventsourcing and both are measured by the same harness in the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
RETELL_SCRIPT = HERE / "retell_workload.py"
REFERENCE_SCRIPT = HERE / "reference_workload.py"
REFERENCE_VENV = HERE / ".venvs" / "eventsourcing"
REFERENCE_REQUIREMENTS = ("eventsourcing>=9.5,<9.6", "psycopg[binary]", "psycopg_pool")
DEFAULT_STORES = "memory,sqlite,postgres"
SIDE_TIMEOUT_SECONDS = 3600


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtual environment."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_reference_venv() -> Path:
    """Make (once) the separate environment holding eventsourcing; return its interpreter.

    A stamp file records what was installed, so a change of REFERENCE_REQUIREMENTS
    re-installs and an unchanged one costs nothing.
    """
    python = venv_python(REFERENCE_VENV)
    stamp = REFERENCE_VENV / ".requirements"
    wanted = "\n".join(REFERENCE_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating {REFERENCE_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *REFERENCE_REQUIREMENTS], check=True
    )
    stamp.write_text(wanted)
    return python


def run_side(python: Path | str, script: Path, store: str, quick: bool) -> dict[str, Any]:
    """Run one library's workloads on one store in a subprocess and return its JSON.

    Its progress goes straight to our stderr; a crash becomes an `error` entry, so one
    broken store does not lose the figures of the others.
    """
    command = [str(python), str(script), "--store", store, *(["--quick"] if quick else [])]
    try:
        completed = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, timeout=SIDE_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return {"library": script.stem, "error": f"timed out after {SIDE_TIMEOUT_SECONDS} s"}
    lines = completed.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"library": script.stem, "error": f"exit code {completed.returncode}, no JSON"}
    if completed.returncode != 0:
        result["error"] = f"exit code {completed.returncode}"
    return result


def run_store(store: str, quick: bool, reference_python: Path | None) -> dict[str, Any]:
    """retell's figures for one store, then the reference's if comparing; prints each line."""
    sides: dict[str, Any] = {report.RETELL: run_side(sys.executable, RETELL_SCRIPT, store, quick)}
    print(report.store_line(store, sides[report.RETELL]), flush=True)
    if reference_python is not None:
        sides[report.REFERENCE] = run_side(reference_python, REFERENCE_SCRIPT, store, quick)
        print(report.store_line(store, sides[report.REFERENCE]), flush=True)
    return sides


def describe_run(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What produced the figures: when, on what machine, with which versions and sizes."""
    any_side: dict[str, Any] = next(
        (side for sides in results.values() for side in sides.values()), {}
    )
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sizes": any_side.get("sizes"),
        "versions": {
            name: side.get("version")
            for sides in results.values()
            for name, side in sides.items()
            if side.get("version")
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--stores", default=DEFAULT_STORES, help=f"comma-separated (default {DEFAULT_STORES})"
    )
    parser.add_argument("--compare", action="store_true", help="also run eventsourcing 9.5")
    parser.add_argument("--chart", type=Path, metavar="PATH", help="write a PNG chart")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every store, print the figures, write the requested files; 1 if anything failed."""
    args = parse_args(argv)
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    reference_python = ensure_reference_venv() if args.compare else None
    results = {store: run_store(store, args.quick, reference_python) for store in stores}
    if args.compare:
        print()
        print(report.comparison_table(results))
    if args.json:
        report.write_json(args.json, describe_run(args, results), results)
    if args.chart:
        mode = "quick run" if args.quick else "full run"
        report.draw_chart(args.chart, results, f"retell vs eventsourcing ({mode})")
    failures = [
        failure
        for sides in results.values()
        for side in sides.values()
        for failure in report.errors(side)
    ]
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
