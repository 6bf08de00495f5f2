"""Forms for creating API keys (admin and the user page)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from accounts.access import is_member
from gateway.models import ApiKey


def parse_model_list(text: str | None) -> list[str]:
    """Model names from a comma/newline separated list, deduplicated, order kept."""
    names: list[str] = []
    for part in re.split(r"[,\n]", text or ""):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return names


class ModelListField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list-valued CharField
        if isinstance(value, list):
            return value
        return parse_model_list(super().to_python(value))


class ApiKeyForm(forms.ModelForm[ApiKey]):
    allowed_models = ModelListField(
        required=False,
        help_text="One model name per line (or comma-separated); empty allows "
        "every model the key's principal can see.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "organization",
            "user",
            "name",
            "allowed_models",
            "requests_per_minute",
            "tokens_per_minute",
            "expires_at",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()  # ModelForm.clean returns self.cleaned_data
        data = self.cleaned_data
        org, user = data.get("organization"), data.get("user")
        if org and user and not is_member(user.pk, org.pk):
            self.add_error("user", "The user is not a member of this organization.")
        return data
