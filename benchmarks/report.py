"""Turning the workload scripts' JSON into lines, a comparison table, a JSON file and a chart.

Kept apart from run.py so that the figures' presentation (which metric, which unit, which
way a ratio goes) is defined once, in METRICS, and used by every output alike.
"""

from __future__ import annotations

import json
import math
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
        """The figure from one side's output, or None if the workload did not produce it."""
        if not side:
            return None
        figures = side.get("results", {}).get(self.workload, {})
        number = figures.get(self.field)
        return float(number) if isinstance(number, int | float) else None

    def ratio(self, retell: float | None, reference: float | None) -> float | None:
        """How many times better retell is: retell/reference for rates, the inverse for times."""
        if not retell or not reference:
            return None
        return retell / reference if self.higher_is_better else reference / retell

    def format(self, number: float | None) -> str:
        """The figure with thousands separators, or a dash when there is none."""
        return "-" if number is None else f"{number:,.{self.digits}f}"


METRICS = (
    Metric("w1", "commands_per_sec", "W1 commands/s", "cmd/s", higher_is_better=True),
    Metric("w2", "median_ms", "W2 rebuild 1,000 events", "ms", higher_is_better=False, digits=2),
    Metric("w3", "notifications_per_sec", "W3 notifications read/s", "n/s", higher_is_better=True),
    Metric("w4", "commands_per_sec", "W4 commands/s, 4 threads", "cmd/s", higher_is_better=True),
)


def check_status(side: Mapping[str, Any] | None) -> str:
    """W4's verdict, or what stopped it."""
    if not side:
        return "-"
    if "skipped" in side:
        return "skipped"
    if "error" in side:
        return "ERROR"
    w4 = side.get("results", {}).get("w4", {})
    return str(w4.get("check", "ERROR" if "error" in w4 else "-"))


def errors(side: Mapping[str, Any] | None) -> list[str]:
    """Every error a side reported, workload by workload."""
    if not side:
        return []
    found = [f"{side.get('library', '?')}: {side['error']}"] if "error" in side else []
    for workload, figures in side.get("results", {}).items():
        if "error" in figures:
            found.append(f"{side.get('library', '?')} {workload}: {figures['error']}")
        found.extend(
            f"{side.get('library', '?')} {workload}: {p}" for p in figures.get("problems", [])
        )
    return found


def store_line(store: str, side: Mapping[str, Any]) -> str:
    """One line of figures for one store and one library."""
    if "skipped" in side:
        return f"{store:<9} {side.get('library', '?'):<14} skipped: {side['skipped']}"
    cells = [
        f"{metric.workload.upper()} {metric.format(metric.value(side)):>10} {metric.unit:<5}"
        for metric in METRICS
    ]
    library = side.get("library", "?")
    return f"{store:<9} {library:<14} " + "   ".join(cells) + f"   {check_status(side)}"


def comparison_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """retell, reference and ratio per workload and store, as aligned text."""
    rows = [("store", "workload", "unit", "retell", "reference", "ratio")]
    for store, sides in results.items():
        for metric in METRICS:
            retell = metric.value(sides.get(RETELL))
            reference = metric.value(sides.get(REFERENCE))
            ratio = metric.ratio(retell, reference)
            rows.append(
                (
                    store,
                    metric.label,
                    metric.unit,
                    metric.format(retell),
                    metric.format(reference),
                    "-" if ratio is None else f"{ratio:.1f}x",
                )
            )
        rows.append(
            (
                store,
                "W4 check",
                "",
                check_status(sides.get(RETELL)),
                check_status(sides.get(REFERENCE)),
                "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        left = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
        lines.append("  ".join(left + right).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def with_ratios(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The results, each store gaining a `ratios` entry (how many times better retell is)."""
    enriched: dict[str, dict[str, Any]] = {}
    for store, sides in results.items():
        ratios = {
            metric.workload: metric.ratio(
                metric.value(sides.get(RETELL)), metric.value(sides.get(REFERENCE))
            )
            for metric in METRICS
        }
        enriched[store] = {**sides, "ratios": ratios}
    return enriched


def write_json(
    path: Path, meta: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> None:
    """Every figure, with what produced it, for docs/benchmarks.md or a later comparison."""
    document = {**meta, "stores": with_ratios(results)}
    path.write_text(json.dumps(document, indent=2) + "\n")


def draw_chart(path: Path, results: Mapping[str, Mapping[str, Any]], title: str) -> None:
    """One panel per workload, retell's and the reference's bars side by side per store."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stores = [
        store
        for store, sides in results.items()
        if any("skipped" not in side for side in sides.values())
    ]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for metric, axis in zip(METRICS, axes.flat, strict=True):
        draw_panel(axis, metric, stores, results)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper right", ncols=len(labels))
    figure.suptitle(title)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def draw_panel(
    axis: Any, metric: Metric, stores: Sequence[str], results: Mapping[str, Mapping[str, Any]]
) -> None:
    """Grouped bars for one workload on a log scale, labelled with the ratio per store.

    A log scale, because the stores differ by orders of magnitude; its bottom is set a
    decade below the smallest bar so that bar heights are not cut off arbitrarily.
    """
    width = 0.38
    sides = [(RETELL, "retell", "#1f77b4"), (REFERENCE, "eventsourcing", "#b0b0b0")]
    drawn: list[float] = []
    for offset, (side, label, colour) in zip((-width / 2, width / 2), sides, strict=True):
        values = [metric.value(results[store].get(side)) for store in stores]
        if all(value is None for value in values):
            continue
        positions = [index + offset for index in range(len(stores))]
        axis.bar(positions, [v or 0.0 for v in values], width, label=label, color=colour)
        drawn += [value for value in values if value]
    for index, store in enumerate(stores):
        retell = metric.value(results[store].get(RETELL))
        reference = metric.value(results[store].get(REFERENCE))
        ratio = metric.ratio(retell, reference)
        if ratio is not None and retell is not None and reference is not None:
            top = max(retell, reference)
            axis.annotate(f"{ratio:.1f}x", (index, top), ha="center", va="bottom")
    axis.set_yscale("log")
    if drawn:
        axis.set_ylim(
            10 ** math.floor(math.log10(min(drawn))), 10 ** (math.log10(max(drawn)) + 0.4)
        )
    axis.set_xticks(range(len(stores)), [tick_label(metric, store, results) for store in stores])
    better = "higher" if metric.higher_is_better else "lower"
    axis.set_title(f"{metric.label} ({better} is better)")
    axis.set_ylabel(metric.unit)


def tick_label(metric: Metric, store: str, results: Mapping[str, Mapping[str, Any]]) -> str:
    """The store's name; under W4 also the integrity check's verdict for each side."""
    if metric.workload != "w4":
        return store
    verdicts = [check_status(results[store].get(side)) for side in (RETELL, REFERENCE)]
    shown = [verdict for verdict in verdicts if verdict not in {"-", "skipped"}]
    return f"{store}\ncheck " + " / ".join(shown) if shown else store
