"""Providers: list, read, create, upsert by name, update, delete, and actions.

Writes go through ``providers.forms.ProviderForm``, the admin's own form, so
validation is written once: provider types and auth methods, the endpoint, the
private-address guard, credentials required again when where they go changes,
and the vendor check before saving (unless ``verify`` is false). What a save
triggers afterwards is ``providers.saving.follow_up_save``, as in the admin.
Credentials are write-only: responses carry which ones are configured, never a
value.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from api.access import OrganizationScopedViewSet
from api.catalog import ModelTestRequestSerializer, ModelTestSerializer, run_model_test
from api.common import (
    ConflictSerializer,
    confirm_parameter,
    confirmed,
    form_errors,
    in_use,
    refuse_instance_wide,
)
from gateway import dependents
from models_catalog.discovery import sync_provider_models
from providers import catalog
from providers.crypto import CryptoError
from providers.drivers.errors import DriverError
from providers.forms import CONFIG_KNOWN_KEYS, SECRET_FIELDS, ProviderForm
from providers.health import probe, scrubbed
from providers.models import HealthEvent, Provider
from providers.saving import follow_up_save
from providers.tasks import check_and_follow

# The form's plain fields the API takes as they are: the form's own list (a
# copy would drift, and a field the API left out would be reset on every write).
PLAIN_FIELDS = tuple(
    f for f in ProviderForm.Meta.fields if f not in ("organization", "name")
)
CONFIG_FIELDS = tuple(k for k in CONFIG_KNOWN_KEYS if k != "base_url")
# Form fields that never count as a change by themselves (compared after merging).
WRITE_ONLY_FORM_FIELDS = frozenset(
    {*SECRET_FIELDS, "custom_headers", "clear_credentials", "save_without_verifying"}
)
# Form field → where the API takes it, for error messages.
ERROR_PATHS = {
    **{name: f"credentials.{name}" for name in (*SECRET_FIELDS, "custom_headers")},
    **{name: f"config.{name}" for name in CONFIG_FIELDS},
    "extra_config": "config.extra",
}


class CredentialsSerializer(serializers.Serializer[Any]):
    """Write-only secrets; a value left out keeps the stored one."""

    api_key = serializers.CharField(required=False, allow_blank=True)
    aws_access_key_id = serializers.CharField(required=False, allow_blank=True)
    aws_secret_access_key = serializers.CharField(required=False, allow_blank=True)
    aws_session_token = serializers.CharField(required=False, allow_blank=True)
    client_secret = serializers.CharField(required=False, allow_blank=True)
    custom_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False
    )


class ConfigSerializer(serializers.Serializer[Any]):
    """Vendor settings (not secret): region, api_version, deployments, ..."""

    region = serializers.CharField(required=False, allow_blank=True)
    api_version = serializers.CharField(required=False, allow_blank=True)
    auth_header = serializers.CharField(required=False, allow_blank=True)
    auth_prefix = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False
    )
    token_url = serializers.CharField(required=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True)
    scope = serializers.CharField(required=False, allow_blank=True)
    wire_api = serializers.ChoiceField(
        choices=["chat_completions", "responses"], required=False, allow_blank=True
    )
    rerank_api = serializers.ChoiceField(
        choices=[c for c in ProviderForm.base_fields["rerank_api"].choices if c[0]],  # type: ignore[attr-defined]  # a ChoiceField
        required=False,
        allow_blank=True,
    )
    deployments = serializers.DictField(child=serializers.CharField(), required=False)
    extra = serializers.DictField(required=False)


class ProviderSerializer(serializers.Serializer[Provider]):
    """A provider as the API shows it and takes it."""

    name = serializers.SlugField(max_length=100)
    organization = serializers.CharField(source="organization.slug", read_only=True)
    provider_type = serializers.ChoiceField(choices=catalog.TYPE_CHOICES)
    endpoint = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    effective_endpoint = serializers.SerializerMethodField()
    auth_method = serializers.ChoiceField(
        choices=catalog.AUTH_METHOD_CHOICES, required=False, allow_blank=True
    )
    status = serializers.ChoiceField(choices=Provider.Status.choices, required=False)
    priority = serializers.IntegerField(
        required=False, min_value=-(2**31), max_value=2**31 - 1
    )
    instance_wide = serializers.BooleanField(
        required=False, help_text="Only a superuser may set it."
    )
    starter = serializers.BooleanField(read_only=True)
    activate_discovered = serializers.BooleanField(required=False)
    requests_per_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
    tokens_per_minute = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Input + output tokens per minute; empty: no cap.",
    )
    timeout_connect = serializers.FloatField(
        required=False, min_value=0.001, max_value=3600
    )
    timeout_first_byte = serializers.FloatField(
        required=False, min_value=0.001, max_value=3600
    )
    timeout_total = serializers.FloatField(
        required=False, min_value=0.001, max_value=86400
    )
    credentials = CredentialsSerializer(write_only=True, required=False)
    clear_credentials = serializers.BooleanField(
        write_only=True, required=False, default=False
    )
    configured_credentials = serializers.SerializerMethodField(
        help_text="Which credentials are stored (their values are never returned)."
    )
    configured = serializers.SerializerMethodField(
        help_text="Whether any credential is stored."
    )
    config = ConfigSerializer(required=False)
    verify = serializers.BooleanField(
        write_only=True,
        required=False,
        default=True,
        help_text="Call the vendor before saving a change to how the provider is "
        "reached (false: save without verifying; the address guard still applies).",
    )
    health = serializers.CharField(read_only=True)
    health_message = serializers.CharField(read_only=True)
    health_checked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    health_latency_ms = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_effective_endpoint(self, obj: Provider) -> str:
        if obj.starter:
            return ""
        try:
            return obj.base_url
        except CryptoError:
            return obj.endpoint

    def _stored(self, obj: Provider) -> dict[str, Any]:
        try:
            return obj.get_credentials()
        except CryptoError:
            return {}

    def get_configured_credentials(self, obj: Provider) -> list[str]:
        return sorted(k for k, v in self._stored(obj).items() if v)

    def get_configured(self, obj: Provider) -> bool:
        return obj.starter or any(self._stored(obj).values())

    def to_representation(self, instance: Provider) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["auth_method"] = instance.effective_auth_method
        data["config"] = _shown_config(instance)
        return data


class CheckSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    health = serializers.ChoiceField(choices=Provider.Health.choices)
    message = serializers.CharField()
    latency_ms = serializers.IntegerField(allow_null=True)


class DiscoverySerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    added = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    gone = serializers.ListField(child=serializers.CharField())
    returned = serializers.ListField(child=serializers.CharField())


class HealthEventSerializer(serializers.ModelSerializer[HealthEvent]):
    latency_ms = serializers.IntegerField(min_value=0, allow_null=True)

    class Meta:
        model = HealthEvent
        fields = ["from_health", "to_health", "message", "latency_ms", "created_at"]


def _discovery_failed(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "message": message,
        "added": [],
        "updated": [],
        "gone": [],
        "returned": [],
    }


def _shown_config(provider: Provider) -> dict[str, Any]:
    try:
        config = provider.get_config()
    except CryptoError:
        return {}
    shown = {k: config[k] for k in CONFIG_FIELDS if config.get(k) not in (None, "")}
    extra = {k: v for k, v in config.items() if k not in CONFIG_KNOWN_KEYS}
    if extra:
        shown["extra"] = extra
    return shown


def form_data(
    provider: Provider, organization_id: int, name: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The admin form's POST data: the stored state with the payload applied."""
    try:
        config = provider.get_config()
    except CryptoError:
        config = {}
    data: dict[str, Any] = {"organization": str(organization_id), "name": name}
    for field in PLAIN_FIELDS:
        value = payload.get(field, getattr(provider, field))
        data[field] = "" if value is None else value
    if "auth_method" not in payload and not provider._state.adding:
        data["auth_method"] = provider.auth_method
    given = payload.get("config") or {}
    for key in CONFIG_FIELDS:
        value = given.get(key, config.get(key))
        if key == "deployments":
            data[key] = json.dumps(value or {})
        else:
            data[key] = "" if value is None else value
    if "extra" in given:
        extra = given["extra"]
    else:
        extra = {k: v for k, v in config.items() if k not in CONFIG_KNOWN_KEYS}
    data["extra_config"] = json.dumps(extra)
    secrets = payload.get("credentials") or {}
    for field in SECRET_FIELDS:
        data[field] = secrets.get(field, "")
    headers = secrets.get("custom_headers") or {}
    data["custom_headers"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
    data["clear_credentials"] = bool(payload.get("clear_credentials"))
    return data


def changes_anything(form: ProviderForm) -> bool:
    """Whether a validated form would change the stored provider."""
    if form.instance._state.adding:
        return True
    changed = set(form.changed_data) - WRITE_ONLY_FORM_FIELDS - set(CONFIG_FIELDS)
    changed.discard("extra_config")
    return bool(changed) or (form.final_credentials, form.final_config) != (
        form._stored_credentials,
        form._stored_config,
    )


class ProviderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    """Providers of one organization, by name."""

    queryset = Provider.objects.select_related("organization")
    serializer_class = ProviderSerializer
    lookup_field = "name"
    lookup_url_kwarg = "provider"

    def _write(self, request: Request, provider: Provider, name: str) -> Response:
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        payload: dict[str, Any] = dict(serializer.validated_data)
        payload.pop("name", None)
        if provider.starter:
            raise ValidationError(
                {
                    "non_field_errors": [
                        "The starter provider is the platform's; "
                        "it cannot be changed here."
                    ]
                }
            )
        refuse_instance_wide(payload, provider.instance_wide, self.scope)
        if provider._state.adding and "provider_type" not in payload:
            raise ValidationError({"provider_type": ["This field is required."]})
        data = form_data(provider, self.organization.pk, name, payload)
        # First pass without the vendor: does this change anything at all?
        dry = ProviderForm({**data, "save_without_verifying": True}, instance=provider)
        if not dry.is_valid():
            raise ValidationError(form_errors(dry, ERROR_PATHS))
        adding = provider._state.adding
        if not changes_anything(dry):
            fresh = self.get_queryset().get(pk=provider.pk)
            return Response(
                self.get_serializer(fresh).data, headers={"X-Changed": "false"}
            )
        if payload.get("verify", True):
            # The dry run wrote its result onto the instance: start again.
            provider = (
                Provider(organization=self.organization)
                if adding
                else self.get_queryset().get(pk=provider.pk)
            )
            form = ProviderForm(data, instance=provider)
            if not form.is_valid():
                raise ValidationError(form_errors(form, ERROR_PATHS))
        else:
            form = dry
        with transaction.atomic():
            saved = form.save(commit=False)
            if adding:
                saved.owner = self.request.user  # type: ignore[assignment]  # authenticated: a User
            saved.save()
        follow_up_save(saved, form)
        saved.refresh_from_db()
        return Response(
            self.get_serializer(saved).data,
            status=status.HTTP_201_CREATED if adding else status.HTTP_200_OK,
            headers={"X-Changed": "true"},
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        name = request.data.get("name") if hasattr(request.data, "get") else None
        if not isinstance(name, str) or not name:
            raise ValidationError({"name": ["This field is required."]})
        return self._write(request, Provider(organization=self.organization), name)

    @extend_schema(
        responses={200: ProviderSerializer, 201: ProviderSerializer},
        description="Create or update the provider of this name (idempotent: "
        "applying the same state again changes nothing).",
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        name = self.kwargs["provider"]
        provider = self.get_queryset().filter(name=name).first()
        if provider is None:
            serializers.SlugField().run_validation(name)
            provider = Provider(organization=self.organization)
        return self._write(request, provider, name)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        provider = self.get_object()
        return self._write(request, provider, provider.name)

    @extend_schema(
        parameters=[confirm_parameter()],
        responses={204: None, 409: ConflictSerializer},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        provider = self.get_object()
        found = dependents.of_provider(provider)
        if found and not confirmed(request):
            return in_use(found)
        provider.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ProviderSerializer)
    @action(detail=True, methods=["post"], url_path="check-health")
    def check_health(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Check the provider's health now and record it."""
        provider = self.get_object()
        check_and_follow(provider)
        provider.refresh_from_db()
        return Response(self.get_serializer(provider).data)

    @extend_schema(request=None, responses=CheckSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Call the vendor with the stored credentials; nothing is recorded."""
        result = probe(self.get_object())
        return Response(
            {
                "ok": result.health == Provider.Health.AVAILABLE,
                "health": result.health,
                "message": result.message,
                "latency_ms": result.latency_ms,
            }
        )

    @extend_schema(request=None, responses=DiscoverySerializer)
    @action(detail=True, methods=["post"])
    def discover(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Discover the provider's models now (as the admin's action)."""
        provider = self.get_object()
        try:
            result = sync_provider_models(provider)
        except DriverError as err:
            try:
                message = scrubbed(err.message, provider.driver_config())
            except CryptoError:
                message = "the vendor refused the request"
            return Response(_discovery_failed(message))
        except CryptoError as exc:
            return Response(_discovery_failed(str(exc)))
        return Response(
            {
                "ok": True,
                "message": result.summary(),
                "added": result.added,
                "updated": result.updated,
                "gone": result.gone,
                "returned": result.returned,
            }
        )

    @extend_schema(request=ModelTestRequestSerializer, responses=ModelTestSerializer)
    @action(detail=True, methods=["post"], url_path="test-model")
    def test_model(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Send one tiny request to a model of this provider through the gateway."""
        provider = self.get_object()
        given = ModelTestRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        user: User = request.user  # type: ignore[assignment]  # authenticated: a User
        return Response(
            run_model_test(provider, given.validated_data["model_id"], user)
        )

    @extend_schema(responses=HealthEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def health(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The provider's recent health changes, newest first."""
        events = HealthEvent.objects.filter(provider=self.get_object())
        page = self.paginate_queryset(events)
        shown = HealthEventSerializer(page if page is not None else events, many=True)
        if page is not None:
            return self.get_paginated_response(shown.data)
        return Response(shown.data)
