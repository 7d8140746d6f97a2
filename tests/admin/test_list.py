"""The event list: newest first, filters, search by aggregate id, and no counting."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from retell.django.models import EventRecord
from tests.admin.conftest import store_env
from tests.admin.domain import Kennel, Stream, new_kennel, new_streams
from tests.admin.helpers import EVENTS, positions, text, visible


@pytest.fixture
def kennel(alias: str) -> Kennel:
    """Fido (registered, two tricks) and Rex (registered) in a kennel of this test's own."""
    kennel = new_kennel(store_env(alias))
    fido = kennel.register("Fido")
    kennel.add_trick(fido, "sit")
    kennel.add_trick(fido, "roll over")
    kennel.register("Rex")
    return kennel


def ids(alias: str, kennel: Kennel, **lookups: object) -> list[int]:
    records = EventRecord.objects.using(alias).filter(application_name=kennel.name, **lookups)
    return list(records.order_by("-id").values_list("id", flat=True))


def test_the_list_shows_an_applications_events_newest_first(
    alias: str, kennel: Kennel, client: Client
) -> None:
    response = client.get(EVENTS, {"application_name": kennel.name})
    assert response.status_code == 200
    assert positions(response) == ids(alias, kennel)
    page = visible(response)
    assert "Dog.Registered" in page and "Dog.TrickAdded" in page
    assert " UTC" in page  # the time column, read from each event's state


def test_the_whole_list_opens(kennel: Kennel, client: Client) -> None:
    response = client.get(EVENTS)
    assert response.status_code == 200
    shown = positions(response)
    assert shown == sorted(shown, reverse=True)


def test_no_page_counts_rows(alias: str, kennel: Kennel, client: Client) -> None:
    urls = [
        EVENTS,
        f"{EVENTS}?application_name={kennel.name}",
        f"{EVENTS}?application_name={kennel.name}&topic=tests.admin.domain:Dog.TrickAdded",
        f"{EVENTS}?q={uuid4()}",
    ]
    for url in urls:
        with CaptureQueriesContext(connections[alias]) as queries:
            assert client.get(url).status_code == 200
        statements = [q["sql"].upper() for q in queries.captured_queries]
        assert statements, url
        assert not [s for s in statements if "COUNT(" in s], url


def test_pages_go_forward_and_back_without_a_count(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    for n in range(56):  # 56 dogs: a page of 50, then one of 6
        kennel.register(f"Dog {n}")
    expected = ids(alias, kennel)

    first = client.get(EVENTS, {"application_name": kennel.name})
    assert positions(first) == expected[:50]
    assert 'class="retell-next"' in text(first) and "retell-previous" not in text(first)
    assert "56 events" not in visible(first) and " results" not in visible(first)

    second = client.get(EVENTS, {"application_name": kennel.name, "p": "2"})
    assert positions(second) == expected[50:]
    assert "retell-next" not in text(second) and 'class="retell-previous"' in text(second)

    beyond = client.get(EVENTS, {"application_name": kennel.name, "p": "3"})
    assert beyond.status_code == 302 and beyond["Location"].endswith("?e=1")


def test_position_jumps_to_events_at_or_before_it(
    alias: str, kennel: Kennel, client: Client
) -> None:
    expected = ids(alias, kennel)
    response = client.get(EVENTS, {"application_name": kennel.name, "id__lte": str(expected[1])})
    assert positions(response) == expected[1:]


def test_the_filters_list_applications_and_their_event_types(
    kennel: Kennel, client: Client
) -> None:
    response = client.get(EVENTS, {"application_name": kennel.name})
    page = text(response)
    assert f"?application_name={kennel.name}" in page
    assert "topic=tests.admin.domain%3ADog.TrickAdded" in page
    assert "topic=tests.admin.domain%3ADog.Registered" in page


def test_filter_by_event_type(alias: str, kennel: Kennel, client: Client) -> None:
    topic = "tests.admin.domain:Dog.TrickAdded"
    response = client.get(EVENTS, {"application_name": kennel.name, "topic": topic})
    assert positions(response) == ids(alias, kennel, topic=topic)
    assert len(positions(response)) == 2


def test_filter_by_event_type_alone(alias: str, kennel: Kennel, client: Client) -> None:
    topic = "tests.admin.domain:Dog.TrickAdded"
    shown = positions(client.get(EVENTS, {"topic": topic}))
    assert set(ids(alias, kennel, topic=topic)) <= set(shown)
    of_topic = EventRecord.objects.using(alias).filter(topic=topic)
    assert set(shown) <= set(of_topic.values_list("id", flat=True))


def test_search_by_aggregate_id(alias: str, kennel: Kennel, client: Client) -> None:
    fido = kennel.repository.get(
        UUID(
            EventRecord.objects.using(alias)
            .filter(application_name=kennel.name, originator_version=3)
            .get()
            .originator_id
        )
    )
    for term in (str(fido.id), str(fido.id).upper(), f" {fido.id.hex} "):
        response = client.get(EVENTS, {"q": term})
        assert positions(response) == ids(alias, kennel, originator_id=fido.id), term


def test_search_for_an_unknown_aggregate_finds_nothing(kennel: Kennel, client: Client) -> None:
    response = client.get(EVENTS, {"q": str(uuid4())})
    assert response.status_code == 200
    assert positions(response) == []


def test_a_search_for_a_str_id_finds_it_exactly(alias: str, client: Client) -> None:
    """A str id is searched as it is: exactly, and not as a UUID nor as text."""
    app = new_streams(store_env(alias))
    app.save(Stream(id="dog-Fido"), Stream(id="dog-fido"))
    response = client.get(EVENTS, {"q": "dog-Fido"})
    assert response.status_code == 200
    found = EventRecord.objects.using(alias).filter(
        application_name=app.name, originator_id="dog-Fido"
    )
    assert positions(response) == list(found.values_list("id", flat=True))
    assert len(positions(response)) == 1  # not dog-fido's
    assert positions(client.get(EVENTS, {"q": "Fido"})) == []


def test_sorting_by_another_column_is_ignored(alias: str, kennel: Kennel, client: Client) -> None:
    response = client.get(EVENTS, {"application_name": kennel.name, "o": "3"})
    assert positions(response) == ids(alias, kennel)


def test_lookups_that_could_scan_the_table_are_refused(kennel: Kennel, client: Client) -> None:
    response = client.get(EVENTS, {"state__contains": "Fido"})
    assert response.status_code == 400
