"""Key rotation: generate_credentials_key and rotate_credentials."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from models_catalog.models import AIModel
from providers import crypto
from providers.fields import Sealed
from providers.management.commands.rotate_credentials import (
    CHANGED,
    CURRENT,
    REWRAPPED,
    Tally,
    encrypted_models,
    rotate_row,
    rotate_value,
)
from providers.models import Provider
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db

OLD_KEY = "old-key:" + base64.b64encode(b"o" * 32).decode()
NEW_KEY = "new-key:" + base64.b64encode(b"n" * 32).decode()
LOST_KEY = "lost-key:" + base64.b64encode(b"l" * 32).decode()


def rotate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_credentials", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored_kids() -> list[str]:
    kids = [p.credentials.key_id for p in Provider.objects.all()]
    kids += [p.provider_config.key_id for p in Provider.objects.all()]
    kids += [m.model_config.key_id for m in AIModel.objects.all()]
    return [kid for kid in kids if kid]


@pytest.fixture
def old_data() -> list[Provider]:
    """Two providers and a model with every encrypted field sealed under OLD_KEY."""
    with override_settings(CREDENTIALS_KEYS=[OLD_KEY]):
        providers = [
            ProviderFactory(
                secrets={"api_key": f"sk-secret-{n}"}, config={"region": "us-east-1"}
            )
            for n in range(2)
        ]
        model = AIModelFactory(provider=providers[0])
        model.seal("model_config", {"temperature": 0.5})
        model.save()
    return providers


def test_generate_credentials_key_prints_a_usable_entry() -> None:
    out = StringIO()
    call_command("generate_credentials_key", stdout=out)
    entry = out.getvalue().strip()
    (key,) = crypto.parse_keys([entry])
    assert entry == f"{key.kid}:{base64.b64encode(key.key).decode()}"


def test_every_model_with_encrypted_fields_is_covered() -> None:
    assert {Provider, AIModel} <= set(encrypted_models())


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_rotation_rewraps_everything_and_a_second_run_changes_nothing(
    old_data: list[Provider],
) -> None:
    assert set(stored_kids()) == {"old-key"}
    first_ct = json.loads(Provider.objects.get(pk=old_data[0].pk).credentials.stored)

    out, err = rotate()
    assert "providers_provider.credentials: 2 re-wrapped, 0 already current" in out
    assert "providers_provider.provider_config: 2 re-wrapped" in out
    assert "models_catalog_aimodel.model_config: 1 re-wrapped" in out
    assert "Total: 5 re-wrapped, 0 already current, 0 failed." in out
    assert err == ""
    assert set(stored_kids()) == {"new-key"}
    # Only the data key is re-wrapped: the ciphertext itself is unchanged.
    after = json.loads(Provider.objects.get(pk=old_data[0].pk).credentials.stored)
    assert (after["ct"], after["n"]) == (first_ct["ct"], first_ct["n"])
    assert after["wk"] != first_ct["wk"]

    out, _ = rotate()
    assert "Total: 0 re-wrapped, 5 already current, 0 failed." in out


def test_after_rotation_the_old_key_can_be_removed(old_data: list[Provider]) -> None:
    with override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY]):
        rotate()
    with override_settings(CREDENTIALS_KEYS=[NEW_KEY]):
        for n, provider in enumerate(old_data):
            fresh = Provider.objects.get(pk=provider.pk)
            assert fresh.get_credentials() == {"api_key": f"sk-secret-{n}"}
            assert fresh.get_config() == {"region": "us-east-1"}
        assert AIModel.objects.get().get_config() == {"temperature": 0.5}


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_dry_run_reports_but_writes_nothing(old_data: list[Provider]) -> None:
    out, _ = rotate("--dry-run")
    assert "Total: 5 would be re-wrapped, 0 already current, 0 failed." in out
    assert set(stored_kids()) == {"old-key"}


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_small_batches_cover_every_row(old_data: list[Provider]) -> None:
    with override_settings(CREDENTIALS_KEYS=[OLD_KEY]):
        ProviderFactory.create_batch(5)
    out, _ = rotate("--batch-size", "2")
    assert "providers_provider.credentials: 7 re-wrapped" in out
    assert set(stored_kids()) == {"new-key"}


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(CommandError, match="batch-size"):
        rotate("--batch-size", "0")


def test_rotation_without_any_key_is_refused() -> None:
    with (
        override_settings(CREDENTIALS_KEYS=[], CREDENTIALS_KMS_KEY_ID=""),
        pytest.raises(CommandError, match="No credentials encryption key"),
    ):
        rotate()


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_the_conditional_update_leaves_a_concurrently_changed_row_alone(
    old_data: list[Provider],
) -> None:
    stale = Provider.objects.get(pk=old_data[0].pk)
    # Someone saves a new secret between our read and our write.
    editor = Provider.objects.get(pk=old_data[0].pk)
    editor.seal("credentials", {"api_key": "sk-edited"})
    editor.save()
    edited = Provider.objects.get(pk=editor.pk).credentials

    assert rotate_value(stale, "credentials") == CHANGED
    fresh = Provider.objects.get(pk=editor.pk)
    assert fresh.credentials == edited
    assert fresh.get_credentials() == {"api_key": "sk-edited"}

    # Re-read, it is current (the editor sealed with the newest key).
    assert rotate_value(fresh, "credentials") == CURRENT


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_rotate_value_writes_only_the_value_it_read(old_data: list[Provider]) -> None:
    provider = Provider.objects.get(pk=old_data[1].pk)
    assert rotate_value(provider, "credentials", dry_run=True) == REWRAPPED
    assert Provider.objects.get(pk=provider.pk).credentials.key_id == "old-key"
    assert rotate_value(provider, "credentials") == REWRAPPED
    fresh = Provider.objects.get(pk=provider.pk)
    assert fresh.credentials.key_id == "new-key"
    assert fresh.provider_config.key_id == "old-key"  # other fields untouched
    # The stale instance no longer matches the row: a rerun writes nothing.
    assert rotate_value(provider, "credentials") == CHANGED
    assert rotate_value(fresh, "credentials") == CURRENT


def test_an_undecryptable_row_fails_without_stopping_the_others(
    old_data: list[Provider],
) -> None:
    with override_settings(CREDENTIALS_KEYS=[LOST_KEY]):
        lost = ProviderFactory(secrets={"api_key": "sk-lost-secret"})
    moved = old_data[1]
    # A value copied from another row (it does not unwrap for this row).
    Provider.objects.filter(pk=moved.pk).update(
        credentials=Provider.objects.get(pk=old_data[0].pk).credentials
    )

    with override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY]):
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError, match="2 value"):
            call_command("rotate_credentials", stdout=out, stderr=err)

    output = out.getvalue() + err.getvalue()
    assert "Total: 4 re-wrapped, 0 already current, 2 failed." in output
    assert (
        f"FAILED providers_provider pk={lost.pk} field=credentials: "
        "The value was sealed with key 'lost-key'"
    ) in output
    assert f"FAILED providers_provider pk={moved.pk} field=credentials" in output
    for secret in ("sk-lost-secret", "sk-secret-0", "sk-secret-1", "us-east-1"):
        assert secret not in output
    for key in (OLD_KEY, NEW_KEY, LOST_KEY):
        assert key.split(":")[1] not in output

    with override_settings(CREDENTIALS_KEYS=[NEW_KEY]):
        assert Provider.objects.get(pk=old_data[0].pk).get_credentials() == {
            "api_key": "sk-secret-0"
        }
        assert Provider.objects.get(pk=moved.pk).get_config() == {"region": "us-east-1"}
    assert Provider.objects.get(pk=lost.pk).credentials.key_id == "lost-key"


def test_a_plaintext_left_in_a_column_is_reported_not_rotated(
    old_data: list[Provider],
) -> None:
    Provider.objects.filter(pk=old_data[0].pk).update(
        credentials=Sealed('{"api_key": "sk-plaintext"}')
    )
    out, err = StringIO(), StringIO()
    with (
        override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY]),
        pytest.raises(CommandError),
    ):
        call_command("rotate_credentials", stdout=out, stderr=err)
    assert "not a Modelgate encrypted envelope" in err.getvalue()
    assert "sk-plaintext" not in out.getvalue() + err.getvalue()


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_a_rerun_after_an_interruption_finishes_the_job(
    old_data: list[Provider],
) -> None:
    # An interrupted run got as far as the first provider's credentials.
    first = Provider.objects.get(pk=old_data[0].pk)
    assert rotate_value(first, "credentials") == REWRAPPED

    out, _ = rotate()
    assert "providers_provider.credentials: 1 re-wrapped, 1 already current" in out
    assert "Total: 4 re-wrapped, 1 already current, 0 failed." in out
    assert set(stored_kids()) == {"new-key"}


@override_settings(CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY])
def test_a_row_changed_under_the_command_is_re_read_and_judged_again(
    old_data: list[Provider],
) -> None:
    stale = Provider.objects.get(pk=old_data[0].pk)
    editor = Provider.objects.get(pk=old_data[0].pk)
    editor.seal("credentials", {"api_key": "sk-edited"})
    editor.save()
    gone = Provider.objects.get(pk=old_data[1].pk)
    Provider.objects.filter(pk=gone.pk).delete()

    tally = Tally()
    rotate_row(Provider, stale, "credentials", tally, dry_run=False)
    rotate_row(Provider, gone, "credentials", tally, dry_run=False)
    assert (tally.rewrapped, tally.current, tally.failures) == (0, 1, [])
    fresh = Provider.objects.get(pk=editor.pk)
    assert fresh.get_credentials() == {"api_key": "sk-edited"}
