"""Logging filters named in ``settings.LOGGING``.

Django logs an answered 404 (``Http404``), 403 (``PermissionDenied``) and 400
(``SuspiciousOperation``, ``BadRequest``) with the exception attached, so every
mistyped URL or refused admin page printed a full traceback. Those are the
client's mistakes, answered as designed: one line says enough. And it logs
every 5xx answer at ERROR, though a 502, 503 or 504 is the gateway relaying a
vendor's trouble (``gateway.call`` says which vendor, at WARNING). Only our own
bugs (500) stay errors with their tracebacks.
"""

from __future__ import annotations

import logging

# Answers that mean "the upstream failed", never "Modelgate failed".
UPSTREAM_STATUSES = frozenset({502, 503, 504})


class ClientErrorsWithoutTraceback(logging.Filter):
    """One line, no traceback, for an answered 4xx; WARNING for a relayed 5xx."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int):
            return True
        if 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        elif status in UPSTREAM_STATUSES and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
