"""Failed sign-ins are slowed, then locked: per address, per username, per pair.

django-axes records every failed ``authenticate()`` (site and admin alike, for
existing and unknown usernames the same) in its database table, so the counts
hold across replicas. This handler decides on them with three rules, each
counted over the last ``LOGIN_LOCKOUT_MINUTES``:

==========  =====================================  ===============================
rule        counts failures of                     locks at
==========  =====================================  ===============================
pair        one username from one address          ``LOGIN_FAILURE_LIMIT`` (5)
address     any usernames from one address         ``LOGIN_ADDRESS_FAILURE_LIMIT``
username    one username from any addresses        ``LOGIN_USERNAME_FAILURE_LIMIT``
==========  =====================================  ===============================

The username rule has the highest limit on purpose: anyone can guess a real
admin's username from many addresses and lock them out with it; a high limit
makes that costly while still stopping slow, distributed guessing of one
account. The real user gets back in at once by resetting their password by
email (``forget_failures_of``), or an operator runs
``manage.py axes_reset_username``.

Slowed before locked: from half a rule's limit on, the next attempt under that
rule must wait ``LOGIN_SLOWDOWN_SECONDS`` after the last failure, doubling
with each further failure (at most ``MAX_SLOWDOWN``). An attempt made too soon
is refused without checking the password and is not counted. Nothing sleeps
in the server: a refused attempt answers 429 at once with how long to wait.

The answer (``lockout_response``) depends only on these counts, never on
whether the username exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

MAX_SLOWDOWN = timedelta(seconds=30)


@dataclass(frozen=True)
class Rule:
    name: str
    fields: tuple[str, ...]
    limit: int


def rules() -> tuple[Rule, ...]:
    return (
        Rule("pair", ("username", "ip_address"), settings.AXES_FAILURE_LIMIT),
        Rule("address", ("ip_address",), settings.LOGIN_ADDRESS_FAILURE_LIMIT),
        Rule("username", ("username",), settings.LOGIN_USERNAME_FAILURE_LIMIT),
    )


def slowdown(failures: int, limit: int) -> timedelta:
    """How long after the last of ``failures`` the next attempt must wait."""
    base: float = settings.LOGIN_SLOWDOWN_SECONDS
    start = max(limit // 2, 1)
    if base <= 0 or failures < start:
        return timedelta(0)
    return min(timedelta(seconds=base * 2 ** (failures - start)), MAX_SLOWDOWN)


@dataclass(frozen=True)
class Standing:
    """Where a request stands: ``failures`` is the most pressing rule's count,
    shifted so that reaching ``AXES_FAILURE_LIMIT`` means reaching that rule's
    own limit (what axes compares); ``wait`` is how long until it may try."""

    failures: int
    wait: timedelta


def standing(request: HttpRequest, credentials: dict[str, Any] | None) -> Standing:
    now: datetime = getattr(request, "axes_attempt_time", None) or timezone.now()
    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    values = {
        "username": get_client_username(request, credentials),
        "ip_address": getattr(request, "axes_ip_address", None),
    }
    worst, wait = 0, timedelta(0)
    for rule in rules():
        counted = AccessAttempt.objects.filter(
            attempt_time__gte=now - cooloff,
            **{field: values[field] for field in rule.fields},
        ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        failures: int = counted["failures"] or 0
        if not failures:
            continue
        worst = max(worst, failures - rule.limit + settings.AXES_FAILURE_LIMIT)
        pause = cooloff if failures >= rule.limit else slowdown(failures, rule.limit)
        wait = max(wait, counted["last"] + pause - now)
    return Standing(worst, wait)


def forget_failures_of(username: str) -> None:
    """Lift every count on ``username`` (its owner proved who they are)."""
    AccessAttempt.objects.filter(username=username).delete()


class SigninThrottle(AxesDatabaseHandler):  # type: ignore[misc]  # axes ships no type hints
    """axes' database handler with the three rules and the slowdown above."""

    def get_failures(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        return standing(request, credentials).failures

    def is_locked(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> bool:
        return standing(request, credentials).wait > timedelta(0)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """After a successful sign-in, forget that username's failures only.

        axes would also forget every failure from the address, so an attacker
        with an account of their own could sign into it between guesses at
        other usernames and never reach the address limit.
        """
        username = get_client_username(request, credentials)
        deleted: int = AccessAttempt.objects.filter(username=username).delete()[0]
        return deleted


def wait_text(wait: timedelta) -> str:
    seconds = max(math.ceil(wait.total_seconds()), 1)
    if seconds <= 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The answer to a refused sign-in (``AXES_LOCKOUT_CALLABLE``): the site's
    page, 429, with ``Retry-After``; the same for any username.

    axes passes its arguments differently from its sync and async middleware,
    so the credentials are read from the request, where axes always puts them.
    """
    credentials = getattr(request, "axes_credentials", None)
    wait = standing(request, credentials).wait
    response = render(
        request,
        "accounts/lockout.html",
        {
            "wait": wait_text(wait),
            "locked": wait > MAX_SLOWDOWN,
        },
        status=429,
    )
    response["Retry-After"] = str(max(math.ceil(wait.total_seconds()), 1))
    return response
