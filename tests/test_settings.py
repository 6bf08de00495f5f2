"""Configuration fails loudly: start-up refusals, _FILE secrets, system checks."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from config.settings import DEFAULT_SECRET_KEY
from providers.checks import check_credentials_keys

BASE_DIR = Path(settings.BASE_DIR)
KEY = "k1:" + base64.b64encode(b"k" * 32).decode()
SECRET = "a-real-secret-key-for-this-test-only-0123456789"


def start(
    env: dict[str, str], tmp_path: Path, code: str = ""
) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with only ``env`` set."""
    clean = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path / "data"),
        # Never a developer's .env (bin/run writes one): only what is given.
        "DOTENV_PATH": "",
        "PATH": "/usr/bin:/bin",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_debug_the_default_secret_key_is_refused(tmp_path: Path) -> None:
    for env in ({}, {"SECRET_KEY": ""}, {"SECRET_KEY": DEFAULT_SECRET_KEY}):
        result = start({**env, "CREDENTIALS_KEYS": KEY}, tmp_path)
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert "SECRET_KEY is not set" in result.stderr


def test_without_debug_a_missing_encryption_key_is_refused(tmp_path: Path) -> None:
    result = start({"SECRET_KEY": SECRET}, tmp_path)
    assert result.returncode != 0
    assert "No credentials encryption key" in result.stderr
    assert "CREDENTIALS_KEYS" in result.stderr
    assert "generate_credentials_key" in result.stderr


def test_a_configured_instance_starts(tmp_path: Path) -> None:
    result = start(
        {"SECRET_KEY": SECRET, "CREDENTIALS_KEYS": KEY},
        tmp_path,
        "from django.conf import settings\n"
        "assert not settings.DEBUG\n"
        f"assert settings.CREDENTIALS_KEYS == [{KEY!r}]\n"
        "print('started')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_a_kms_key_alone_is_enough_to_start(tmp_path: Path) -> None:
    result = start(
        {"SECRET_KEY": SECRET, "CREDENTIALS_KMS_KEY_ID": "alias/modelgate"}, tmp_path
    )
    assert result.returncode == 0, result.stderr


def test_debug_starts_without_any_key(tmp_path: Path) -> None:
    result = start(
        {"DEBUG": "true"},
        tmp_path,
        "from django.conf import settings\n"
        "assert settings.DEBUG and settings.CREDENTIALS_KEYS == []\n"
        "print('started')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET)
    keys_file = tmp_path / "credentials_keys"
    keys_file.write_text(KEY)
    result = start(
        {
            "SECRET_KEY_FILE": str(secret_file),
            "CREDENTIALS_KEYS_FILE": str(keys_file),
        },
        tmp_path,
        "from django.conf import settings\n"
        f"assert settings.SECRET_KEY == {SECRET!r}\n"
        f"assert settings.CREDENTIALS_KEYS == [{KEY!r}]\n"
        "print('started')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_the_system_check_warns_in_debug_without_a_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path / "data"),
            "DOTENV_PATH": "",
            "PATH": "/usr/bin:/bin",
            "DEBUG": "true",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "providers.W001" in result.stdout + result.stderr


def test_the_system_check_fails_on_a_malformed_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path / "data"),
            "DOTENV_PATH": "",
            "PATH": "/usr/bin:/bin",
            "SECRET_KEY": SECRET,
            "CREDENTIALS_KEYS": "k1:tooshort",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "providers.E002" in result.stderr
    assert "generate_credentials_key" in result.stderr


# The check function itself ------------------------------------------------------


def test_the_check_passes_with_valid_keys() -> None:
    with override_settings(CREDENTIALS_KEYS=[KEY], CREDENTIALS_KMS_KEY_ID=""):
        assert check_credentials_keys() == []


def test_the_check_passes_with_kms_only() -> None:
    with override_settings(CREDENTIALS_KEYS=[], CREDENTIALS_KMS_KEY_ID="alias/x"):
        assert check_credentials_keys() == []


@pytest.mark.parametrize(
    "entries",
    [
        ["k1:not-base64!"],
        [KEY, "k2:" + base64.b64encode(b"x" * 16).decode()],
        [KEY, KEY],
    ],
)
def test_the_check_errors_on_malformed_keys_with_a_hint(entries: list[str]) -> None:
    with override_settings(CREDENTIALS_KEYS=entries):
        (message,) = check_credentials_keys()
    assert isinstance(message, checks.Error)
    assert message.id == "providers.E002"
    assert "CREDENTIALS_KEYS is invalid" in message.msg
    assert "generate_credentials_key" in (message.hint or "")
    assert base64.b64encode(b"k" * 32).decode() not in message.msg


def test_the_check_warns_in_debug_and_errors_otherwise_without_a_key() -> None:
    with override_settings(CREDENTIALS_KEYS=[], CREDENTIALS_KMS_KEY_ID="", DEBUG=True):
        (message,) = check_credentials_keys()
    assert isinstance(message, checks.Warning)
    assert message.id == "providers.W001"
    with override_settings(CREDENTIALS_KEYS=[], CREDENTIALS_KMS_KEY_ID="", DEBUG=False):
        (message,) = check_credentials_keys()
    assert isinstance(message, checks.Error)
    assert message.id == "providers.E003"


def test_the_check_is_registered() -> None:
    assert check_credentials_keys in checks.registry.registry.get_checks()


def test_the_settings_read_the_dotenv_file_it_names(tmp_path: Path) -> None:
    dotenv = tmp_path / "dev.env"
    dotenv.write_text(f"SECRET_KEY={SECRET}\nCREDENTIALS_KEYS={KEY}\n")
    result = start(
        {"DOTENV_PATH": str(dotenv)},
        tmp_path,
        "from django.conf import settings; print(settings.SECRET_KEY)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SECRET


def test_the_tests_never_read_a_developers_dotenv() -> None:
    assert settings.DOTENV_PATH == ""
