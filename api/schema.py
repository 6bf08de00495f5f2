"""OpenAPI: the management token scheme and the error answers of every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ManagementTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.authentication.ManagementTokenAuthentication"
    name = "managementToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A management token (mgmt_…), created by an "
            "organization admin; gateway keys are not accepted.",
        }


class ErrorSerializer(serializers.Serializer[Any]):
    """An error answer that is not about fields: 401, 403, 404, 405."""

    detail = serializers.CharField()


class FieldErrorsSerializer(serializers.Serializer[Any]):
    """A 400: each field's errors (described by ``FieldErrorsScheme``)."""


class FieldErrorsScheme(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    target_class = "api.schema.FieldErrorsSerializer"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "Each refused field with its errors "
            "(`non_field_errors`: about the whole request; `detail`: a body "
            "that is not JSON). A nested field's errors are an object of the "
            "same form.",
            "additionalProperties": {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object"},
                    {"type": "string"},
                ]
            },
        }


# Query parameters that never make a 400 (an unknown value reads as "no").
LENIENT_PARAMETERS = frozenset({"confirm"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODIES = frozenset({"POST", "PUT", "PATCH"})


class ApiAutoSchema(AutoSchema):
    """Every operation documents its error answers as well as its success.

    401 and 429 everywhere (every operation needs credentials; an address
    that keeps presenting invalid tokens is throttled); 404 wherever the path
    names something (another organization's objects are 404 too); 403 on
    writes (a read-only token, a session without CSRF); 400 where a body or a
    validated query parameter can be refused. A view's own ``responses``
    (e.g. its 409) come first.
    """

    def error_answers(self) -> dict[str, OpenApiResponse]:
        answers = {
            "401": OpenApiResponse(
                ErrorSerializer, "No valid management token or session."
            ),
            "429": OpenApiResponse(
                ErrorSerializer,
                "Too many invalid tokens from this address: retry after the "
                "seconds in Retry-After.",
            ),
        }
        if self.method in BODIES or self._validated_query() or self._paginated():
            answers["400"] = OpenApiResponse(
                FieldErrorsSerializer, "The request was refused; nothing changed."
            )
        if self.method in WRITES:
            answers["403"] = OpenApiResponse(
                ErrorSerializer,
                "This token may only read (or a session sent no CSRF token).",
            )
        if "{" in self.path:
            answers["404"] = OpenApiResponse(
                ErrorSerializer,
                "No such object, or it belongs to an organization outside "
                "the caller's (the two look the same).",
            )
        return answers

    def _paginated(self) -> bool:
        return self.method == "GET" and self._get_paginator() is not None  # type: ignore[no-untyped-call]

    def _validated_query(self) -> bool:
        return any(
            isinstance(p, OpenApiParameter)
            and p.location == OpenApiParameter.QUERY
            and p.name not in LENIENT_PARAMETERS
            for p in self.get_override_parameters()
        )

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, answer in self.error_answers().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    answer, code, direction=direction
                )
        return dict(sorted(responses.items()))
