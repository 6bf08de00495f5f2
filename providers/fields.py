"""Encrypted model fields built on ``providers.crypto``.

An ``EncryptedJSONField`` column holds the envelope, never the plaintext; the
attribute holds a ``Sealed`` wrapper whose repr says only whether a value is
configured, so secrets cannot leak through repr, logs, forms or serializers.
Models that use it mix in ``EncryptedFieldsMixin`` and read and write values
explicitly with ``reveal(name)`` and ``seal(name, value)``; the associated data
binds each value to its table, field and the row's ``uid``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core import checks, exceptions
from django.db import models

from providers import crypto


class Sealed:
    """An encrypted value as stored; opaque until a model reveals it."""

    __slots__ = ("stored",)

    def __init__(self, stored: str = "") -> None:
        self.stored = stored or ""

    def __bool__(self) -> bool:
        return bool(self.stored)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.stored == self.stored

    def __hash__(self) -> int:
        return hash(self.stored)

    def __repr__(self) -> str:
        return "<Sealed configured>" if self.stored else "<Sealed not set>"

    __str__ = __repr__

    @property
    def key_id(self) -> str:
        return crypto.key_id_of(self.stored) if self.stored else ""


class EncryptedJSONField(models.TextField[Sealed, Sealed]):
    """A JSON value stored as an envelope; read and write it through the model."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if not issubclass(self.model, EncryptedFieldsMixin):
            errors.append(
                checks.Error(
                    f"{self.model.__name__} uses EncryptedJSONField without "
                    "EncryptedFieldsMixin.",
                    obj=self,
                    id="providers.E001",
                )
            )
        return errors

    def from_db_value(self, value: str | None, *args: Any) -> Sealed:
        return Sealed(value or "")

    def to_python(self, value: Any) -> Sealed:
        if isinstance(value, Sealed):
            return value
        if value in (None, ""):
            return Sealed("")
        # Only an envelope (loaddata, a copied stored value) may come in as text:
        # anything else is a plaintext secret that must never be stored as is.
        if isinstance(value, str):
            try:
                crypto.key_id_of(value)
            except crypto.DecryptionError:
                pass
            else:
                return Sealed(value)
        raise exceptions.ValidationError(
            f"{self.name} holds an encrypted value; assign it with "
            f"instance.seal({self.name!r}, value).",
            code="invalid",
        )

    def get_prep_value(self, value: Any) -> str:
        if isinstance(value, Sealed):
            return value.stored
        if value in (None, ""):
            return ""
        raise TypeError(
            f"{self.name} holds an encrypted value; assign it with "
            f"instance.seal({self.name!r}, value)."
        )

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj))


class EncryptedFieldsMixin(models.Model):
    """Row identity for associated data, and explicit seal/reveal of values."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True

    def _aad(self, name: str) -> str:
        return f"{self._meta.db_table}.{name}:{self.uid}"

    def _sealed(self, name: str) -> Sealed:
        value = getattr(self, name)
        return value if isinstance(value, Sealed) else Sealed(value or "")

    def is_configured(self, name: str) -> bool:
        return bool(self._sealed(name))

    def reveal(self, name: str, default: Any = None) -> Any:
        """Decrypt and JSON-decode a field; ``default`` when nothing is stored."""
        sealed = self._sealed(name)
        if not sealed:
            return default
        return json.loads(crypto.decrypt(sealed.stored, self._aad(name)))

    def seal(self, name: str, value: Any) -> None:
        """Encrypt ``value`` (JSON-serialisable) into a field; None or {} clears it."""
        if value is None or value == {}:
            setattr(self, name, Sealed(""))
            return
        plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True)
        setattr(self, name, Sealed(crypto.encrypt(plaintext, self._aad(name))))

    @classmethod
    def encrypted_field_names(cls) -> list[str]:
        return [
            f.name for f in cls._meta.get_fields() if isinstance(f, EncryptedJSONField)
        ]
