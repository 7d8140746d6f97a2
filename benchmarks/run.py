"""Benchmark retell, and optionally compare it with the reference libraries.

    python benchmarks/run.py [--stores memory,sqlite,postgres,django-sqlite,django-postgres]
                             [--compare] [--repeat N] [--chart PATH] [--json PATH]
                             [--quick] [--workloads w1,w5] [--no-pgbench]

Run it with the interpreter that has retell installed (the project's .venv). Each
library runs in a subprocess of its own, one store at a time, and prints JSON: retell's
side with this interpreter, the reference's side with the interpreter of a separate
virtual environment made on first use: benchmarks/.venvs/eventsourcing (eventsourcing
9.5) for memory, sqlite and postgres, benchmarks/.venvs/eventsourcing-django
(eventsourcing-django with the eventsourcing and Django it pins) for the Django stores.
So retell never imports eventsourcing and both are measured by the same harness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
RETELL_SCRIPT = HERE / "retell_workload.py"
REFERENCE_SCRIPT = HERE / "reference_workload.py"
VENVS = HERE / ".venvs"


@dataclass(frozen=True)
class ReferenceEnv:
    """A separate virtual environment holding a reference library."""

    name: str
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        return VENVS / self.name


EVENTSOURCING = ReferenceEnv(
    "eventsourcing", ("eventsourcing>=9.5,<9.6", "psycopg[binary]", "psycopg_pool")
)
EVENTSOURCING_DJANGO = ReferenceEnv(
    # eventsourcing-django pins Django (<5.2 on Python 3.11) and eventsourcing (<9.5).
    "eventsourcing-django",
    ("eventsourcing-django>=0.6,<0.7", "psycopg[binary]"),
)


@dataclass(frozen=True)
class Row:
    """One store of the comparison: what each side runs for it."""

    retell_store: str
    reference_store: str
    reference_env: ReferenceEnv


ROWS = {
    "memory": Row("memory", "memory", EVENTSOURCING),
    "sqlite": Row("sqlite", "sqlite", EVENTSOURCING),
    # retell with SQLITE_SYNCHRONOUS=FULL, against the same reference run as `sqlite`
    # (eventsourcing leaves `synchronous` at SQLite's default, FULL).
    "sqlite-full": Row("sqlite-full", "sqlite", EVENTSOURCING),
    "postgres": Row("postgres", "postgres", EVENTSOURCING),
    "django-sqlite": Row("django-sqlite", "django-sqlite", EVENTSOURCING_DJANGO),
    "django-postgres": Row("django-postgres", "django-postgres", EVENTSOURCING_DJANGO),
}
EXPANDS = {"sqlite": ("sqlite", "sqlite-full")}
"""Asking for `sqlite` measures retell's default (NORMAL) and FULL, to show the trade-off."""

DEFAULT_STORES = "memory,sqlite,postgres,django-sqlite,django-postgres"
SIDE_TIMEOUT_SECONDS = 1800

PGBENCH_TABLE = f"bench_pgbench_scratch_{os.getpid()}"
PGBENCH_SCRIPT = (
    f"INSERT INTO {PGBENCH_TABLE} (originator_id, originator_version, topic, state) "
    "VALUES (gen_random_uuid(), 1, 'bench.Dog.Registered', '\\x7b7d');\n"
)
"""One row per transaction, shaped like an event (unique id and version, topic, state)."""
PGBENCH_AGGREGATES = 2000
PGBENCH_COMMAND_SCRIPT = (
    f"\\set n random(1, {PGBENCH_AGGREGATES})\n"
    f"SELECT originator_version, topic, state FROM {PGBENCH_TABLE} "
    "WHERE originator_id = md5(:n::text)::uuid ORDER BY originator_version;\n" + PGBENCH_SCRIPT
)
"""A dog-school command as a client that costs nothing runs it: the read of a ten-event
aggregate by id in version order, then the insert, each its own transaction."""
PGBENCH_CLIENTS = (1, 4)


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtual environment."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_reference_env(env: ReferenceEnv) -> Path:
    """Make (once) a reference's separate environment; return its interpreter.

    A stamp file records what was installed, so a change of its requirements
    re-installs and an unchanged one costs nothing.
    """
    python = venv_python(env.path)
    stamp = env.path / ".requirements"
    wanted = "\n".join(env.requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating {env.path} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env.path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *env.requirements], check=True)
    stamp.write_text(wanted)
    return python


def run_side(
    python: Path | str, script: Path, store: str, quick: bool, workloads: str
) -> dict[str, Any]:
    """Run one library's workloads on one store in a subprocess and return its JSON.

    Its progress goes straight to our stderr; a crash becomes an `error` entry, so one
    broken store does not lose the figures of the others.
    """
    command = [str(python), str(script), "--store", store]
    command += ["--quick"] if quick else []
    command += ["--workloads", workloads] if workloads else []
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


def run_pass(
    rows: Sequence[str], args: argparse.Namespace, compare: bool
) -> dict[str, dict[str, Any]]:
    """Every requested store once: retell's figures, then the reference's; prints each line.

    A reference run that serves two rows (sqlite and sqlite-full) is made once per pass.
    """
    results: dict[str, dict[str, Any]] = {}
    reference_runs: dict[tuple[str, str], dict[str, Any]] = {}
    for name in rows:
        row = ROWS[name]
        sides = {
            report.RETELL: run_side(
                sys.executable, RETELL_SCRIPT, row.retell_store, args.quick, args.workloads
            )
        }
        print(report.store_line(name, sides[report.RETELL]), flush=True)
        if compare:
            key = (row.reference_env.name, row.reference_store)
            if key not in reference_runs:
                python = ensure_reference_env(row.reference_env)
                reference_runs[key] = run_side(
                    python, REFERENCE_SCRIPT, row.reference_store, args.quick, args.workloads
                )
                print(report.store_line(name, reference_runs[key]), flush=True)
            sides[report.REFERENCE] = reference_runs[key]
        results[name] = sides
    return results


def run_pgbench(seconds: int) -> dict[str, Any]:
    """pgbench's transactions per second with 1 and 4 clients: single-row inserts (`tps`),
    then, on a table of PGBENCH_AGGREGATES aggregates, whole commands (`command_tps`).

    The scratch table is made before and dropped after, whatever happens.
    """
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        return {"error": "pgbench is not installed"}
    import fixtures

    fixtures.reset_postgres_table(PGBENCH_TABLE, create=True)
    found: dict[str, dict[str, float]] = {}
    try:
        # The inserts in pgbench's default (simple) protocol, as every run before
        # 2026-12-01 measured them; the commands prepared, as retell runs them.
        for key, what, script, prepared in (
            ("tps", "insert", PGBENCH_SCRIPT, False),
            ("command_tps", "command", PGBENCH_COMMAND_SCRIPT, True),
        ):
            if what == "command":  # the aggregates it reads
                fixtures.fill_postgres_table(PGBENCH_TABLE, PGBENCH_AGGREGATES, 10)
            for clients in PGBENCH_CLIENTS:
                print(
                    f"[pgbench] {what}, {clients} client(s), {seconds} s ...",
                    file=sys.stderr,
                    flush=True,
                )
                fixtures.checkpoint_postgres()
                tps = pgbench_tps(pgbench, script, clients, seconds, prepared=prepared)
                if isinstance(tps, str):
                    return {"error": tps}
                found.setdefault(key, {})[str(clients)] = tps
    finally:
        fixtures.reset_postgres_table(PGBENCH_TABLE, create=False)
    return {
        "seconds": seconds,
        "script": PGBENCH_SCRIPT.strip(),
        "command_script": PGBENCH_COMMAND_SCRIPT.strip(),
        **found,
    }


def pgbench_tps(
    pgbench: str, script: str, clients: int, seconds: int, *, prepared: bool
) -> float | str:
    """One pgbench run of `script`: its transactions per second, or what went wrong."""
    import fixtures

    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        command = [pgbench, "-h", fixtures.PG_HOST, "-p", fixtures.PG_PORT, "-U", fixtures.PG_USER]
        command += ["-n", "-f", file.name, "-T", str(seconds)]
        command += ["-M", "prepared"] if prepared else []
        command += ["-c", str(clients), "-j", str(clients), fixtures.PG_DATABASE]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        Path(file.name).unlink(missing_ok=True)
    found = re.search(r"tps = ([0-9.]+) \(without initial", completed.stdout)
    if completed.returncode != 0 or found is None:
        return f"pgbench failed: {completed.stderr.strip()[-300:]}"
    return float(found.group(1))


def combine_pgbench(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """pgbench's runs (before and after the benchmark) as one: the mean tps per client
    count, each run's kept in `tps_runs` (and `command_tps_runs`); the server's fsync can
    vary a lot over minutes."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    combined = {key: value for key, value in runs[0].items() if key not in report.PGBENCH_FIGURES}
    for key in report.PGBENCH_FIGURES:
        figures = [{c: [tps] for c, tps in run.get(key, {}).items()} for run in runs]
        combined.update(report.pool_pgbench(key, figures))
    return combined


def describe_run(
    args: argparse.Namespace, results: dict[str, dict[str, Any]], pgbench: dict[str, Any] | None
) -> dict[str, Any]:
    """What produced the figures: when, on what machine, with which versions and sizes."""
    any_side: dict[str, Any] = next(
        (side for sides in results.values() for side in sides.values()), {}
    )
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeats": args.repeat,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "sizes": any_side.get("sizes"),
        "versions": {
            f"{store} {name}": side.get("version")
            for store, sides in results.items()
            for name, side in sides.items()
            if side.get("version")
        },
        "settings": {
            f"{store} {name}": side.get("settings")
            for store, sides in results.items()
            for name, side in sides.items()
            if side.get("settings")
        },
        "pgbench": pgbench,
    }


def postgres_server() -> dict[str, Any]:
    """The server's version and the settings its configuration file sets, for the JSON."""
    import fixtures
    import psycopg

    try:
        with psycopg.connect(
            dbname=fixtures.PG_DATABASE,
            host=fixtures.PG_HOST,
            port=fixtures.PG_PORT,
            user=fixtures.PG_USER,
        ) as connection:
            version = connection.execute("SHOW server_version").fetchone()
            settings = connection.execute(
                "SELECT name, setting FROM pg_settings WHERE source = 'configuration file'"
            ).fetchall()
    except psycopg.Error as error:
        return {"error": str(error)}
    return {"version": version[0] if version else "?", "settings": dict(settings)}


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def requested_rows(stores: str) -> list[str]:
    """The rows to run, in order: `sqlite` brings `sqlite-full` along."""
    rows: list[str] = []
    for store in (s.strip() for s in stores.split(",")):
        if not store:
            continue
        if store not in ROWS:
            raise SystemExit(f"unknown store {store!r}: use some of {', '.join(ROWS)}")
        rows += [row for row in EXPANDS.get(store, (store,)) if row not in rows]
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--stores", default=DEFAULT_STORES, help=f"comma-separated (default {DEFAULT_STORES})"
    )
    parser.add_argument("--compare", action="store_true", help="also run the reference")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="run everything N times (medians)"
    )
    parser.add_argument("--chart", type=Path, metavar="PATH", help="write a PNG chart")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    parser.add_argument(
        "--markdown", type=Path, metavar="PATH", help="write the comparison as a Markdown table"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--workloads", default="", help="only these, e.g. w1,w5")
    parser.add_argument(
        "--no-pgbench", action="store_true", help="skip pgbench on a PostgreSQL run"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every store, print the figures, write the requested files; 1 if anything failed."""
    args = parse_args(argv)
    rows = requested_rows(args.stores)
    load_before = os.getloadavg()
    use_pgbench = not args.no_pgbench and any("postgres" in row for row in rows)
    if any("postgres" in row for row in rows):
        import fixtures

        for name in fixtures.drop_leftovers():
            print(f"dropped {name}, left behind by a benchmark that died", file=sys.stderr)
    pgbench_runs = [run_pgbench(2 if args.quick else 10)] if use_pgbench else []
    passes = []
    for number in range(1, max(1, args.repeat) + 1):
        if args.repeat > 1:
            print(f"--- pass {number} of {args.repeat}", flush=True)
        passes.append(run_pass(rows, args, args.compare))
    results = {
        row: {side: report.combine([run[row][side] for run in passes]) for side in passes[0][row]}
        for row in rows
    }
    pgbench = None
    if use_pgbench:
        pgbench_runs.append(run_pgbench(2 if args.quick else 10))
        pgbench = combine_pgbench(pgbench_runs)
    if args.compare:
        print()
        print(report.comparison_table(results))
    if pgbench is not None:
        print()
        print(report.pgbench_lines(pgbench, results))
    if args.json:
        meta = describe_run(args, results, pgbench)
        meta["load_average"] = {"before": load_before, "after": os.getloadavg()}
        if any("postgres" in row for row in rows):
            meta["postgres_server"] = postgres_server()
        report.write_json(args.json, meta, results)
    if args.markdown:
        args.markdown.write_text(report.markdown_table(results) + "\n")
    if args.chart:
        mode = "quick run" if args.quick else "full run"
        repeats = f", median of {args.repeat}" if args.repeat > 1 else ""
        title = f"retell vs eventsourcing / eventsourcing-django ({mode}{repeats})"
        report.draw_chart(args.chart, results, title, pgbench)
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
