"""Keeps each test's outcome on its item, so the `page` fixture can screenshot a failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":  # type: ignore[attr-defined]
        item.retell_call_report = report  # type: ignore[attr-defined]
    return report
