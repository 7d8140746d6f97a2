"""Reading the admin's pages in tests."""

from __future__ import annotations

import html
import re
from typing import Any

EVENTS = "/admin/retell/eventrecord/"
SNAPSHOTS = "/admin/retell/snapshotrecord/"
TRACKING = "/admin/retell/trackingrecord/"

_POSITION = re.compile(r'class="field-position"><a href="[^"]*">(\d+)</a>')
_TAGS = re.compile(r"<[^>]+>")


def text(response: Any) -> str:
    """The page's content, as text."""
    content: bytes = response.content
    return content.decode()


def positions(response: Any) -> list[int]:
    """The positions (ids) of the events listed, in the order shown."""
    return [int(p) for p in _POSITION.findall(text(response))]


def visible(page: Any) -> str:
    """The page (a response or its text) without its tags, entities decoded, whitespace
    collapsed: what a person reads."""
    content = page if isinstance(page, str) else text(page)
    return " ".join(html.unescape(_TAGS.sub(" ", content)).split())


def history(application: str, originator_id: object) -> str:
    return f"{EVENTS}aggregate/{application}/{originator_id}/"


def state(application: str, originator_id: object, version: int | None = None) -> str:
    query = "" if version is None else f"?version={version}"
    return f"{history(application, originator_id)}state/{query}"
