"""The example site (examples/dogschool) in a real browser, as `python3 dev.py example` serves it.

Set up with its own ``setup_example`` (migrate, sample dogs, admin/admin) on a
temporary database (``DOGSCHOOL_DB``), served by ``runserver --noreload`` on a free
port, which also runs the leaderboard's worker in-process. Debian's Chromium
(/usr/bin/chromium) is driven by Playwright; a screenshot of each page goes to
test-artifacts/. Skips only when Chromium is missing and RETELL_REQUIRE_SERVICES is
unset.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_read_only,
    free_port,
    wait_until_up,
)

MANAGE = Path(__file__).resolve().parents[2] / "examples" / "dogschool" / "manage.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium; Playwright must be installed (it is in the dev extra)."""
    if not CHROMIUM.exists():
        if os.environ.get("RETELL_REQUIRE_SERVICES"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example, set up on a temporary database and served; its base URL."""
    directory = tmp_path_factory.mktemp("example-site")
    env = {**os.environ, "DOGSCHOOL_DB": str(directory / "db.sqlite3")}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets the example's own
    for _ in range(2):  # the second run must add nothing
        setup = subprocess.run(
            [sys.executable, MANAGE, "setup_example"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert setup.returncode == 0, setup.stderr
    assert setup.stdout.splitlines() == [
        "Sample dogs: there already.",
        "Superuser 'admin': there already.",
    ]
    port = free_port()
    log = directory / "runserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def page(chromium: Any, site: str) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(base_url=site, viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def ranking(page: Any) -> dict[str, int]:
    """The leaderboard's rows, as dog name -> tricks, in rank order."""
    rows = page.locator("#leaderboard tbody tr")
    names = rows.locator("td:nth-child(2)").all_inner_texts()
    tricks = rows.locator("td.tricks-count").all_inner_texts()
    return dict(zip(names, map(int, tricks), strict=True))


def test_register_teach_see_history_and_leaderboard_then_the_admin(page: Any) -> None:
    page.goto("/")
    assert ranking(page) == {"Bella": 4, "Fido": 3, "Rex": 2, "Luna": 0}

    page.fill("input[name=name]", "Bolt")
    page.click("text=Register")
    page.wait_for_url(re.compile(r"/dogs/[0-9a-f-]{36}/$"))
    dog_path = page.url.removeprefix(page.url.split("/dogs/")[0])
    assert "Bolt is registered." in page.inner_text(".messages")
    for trick in ("sit", "jump", "spin", "wave", "high five"):
        page.fill("input[name=trick]", trick)
        page.click("text=Teach")
        page.wait_for_selector(f".messages >> text=Bolt learned {trick}.")
    page.fill("input[name=trick]", "sit")
    page.click("text=Teach")
    assert "Bolt knows 'sit' already." in page.inner_text(".errorlist")
    assert page.locator("#tricks li").all_inner_texts() == [
        "sit",
        "jump",
        "spin",
        "wave",
        "high five",
    ]
    history = page.locator("#history tbody tr")
    assert history.locator("td:first-child").all_inner_texts() == ["1", "2", "3", "4", "5", "6"]
    assert (
        history.locator("td:nth-child(2)").all_inner_texts()
        == ["Dog.Registered"] + ["Dog.TrickAdded"] * 5
    )
    assert history.nth(0).locator("td.data").inner_text() == "name: Bolt"
    assert history.nth(5).locator("td.data").inner_text() == "trick: high five"
    page.screenshot(path=str(ARTIFACTS / "example-dog.png"), full_page=True)

    page.click("text=← Leaderboard")
    assert ranking(page) == {"Bolt": 5, "Bella": 4, "Fido": 3, "Rex": 2, "Luna": 0}
    page.fill("input[name=name]", "Bolt")
    page.click("text=Register")
    assert "Bolt is registered already." in page.inner_text(".errorlist")
    page.screenshot(path=str(ARTIFACTS / "example-leaderboard.png"), full_page=True)

    page.click("header >> text=Admin")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    page.click("text=Events")
    page.wait_for_selector("#result_list")
    assert "Dog.TrickAdded" in page.inner_text("#result_list")
    assert_read_only(page)
    page.screenshot(path=str(ARTIFACTS / "example-admin-events.png"), full_page=True)

    dog_id = dog_path.strip("/").split("/")[-1]
    page.goto(f"/admin/retell/eventrecord/aggregate/DogSchool/{dog_id}/")
    text = page.inner_text("#content")
    assert dog_id in text and text.count("Dog.TrickAdded") >= 5
    assert_read_only(page)
    page.screenshot(path=str(ARTIFACTS / "example-admin-aggregate.png"), full_page=True)
