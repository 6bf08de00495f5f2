"""Envelope encryption of stored secrets: at rest, tampering, moving, keys, leaks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import override_settings

from providers import crypto
from providers.fields import Sealed
from providers.models import Provider
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db

SECRET = "sk-live-7f3a9c1e-do-not-leak"
OLD_KEY = "old-key:" + base64.b64encode(b"o" * 32).decode()
NEW_KEY = "new-key:" + base64.b64encode(b"n" * 32).decode()
OTHER_KEY = "other-key:" + base64.b64encode(b"x" * 32).decode()


def raw_column(provider: Provider, column: str = "credentials") -> str:
    table = connection.ops.quote_name(Provider._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",
            [provider.pk],
        )
        return str(cursor.fetchone()[0])


def write_raw_column(
    provider: Provider, value: str, column: str = "credentials"
) -> None:
    table = connection.ops.quote_name(Provider._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s "
            "WHERE id = %s",
            [value, provider.pk],
        )


def reloaded(provider: Provider) -> Provider:
    return Provider.objects.get(pk=provider.pk)


def tamper(stored: str, part: str) -> str:
    """Flip one bit in the decoded ``part`` of an envelope."""
    envelope = json.loads(stored)
    raw = bytearray(base64.b64decode(envelope[part]))
    raw[len(raw) // 2] ^= 0x01
    envelope[part] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(envelope)


def test_the_column_never_holds_the_plaintext() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    stored = raw_column(provider)
    assert SECRET not in stored
    assert base64.b64encode(SECRET.encode()).decode()[:16] not in stored
    envelope = json.loads(stored)
    assert set(envelope) == {"v", "kid", "wk", "n", "ct"}
    assert envelope["kid"] == "test-key-1"


def test_a_sealed_value_round_trips_through_the_database() -> None:
    provider = ProviderFactory(
        secrets={"api_key": SECRET, "extra": ["ü", 1]}, config={"region": "eu-west-1"}
    )
    fresh = reloaded(provider)
    assert fresh.get_credentials() == {"api_key": SECRET, "extra": ["ü", 1]}
    assert fresh.get_config() == {"region": "eu-west-1"}
    assert fresh.is_configured("credentials")


def test_each_value_gets_a_fresh_data_key_and_nonce() -> None:
    a = ProviderFactory(secrets={"api_key": SECRET})
    b = ProviderFactory(secrets={"api_key": SECRET})
    ea, eb = json.loads(raw_column(a)), json.loads(raw_column(b))
    assert ea["wk"] != eb["wk"]
    assert ea["n"] != eb["n"]
    assert ea["ct"] != eb["ct"]


def test_sealing_none_or_an_empty_dict_clears_the_field() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    provider.seal("credentials", {})
    provider.save()
    fresh = reloaded(provider)
    assert not fresh.is_configured("credentials")
    assert fresh.get_credentials() == {}
    assert raw_column(provider) == ""


@pytest.mark.parametrize("part", ["ct", "wk", "n"])
def test_a_flipped_bit_fails_loudly(part: str) -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    write_raw_column(provider, tamper(raw_column(provider), part))
    with pytest.raises(crypto.DecryptionError, match="tampered"):
        reloaded(provider).get_credentials()


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.update(ct=e["ct"][:-8]),
        lambda e: e.update(n="!!not base64!!"),
        lambda e: e.pop("wk"),
        lambda e: e.update(v=2),
    ],
    ids=["truncated-ct", "bad-base64", "missing-part", "unknown-version"],
)
def test_a_damaged_envelope_fails_loudly(change: Any) -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    envelope = json.loads(raw_column(provider))
    change(envelope)
    write_raw_column(provider, json.dumps(envelope))
    with pytest.raises(crypto.DecryptionError):
        reloaded(provider).get_credentials()


def test_a_plaintext_in_the_column_is_not_accepted_as_a_secret() -> None:
    provider = ProviderFactory()
    write_raw_column(provider, json.dumps({"api_key": SECRET}))
    with pytest.raises(crypto.DecryptionError, match="not a Modelgate"):
        reloaded(provider).get_credentials()


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_changing_the_key_id_to_another_configured_key_fails() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    envelope = json.loads(raw_column(provider))
    assert envelope["kid"] == "new-key"
    envelope["kid"] = "old-key"
    write_raw_column(provider, json.dumps(envelope))
    with pytest.raises(crypto.DecryptionError, match="'old-key'"):
        reloaded(provider).get_credentials()


def test_changing_the_key_id_to_an_unknown_key_names_it() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    envelope = json.loads(raw_column(provider))
    envelope["kid"] = "nobody"
    write_raw_column(provider, json.dumps(envelope))
    with pytest.raises(crypto.DecryptionError, match="'nobody'"):
        reloaded(provider).get_credentials()


def test_a_value_copied_into_another_row_does_not_decrypt() -> None:
    victim = ProviderFactory(secrets={"api_key": SECRET})
    attacker = ProviderFactory(secrets={"api_key": "sk-attacker"})
    write_raw_column(attacker, raw_column(victim))
    with pytest.raises(crypto.DecryptionError):
        reloaded(attacker).get_credentials()
    assert reloaded(victim).get_credentials() == {"api_key": SECRET}


def test_a_value_copied_into_another_field_does_not_decrypt() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET}, config={"region": "x"})
    write_raw_column(provider, raw_column(provider, "credentials"), "provider_config")
    with pytest.raises(crypto.DecryptionError):
        reloaded(provider).get_config()


def test_a_value_copied_into_another_table_does_not_decrypt() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    model = AIModelFactory(provider=provider)
    type(model).objects.filter(pk=model.pk).update(
        model_config=Sealed(raw_column(provider))
    )
    with pytest.raises(crypto.DecryptionError):
        type(model).objects.get(pk=model.pk).get_config()


def test_a_wrong_key_gives_a_clear_error_naming_the_missing_key_id() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    with (
        override_settings(CREDENTIALS_KEYS=[OTHER_KEY]),
        pytest.raises(crypto.DecryptionError) as caught,
    ):
        reloaded(provider).get_credentials()
    message = str(caught.value)
    assert "'test-key-1'" in message
    assert "not in CREDENTIALS_KEYS" in message
    assert "other-key" in message  # what is configured, by id only
    assert base64.b64encode(b"x" * 32).decode() not in message
    assert SECRET not in message


def test_overriding_the_keys_switches_the_key_that_seals() -> None:
    with override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY]):
        assert crypto.current_kid() == "new-key"
        provider = ProviderFactory(secrets={"api_key": SECRET})
    assert reloaded(provider).credentials.key_id == "new-key"
    assert crypto.current_kid() == "test-key-1"


def test_no_key_configured_refuses_to_seal() -> None:
    provider = ProviderFactory()
    with (
        override_settings(CREDENTIALS_KEYS=[], CREDENTIALS_KMS_KEY_ID=""),
        pytest.raises(crypto.KeyConfigError, match="No credentials encryption key"),
    ):
        provider.seal("credentials", {"api_key": SECRET})
    assert reloaded(provider).get_credentials() == {"api_key": "sk-test"}


def test_repr_and_str_never_show_the_secret() -> None:
    provider = reloaded(ProviderFactory(secrets={"api_key": SECRET}))
    shown = [
        repr(provider),
        str(provider),
        repr(provider.credentials),
        str(provider.credentials),
        repr(provider.__dict__),
        f"{provider.credentials}",
    ]
    assert not any(SECRET in text for text in shown)
    assert repr(provider.credentials) == "<Sealed configured>"
    assert repr(Sealed()) == "<Sealed not set>"


def test_serialization_carries_only_the_envelope() -> None:
    provider = ProviderFactory(secrets={"api_key": SECRET})
    dumped = serializers.serialize("json", [reloaded(provider)])
    assert SECRET not in dumped
    restored = next(serializers.deserialize("json", dumped)).object
    assert restored.get_credentials() == {"api_key": SECRET}


@pytest.mark.parametrize("value", ["sk-plain", {"api_key": "sk-plain"}, 42])
def test_assigning_a_plain_value_to_an_encrypted_field_raises(value: object) -> None:
    provider = ProviderFactory()
    provider.credentials = value
    with pytest.raises(TypeError, match="seal"), transaction.atomic():
        provider.save()
    with pytest.raises(TypeError, match="seal"), transaction.atomic():
        Provider.objects.filter(pk=provider.pk).update(credentials=value)
    assert reloaded(provider).get_credentials() == {"api_key": "sk-test"}


def test_full_clean_rejects_a_plain_string_instead_of_storing_it() -> None:
    model = AIModelFactory()
    model.model_config = "plain-secret"
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "model_config" in caught.value.message_dict
    assert "plain-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        (["k1:not-base64!"], "entry 1 is not a base64-encoded 32-byte key"),
        (["k1:" + base64.b64encode(b"short").decode()], "32-byte"),
        ([NEW_KEY, "k2:" + base64.b64encode(b"y" * 16).decode()], "entry 2"),
        (["bad id!:" + base64.b64encode(b"y" * 32).decode()], "invalid key id"),
        (["kms:k1:" + base64.b64encode(b"y" * 32).decode()], "invalid key id"),
        ([NEW_KEY, NEW_KEY], "twice"),
    ],
)
def test_parse_keys_rejects_malformed_entries(entries: list[str], match: str) -> None:
    with pytest.raises(crypto.KeyConfigError, match=match) as caught:
        crypto.parse_keys(entries)
    assert base64.b64encode(b"y" * 32).decode() not in str(caught.value)


def test_parse_keys_accepts_ids_bare_keys_and_blanks() -> None:
    bare = base64.b64encode(b"b" * 32).decode()
    keys = crypto.parse_keys([f" {NEW_KEY} ", "", bare])
    assert [k.kid for k in keys] == ["new-key", crypto.key_id_for(b"b" * 32)]
    assert keys[1].key == b"b" * 32


def test_generated_keys_parse_and_differ() -> None:
    first, second = crypto.generate_key(), crypto.generate_key()
    assert first != second
    (key,) = crypto.parse_keys([first])
    assert first.startswith(key.kid + ":")
    assert len(key.key) == 32


def test_the_key_cache_follows_settings_overrides() -> None:
    before = crypto.local_keys()
    with override_settings(CREDENTIALS_KEYS=[OTHER_KEY]):
        assert [k.kid for k in crypto.local_keys()] == ["other-key"]
    assert crypto.local_keys() == before
