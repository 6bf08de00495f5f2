"""Request ids: one per /v1 call, in its answer, its usage record and its log lines.

Every /v1 answer carries ``x-request-id`` (the openai SDK reads it for
``_request_id``); answers in Anthropic's dialect also carry ``request-id``
(the anthropic SDK reads that one). The id is the client's own
``x-request-id`` when it is sane: 1 to 128 characters of ``A-Z a-z 0-9 . _ :
-`` (``SANE``), so it is safe in a header, a log line, a CSV cell and the
admin. Anything else is replaced, never echoed; with none, the gateway makes
one: ``req_`` and 32 hex digits (128 random bits).

The id lives in ``current`` (a context variable) for the length of the call:
the ASGI handler sets it before anything else (``config.asgi``), the usage
record reads it (``gateway.call``), and ``RequestIdFilter`` adds it to every
log record written meanwhile, the drivers' included. Nothing here queries a
database or Redis.

The id is not forwarded upstream: a client's own id may carry what the client
meant for us alone (a user or session name), and vendors answer with ids of
their own. Where a driver logs the vendor's id (Anthropic's refusals), the line
carries ours too, which is how an operator joins the two.

This module imports nothing of Django: the logging configuration loads it.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

PATTERN = r"[A-Za-z0-9._:-]{1,128}"
SANE = re.compile(PATTERN.encode())
PREFIX = "req_"
# The value logged for records written outside any call.
NONE = "-"

current: ContextVar[str] = ContextVar("request_id", default="")


def new() -> str:
    """A fresh id: ``req_`` and 32 hex digits."""
    return PREFIX + os.urandom(16).hex()


def choose(sent: bytes | None) -> str:
    """The id of a call whose client sent ``sent`` as ``x-request-id`` (or none)."""
    if sent is not None and SANE.fullmatch(sent):
        return sent.decode("ascii")
    return new()


def is_sane(text: str) -> bool:
    """Whether ``text`` could be a request id (the admin's search asks)."""
    return SANE.fullmatch(text.encode("latin-1", "replace")) is not None


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id``: the current call's id, or ``-`` outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or NONE
        return True
