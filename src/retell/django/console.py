"""The text the worker commands print: the status table and the rebuild's progress bar.

Both are plain text that reads the same in a terminal, a log file and a CI job:
no colours, no cursor movement beyond a carriage return, and that only on a TTY.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.management.base import OutputWrapper

from retell.system.worker import FollowerStatus

COLUMNS = ("NAME", "KIND", "LEADER", "POSITION", "LEADER AT", "LAG", "WORKER")


def status_table(rows: Sequence[FollowerStatus]) -> list[str]:
    """The rows as aligned columns under a header; numbers are right-aligned."""
    cells = [COLUMNS] + [
        (
            row.follower,
            row.kind,
            row.leader,
            str(row.position),
            str(row.leader_position),
            row.lag_text,
            row.state,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    numeric = {3, 4, 5}
    return [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]


class ProgressBar:
    """Reports a rebuild's (position, last) as a bar, on a command's ``self.stderr``.

    On a terminal it redraws one line in place; elsewhere it writes a new line each
    time another tenth is done, so a log gets about ten lines, not thousands.
    Positions of the Django store's log have gaps (one sequence for every
    application), so the fraction is of the span from `first` to `last`.
    """

    width = 30

    def __init__(self, out: OutputWrapper, first: int, label: str = "") -> None:
        self.out = out
        self.first = first
        self.label = label
        self._tty = out.isatty()
        self._tenths_written = -1
        self._finished = False

    def __call__(self, position: int, last: int) -> None:
        if self._finished:
            return
        span = last - self.first
        fraction = 1.0 if span <= 0 else min(max((position - self.first) / span, 0.0), 1.0)
        filled = round(fraction * self.width)
        text = (
            f"{self.label}[{'#' * filled}{'.' * (self.width - filled)}] "
            f"{fraction:4.0%}  position {position} of {last}"
        )
        done = self._finished = fraction >= 1.0
        if self._tty:
            self.out.write("\r" + text, ending="\n" if done else "")
        elif int(fraction * 10) > self._tenths_written:
            self._tenths_written = int(fraction * 10)
            self.out.write(text)
        self.out.flush()
