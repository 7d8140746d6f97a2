"""Compare two variants of retell under W4's load, switching between them every second.

    .venv/bin/python benchmarks/paired.py --store postgres --variant my_patch:switch
    .venv/bin/python benchmarks/paired.py --store postgres      # no variant: the noise

Why: on a shared two-core machine retell's PostgreSQL rates drift by a quarter from one
run to the next (docs/benchmarks.md), so two whole runs cannot tell a change of 5% from
noise. This runs W4's commands (threads running the dog-school commands on one
application) without a break, and switches the variant on for one slice and off for the
next. Each slice is compared with the one before it, so slow drift cancels out; the
median of those ratios shows a change of a few percent. Without a variant it measures
how far from 1.00 that median comes by chance.

`--variant module:function`: the module is imported (from PYTHONPATH or the current
directory) before the application is made, so it can patch retell; `function(app, on)`
is then called at the start of every slice, with on=False for A and True for B.

It also prints the machine's CPU time per command in each variant (all processes, from
/proc/stat, on Linux): a change that saves CPU shows there even when the rate moves less.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import retell_workload

Switch = Callable[[Any, bool], None]


def _busy_ticks() -> int | None:
    """Clock ticks the machine's processors spent not idle (None off Linux)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return None
    fields = [int(value) for value in stat.read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # less idle and iowait


def _no_variant(app: Any, on: bool) -> None:
    """The null variant: both halves the same."""


def _load_switch(spec: str | None) -> Switch:
    if spec is None:
        return _no_variant
    module_name, _, function = spec.partition(":")
    sys.path.insert(0, str(Path.cwd()))
    switch: Switch = getattr(importlib.import_module(module_name), function or "switch")
    return switch


def _ratio_line(name: str, a: list[float], b: list[float]) -> str:
    pairs = [after / before for before, after in zip(a, b, strict=False) if before > 0]
    quartiles = statistics.quantiles(pairs) if len(pairs) >= 2 else [pairs[0]] * 3
    return (
        f"{name}: A {statistics.median(a):,.0f}  B {statistics.median(b):,.0f}  "
        f"B/A {statistics.median(pairs):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, "
        f"{len(pairs)} pairs)"
    )


class Load:
    """Threads running the dog-school commands on `app` until stopped, counting them."""

    def __init__(self, app: Any, store: harness.Store, threads: int) -> None:
        self.done = [0] * threads  # commands per thread: each thread writes only its own
        self._app, self._store = app, store
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, index: int) -> None:
        number = 0
        while not self._stopping.is_set():
            dog_id = self._app.register(f"paired-{index}-{number}")
            self.done[index] += 1
            for trick in range(1, harness.TRICKS_PER_DOG + 1):
                self._app.add_trick(dog_id, harness.trick_name(trick))
                self.done[index] += 1
            number += 1
        self._store.thread_done()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()


def measure(
    app: Any, load: Load, switch: Switch, seconds: float, slice_seconds: float
) -> tuple[dict[bool, list[float]], dict[bool, list[float]]]:
    """Commands per second and CPU µs per command of each slice, by variant (on or off)."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    on = False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        switch(app, on)
        time.sleep(min(0.05, slice_seconds / 10))  # let the switch take hold
        ticks, count, started = _busy_ticks(), sum(load.done), time.perf_counter()
        time.sleep(slice_seconds)
        commands = sum(load.done) - count
        rates[on].append(commands / (time.perf_counter() - started))
        after = _busy_ticks()
        if ticks is not None and after is not None and commands:
            cpu[on].append((after - ticks) * 1e6 / 100 / commands)  # USER_HZ = 100
        on = not on
    return rates, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", default="postgres", help="a store of retell_workload.py")
    parser.add_argument("--variant", help="module:function, called (app, on) every slice")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per slice")
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds in all")
    args = parser.parse_args()

    switch = _load_switch(args.variant)
    store = retell_workload.STORES[args.store]
    with tempfile.TemporaryDirectory(prefix="paired-") as scratch:
        store.setup()
        app = retell_workload.open_app(store.env(Path(scratch) / "paired.sqlite"))
        load = Load(app, store, args.threads)
        try:
            time.sleep(1.0)  # warm up
            rates, cpu = measure(app, load, switch, args.seconds, args.slice)
        finally:
            load.stop()
            app.close()
            store.teardown()
            store.finish()
    print(_ratio_line("commands/s", rates[False], rates[True]))
    if cpu[False] and cpu[True]:
        print(_ratio_line("CPU µs per command, whole machine", cpu[False], cpu[True]))


if __name__ == "__main__":
    main()
