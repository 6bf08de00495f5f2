"""Usage, read-only: the organization's gateway calls, filtered, with totals.

Rows are the calls the organization made (billed to it); filters: ``since`` and
``until`` (ISO 8601), ``model`` (the name as called), ``provider`` (name),
``api_key`` (name) and ``user`` (username).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import OrganizationScopedViewSet
from gateway import usage_export
from gateway.models import UsageRecord
from gateway.usage_export import is_own


class UsageFilterSerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    model = serializers.CharField(required=False, max_length=255)
    provider = serializers.CharField(required=False, max_length=100)
    api_key = serializers.CharField(required=False, max_length=100)
    user = serializers.CharField(required=False, max_length=150)


class UsageRecordSerializer(serializers.ModelSerializer[UsageRecord]):
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    api_key = serializers.CharField(
        source="api_key.name", allow_null=True, default=None
    )
    provider = serializers.CharField(
        source="provider.name", allow_null=True, default=None
    )
    model = serializers.CharField(
        source="model.model_id", allow_null=True, default=None
    )
    # Declared, not derived: derived integer bounds follow the database backend,
    # and the committed schema must not.
    input_tokens = serializers.IntegerField(min_value=0)
    output_tokens = serializers.IntegerField(min_value=0)
    cache_read_tokens = serializers.IntegerField(min_value=0)
    cache_creation_tokens = serializers.IntegerField(min_value=0)
    search_units = serializers.IntegerField(min_value=0)
    latency_ms = serializers.IntegerField(min_value=0)
    status_code = serializers.IntegerField(min_value=0)
    request_id = serializers.CharField(
        help_text="The x-request-id the gateway answered the call with (empty "
        "without one, and for another organization's call)."
    )

    class Meta:
        model = UsageRecord
        fields = [
            "created_at",
            "user",
            "api_key",
            "provider",
            "model",
            "model_name",
            "endpoint",
            "stream",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "cost",
            "latency_ms",
            "status_code",
            "error_type",
            "request_id",
            "search_units",
        ]

    def to_representation(self, instance: UsageRecord) -> dict[str, Any]:
        shown: dict[str, Any] = super().to_representation(instance)
        view = self.context.get("view")
        organization = getattr(view, "organization", None)
        own = frozenset({organization.pk}) if organization is not None else None
        if own is None or not is_own(instance.organization_id, own):
            shown["request_id"] = ""  # as the admin's list and export hide it
        return shown


class UsageTotalsSerializer(serializers.Serializer[Any]):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]  # a field, not Serializer.errors
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=24, decimal_places=10)


FILTER_PARAMETERS = [
    OpenApiParameter("since", str, required=False, description="ISO 8601 time."),
    OpenApiParameter("until", str, required=False, description="ISO 8601 time."),
    OpenApiParameter("model", str, required=False, description="Name as called."),
    OpenApiParameter("provider", str, required=False, description="Provider name."),
    OpenApiParameter("api_key", str, required=False, description="API key name."),
    OpenApiParameter("user", str, required=False, description="Username."),
]


class UsageViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    """The organization's gateway calls, newest first."""

    serializer_class = UsageRecordSerializer
    queryset = UsageRecord.objects.select_related(
        "user", "api_key", "provider", "model"
    )

    def get_queryset(self) -> QuerySet[UsageRecord]:
        rows = super().get_queryset().order_by("-created_at", "-pk")
        given = UsageFilterSerializer(data=self.request.query_params)
        given.is_valid(raise_exception=True)
        found: dict[str, Any] = dict(given.validated_data)
        q = Q()
        if "since" in found:
            q &= Q(created_at__gte=found["since"])
        if "until" in found:
            q &= Q(created_at__lt=found["until"])
        if "model" in found:
            q &= Q(model_name=found["model"])
        if "provider" in found:
            q &= Q(provider__name=found["provider"])
        if "api_key" in found:
            q &= Q(api_key__name=found["api_key"])
        if "user" in found:
            q &= Q(user__username=found["user"])
        return rows.filter(q)

    @extend_schema(parameters=FILTER_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=FILTER_PARAMETERS, responses=UsageTotalsSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def totals(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Sums over the calls the filters select."""
        sums = usage_export.totals(self.get_queryset())
        return Response(UsageTotalsSerializer(asdict(sums)).data)
