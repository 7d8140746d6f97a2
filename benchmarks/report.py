"""Turning the workload scripts' JSON into lines, a comparison table, a JSON file and a chart.

Kept apart from run.py so that the figures' presentation (which metric, which unit, which
way a ratio goes, which target applies) is defined once, in METRICS and TARGETS, and used
by every output alike.

A run may repeat every measurement (`run.py --repeat N`): each side of each store then
has N outputs, which `combine` folds into one whose figures are the medians, keeping
every run's figure beside it (`<field>_runs`) for the ranges shown in the table and
the chart.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETELL = "retell"
REFERENCE = "reference"


@dataclass(frozen=True)
class Metric:
    """One figure per workload: where it is in the JSON, and how to show and compare it."""

    workload: str
    field: str
    label: str
    unit: str
    higher_is_better: bool
    digits: int = 0

    def value(self, side: Mapping[str, Any] | None) -> float | None:
        """The figure (the median, after `combine`) from one side's output, or None."""
        if not side:
            return None
        figures = side.get("results", {}).get(self.workload, {})
        number = figures.get(self.field)
        return float(number) if isinstance(number, int | float) else None

    def runs(self, side: Mapping[str, Any] | None) -> list[float]:
        """Every run's figure (one, unless the run was repeated)."""
        if not side:
            return []
        figures = side.get("results", {}).get(self.workload, {})
        numbers = figures.get(f"{self.field}_runs")
        if isinstance(numbers, list):
            return [float(n) for n in numbers if isinstance(n, int | float)]
        single = self.value(side)
        return [] if single is None else [single]

    def ratio(self, retell: float | None, reference: float | None) -> float | None:
        """How many times better retell is: retell/reference for rates, the inverse for times."""
        if not retell or not reference:
            return None
        return retell / reference if self.higher_is_better else reference / retell

    def run_ratios(self, sides: Mapping[str, Any]) -> list[float]:
        """The ratio of each repetition: retell's and the reference's figures of one pass."""
        pairs = zip(self.runs(sides.get(RETELL)), self.runs(sides.get(REFERENCE)), strict=False)
        return [r for r in (self.ratio(a, b) for a, b in pairs) if r is not None]

    def format(self, number: float | None) -> str:
        """The figure with thousands separators, or a dash when there is none."""
        return "-" if number is None else f"{number:,.{self.digits}f}"

    def format_range(self, numbers: Sequence[float]) -> str:
        """`low-high` of several runs' figures; empty for a single run."""
        if len(numbers) < 2:
            return ""
        return f"{self.format(min(numbers))}-{self.format(max(numbers))}"


METRICS = (
    Metric("w1", "commands_per_sec", "W1 commands/s", "cmd/s", higher_is_better=True),
    Metric("w2", "median_ms", "W2 rebuild 1,000 events", "ms", higher_is_better=False, digits=2),
    Metric("w3", "notifications_per_sec", "W3 notifications read/s", "n/s", higher_is_better=True),
    Metric("w4", "commands_per_sec", "W4 commands/s, 4 threads", "cmd/s", higher_is_better=True),
    Metric("w5", "events_per_sec", "W5 follower events/s", "ev/s", higher_is_better=True),
)

CHECKED = ("w4", "w5")
"""The workloads that end with an integrity check."""

TARGETS: dict[tuple[str, str], float] = {
    ("memory", "w1"): 10,
    ("memory", "w2"): 10,
    ("memory", "w3"): 3,
    ("sqlite", "w1"): 2,
    ("sqlite", "w4"): 2,
    ("postgres", "w1"): 3,
    ("postgres", "w3"): 3,
    ("postgres", "w4"): 5,
    ("django-postgres", "w1"): 3,
    ("django-postgres", "w3"): 3,
    ("django-postgres", "w4"): 5,
}
"""How many times better than the reference retell aims to be, per store and workload."""

W5_TARGET = 3.0
"""W5's target, on every store."""

STORE_LABELS = {
    "sqlite": "sqlite\nNORMAL",
    "sqlite-full": "sqlite\nFULL",
    "django-sqlite": "django\nsqlite",
    "django-postgres": "django\npostgres",
}
"""How a store is named under the chart's bars: retell's SQLite default (NORMAL), with
FULL, and the Django stores on two lines."""


def target(store: str, workload: str) -> float | None:
    """The ratio retell aims for on a store and workload, if any."""
    return W5_TARGET if workload == "w5" else TARGETS.get((store, workload))


def combine(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One side's repeated outputs as one: median figures, every run's kept beside them.

    A check fails if it failed in any run; every run's errors and problems are kept.
    """
    first = dict(runs[0])
    if len(runs) == 1:
        return first
    errors_seen = [run["error"] for run in runs if "error" in run]
    if errors_seen:
        first["error"] = "; ".join(dict.fromkeys(errors_seen))
    results: dict[str, Any] = {}
    for metric in METRICS:
        per_run = [run.get("results", {}).get(metric.workload) for run in runs]
        figures = [f for f in per_run if isinstance(f, dict)]
        if not figures:
            continue
        merged = dict(figures[0])
        numbers = [f[metric.field] for f in figures if isinstance(f.get(metric.field), int | float)]
        if numbers:
            merged[metric.field] = statistics.median(numbers)
            merged[f"{metric.field}_runs"] = numbers
        if len(numbers) < len(runs):
            merged["error"] = (
                "; ".join(
                    dict.fromkeys(str(f.get("error", "no figure")) for f in figures if "error" in f)
                )
                or "a run produced no figure"
            )
        if "check" in merged:
            merged["check"] = "OK" if all(f.get("check") == "OK" for f in figures) else "FAIL"
            merged["problems"] = [p for f in figures for p in f.get("problems", [])][:10]
        merged["capped"] = any(f.get("capped") for f in figures)
        results[metric.workload] = merged
    first["results"] = results
    first["repeats"] = len(runs)
    return first


def check_status(side: Mapping[str, Any] | None, workload: str = "w4") -> str:
    """A checked workload's verdict, or what stopped it."""
    if not side:
        return "-"
    if "skipped" in side:
        return "skipped"
    if "error" in side and not side.get("results"):
        return "ERROR"
    figures = side.get("results", {}).get(workload, {})
    return str(figures.get("check", "ERROR" if "error" in figures else "-"))


def errors(side: Mapping[str, Any] | None) -> list[str]:
    """Every error and check problem a side reported, named by library, store and workload."""
    if not side:
        return []
    name = f"{side.get('library', '?')} {side.get('store', '?')}"
    found = [f"{name}: {side['error']}"] if "error" in side else []
    for workload, figures in side.get("results", {}).items():
        if "error" in figures:
            found.append(f"{name} {workload}: {figures['error']}")
        found.extend(f"{name} {workload}: {problem}" for problem in figures.get("problems", []))
    return found


def store_line(store: str, side: Mapping[str, Any]) -> str:
    """One line of figures for one store and one library."""
    library = side.get("library", "?")
    if "skipped" in side:
        return f"{store:<15} {library:<20} skipped: {side['skipped']}"
    cells = [
        f"{metric.workload.upper()} {metric.format(metric.value(side)):>10} {metric.unit:<5}"
        for metric in METRICS
    ]
    checks = "/".join(check_status(side, workload) for workload in CHECKED)
    return f"{store:<15} {library:<20} " + "  ".join(cells) + f"  check {checks}"


def comparison_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per store and workload: figures, ranges, ratio, target and verdict."""
    rows = []
    for store, sides in results.items():
        for metric in METRICS:
            retell = metric.value(sides.get(RETELL))
            reference = metric.value(sides.get(REFERENCE))
            if retell is None and reference is None:
                continue
            ratio = metric.ratio(retell, reference)
            ratios = metric.run_ratios(sides)
            aim = target(store, metric.workload)
            rows.append(
                {
                    "store": store,
                    "workload": metric.label,
                    "unit": metric.unit,
                    "retell": metric.format(retell),
                    "retell range": metric.format_range(metric.runs(sides.get(RETELL))),
                    "reference": metric.format(reference),
                    "reference range": metric.format_range(metric.runs(sides.get(REFERENCE))),
                    "ratio": "-" if ratio is None else f"{ratio:.1f}x",
                    "ratio range": (
                        f"{min(ratios):.1f}-{max(ratios):.1f}x" if len(ratios) > 1 else ""
                    ),
                    "target": "" if aim is None else f">={aim:g}x",
                    "met": verdict(ratio, ratios, aim),
                }
            )
        for workload in CHECKED:
            statuses = [check_status(sides.get(side), workload) for side in (RETELL, REFERENCE)]
            if any(status not in {"-", "skipped"} for status in statuses):
                rows.append(
                    {
                        "store": store,
                        "workload": f"{workload.upper()} check",
                        "retell": statuses[0],
                        "reference": statuses[1],
                    }
                )
    return rows


def verdict(ratio: float | None, ratios: Sequence[float], aim: float | None) -> str:
    """Whether the median ratio meets the target (and whether every run did)."""
    if aim is None or ratio is None:
        return ""
    if ratio < aim:
        return "no"
    if ratios and min(ratios) < aim:
        return "yes (median)"
    return "yes"


COLUMNS = (
    "store",
    "workload",
    "unit",
    "retell",
    "retell range",
    "reference",
    "reference range",
    "ratio",
    "ratio range",
    "target",
    "met",
)
LEFT_ALIGNED = {"store", "workload", "unit", "met"}


def comparison_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """retell, reference and ratio per workload and store, as aligned text.

    The range columns appear only for repeated runs; target and verdict always.
    """
    rows = comparison_rows(results)
    columns = [c for c in COLUMNS if "range" not in c or any(row.get(c) for row in rows)]
    table = [list(columns)] + [[row.get(column, "") for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = []
    for line in table:
        cells = [
            cell.ljust(width) if column in LEFT_ALIGNED else cell.rjust(width)
            for cell, width, column in zip(line, widths, columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def markdown_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The comparison as a Markdown table, for docs/benchmarks.md: the median figures
    with their ranges in brackets, the ratio with its range, the target and the verdict."""

    def cell(row: Mapping[str, str], key: str) -> str:
        spread = row.get(f"{key} range", "")
        return row.get(key, "") + (f" ({spread})" if spread else "")

    lines = [
        "| store | workload | unit | retell | reference | ratio | target | met |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in comparison_rows(results):
        if row["workload"].endswith("check"):
            continue
        cells = [
            f"`{row['store']}`",
            row["workload"],
            row["unit"],
            cell(row, "retell"),
            cell(row, "reference"),
            cell(row, "ratio"),
            row["target"].replace(">=", "≥"),
            row["met"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PGBENCH_FIGURES = {
    "tps": ("one single-row INSERT per transaction", "transactions/s"),
    "command_tps": ("a command's read, then its INSERT", "commands/s"),
}
"""The keys of pgbench's figures in a run's JSON (each by client count), with what was run
and its unit."""


def pgbench_lines(pgbench: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> str:
    """pgbench's transactions per second (single-row inserts, and whole commands where the
    run has them), and each library's commands per second on PostgreSQL as a share of
    them (W1 runs from one thread: against 1 client; W4 from four: against 4 clients).
    W5 is left out: retell's follower commits once per batch of events, so its events per
    second are not commits."""
    if "error" in pgbench:
        return f"pgbench: {pgbench['error']}"
    lines = []
    limits: list[tuple[str, dict[int, float]]] = []
    for key, (what, unit) in PGBENCH_FIGURES.items():
        if key not in pgbench:
            continue
        tps = {int(clients): float(figure) for clients, figure in pgbench[key].items()}
        limits.append((key, tps))
        lines.append(
            f"pgbench, {what}, {pgbench['seconds']} s per run"
            " (before and after the benchmark, and their mean):"
        )
        runs = pgbench.get(f"{key}_runs", {})
        for clients, limit in tps.items():
            each = " and ".join(f"{run:,.0f}" for run in runs.get(str(clients), []))
            lines.append(f"  {clients} client(s): {each} -> {limit:,.0f} {unit}")
    shares = (("w1", 1), ("w4", 4))
    for store in ("postgres", "django-postgres"):
        for side in (RETELL, REFERENCE):
            output = results.get(store, {}).get(side)
            if not output or not output.get("results"):
                continue
            cells = []
            for workload, clients in shares:
                metric = next(m for m in METRICS if m.workload == workload)
                figure = metric.value(output)
                found = [(key, tps[clients]) for key, tps in limits if clients in tps]
                if figure is None or not found:
                    continue
                cell = f"{workload.upper()} {figure:,.0f}/s = "
                cell += " and ".join(
                    f"{figure / limit:.0%} of {clients}c" + (" commands" if key != "tps" else "")
                    for key, limit in found
                )
                cells.append(cell)
            name = f"{store} {output.get('library', side)}"
            lines.append(f"  {name:<37} " + ", ".join(cells))
    return "\n".join(lines)


def pool_pgbench(key: str, figures: Sequence[Mapping[str, Sequence[float]]]) -> dict[str, Any]:
    """pgbench's figures of several runs, by client count, as one: `key`, the mean per
    client count, and `<key>_runs`, every run's figure (nothing if no run has any)."""
    runs: dict[str, list[float]] = {}
    for by_clients in figures:
        for clients, values in by_clients.items():
            runs.setdefault(clients, []).extend(values)
    if not runs:
        return {}
    return {key: {c: sum(f) / len(f) for c, f in runs.items()}, f"{key}_runs": runs}


def with_ratios(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The results, each store gaining `ratios` (how many times better retell is) and
    `targets` (the ratio aimed for, where there is one)."""
    enriched: dict[str, dict[str, Any]] = {}
    for store, sides in results.items():
        ratios = {
            metric.workload: metric.ratio(
                metric.value(sides.get(RETELL)), metric.value(sides.get(REFERENCE))
            )
            for metric in METRICS
        }
        run_ratios = {metric.workload: metric.run_ratios(sides) for metric in METRICS}
        targets = {
            metric.workload: aim
            for metric in METRICS
            if (aim := target(store, metric.workload)) is not None
        }
        enriched[store] = {
            **sides,
            "ratios": ratios,
            "ratios_runs": run_ratios,
            "targets": targets,
        }
    return enriched


def write_json(
    path: Path, meta: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> None:
    """Every figure, with what produced it, for docs/benchmarks.md or a later comparison."""
    document = {**meta, "stores": with_ratios(results)}
    path.write_text(json.dumps(document, indent=2) + "\n")


SIDES = ((RETELL, "retell", "#1f77b4"), (REFERENCE, "reference", "#b0b0b0"))


def draw_chart(
    path: Path,
    results: Mapping[str, Mapping[str, Any]],
    title: str,
    pgbench: Mapping[str, Any] | None = None,
) -> None:
    """One panel per workload, retell's and the reference's bars side by side per store,
    on log scales; a sixth panel sets PostgreSQL's commit rates beside pgbench's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stores = [
        store
        for store, sides in results.items()
        if any("skipped" not in side for side in sides.values())
    ]
    figure, axes = plt.subplots(2, 3, figsize=(18, 10), constrained_layout=True)
    for metric, axis in zip(METRICS, axes.flat, strict=False):
        draw_panel(axis, metric, stores, results)
    last = axes.flat[len(METRICS)]
    if pgbench and "tps" in pgbench:
        draw_pgbench_panel(last, pgbench, results)
    else:
        last.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper right", ncols=len(labels))
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _error_bar(values: Sequence[float]) -> tuple[float, float, float] | None:
    """Median, and its distance down to the lowest and up to the highest run."""
    if len(values) < 2:
        return None
    middle = statistics.median(values)
    return middle, middle - min(values), max(values) - middle


def draw_panel(
    axis: Any, metric: Metric, stores: Sequence[str], results: Mapping[str, Mapping[str, Any]]
) -> None:
    """Grouped bars for one workload on a log scale, labelled with the ratio per store.

    A log scale, because the stores differ by orders of magnitude; its bottom is set a
    decade below the smallest bar so that bar heights are not cut off arbitrarily. A
    repeated run draws each bar at the median with a line from the lowest run to the
    highest.
    """
    width = 0.38
    drawn: list[float] = []
    for offset, (side, label, colour) in zip((-width / 2, width / 2), SIDES, strict=True):
        values = [metric.value(results[store].get(side)) for store in stores]
        if all(value is None for value in values):
            continue
        positions = [index + offset for index in range(len(stores))]
        axis.bar(positions, [v or 0.0 for v in values], width, label=label, color=colour)
        drawn += [value for value in values if value]
        for position, store in zip(positions, stores, strict=True):
            bar = _error_bar(metric.runs(results[store].get(side)))
            if bar is not None:
                axis.errorbar(
                    position, bar[0], yerr=[[bar[1]], [bar[2]]], color="black", capsize=3, lw=1
                )
                drawn.append(bar[0] + bar[2])
    for index, store in enumerate(stores):
        retell = metric.value(results[store].get(RETELL))
        reference = metric.value(results[store].get(REFERENCE))
        ratio = metric.ratio(retell, reference)
        if ratio is not None and retell is not None and reference is not None:
            top = max(*(metric.runs(results[store].get(RETELL)) or [retell]), reference)
            aim = target(store, metric.workload)
            missed = aim is not None and ratio < aim
            axis.annotate(
                f"{ratio:.1f}x" + ("" if aim is None else f"\n(>={aim:g}x)"),
                (index, top),
                ha="center",
                va="bottom",
                fontsize=8,
                color="#c0392b" if missed else "black",
            )
    axis.set_xlim(-0.8, len(stores) - 0.2)
    axis.set_yscale("log")
    if drawn:
        axis.set_ylim(
            10 ** math.floor(math.log10(min(drawn))), 10 ** (math.log10(max(drawn)) + 0.7)
        )
    axis.set_xticks(
        range(len(stores)),
        [tick_label(metric, store, results) for store in stores],
        fontsize=8,
    )
    better = "higher" if metric.higher_is_better else "lower"
    axis.set_title(f"{metric.label} ({better} is better)")
    axis.set_ylabel(metric.unit)


def draw_pgbench_panel(
    axis: Any, pgbench: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> None:
    """PostgreSQL commits per second: W1 (one thread, a commit per command) and W4 (four
    threads) of both libraries on both PostgreSQL stores, under
    pgbench's limits for one and for four clients, drawn as lines: single-row inserts, and
    (where the run has them) whole commands, a read then an insert, as a client that costs
    nothing runs them."""
    tps = {int(clients): float(figure) for clients, figure in pgbench["tps"].items()}
    groups = (("w1", 1), ("w4", 4))
    bars = [
        (store, side, colour, hatch)
        for store, hatch in (("postgres", ""), ("django-postgres", "//"))
        for side, _, colour in SIDES
        if results.get(store, {}).get(side, {}).get("results")
    ]
    width = 0.8 / max(1, len(bars))
    for index, (store, side, colour, hatch) in enumerate(bars):
        heights = []
        for workload, _ in groups:
            metric = next(m for m in METRICS if m.workload == workload)
            heights.append(metric.value(results[store][side]) or 0.0)
        positions = [g - 0.4 + width * (index + 0.5) for g in range(len(groups))]
        axis.bar(
            positions, heights, width, color=colour, hatch=hatch, edgecolor="white",
            label=f"{store} {side}",
        )  # fmt: skip
    commands = {int(c): float(f) for c, f in pgbench.get("command_tps", {}).items()}
    lines = (("insert", tps, "#2ca02c", "solid"), ("command", commands, "#ff7f0e", "dashed"))
    for what, limits, colour, style in lines:
        for group, (_, clients) in enumerate(groups):
            if clients in limits:
                axis.hlines(
                    limits[clients], group - 0.45, group + 0.45, colors=colour, lw=2,
                    linestyles=style,
                )  # fmt: skip
                axis.annotate(
                    f"pgbench {what} {clients}c\n{limits[clients]:,.0f}/s",
                    (group, limits[clients]),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color=colour,
                )
    axis.set_xticks(range(len(groups)), ["W1 (1 thread)", "W4 (4 threads)"], fontsize=8)
    axis.set_yscale("log")
    axis.set_ylim(top=max([*tps.values(), 1.0]) * 3)
    axis.legend(fontsize=7, loc="upper left")
    axis.set_title("PostgreSQL commands/s, and pgbench's limits")
    axis.set_ylabel("commands/s")


def tick_label(metric: Metric, store: str, results: Mapping[str, Mapping[str, Any]]) -> str:
    """The store's name; under a checked workload also each side's verdict."""
    name = STORE_LABELS.get(store, store)
    if metric.workload not in CHECKED:
        return name
    verdicts = [check_status(results[store].get(side), metric.workload) for side, _, _ in SIDES]
    shown = [verdict for verdict in verdicts if verdict not in {"-", "skipped"}]
    return f"{name}\n" + "/".join(shown) if shown else name


def expand(side: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A combined side (from a JSON file) back into one output per run, for `combine`."""
    count = max((len(m.runs(side)) for m in METRICS), default=1) or 1
    outputs = []
    for index in range(count):
        output = dict(side)
        results: dict[str, Any] = {}
        for metric in METRICS:
            figures = side.get("results", {}).get(metric.workload)
            if not isinstance(figures, dict):
                continue
            runs = metric.runs(side)
            single = dict(figures)
            single.pop(f"{metric.field}_runs", None)
            if index < len(runs):
                single[metric.field] = runs[index]
            else:
                single.pop(metric.field, None)
            results[metric.workload] = single
        output["results"] = results
        outputs.append(output)
    return outputs


def merge_files(paths: Sequence[Path]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Several `run.py --json` files as one: every run of every side, combined again."""
    documents = [json.loads(path.read_text()) for path in paths]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for document in documents:
        for store, sides in document["stores"].items():
            for side in (RETELL, REFERENCE):
                if side in sides:
                    runs.setdefault(store, {}).setdefault(side, []).extend(expand(sides[side]))
    results = {
        store: {side: combine(outputs) for side, outputs in sides.items()}
        for store, sides in runs.items()
    }
    meta = {key: value for key, value in documents[0].items() if key != "stores"}
    meta["sources"] = [
        {"file": str(path), "generated": document.get("generated")}
        for path, document in zip(paths, documents, strict=True)
    ]
    meta["repeats"] = sum(int(document.get("repeats") or 1) for document in documents)
    pgbench: dict[str, Any] = dict(documents[0].get("pgbench") or {})
    for key in PGBENCH_FIGURES:
        pooled = pool_pgbench(
            key, [(document.get("pgbench") or {}).get(f"{key}_runs", {}) for document in documents]
        )
        pgbench.update(pooled)
    if "tps" in pgbench:
        meta["pgbench"] = pgbench
    return meta, results


def main(argv: Sequence[str] | None = None) -> int:
    """Re-draw and re-tabulate saved runs: several JSON files are merged, run by run."""
    import argparse

    parser = argparse.ArgumentParser(description="Merge and report saved `run.py --json` files.")
    parser.add_argument("files", nargs="+", type=Path, help="JSON files written by run.py")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the merged JSON")
    parser.add_argument("--chart", type=Path, metavar="PATH", help="write a PNG chart")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown table")
    args = parser.parse_args(argv)
    meta, results = merge_files(args.files)
    print(comparison_table(results))
    if meta.get("pgbench"):
        print()
        print(pgbench_lines(meta["pgbench"], results))
    if args.json:
        write_json(args.json, meta, results)
    if args.markdown:
        args.markdown.write_text(markdown_table(results) + "\n")
    if args.chart:
        repeats = int(meta.get("repeats") or 1)
        title = "retell vs eventsourcing / eventsourcing-django (full run"
        title += f", median of {repeats})" if repeats > 1 else ")"
        draw_chart(args.chart, results, title, meta.get("pgbench"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
