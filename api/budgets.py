"""Budgets of an organization, by code, validated by the admin's ``BudgetForm``.

A budget names its target by natural keys: a member's ``user`` name, an
``api_key`` name, a ``provider`` name (with ``model_id`` for a model). A
shared provider or model of another organization is named the same way; when
the name is ambiguous, ``provider_organization`` (that organization's slug)
says which. ``PUT`` and ``PATCH`` both merge the payload into the stored
budget; naming the scope or any target replaces the whole target. Every
answer carries where the budget stands now: spend, percent, remaining and the
period (``gateway.budgets.status``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Organization, User
from api.access import OrganizationScopedViewSet
from api.common import form_errors
from gateway.budgets import periods, targets
from gateway.budgets.forms import BudgetForm
from gateway.budgets.status import status as budget_status
from gateway.models import ApiKey, Budget
from models_catalog.models import AIModel
from providers.models import Provider

TARGET_KEYS = (
    "scope",
    "user",
    "api_key",
    "provider",
    "model_id",
    "provider_organization",
)
# The form's field names as the API calls them.
ERROR_PATHS = {"model": "model_id"}
LONG = 2**31 - 1


class BudgetSerializer(serializers.Serializer[Budget]):
    code = serializers.UUIDField(read_only=True)
    organization = serializers.CharField(source="organization.slug", read_only=True)
    scope = serializers.ChoiceField(choices=Budget.Scope.choices)
    user = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=150,
        help_text="Username of the member (scope user).",
    )
    api_key = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text="Name of the API key (scope key).",
    )
    provider = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text="Provider name (scope provider), or the model's provider "
        "(scope model).",
    )
    model_id = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=255,
        help_text="The model's id (scope model).",
    )
    provider_organization = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="Slug of the organization owning a shared provider, when its "
        "name alone is ambiguous.",
    )
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        help_text="The limit in USD per period.",
    )
    period = serializers.ChoiceField(choices=periods.CHOICES, required=False)
    starts_at = serializers.DateTimeField(required=False)
    alert_thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=1000),
        required=False,
        max_length=10,
    )
    is_active = serializers.BooleanField(required=False)
    target_label = serializers.CharField(
        read_only=True, help_text="What the budget limits, as the 429 names it."
    )
    spent = serializers.DecimalField(max_digits=24, decimal_places=10, read_only=True)
    percent = serializers.DecimalField(
        max_digits=32,
        decimal_places=1,
        read_only=True,
        help_text="Spend as a percentage of the limit, this period.",
    )
    remaining = serializers.DecimalField(
        max_digits=24, decimal_places=10, read_only=True
    )
    period_label = serializers.CharField(read_only=True)
    period_start = serializers.DateTimeField(read_only=True)
    period_end = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Budget) -> dict[str, Any]:
        now = budget_status(instance)
        provider = instance.model.provider if instance.model else instance.provider
        owner = provider.organization if provider else None
        when = serializers.DateTimeField().to_representation
        money = serializers.DecimalField(max_digits=24, decimal_places=10)
        return {
            "code": str(instance.code),
            "organization": instance.organization.slug,
            "scope": instance.scope,
            "user": instance.user.username if instance.user else None,
            "api_key": instance.api_key.name if instance.api_key else None,
            "provider": provider.name if provider else None,
            "model_id": instance.model.model_id if instance.model else None,
            "provider_organization": owner.slug
            if owner and owner.pk != instance.organization_id
            else None,
            "amount": self.fields["amount"].to_representation(instance.amount),
            "period": instance.period,
            "starts_at": when(instance.starts_at),
            "alert_thresholds": instance.alert_thresholds,
            "is_active": instance.is_active,
            "target_label": instance.target_label(),
            "spent": money.to_representation(now.spent),
            "percent": str(now.percent),
            "remaining": money.to_representation(now.remaining),
            "period_label": now.period_label,
            "period_start": when(now.period_start),
            "period_end": when(now.period_end) if now.period_end else None,
            "created_at": when(instance.created_at),
            "updated_at": when(instance.updated_at),
        }


def _one_of(rows: QuerySet[Any], organization: Organization) -> Any:
    """The one row, the organization's own when several match; None if none."""
    found = list(rows[:3])
    if len(found) > 1:
        own = [r for r in found if r.organization_id == organization.pk]
        if len(own) == 1:
            return own[0]
        raise ValidationError(
            {
                "provider_organization": [
                    "Several shared providers have this name: give the slug "
                    "of the organization that owns the one you mean."
                ]
            }
        )
    return found[0] if found else None


def resolve_target(organization: Organization, given: dict[str, Any]) -> dict[str, str]:
    """The form's target fields (pks) for the natural keys in ``given``."""
    scope = given.get("scope")
    fields = {"user": "", "api_key": "", "model": "", "provider": ""}
    ids = [organization.pk]
    owner = given.get("provider_organization") or ""
    if given.get("user"):
        user = User.objects.filter(
            username=given["user"], memberships__organization=organization
        ).first()
        if user is None:
            raise ValidationError(
                {"user": ["No member of this organization with this username."]}
            )
        fields["user"] = str(user.pk)
    if given.get("api_key"):
        key = ApiKey.objects.filter(
            organization=organization, name=given["api_key"]
        ).first()
        if key is None:
            raise ValidationError({"api_key": ["No API key of this name."]})
        fields["api_key"] = str(key.pk)
    if given.get("model_id"):
        if not given.get("provider"):
            raise ValidationError({"provider": ["Name the model's provider."]})
        models: QuerySet[AIModel] = targets.models_for(ids).filter(
            provider__name=given["provider"], model_id=given["model_id"]
        )
        if owner:
            models = models.filter(organization__slug=owner)
        model = _one_of(models, organization)
        if model is None:
            raise ValidationError(
                {"model_id": ["No model of this id is visible to this organization."]}
            )
        fields["model"] = str(model.pk)
    elif given.get("provider"):
        providers: QuerySet[Provider] = targets.providers_for(ids).filter(
            name=given["provider"]
        )
        if owner:
            providers = providers.filter(organization__slug=owner)
        provider = _one_of(providers, organization)
        if provider is None:
            raise ValidationError(
                {"provider": ["No provider of this name is used by this organization."]}
            )
        if scope == Budget.Scope.MODEL:
            raise ValidationError({"model_id": ["Give the model's id."]})
        fields["provider"] = str(provider.pk)
    return fields


class BudgetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    """The organization's budgets, each with its current spend. DELETE deletes."""

    serializer_class = BudgetSerializer
    queryset = Budget.objects.select_related(
        "organization",
        "user",
        "api_key",
        "model__provider__organization",
        "provider__organization",
    )
    lookup_field = "code"

    def _current_target(self, budget: Budget) -> dict[str, str]:
        return {
            "user": str(budget.user_id or ""),
            "api_key": str(budget.api_key_id or ""),
            "model": str(budget.model_id or ""),
            "provider": str(budget.provider_id or ""),
        }

    def _write(self, request: Request, budget: Budget | None) -> Response:
        serializer = self.get_serializer(data=request.data, partial=budget is not None)
        serializer.is_valid(raise_exception=True)
        given: dict[str, Any] = dict(serializer.validated_data)
        if budget is not None and given.keys() & set(TARGET_KEYS):
            given.setdefault("scope", budget.scope)
        target = (
            self._current_target(budget)
            if budget is not None and not given.keys() & set(TARGET_KEYS)
            else resolve_target(self.organization, given)
        )

        def pick(name: str) -> Any:
            return given[name] if name in given else getattr(budget, name, None)

        starts_at = pick("starts_at")
        data: dict[str, Any] = {
            "organization": str(self.organization.pk),
            "scope": pick("scope") or "",
            **target,
            "amount": pick("amount"),
            "period": pick("period") or periods.MONTH,
            "starts_at": (starts_at or timezone.now()).isoformat(),
            "alert_thresholds": ", ".join(str(v) for v in pick("alert_thresholds"))
            if pick("alert_thresholds") is not None
            else "50, 80, 100",
            "is_active": pick("is_active") if pick("is_active") is not None else True,
        }
        form = BudgetForm(data, instance=budget)
        if not form.is_valid():
            raise ValidationError(form_errors(form, ERROR_PATHS))
        saved = form.save()
        fresh = self.get_queryset().get(pk=saved.pk)
        code = status.HTTP_201_CREATED if budget is None else status.HTTP_200_OK
        return Response(self.get_serializer(fresh).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, None)

    @extend_schema(description="Merge the payload into the budget (as PATCH).")
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
