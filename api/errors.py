"""The management API's exception handler (DRF settings import it: a leaf).

DRF's own handler answers what it knows; a write that lost a race for a
natural key (two creates of one name at once: each checked, then both
inserted) raises ``IntegrityError`` from the database's constraint, which is
a conflict for the caller to retry, not a server error.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

CONFLICT = (
    "A conflicting change was made at the same moment (the name may be taken "
    "now); read the current state and try again."
)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IntegrityError):
        set_rollback()
        return Response({"detail": CONFLICT}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
