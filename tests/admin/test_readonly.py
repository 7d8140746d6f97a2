"""Nothing can be added, changed or deleted, by anyone; only who may view events sees them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.test import Client

from retell.django.admin import EventRecordAdmin, SnapshotRecordAdmin, TrackingRecordAdmin
from retell.django.models import EventRecord, SnapshotRecord, TrackingRecord
from tests.admin.conftest import store_env
from tests.admin.domain import new_kennel
from tests.admin.helpers import EVENTS, SNAPSHOTS, TRACKING, history, text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def records(alias: str) -> Iterator[dict[str, tuple[str, int]]]:
    """An event, a snapshot and a tracking position: (the admin's URL, the record's id)."""
    kennel = new_kennel(store_env(alias), snapshots=1)
    dog = kennel.register("Fido")
    event = EventRecord.objects.using(alias).get(application_name=kennel.name)
    snapshot = SnapshotRecord.objects.using(alias).get(application_name=kennel.name)
    tracking = TrackingRecord.objects.using(alias).create(
        application_name=kennel.name, upstream_application_name="Upstream", notification_id=7
    )
    yield {
        "event": (EVENTS, event.pk),
        "snapshot": (SNAPSHOTS, snapshot.pk),
        "tracking": (TRACKING, tracking.pk),
        "aggregate": (history(kennel.name, dog), 0),
    }


MODELS = {"event": EventRecord, "snapshot": SnapshotRecord, "tracking": TrackingRecord}


def snapshot_of_tables(alias: str) -> dict[str, list[tuple[object, ...]]]:
    return {
        name: sorted(model.objects.using(alias).values_list(), key=repr)
        for name, model in MODELS.items()
    }


@pytest.mark.parametrize("kind", ["event", "snapshot", "tracking"])
def test_add_change_and_delete_are_forbidden(
    alias: str, records: dict[str, tuple[str, int]], client: Client, kind: str
) -> None:
    url, pk = records[kind]
    before = snapshot_of_tables(alias)
    assert client.get(url).status_code == 200
    assert client.get(f"{url}{pk}/change/").status_code == 200  # view only
    forbidden = [
        client.get(f"{url}add/"),
        client.post(f"{url}add/", {"application_name": "X", "notification_id": "1"}),
        client.post(f"{url}{pk}/change/", {"application_name": "X", "notification_id": "99"}),
        client.get(f"{url}{pk}/delete/"),
        client.post(f"{url}{pk}/delete/", {"post": "yes"}),
        client.post(url, {"action": "delete_selected", "_selected_action": [pk], "index": 0}),
        client.post(url, {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}),
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden)
    assert snapshot_of_tables(alias) == before


@pytest.mark.parametrize("kind", ["event", "snapshot", "tracking"])
def test_no_page_offers_to_add_save_or_delete(
    records: dict[str, tuple[str, int]], client: Client, kind: str
) -> None:
    url, pk = records[kind]
    for page in (text(client.get(url)), text(client.get(f"{url}{pk}/change/"))):
        assert f'href="{url}add/"' not in page  # (the sidebar has other models' add links)
        assert 'name="_save"' not in page and 'name="_continue"' not in page
        assert 'class="deletelink"' not in page and "/delete/" not in page
        assert 'name="action"' not in page  # no actions, delete_selected included


def test_the_aggregate_pages_refuse_posts(
    records: dict[str, tuple[str, int]], client: Client
) -> None:
    url, _ = records["aggregate"]
    assert client.post(url).status_code == 403
    assert client.post(f"{url}state/").status_code == 403


def test_no_model_admin_grants_a_write(records: dict[str, tuple[str, int]]) -> None:
    for model, model_admin in admin.site._registry.items():
        if model in MODELS.values():
            request = object()
            assert not model_admin.has_add_permission(request)  # type: ignore[arg-type]
            assert not model_admin.has_change_permission(request)  # type: ignore[arg-type]
            assert not model_admin.has_delete_permission(request)  # type: ignore[arg-type]
            assert model_admin.actions is None


def test_the_three_models_are_registered() -> None:
    assert isinstance(admin.site._registry[EventRecord], EventRecordAdmin)
    assert isinstance(admin.site._registry[SnapshotRecord], SnapshotRecordAdmin)
    assert isinstance(admin.site._registry[TrackingRecord], TrackingRecordAdmin)


def test_the_admin_system_checks_pass() -> None:
    messages = checks.run_checks(tags=[checks.Tags.admin, checks.Tags.models])
    assert [m for m in messages if m.level >= checks.ERROR] == []


def test_staff_without_the_view_permission_see_nothing(
    records: dict[str, tuple[str, int]],
) -> None:
    user = User.objects.create(username=f"staff{uuid4().hex[:8]}", is_staff=True)
    client = Client()
    client.force_login(user)
    url, pk = records["event"]
    aggregate, _ = records["aggregate"]
    urls = [url, f"{url}{pk}/change/", aggregate, f"{aggregate}state/"]
    assert [client.get(u).status_code for u in urls] == [403] * len(urls)

    user.user_permissions.add(Permission.objects.get(codename="view_eventrecord"))
    user = User.objects.get(pk=user.pk)  # permissions are cached on the instance
    client.force_login(user)
    assert [client.get(u).status_code for u in urls] == [200] * len(urls)
    assert client.get(f"{url}{pk}/delete/").status_code == 403


def test_without_django_contrib_admin_nothing_is_registered() -> None:
    code = textwrap.dedent(
        """
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=[
            "django.contrib.contenttypes", "django.contrib.auth", "retell.django"])
        django.setup()
        import retell.django.admin
        print("imported")
        """
    )
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
