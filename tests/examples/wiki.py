"""A wiki, after the `eventsourcing` library's content management example.

Pages have a title, a slug and a body. A page's body is recorded as diffs: each
update stores the edit from the last body to the new one, and the body is rebuilt
by applying them in order. A slug finds its page through an index aggregate whose id
is derived from the slug (uuid5), so renaming a slug moves the index, and a slug in
use cannot be taken. Every page created is logged in an `EventSourcedLog`, which
lists the pages a page at a time. Who changed a page last comes from a context
variable that the caller sets (the user of a request, say): each event of a page
takes it in a field that is not an argument of the page's methods.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import field
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from retell import Aggregate, AggregateNotFound, Application, EventSourcedLog, event
from retell.domain import DomainEvent

user_id_cvar: ContextVar[UUID | None] = ContextVar("user_id", default=None)

# --- diffs -------------------------------------------------------------------------------

# An edit replaces the lines [start, stop) of the old text with new lines.
Edit = tuple[int, int, list[str]]


def create_diff(old: str, new: str) -> list[Edit]:
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    return [
        (i1, i2, new_lines[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def apply_diff(old: str, diff: list[Edit]) -> str:
    lines = old.splitlines(keepends=True)
    for start, stop, replacement in reversed(diff):  # from the end: earlier indexes hold
        lines[start:stop] = replacement
    return "".join(lines)


# --- domain ------------------------------------------------------------------------------


class Page(Aggregate):
    class Event(Aggregate.Event):
        user_id: UUID | None = field(default_factory=user_id_cvar.get, init=False)

        def apply(self, aggregate: Any) -> None:
            aggregate.modified_by = self.user_id

    class Created(Event, Aggregate.Created):
        title: str
        slug: str
        body: str

    def __init__(self, title: str, slug: str, body: str = "") -> None:
        self.title = title
        self.slug = slug
        self.body = body
        self.modified_by: UUID | None = None

    @event("TitleUpdated")
    def update_title(self, title: str) -> None:
        self.title = title

    @event("SlugUpdated")
    def update_slug(self, slug: str) -> None:
        self.slug = slug

    def update_body(self, body: str) -> None:
        self._update_body(create_diff(self.body, body))

    @event("BodyUpdated")
    def _update_body(self, diff: list[Edit]) -> None:
        self.body = apply_diff(self.body, diff)


class Index(Aggregate):
    """Which page a slug names (none, once the page moved to another slug)."""

    @event("Created")
    def __init__(self, slug: str, ref: UUID | None) -> None:
        self.slug = slug
        self.ref = ref

    @staticmethod
    def create_id(slug: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/slugs/{slug}")

    @event("RefChanged")
    def update_ref(self, ref: UUID | None) -> None:
        self.ref = ref


class PageLogged(DomainEvent):
    page_id: UUID


# --- application -------------------------------------------------------------------------


class PageNotFoundError(Exception):
    """No page has this slug."""


class SlugConflictError(Exception):
    """Another page has this slug."""


PageDetails = dict[str, Any]


class ContentManagement(Application):
    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.page_log: EventSourcedLog[PageLogged] = EventSourcedLog(
            events=self.events,
            originator_id=uuid5(NAMESPACE_URL, "/page_log"),
            logged_cls=PageLogged,
        )

    def create_page(self, title: str, slug: str, body: str = "") -> UUID:
        if self._page_id(slug) is not None:
            raise SlugConflictError(slug)
        page = Page(title=title, slug=slug, body=body)
        index = self._index(slug)
        if index is None:
            index = Index(slug, page.id)
        else:
            index.update_ref(page.id)
        self.save(page, index, self.page_log.trigger_event(page_id=page.id))
        return page.id

    def get_page_by_slug(self, slug: str) -> PageDetails:
        return self._details(self._get_page_by_slug(slug))

    def get_page_by_id(self, page_id: UUID) -> PageDetails:
        return self._details(self.repository.get(page_id))

    def update_title(self, slug: str, title: str) -> None:
        page = self._get_page_by_slug(slug)
        page.update_title(title)
        self.save(page)

    def update_body(self, slug: str, body: str) -> None:
        page = self._get_page_by_slug(slug)
        page.update_body(body)
        self.save(page)

    def update_slug(self, old_slug: str, new_slug: str) -> None:
        page = self._get_page_by_slug(old_slug)
        old_index = self._index(old_slug)
        assert old_index is not None
        new_index = self._index(new_slug)
        if new_index is None:
            new_index = Index(new_slug, page.id)
        elif new_index.ref is None:
            new_index.update_ref(page.id)
        else:
            raise SlugConflictError(new_slug)
        page.update_slug(new_slug)
        old_index.update_ref(None)
        self.save(page, old_index, new_index)

    def get_pages(
        self,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[PageDetails]:
        for logged in self.page_log.get(gt=gt, lte=lte, desc=desc, limit=limit):
            yield self.get_page_by_id(logged.page_id)

    def _get_page_by_slug(self, slug: str) -> Page:
        page_id = self._page_id(slug)
        if page_id is None:
            raise PageNotFoundError(slug)
        page: Page = self.repository.get(page_id)
        return page

    def _page_id(self, slug: str) -> UUID | None:
        index = self._index(slug)
        return None if index is None else index.ref

    def _index(self, slug: str) -> Index | None:
        try:
            index: Index = self.repository.get(Index.create_id(slug))
        except AggregateNotFound:
            return None
        return index

    @staticmethod
    def _details(page: Page) -> PageDetails:
        return {
            "id": page.id,
            "slug": page.slug,
            "title": page.title,
            "body": page.body,
            "modified_by": page.modified_by,
        }
