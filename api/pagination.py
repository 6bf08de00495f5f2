"""The API's pages: limit and offset (DRF settings import this; keep it a leaf)."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500
