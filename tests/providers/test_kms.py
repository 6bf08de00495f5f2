"""AWS KMS as the key-encryption key, through boto3 against a real KMS API on loopback.

moto's server speaks the KMS wire protocol and enforces the encryption context,
so these tests exercise the same calls production makes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from moto.server import ThreadedMotoServer

from providers import crypto
from providers.fields import Sealed
from providers.models import Provider
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db

REGION = "us-east-1"
LOCAL_KEY = "local-key:" + base64.b64encode(b"l" * 32).decode()


@pytest.fixture(scope="module")
def kms_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def kms(
    kms_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[Any]:
    """A boto3 KMS client on the loopback server, with dummy credentials only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Never pick up a developer's real AWS configuration.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-creds"))
    crypto.forget_kms_client()
    yield boto3.client("kms", region_name=REGION, endpoint_url=kms_server)
    crypto.forget_kms_client()


@pytest.fixture
def kms_key(kms: Any) -> str:
    return str(kms.create_key(Description="modelgate test KEK")["KeyMetadata"]["KeyId"])


def kms_settings(kms_server: str, key_id: str, **extra: Any) -> override_settings:
    return override_settings(
        CREDENTIALS_KMS_KEY_ID=key_id,
        CREDENTIALS_KMS_REGION=REGION,
        CREDENTIALS_KMS_ENDPOINT_URL=kms_server,
        **extra,
    )


def envelope(provider: Provider) -> dict[str, str]:
    return json.loads(Provider.objects.get(pk=provider.pk).credentials.stored)


def test_seal_and_reveal_through_kms(kms_server: str, kms_key: str) -> None:
    with kms_settings(kms_server, kms_key, CREDENTIALS_KEYS=[]):
        assert crypto.current_kid() == f"kms:{kms_key}"
        provider = ProviderFactory(secrets={"api_key": "sk-kms-secret"})
        fresh = Provider.objects.get(pk=provider.pk)
        assert fresh.get_credentials() == {"api_key": "sk-kms-secret"}
    stored = envelope(provider)
    assert stored["kid"] == f"kms:{kms_key}"
    assert "sk-kms-secret" not in json.dumps(stored)


def test_the_wrapped_data_key_is_bound_to_the_row_by_the_encryption_context(
    kms: Any, kms_server: str, kms_key: str
) -> None:
    with kms_settings(kms_server, kms_key):
        provider = ProviderFactory(secrets={"api_key": "sk-kms-secret"})
    blob = base64.b64decode(envelope(provider)["wk"])
    context = {"modelgate": provider._aad("credentials")}

    answer = kms.decrypt(CiphertextBlob=blob, KeyId=kms_key, EncryptionContext=context)
    assert len(answer["Plaintext"]) == 32
    other = ProviderFactory()
    for wrong in (
        {"modelgate": other._aad("credentials")},
        {"modelgate": provider._aad("provider_config")},
        {},
    ):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=blob, KeyId=kms_key, EncryptionContext=wrong)


def test_a_kms_value_copied_into_another_row_does_not_decrypt(
    kms_server: str, kms_key: str
) -> None:
    with kms_settings(kms_server, kms_key):
        victim = ProviderFactory(secrets={"api_key": "sk-victim"})
        attacker = ProviderFactory(secrets={"api_key": "sk-attacker"})
        Provider.objects.filter(pk=attacker.pk).update(
            credentials=Provider.objects.get(pk=victim.pk).credentials
        )
        with pytest.raises(crypto.DecryptionError, match="AWS KMS refused") as caught:
            Provider.objects.get(pk=attacker.pk).get_credentials()
        assert "sk-victim" not in str(caught.value)
        assert Provider.objects.get(pk=victim.pk).get_credentials() == {
            "api_key": "sk-victim"
        }


def test_a_value_under_another_kms_key_does_not_decrypt(
    kms: Any, kms_server: str, kms_key: str
) -> None:
    with kms_settings(kms_server, kms_key):
        provider = ProviderFactory(secrets={"api_key": "sk-kms-secret"})
    stored = envelope(provider)
    other_key = kms.create_key()["KeyMetadata"]["KeyId"]
    stored["kid"] = f"kms:{other_key}"
    Provider.objects.filter(pk=provider.pk).update(
        credentials=Sealed(json.dumps(stored))
    )
    with kms_settings(kms_server, kms_key), pytest.raises(crypto.DecryptionError):
        Provider.objects.get(pk=provider.pk).get_credentials()


def test_rotation_from_a_local_key_to_kms(kms_server: str, kms_key: str) -> None:
    with override_settings(CREDENTIALS_KEYS=[LOCAL_KEY]):
        providers = [
            ProviderFactory(secrets={"api_key": f"sk-{n}"}, config={"region": REGION})
            for n in range(3)
        ]
    assert {envelope(p)["kid"] for p in providers} == {"local-key"}

    # The local key stays configured to unwrap; KMS wraps.
    with kms_settings(kms_server, kms_key, CREDENTIALS_KEYS=[LOCAL_KEY]):
        out = StringIO()
        call_command("rotate_credentials", stdout=out)
        assert "Total: 6 re-wrapped, 0 already current, 0 failed." in out.getvalue()
        out = StringIO()
        call_command("rotate_credentials", stdout=out)
        assert "Total: 0 re-wrapped, 6 already current, 0 failed." in out.getvalue()
    assert {envelope(p)["kid"] for p in providers} == {f"kms:{kms_key}"}

    # Now the local key can go: KMS alone opens every value.
    with kms_settings(kms_server, kms_key, CREDENTIALS_KEYS=[]):
        for n, provider in enumerate(providers):
            fresh = Provider.objects.get(pk=provider.pk)
            assert fresh.get_credentials() == {"api_key": f"sk-{n}"}
            assert fresh.get_config() == {"region": REGION}


def test_a_new_endpoint_gets_a_new_client(kms_server: str, kms_key: str) -> None:
    with kms_settings(kms_server, kms_key):
        first = crypto.kms_client()
        assert crypto.kms_client() is first
        assert first.meta.endpoint_url == kms_server
    with kms_settings("http://127.0.0.1:9", kms_key):
        assert crypto.kms_client() is not first


def test_rotation_to_an_unreachable_kms_fails_every_value_and_exits_non_zero(
    kms_server: str, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with override_settings(CREDENTIALS_KEYS=[LOCAL_KEY]):
        provider = ProviderFactory(secrets={"api_key": "sk-stays-local"})
    out, err = StringIO(), StringIO()
    with (
        kms_settings("http://127.0.0.1:9", kms_key, CREDENTIALS_KEYS=[LOCAL_KEY]),
        pytest.raises(CommandError, match="1 value"),
    ):
        call_command("rotate_credentials", stdout=out, stderr=err)
    assert "Total: 0 re-wrapped, 0 already current, 1 failed." in out.getvalue()
    assert "EndpointConnectionError while re-wrapping the data key" in err.getvalue()
    assert "sk-stays-local" not in out.getvalue() + err.getvalue()
    assert envelope(provider)["kid"] == "local-key"
