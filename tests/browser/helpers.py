"""What the browser tests share: Debian's Chromium, a free port, waiting for runserver."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    if os.environ.get("RETELL_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (RETELL_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"runserver exited:\n{log.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"runserver did not answer {url} within 30 s:\n{log.read_text()}", pytrace=False)


def assert_read_only(page: Any) -> None:
    """No control on the page's own content adds, saves or deletes anything."""
    content = page.locator("#content-main")
    for selector in (
        "a.addlink",
        "a.deletelink",
        "input[name=_save]",
        "input[name=_continue]",
        "input[name=_addanother]",
        "select[name=action]",
        "a[href$='/delete/']",
        "a[href$='/add/']",
    ):
        assert content.locator(selector).count() == 0, selector
