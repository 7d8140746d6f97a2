"""System checks report bad configuration from settings.RETELL and os.environ."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings

from retell.django.checks import check_retell


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id or "" for message in check_retell()]


def messages(**settings: Any) -> str:
    with override_settings(**settings):
        return "\n".join(str(message) for message in check_retell())


def test_good_configuration_passes() -> None:
    good = {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": "default"}
    assert ids(RETELL=good, RETELL_RUNNER="tests.django.shop.domain.get_runner") == []


def test_e001_unknown_persistence_module() -> None:
    assert ids(RETELL={"PERSISTENCE_MODULE": "retell.nothing"}) == ["retell.E001"]
    assert "retell.nothing" in messages(RETELL={"PERSISTENCE_MODULE": "retell.nothing"})


def test_e001_for_a_prefixed_key() -> None:
    text = messages(RETELL={"DOGSCHOOL_PERSISTENCE_MODULE": "json"})
    assert "DOGSCHOOL_PERSISTENCE_MODULE='json'" in text
    assert "for the application DOGSCHOOL" in text


def test_e002_unknown_alias() -> None:
    settings = {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": "replica"}
    assert ids(RETELL=settings) == ["retell.E002"]
    assert "'replica'" in messages(RETELL=settings)


def test_e002_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_DB_ALIAS", "replica")
    assert ids(RETELL={"PERSISTENCE_MODULE": "retell.django"}) == ["retell.E002"]


def test_os_environ_overrides_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_DB_ALIAS", "default")
    settings = {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": "replica"}
    assert ids(RETELL=settings) == []


def test_e003_invalid_cipher_key() -> None:
    assert ids(RETELL={"CIPHER_KEY": "not a key"}) == ["retell.E003"]
    assert "CIPHER_KEY" in messages(RETELL={"CIPHER_KEY": "not a key"})


def test_e003_cipher_topic_without_key() -> None:
    assert ids(RETELL={"CIPHER_TOPIC": "retell.cipher:AESCipher"}) == ["retell.E003"]


def test_e004_runner_setting_that_does_not_resolve() -> None:
    assert ids(RETELL_RUNNER="shop.nothing") == ["retell.E004"]
    assert ids(RETELL_RUNNER="no.such.module") == ["retell.E004"]


def test_e004_does_not_call_the_function() -> None:
    # make_system returns a System, not a runner: only calling it would tell.
    assert ids(RETELL_RUNNER="tests.django.shop.domain.make_system") == []


def test_e005_malformed_retell_setting() -> None:
    assert ids(RETELL=["PERSISTENCE_MODULE"]) == ["retell.E005"]
    assert ids(RETELL={"CIPHER_KEY": object()}) == ["retell.E005"]


def test_e006_other_store_settings() -> None:
    assert ids(RETELL={"PERSISTENCE_MODULE": "retell.sqlite"}) == ["retell.E006"]


def test_manage_py_check_fails_on_them() -> None:
    with (
        override_settings(RETELL={"PERSISTENCE_MODULE": "retell.nothing"}),
        pytest.raises(SystemCheckError, match=r"retell\.E001"),
    ):
        call_command("check", verbosity=0)


def test_e007_projections_that_do_not_resolve() -> None:
    assert ids(RETELL_PROJECTIONS="tests.django.shop.domain.make_system") == ["retell.E007"]
    assert ids(RETELL_PROJECTIONS=["no.such.module.factory"]) == ["retell.E007"]
    assert ids(RETELL_PROJECTIONS=["tests.django.shop.domain.make_system", 42]) == ["retell.E007"]
    assert "does not import" in messages(RETELL_PROJECTIONS=["no.such.module.factory"])


def test_e007_does_not_call_the_functions() -> None:
    # make_system returns a System, not a ProjectionRunner: only calling it would tell.
    assert ids(RETELL_PROJECTIONS=["tests.django.shop.domain.make_system"]) == []
