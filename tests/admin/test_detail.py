"""An event's page: its state decoded with its application's settings, whatever it holds."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from uuid import UUID, uuid4

import pytest
from django.test import Client
from django.test.utils import override_settings

from retell.cipher import AESCipher
from retell.django.models import EventRecord
from tests.admin.conftest import store_env
from tests.admin.domain import new_kennel
from tests.admin.helpers import EVENTS, history, state, text, visible

ZLIB = "retell.compressor:ZlibCompressor"


def detail(client: Client, record: EventRecord) -> str:
    response = client.get(f"{EVENTS}{record.pk}/change/")
    assert response.status_code == 200
    return text(response)


def shown_json(page: str) -> dict[str, object]:
    """The JSON in the page's event block."""
    match = re.search(r'<pre class="retell-json">(.*?)</pre>', page, re.S)
    assert match, "no JSON on the page"
    data: dict[str, object] = json.loads(html.unescape(match.group(1)))
    return data


def first_event(alias: str, application: str) -> EventRecord:
    return EventRecord.objects.using(alias).filter(application_name=application).earliest("id")


def test_an_event_is_shown_as_json_with_readable_values(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    fido = kennel.register("Fido", born=date(2020, 5, 17))
    page = detail(client, first_event(alias, kennel.name))
    data = shown_json(page)
    assert data["originator_id"] == str(fido)
    assert data["originator_version"] == 1
    assert data["name"] == "Fido"
    assert data["born"] == "2020-05-17"
    assert str(data["timestamp"]).startswith(str(date.today().year))
    assert data["originator_topic"] == "tests.admin.domain:Dog"
    assert "correlation_id" not in data  # unset ids are left out
    assert history(kennel.name, fido) in page
    assert state(kennel.name, fido, 1) in page


def test_an_encrypted_event_is_shown_encrypted_without_the_key(alias: str, client: Client) -> None:
    key = AESCipher.create_key()
    kennel = new_kennel(store_env(alias, CIPHER_KEY=key))
    kennel.register("Fido")
    record = first_event(alias, kennel.name)
    page = visible_detail(client, record)
    assert "Encrypted" in page and "CIPHER_KEY" in page
    assert "Fido" not in page


def test_an_encrypted_event_is_decoded_with_the_key(alias: str, client: Client) -> None:
    key = AESCipher.create_key()
    kennel = new_kennel(store_env(alias, CIPHER_KEY=key))
    kennel.register("Fido")
    record = first_event(alias, kennel.name)
    with override_settings(RETELL={"DJANGO_DB_ALIAS": alias, "CIPHER_KEY": key}):
        assert shown_json(detail(client, record))["name"] == "Fido"
    prefixed = {"DJANGO_DB_ALIAS": alias, f"{kennel.name.upper()}_CIPHER_KEY": key}
    with override_settings(RETELL=prefixed):
        assert shown_json(detail(client, record))["name"] == "Fido"


def test_a_wrong_key_says_so(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias, CIPHER_KEY=AESCipher.create_key()))
    kennel.register("Fido")
    record = first_event(alias, kennel.name)
    wrong = {"DJANGO_DB_ALIAS": alias, "CIPHER_KEY": AESCipher.create_key()}
    with override_settings(RETELL=wrong):
        page = visible_detail(client, record)
    assert "Cannot decrypt" in page and "not the key it was written with" in page
    assert "Fido" not in page


def test_a_malformed_key_says_so(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    kennel.register("Fido")
    with override_settings(RETELL={"DJANGO_DB_ALIAS": alias, "CIPHER_KEY": "not a key"}):
        page = visible_detail(client, first_event(alias, kennel.name))
    assert "cannot be used" in page and "CIPHER_KEY is not base64" in page


def test_an_event_stored_before_encryption_still_shows(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias))
    kennel.register("Fido")
    keyed = {"DJANGO_DB_ALIAS": alias, "CIPHER_KEY": AESCipher.create_key()}
    with override_settings(RETELL=keyed):
        page = detail(client, first_event(alias, kennel.name))
    assert shown_json(page)["name"] == "Fido"
    assert "Stored without encryption" in page


def test_a_compressed_event_is_decoded_with_the_compressor(alias: str, client: Client) -> None:
    kennel = new_kennel(store_env(alias, COMPRESSOR_TOPIC=ZLIB))
    kennel.register("Fido")
    record = first_event(alias, kennel.name)
    assert "Encrypted (or compressed)" in visible_detail(client, record)
    with override_settings(RETELL={"DJANGO_DB_ALIAS": alias, "COMPRESSOR_TOPIC": ZLIB}):
        assert shown_json(detail(client, record))["name"] == "Fido"


@pytest.fixture
def vanished(alias: str) -> EventRecord:
    """An event whose class is gone: its module cannot be imported any more."""
    originator_id, colour = uuid4(), uuid4()
    state = {
        "originator_id": str(originator_id),
        "originator_version": 1,
        "timestamp": "2026-01-02T03:04:05Z",
        "colour": {"__t": "uuid", "v": str(colour)},
    }
    record: EventRecord = EventRecord.objects.using(alias).create(
        application_name=f"Gone{uuid4().hex[:8]}",
        originator_id=originator_id,
        originator_version=1,
        topic="tests.admin.vanished:Cat.Adopted",
        state=json.dumps(state).encode(),
    )
    return record


def test_an_event_whose_class_is_gone_shows_its_stored_json(
    vanished: EventRecord, client: Client
) -> None:
    page = detail(client, vanished)
    assert "cannot be imported" in visible(page)
    data = shown_json(page)
    assert data["originator_id"] == str(vanished.originator_id)
    assert UUID(str(data["colour"]))  # the tagged UUID, shown as itself
    assert "2026-01-02 03:04:05 UTC" in page  # the time, from the stored JSON


def test_an_event_whose_state_is_not_json_says_so(alias: str, client: Client) -> None:
    record = EventRecord.objects.using(alias).create(
        application_name=f"Broken{uuid4().hex[:8]}",
        originator_id=uuid4(),
        originator_version=1,
        topic="tests.admin.domain:Dog.Registered",
        state=b"{not json at all",
    )
    page = visible_detail(client, record)
    assert "Encrypted (or compressed)" in page
    with override_settings(RETELL={"CIPHER_KEY": AESCipher.create_key(), "DJANGO_DB_ALIAS": alias}):
        assert "Cannot decrypt" in visible_detail(client, record)


def test_an_event_that_no_longer_fits_its_class_shows_its_stored_json(
    alias: str, client: Client
) -> None:
    record = EventRecord.objects.using(alias).create(
        application_name=f"Changed{uuid4().hex[:8]}",
        originator_id=uuid4(),
        originator_version=2,
        topic="tests.admin.domain:Dog.TrickAdded",
        state=b'{"originator_id":"%s","originator_version":2,"timestamp":"2026-01-02T03:04:05Z",'
        b'"trick":17}' % str(uuid4()).encode(),
    )
    page = detail(client, record)
    assert "does not decode as tests.admin.domain:Dog.TrickAdded" in page
    assert shown_json(page)["trick"] == 17


def visible_detail(client: Client, record: EventRecord) -> str:
    return visible(detail(client, record))
