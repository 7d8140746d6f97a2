"""The wiki example on every store."""

from __future__ import annotations

from uuid import uuid4

import pytest

from retell import ConcurrencyError
from tests.examples.wiki import (
    ContentManagement,
    Index,
    Page,
    PageNotFoundError,
    SlugConflictError,
    apply_diff,
    create_diff,
    user_id_cvar,
)


def test_diffs() -> None:
    old = "one\ntwo\nthree\n"
    for new in ["one\n2\nthree\nfour\n", "", "zero\none\nthree", old]:
        assert apply_diff(old, create_diff(old, new)) == new
    assert create_diff(old, old) == []


def test_pages_edited_renamed_and_listed(example_env: dict[str, str]) -> None:
    with ContentManagement(env=example_env) as wiki:
        alice, bob = uuid4(), uuid4()

        token = user_id_cvar.set(alice)
        try:
            wiki.create_page(title="Animals", slug="animals")
            wiki.update_body("animals", "Cats\nDogs\n")
        finally:
            user_id_cvar.reset(token)
        page = wiki.get_page_by_slug("animals")
        assert (page["title"], page["body"], page["modified_by"]) == (
            "Animals",
            "Cats\nDogs\n",
            alice,
        )

        # The body is recorded as the edit, not the whole text.
        token = user_id_cvar.set(bob)
        try:
            wiki.update_body("animals", "Cats\nDogs\nHorses\n")
            wiki.update_title("animals", "Mammals")
        finally:
            user_id_cvar.reset(token)
        page = wiki.get_page_by_slug("animals")
        assert (page["title"], page["body"], page["modified_by"]) == (
            "Mammals",
            "Cats\nDogs\nHorses\n",
            bob,
        )
        page_id = page["id"]
        events = list(wiki.events.get(page_id))
        assert [type(e) for e in events] == [
            Page.Created,
            Page.BodyUpdated,
            Page.BodyUpdated,
            Page.TitleUpdated,
        ]
        assert [tuple(edit) for edit in events[2].diff] == [(2, 2, ["Horses\n"])]
        assert [e.user_id for e in events] == [alice, alice, bob, bob]
        assert wiki.get_page_by_id(page_id)["body"] == "Cats\nDogs\nHorses\n"
        assert wiki.repository.get(page_id, version=2).body == "Cats\nDogs\n"

        # Without a user in the context, no user is recorded.
        wiki.update_body("animals", "Cats\nHorses\n")
        assert wiki.get_page_by_slug("animals")["modified_by"] is None

        # A new slug: the old one names no page, and can be taken by another page.
        wiki.update_slug("animals", "mammals")
        assert wiki.get_page_by_slug("mammals")["id"] == page_id
        with pytest.raises(PageNotFoundError):
            wiki.get_page_by_slug("animals")
        assert wiki.repository.get(Index.create_id("animals")).ref is None
        other_id = wiki.create_page(title="Animals", slug="animals", body="All of them.\n")
        assert wiki.get_page_by_slug("animals")["id"] == other_id
        with pytest.raises(SlugConflictError):
            wiki.update_slug("mammals", "animals")
        with pytest.raises(SlugConflictError):
            wiki.create_page(title="Again", slug="mammals")
        assert wiki.get_page_by_slug("mammals")["title"] == "Mammals"


def test_paging_through_the_pages(example_env: dict[str, str]) -> None:
    with ContentManagement(env=example_env) as wiki:
        slugs = [f"page-{n}" for n in range(1, 8)]
        for slug in slugs:
            wiki.create_page(title=slug.title(), slug=slug)
        wiki.update_slug("page-3", "third")

        assert [p["slug"] for p in wiki.get_pages()] == [
            "page-1",
            "page-2",
            "third",
            *slugs[3:],
        ]
        # Page by page, each from the position where the last ended.
        pages, gt = [], None
        while True:
            page = [p["title"] for p in wiki.get_pages(gt=gt, limit=3)]
            if not page:
                break
            pages.append(page)
            gt = (gt or 0) + len(page)
        assert pages == [
            ["Page-1", "Page-2", "Page-3"],
            ["Page-4", "Page-5", "Page-6"],
            ["Page-7"],
        ]
        assert [p["slug"] for p in wiki.get_pages(desc=True, limit=2)] == ["page-7", "page-6"]
        assert [p["slug"] for p in wiki.get_pages(gt=2, lte=4)] == ["third", "page-4"]
        assert wiki.page_log.get_last() is not None
        assert wiki.get_page_by_id(wiki.page_log.get_last().page_id)["slug"] == "page-7"

        # The log takes the next version: a second writer of the same version fails,
        # and nothing of its save is recorded (its page neither).
        stale = wiki.page_log.trigger_event(page_id=uuid4())
        wiki.create_page(title="Eight", slug="page-8")
        late = Page(title="Late", slug="late")
        with pytest.raises(ConcurrencyError):
            wiki.save(late, stale)
        assert late.id not in wiki.repository
        assert len(list(wiki.get_pages())) == 8
