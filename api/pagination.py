"""The API's pages: limit and offset (DRF settings import this; keep it a leaf).

A ``limit`` or ``offset`` that is not a whole number in range is a 400, not
silently the default: a script asking for something else learns it at once.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_OFFSET = 2**31 - 1


def _whole(request: Request, name: str, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high or not raw.strip().lstrip("-").isdigit():
        raise ValidationError({name: [f"A whole number from {low} to {high}."]})
    return value


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int:
        given = _whole(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if given is None else given

    def get_offset(self, request: Request) -> int:
        return _whole(request, self.offset_query_param, 0, MAX_OFFSET) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: (1, self.max_limit),
            self.offset_query_param: (0, MAX_OFFSET),
        }
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {
                **parameter["schema"],
                "minimum": low,
                "maximum": high,
            }
        return parameters
