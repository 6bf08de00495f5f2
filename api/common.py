"""Shared pieces of the management API: delete protection, errors, rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from django import forms
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import Scope
from gateway.dependents import RECENT_DAYS, Dependents


class DependentsSerializer(serializers.Serializer[Any]):
    api_keys = serializers.ListField(
        child=serializers.CharField(),
        help_text="This organization's live API keys whose allow-list names it.",
    )
    other_organizations_api_keys = serializers.IntegerField()
    recent_calls = serializers.IntegerField(
        help_text=f"Gateway calls it served in the last {RECENT_DAYS} days."
    )


class ConflictSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    dependents = DependentsSerializer()


def in_use(found: Dependents) -> Response:
    """409: the object is still in use; the answer lists what depends on it."""
    return Response(
        {
            "detail": f"{found.describe()} Delete again with ?confirm=true to "
            "delete it anyway.",
            "dependents": asdict(found),
        },
        status=status.HTTP_409_CONFLICT,
    )


def confirmed(request: Request) -> bool:
    return request.query_params.get("confirm") == "true"


def confirm_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "confirm",
        str,
        enum=["true", "false"],
        required=False,
        description="true: delete even though it is still in use.",
    )


def refuse_instance_wide(payload: dict[str, Any], current: bool, scope: Scope) -> None:
    """Only a superuser shares with the whole instance (as in the admin)."""
    wanted = payload.get("instance_wide", current)
    if wanted != current and not scope.superuser:
        raise ValidationError(
            {"instance_wide": ["Only a superuser can share with the whole instance."]}
        )


def form_errors(
    form: forms.BaseForm, paths: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """A form's errors as the API reports them (field names mapped by ``paths``)."""
    paths = {"__all__": "non_field_errors", **(paths or {})}
    return {
        paths.get(field, field): [str(m) for m in messages]
        for field, messages in form.errors.items()
    }
