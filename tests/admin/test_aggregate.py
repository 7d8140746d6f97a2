"""An aggregate's pages: its history in version order, and its state at any version."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from django.test import Client
from django.test.utils import override_settings

from retell.django.admin import views
from retell.django.models import EventRecord
from tests.admin.conftest import store_env
from tests.admin.domain import Kennel, Stream, new_kennel, new_streams
from tests.admin.helpers import EVENTS, history, state, text, visible

_VERSION_ROW = re.compile(r'<tr class="retell-event">\s*<td>(\d+)</td>')
_STATE = re.compile(r'<pre class="retell-json" id="retell-aggregate-state">(.*?)</pre>', re.S)


def versions(response: object) -> list[int]:
    return [int(v) for v in _VERSION_ROW.findall(text(response))]


def shown_state(response: object) -> dict[str, object]:
    match = _STATE.search(text(response))
    assert match, "no state on the page"
    data: dict[str, object] = json.loads(html.unescape(match.group(1)))
    return data


def fido(kennel: Kennel) -> UUID:
    """Fido, at version 4: registered, two tricks, weighed."""
    dog = kennel.register("Fido")
    kennel.add_trick(dog, "sit")
    kennel.add_trick(dog, "roll over")
    kennel.weigh(dog, Decimal("12.5"))
    return dog


def test_the_history_lists_every_event_in_version_order(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = fido(kennel)
    kennel.register("Rex")
    response = client.get(history(kennel.name, dog))
    assert response.status_code == 200
    assert versions(response) == [1, 2, 3, 4]
    page = text(response)
    for record in EventRecord.objects.using(alias).filter(originator_id=dog):
        assert f'href="{EVENTS}{record.pk}/change/"' in page
    assert state(kennel.name, dog) in page
    assert "tests.admin.domain:Dog" in visible(response)  # the aggregate's class
    assert '{"trick": "roll over"}' in html.unescape(page)


def test_the_list_links_to_the_history(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = kennel.register("Fido")
    response = client.get(EVENTS, {"application_name": kennel.name})
    assert f'href="{history(kennel.name, dog)}"' in text(response)


def test_a_long_history_comes_a_page_at_a_time(
    alias: str, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "HISTORY_PAGE", 3)
    kennel = new_kennel(store_env(alias))
    dog = fido(kennel)
    first = client.get(history(kennel.name, dog))
    assert versions(first) == [1, 2, 3]
    assert 'href="?after=3"' in text(first)
    rest = client.get(history(kennel.name, dog), {"after": 3})
    assert versions(rest) == [4]
    assert "?after=" not in text(rest)


def test_an_unknown_aggregate_is_not_found(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = kennel.register("Fido")
    assert client.get(history(kennel.name, uuid4())).status_code == 404
    assert client.get(history("Nobody", dog)).status_code == 404
    assert client.get(state(kennel.name, uuid4())).status_code == 404


def test_the_state_at_each_version(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = fido(kennel)
    at_1 = shown_state(client.get(state(kennel.name, dog, 1)))
    assert at_1["id"] == str(dog) and at_1["version"] == 1
    assert at_1["name"] == "Fido" and at_1["tricks"] == [] and at_1["weight"] is None
    assert at_1["class"] == "tests.admin.domain:Dog"
    at_3 = shown_state(client.get(state(kennel.name, dog, 3)))
    assert at_3["tricks"] == ["sit", "roll over"] and at_3["weight"] is None
    latest = shown_state(client.get(state(kennel.name, dog)))
    assert latest["version"] == 4 and latest["weight"] == "12.5"
    assert latest["created_on"] == at_1["created_on"] != latest["modified_on"]


def test_the_state_page_steps_between_versions(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = fido(kennel)
    page = text(client.get(state(kennel.name, dog, 2)))
    assert 'href="?version=1"' in page and 'href="?version=3"' in page
    assert "Applied 2 events, from the first" in page
    beyond = client.get(state(kennel.name, dog, 99))
    assert shown_state(beyond)["version"] == 4
    nonsense = client.get(f"{state(kennel.name, dog)}?version=x")
    assert shown_state(nonsense)["version"] == 4


def test_the_state_starts_from_the_latest_snapshot(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias), snapshots=2)
    dog = fido(kennel)  # snapshots at versions 2 and 4
    response = client.get(state(kennel.name, dog, 3))
    assert "Started from the snapshot at version 2, then applied 1 event" in visible(response)
    assert shown_state(response)["tricks"] == ["sit", "roll over"]


def test_an_event_that_cannot_be_applied_is_reported(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    dog = kennel.register("Fido")
    kennel.add_trick(dog, "sit")
    EventRecord.objects.using(alias).create(
        application_name=kennel.name,
        originator_id=dog,
        originator_version=3,
        topic="tests.admin.vanished:Dog.Renamed",
        state=b"{}",
    )
    response = client.get(state(kennel.name, dog, 3))
    assert response.status_code == 200
    page = visible(response)
    assert "Version 3 (Dog.Renamed) cannot be applied" in page
    assert "State before the error" in page
    assert shown_state(response)["tricks"] == ["sit"]
    assert client.get(history(kennel.name, dog)).status_code == 200


def test_the_pages_of_an_aggregate_whose_id_is_a_str(alias: str, client: Client) -> None:
    """A str id, "/" and all, is quoted in the pages' URLs as the admin quotes keys."""
    app = new_streams(store_env(alias))
    stream = Stream(id="dogs/fido-1")
    stream.note("sit")
    app.save(stream)
    key = f"{app.name.upper()}_ORIGINATOR_ID_TYPE"
    with override_settings(RETELL={"DJANGO_DB_ALIAS": alias, key: "text"}):
        listed = text(client.get(EVENTS, {"application_name": app.name}))
        assert f'href="{history(app.name, "dogs_2Ffido-1")}"' in listed
        response = client.get(history(app.name, "dogs_2Ffido-1"))
        assert response.status_code == 200
        assert versions(response) == [1, 2]
        page = client.get(state(app.name, "dogs_2Ffido-1"))
        assert page.status_code == 200
        shown = shown_state(page)
        assert (shown["id"], shown["version"], shown["text"]) == ("dogs/fido-1", 2, "sit")
        assert client.get(history(app.name, "dogs_2Ffido-2")).status_code == 404
