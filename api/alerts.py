"""An organization's alert settings: where its spend alerts go.

One object per organization (``organizations/<slug>/alert-settings/``): GET
shows it (the defaults when never saved), PUT and PATCH save it through the
admin's form (``AlertSettingsForm``: the webhook URL is checked against the
outbound guard). The webhook secret is returned once, in the answer that
creates it (the first save with a URL) or rotates it
(``.../alert-settings/rotate-secret/``); otherwise only whether one is set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import OrganizationScopedViewSet
from api.common import form_errors
from api.organizations import Conflict
from api.schema import ErrorSerializer
from gateway.budgets.alert_forms import AlertSettingsForm
from gateway.budgets.models import AlertSettings
from gateway.budgets.webhooks import ensure_secret, rotate_secret

FIELDS = ("email_admins", "webhook_url", "daily_digest", "spike_alerts", "spike_factor")


class AlertSettingsSerializer(serializers.Serializer[AlertSettings]):
    email_admins = serializers.BooleanField(required=False)
    webhook_url = serializers.CharField(
        required=False, allow_blank=True, max_length=500
    )
    webhook_secret_configured = serializers.SerializerMethodField()
    daily_digest = serializers.BooleanField(required=False)
    spike_alerts = serializers.BooleanField(required=False)
    spike_factor = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False
    )

    def get_webhook_secret_configured(self, obj: AlertSettings) -> bool:
        return obj.is_configured("webhook_secret")


class AlertSettingsWithSecretSerializer(AlertSettingsSerializer):
    # Only an answer's schema, never read from a request: not read_only, which
    # the schema would make required.
    webhook_secret = serializers.CharField(
        required=False,
        help_text="The signing secret, only in the answer that creates or rotates "
        "it, never again.",
    )


class AlertSettingsViewSet(OrganizationScopedViewSet):
    """The organization's alert settings (one object)."""

    serializer_class = AlertSettingsSerializer
    queryset = AlertSettings.objects.all()

    def current(self) -> AlertSettings:
        found = self.get_queryset().first()
        return found or AlertSettings(organization=self.organization)

    def answer(self, config: AlertSettings, secret: str | None) -> Response:
        data = dict(AlertSettingsSerializer(config).data)
        if secret:
            data["webhook_secret"] = secret
        return Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.answer(self.current(), None)

    @extend_schema(responses={200: AlertSettingsWithSecretSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        with transaction.atomic():
            config = self.current()
            if config.pk is not None:
                config = AlertSettings.objects.select_for_update().get(pk=config.pk)
            base = config if partial else AlertSettings()
            data = {name: given.get(name, getattr(base, name)) for name in FIELDS}
            data["spike_factor"] = Decimal(data["spike_factor"])
            form = AlertSettingsForm(
                {**data, "organization": self.organization.pk}, instance=config
            )
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            config = form.save(commit=False)
            secret = ensure_secret(config)
            config.save()
        return self.answer(config, secret)

    @extend_schema(responses={200: AlertSettingsWithSecretSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={200: AlertSettingsWithSecretSerializer, 409: ErrorSerializer},
    )
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A new webhook secret, in this answer only; the old one stops signing."""
        config = self.get_queryset().first()
        if config is None or not config.webhook_url:
            raise Conflict("Set a webhook URL first.")
        return self.answer(config, rotate_secret(config))
