"""Models and grants: the catalog, written through the admin's own forms.

A model is addressed by its natural key, provider name + model id
(``providers/<provider>/models/<model id>``, the id may contain slashes);
``PUT`` there creates or updates it and applying the same state again changes
nothing. Validation is ``AIModelForm``'s (prices from the catalog when left
blank, the starter provider's model fixed); grants use ``GrantForm``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from api.access import OrganizationScopedViewSet
from api.common import (
    ConflictSerializer,
    confirm_parameter,
    confirmed,
    form_errors,
    in_use,
    refuse_instance_wide,
)
from gateway import dependents
from gateway.model_test import test_model
from models_catalog.admin import AIModelForm
from models_catalog.grant_admin import GrantForm
from models_catalog.models import AIModel, Grant
from providers.crypto import CryptoError
from providers.models import Provider

# The admin form's fields the API takes as they are (the natural key aside):
# one list, so a field added to the form is never reset by an API write.
MODEL_FIELDS = tuple(
    f for f in AIModelForm.Meta.fields if f not in ("provider", "model_id")
)
# Left blank for a new model unless given: the form takes the catalog's figures.
CATALOG_FIELDS = frozenset(
    {
        "input_cost_per_million",
        "output_cost_per_million",
        "cache_read_cost_per_million",
        "cache_write_cost_per_million",
        "context_window",
    }
)
# What a save may change: compared to decide whether a PUT changes anything.
STORED_FIELDS = (*MODEL_FIELDS, "price_source")


def price_field(help_text: str | None = None) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class ModelConfigField(serializers.DictField):
    """The model's vendor settings, decrypted for reading ({} if unreadable)."""

    def get_attribute(self, instance: AIModel) -> dict[str, Any]:
        try:
            return instance.get_config()
        except CryptoError:
            return {}


class AIModelSerializer(serializers.Serializer[AIModel]):
    """A model as the API shows it and takes it."""

    provider = serializers.CharField(source="provider.name", read_only=True)
    organization = serializers.CharField(source="organization.slug", read_only=True)
    model_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    alias = serializers.CharField(max_length=255, required=False, allow_blank=True)
    model_type = serializers.ChoiceField(
        choices=AIModel.ModelType.choices, required=False
    )
    status = serializers.ChoiceField(choices=AIModel.Status.choices, required=False)
    instance_wide = serializers.BooleanField(
        required=False, help_text="Only a superuser may set it."
    )
    input_cost_per_million = price_field()
    output_cost_per_million = price_field()
    cache_read_cost_per_million = price_field()
    cache_write_cost_per_million = price_field()
    cost_per_thousand_searches = price_field(
        "Rerank models: USD per 1,000 search units; empty: searches not priced."
    )
    price_source = serializers.CharField(read_only=True)
    context_window = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
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
    model_config = ModelConfigField(required=False)
    source = serializers.CharField(read_only=True)  # type: ignore[assignment]  # a field named source
    missing_since = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class ModelTestSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    answer = serializers.CharField(allow_blank=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


def _model_form_data(
    model: AIModel, provider: Provider, model_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {"provider": str(provider.pk), "model_id": model_id}
    for field in MODEL_FIELDS:
        if model.pk is None and field in CATALOG_FIELDS:
            value = payload.get(field)  # blank: the price catalog's figure
        else:
            value = payload.get(field, getattr(model, field))
        data[field] = "" if value is None else value
    if "model_config" in payload:
        config = payload["model_config"]
    else:
        try:
            config = model.get_config()
        except CryptoError:
            config = {}
    data["model_config_json"] = json.dumps(config)
    return data


def _snapshot(model: AIModel) -> tuple[Any, ...]:
    try:
        config = model.get_config()
    except CryptoError:
        config = None
    return (*(getattr(model, f) for f in STORED_FIELDS), config)


class ProviderModelViewSet(
    mixins.RetrieveModelMixin, mixins.ListModelMixin, OrganizationScopedViewSet
):
    """The models one provider serves, by model id."""

    serializer_class = AIModelSerializer
    queryset = AIModel.objects.select_related("provider", "organization")
    lookup_field = "model_id"

    def provider(self) -> Provider:
        provider = Provider.objects.filter(
            organization=self.organization, name=self.kwargs["provider"]
        ).first()
        if provider is None:
            raise Http404
        return provider

    def get_queryset(self) -> QuerySet[AIModel]:
        return super().get_queryset().filter(provider__name=self.kwargs["provider"])

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.provider()  # an unknown provider is 404, not an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(
        responses={200: AIModelSerializer, 201: AIModelSerializer},
        description="Create or update the model of this id (idempotent).",
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        provider = self.provider()
        model_id = self.kwargs["model_id"]
        model = AIModel.objects.filter(provider=provider, model_id=model_id).first()
        return self._write(request, provider, model, model_id)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        model = self.get_object()
        return self._write(request, model.provider, model, model.model_id)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        provider = self.provider()
        model_id = (
            request.data.get("model_id") if hasattr(request.data, "get") else None
        )
        if not isinstance(model_id, str) or not model_id:
            raise ValidationError({"model_id": ["This field is required."]})
        if AIModel.objects.filter(provider=provider, model_id=model_id).exists():
            raise ValidationError(
                {"model_id": ["This provider already has a model with this id."]}
            )
        return self._write(request, provider, None, model_id)

    def _write(
        self,
        request: Request,
        provider: Provider,
        model: AIModel | None,
        model_id: str,
    ) -> Response:
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        payload: dict[str, Any] = dict(serializer.validated_data)
        adding = model is None
        current = model or AIModel(provider=provider, organization=self.organization)
        refuse_instance_wide(payload, current.instance_wide, self.scope)
        before = None if adding else _snapshot(current)
        form = AIModelForm(
            _model_form_data(current, provider, model_id, payload), instance=current
        )
        if not form.is_valid():
            raise ValidationError(
                form_errors(form, {"model_config_json": "model_config"})
            )
        instance = form.instance
        instance.seal("model_config", form.cleaned_data["model_config_json"])
        if before is not None and _snapshot(instance) == before:
            fresh = self.get_queryset().get(pk=instance.pk)
            return Response(
                self.get_serializer(fresh).data, headers={"X-Changed": "false"}
            )
        saved = form.save(commit=False)
        if adding:
            saved.owner = request.user  # type: ignore[assignment]  # authenticated: a User
        saved.save()
        fresh = self.get_queryset().get(pk=saved.pk)
        return Response(
            self.get_serializer(fresh).data,
            status=status.HTTP_201_CREATED if adding else status.HTTP_200_OK,
            headers={"X-Changed": "true"},
        )

    @extend_schema(
        parameters=[confirm_parameter()],
        responses={204: None, 409: ConflictSerializer},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        model = self.get_object()
        found = dependents.of_model(model)
        if found and not confirmed(request):
            return in_use(found)
        model.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelTestRequestSerializer(serializers.Serializer[Any]):
    model_id = serializers.CharField(max_length=255)


class ModelFilterSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField(required=False, allow_blank=True)
    model_type = serializers.CharField(required=False, allow_blank=True)
    status = serializers.CharField(required=False, allow_blank=True)


class OrganizationModelViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    """Every model of the organization, filterable by provider, type and status."""

    serializer_class = AIModelSerializer
    queryset = AIModel.objects.select_related("provider", "organization")

    @extend_schema(
        parameters=[
            OpenApiParameter("provider", str, required=False),
            OpenApiParameter(
                "model_type", str, enum=AIModel.ModelType.values, required=False
            ),
            OpenApiParameter("status", str, enum=AIModel.Status.values, required=False),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AIModel]:
        models = super().get_queryset()
        given = ModelFilterSerializer(data=self.request.query_params)
        given.is_valid(raise_exception=True)  # NUL and the like: 400, not 500
        params = given.validated_data
        if params.get("provider"):
            models = models.filter(provider__name=params["provider"])
        for name in ("model_type", "status"):
            if params.get(name):
                models = models.filter(**{name: params[name]})
        return models


def run_model_test(provider: Provider, model_id: str, user: User) -> dict[str, Any]:
    model = AIModel.objects.filter(provider=provider, model_id=model_id).first()
    if model is None:
        raise ValidationError(
            {"model_id": ["This provider has no model with this id."]}
        )
    result = test_model(model, user)
    return {
        "ok": result.ok,
        "answer": result.answer,
        "latency_ms": result.latency_ms,
        "error": result.error,
    }


# -- Grants ------------------------------------------------------------------


class GrantSerializer(serializers.Serializer[Grant]):
    """A grant: one model (provider + model id) or a whole provider, shared
    with an organization (slug) or with one member (username)."""

    code = serializers.UUIDField(read_only=True)
    provider = serializers.CharField(required=False, allow_null=True, max_length=100)
    model_id = serializers.CharField(required=False, allow_null=True, max_length=255)
    organization = serializers.CharField(required=False, allow_null=True, max_length=64)
    user = serializers.CharField(required=False, allow_null=True, max_length=150)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Grant) -> dict[str, Any]:
        target = instance.model.provider if instance.model else instance.provider
        return {
            "code": str(instance.code),
            "provider": target.name if target else None,
            "model_id": instance.model.model_id if instance.model else None,
            "organization": instance.organization.slug
            if instance.organization
            else None,
            "user": instance.user.username if instance.user else None,
            "created_at": serializers.DateTimeField().to_representation(
                instance.created_at
            ),
        }


class GrantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    OrganizationScopedViewSet,
):
    """Grants on this organization's models and providers."""

    serializer_class = GrantSerializer
    queryset = Grant.objects.select_related(
        "model__provider", "provider", "organization", "user"
    )
    lookup_field = "code"

    def scope_q(self) -> Q:
        return Q(model__organization=self.organization) | Q(
            provider__organization=self.organization
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        errors: dict[str, list[str]] = {}
        provider = None
        if given.get("provider"):
            provider = Provider.objects.filter(
                organization=self.organization, name=given["provider"]
            ).first()
            if provider is None:
                errors["provider"] = ["No provider of this name."]
        model = None
        if provider is not None and given.get("model_id"):
            model = AIModel.objects.filter(
                provider=provider, model_id=given["model_id"]
            ).first()
            if model is None:
                errors["model_id"] = ["This provider has no model with this id."]
        grantee_org = None
        if given.get("organization"):
            grantee_org = (
                self.scope.organizations().filter(slug=given["organization"]).first()
            )
            if grantee_org is None:
                errors["organization"] = ["No organization with this slug."]
        grantee_user = None
        if given.get("user"):
            grantee_user = User.objects.filter(
                username=given["user"],
                memberships__organization=self.organization,
            ).first()
            if grantee_user is None:
                errors["user"] = ["No member of this organization with this username."]
        if errors:
            raise ValidationError(errors)
        form = GrantForm(
            {
                "provider": "" if model or provider is None else str(provider.pk),
                "model": str(model.pk) if model else "",
                "organization": str(grantee_org.pk) if grantee_org else "",
                "user": str(grantee_user.pk) if grantee_user else "",
            }
        )
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        grant = form.save(commit=False)
        grant.created_by = request.user  # type: ignore[assignment]  # authenticated: a User
        grant.save()
        return Response(self.get_serializer(grant).data, status=status.HTTP_201_CREATED)
