"""The alert settings form: the admin's and the management API's validation."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from gateway.budgets.models import AlertSettings
from providers import verification


class AlertSettingsForm(forms.ModelForm[AlertSettings]):
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Webhook URL",
        help_text=AlertSettings._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = AlertSettings
        fields = [
            "organization",
            "email_admins",
            "webhook_url",
            "daily_digest",
            "spike_alerts",
            "spike_factor",
        ]

    def clean_webhook_url(self) -> str:
        """http(s) only, and a destination the outbound guard lets the workers
        reach (as provider endpoints are checked at save)."""
        url: str = (self.cleaned_data.get("webhook_url") or "").strip()
        if not url:
            return ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError("Enter an http:// or https:// URL.")
        if parts.username or parts.password:
            raise forms.ValidationError("Put no credentials in the URL.")
        reason = verification.refusal(url)
        if reason:
            raise forms.ValidationError(reason)
        return url
