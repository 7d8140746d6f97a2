"""The event admin in a real browser: log in, list, filter, search, open an event and its
aggregate, and see that nothing offers to add, save or delete.

Debian's Chromium (/usr/bin/chromium), driven by Playwright, against ``runserver`` in
a subprocess on a free port of 127.0.0.1, with the project tests/browser/site (a
SQLite database of its own, seeded by tests/browser/site/seed.py). Screenshots of
each page go to test-artifacts/ at the repository's root. Playwright never downloads
a browser here: it is given Debian's.

Skips when Chromium or Playwright is missing, unless RETELL_REQUIRE_SERVICES is set
(as in CI), where that fails instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    assert_read_only,
    free_port,
    unavailable,
    wait_until_up,
)
from tests.browser.site.seed import DOGS, PASSWORD, USERNAME

SETTINGS = "tests.browser.site.settings"
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seeded project served by ``runserver``; its base URL."""
    directory = tmp_path_factory.mktemp("browser-site")
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "RETELL_BROWSER_DB": str(directory / "site.sqlite3"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.browser.site.seed"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    log = directory / "runserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/admin/login/", server, log)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is missing: pip install playwright")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, site: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page logged into the admin as the superuser; a screenshot is kept if the test fails."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    try:
        yield page
    finally:
        report = getattr(request.node, "retell_call_report", None)
        if report is not None and report.failed:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
        context.close()


def column(page: Any, name: str) -> list[str]:
    """The texts of one column of the change list."""
    texts: list[str] = page.locator(f"#result_list td.field-{name}").all_inner_texts()
    return texts


def test_browse_filter_open_an_event_and_its_aggregate(page: Any) -> None:
    page.click("text=Events")
    page.wait_for_selector("#result_list")
    assert_read_only(page)
    assert len(column(page, "event_type")) == 5 + sum(map(len, DOGS.values())) + 2 + 3
    page.screenshot(path=str(ARTIFACTS / "admin-events.png"))

    filters = page.locator("#changelist-filter")
    filters.get_by_role("link", name="DogSchool", exact=True).click()
    page.wait_for_url(re.compile(r"application_name=DogSchool"))
    assert set(column(page, "application")) == {"DogSchool"}
    filters.get_by_role("link", name="Dog.TrickAdded", exact=True).click()
    page.wait_for_url(re.compile(r"topic=.*Dog\.TrickAdded"))
    assert set(column(page, "event_type")) == {"Dog.TrickAdded"}
    assert len(column(page, "event_type")) == sum(map(len, DOGS.values()))

    page.locator("#result_list th.field-position a").first.click()
    page.wait_for_selector("pre.retell-json")
    assert_read_only(page)
    assert '"trick"' in page.inner_text("pre.retell-json")
    page.screenshot(path=str(ARTIFACTS / "admin-event.png"), full_page=True)

    page.click("text=Aggregate history")
    page.wait_for_selector("tr.retell-event")
    assert_read_only(page)
    versions = page.locator("tr.retell-event td:first-child").all_inner_texts()
    assert versions == [str(v) for v in range(1, len(versions) + 1)]
    assert len(versions) >= 2
    page.screenshot(path=str(ARTIFACTS / "admin-aggregate.png"), full_page=True)

    page.locator("tr.retell-event").nth(1).get_by_role("link", name="at v2").click()
    page.wait_for_selector("#retell-aggregate-state")
    state = page.inner_text("#retell-aggregate-state")
    assert '"version": 2' in state and '"tricks": [' in state
    assert_read_only(page)
    page.screenshot(path=str(ARTIFACTS / "admin-state.png"), full_page=True)


def test_search_by_aggregate_id(page: Any) -> None:
    page.goto("/admin/retell/eventrecord/")
    aggregate = page.locator("#result_list td.field-aggregate a").first.inner_text()
    assert UUID_TEXT.match(aggregate)
    page.fill("#searchbar", aggregate)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"[?&]q="))
    assert set(column(page, "aggregate")) == {aggregate}

    page.fill("#searchbar", "Fido")  # a str id: no aggregate of the site has it
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"[?&]q=Fido"))
    assert column(page, "aggregate") == []
