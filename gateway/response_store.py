"""Stored Responses API answers: save, read, chain, list input items, delete, expire.

Sync ORM functions; the gateway's async code calls them through
``gateway.db.run_db``. Every read is scoped to one organization and to rows
not yet expired: another organization's id, an expired one and one that never
existed are the same ``None`` (or the same error), so an id tells a caller
nothing about other tenants. Ids that cannot be a stored response's (wrong
prefix, charset or length) are answered the same way without a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from gateway import errors
from gateway.models import StoredResponse

# Ours are "resp_" + 48 hex (gateway.responses.ids); an upstream's kept as
# sent in a pass-through may differ in length, never in alphabet.
_RESPONSE_ID = re.compile(r"resp_[A-Za-z0-9_-]{1,120}")
# Longer chains are refused rather than walked: a loop of ids cannot hang a call.
MAX_HISTORY = 1000
PAGE_LIMIT_MAX = 100
PAGE_LIMIT_DEFAULT = 20
EXPIRY_BATCH = 1000


@dataclass(frozen=True)
class Stored:
    """One stored response, decrypted."""

    id: str
    model_name: str
    previous_response_id: str | None
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    created_at: datetime
    expires_at: datetime


def is_response_id(value: str) -> bool:
    """Whether ``value`` could name a stored response at all."""
    return _RESPONSE_ID.fullmatch(value) is not None


def save(
    organization_id: int,
    api_key_id: int | None,
    user_id: int | None,
    response: dict[str, Any],
    input_items: list[dict[str, Any]],
    previous_response_id: str | None,
) -> None:
    """Keep ``response`` (as answered) and its request's input items, encrypted.

    It expires ``RESPONSES_RETENTION_DAYS`` after now.
    """
    now = timezone.now()
    row = StoredResponse(
        id=response["id"],
        organization_id=organization_id,
        api_key_id=api_key_id,
        user_id=user_id,
        model_name=str(response.get("model") or ""),
        previous_response_id=previous_response_id or "",
        created_at=now,
        expires_at=now + timedelta(days=settings.RESPONSES_RETENTION_DAYS),
    )
    row.seal("payload", {"response": response, "input_items": input_items})
    row.save(force_insert=True)


def get(organization_id: int, response_id: str) -> Stored | None:
    """The organization's live stored response ``response_id``, else None."""
    if not is_response_id(response_id):
        return None
    row = (
        StoredResponse.objects.for_organization(organization_id)
        .live()
        .filter(pk=response_id)
        .first()
    )
    if row is None:
        return None
    payload = row.reveal("payload", {})
    return Stored(
        id=row.id,
        model_name=row.model_name,
        previous_response_id=row.previous_response_id or None,
        response=payload["response"],
        input_items=payload["input_items"],
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def history(organization_id: int, response_id: str) -> list[dict[str, Any]]:
    """The conversation up to and including ``response_id``, as input items.

    For each response of the chain, oldest first: its input items, then its
    output items (OpenAI's output items are valid input items). A missing,
    expired or foreign link anywhere is ``previous_response_not_found`` for
    the id the caller sent; a chain longer than ``MAX_HISTORY`` is refused.
    """
    ids = _chain(organization_id, response_id) if is_response_id(response_id) else []
    if not ids:
        raise errors.previous_response_not_found(response_id)
    rows = StoredResponse.objects.for_organization(organization_id).in_bulk(ids)
    items: list[dict[str, Any]] = []
    for link in reversed(ids):
        if link not in rows:  # deleted since the chain was read
            raise errors.previous_response_not_found(response_id)
        payload = rows[link].reveal("payload", {})
        items += payload["input_items"]
        items += payload["response"].get("output") or []
    return items


def _chain(organization_id: int, response_id: str) -> list[str]:
    """The ids from ``response_id`` back to the first response, newest first.

    One recursive query instead of one per turn (agents chain a response per
    tool round). Empty when any link is missing, expired or foreign.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    # The table name is ours, quoted; every value is a parameter.
    table = conn.ops.quote_name(StoredResponse._meta.db_table)
    now = conn.ops.adapt_datetimefield_value(timezone.now())
    sql = f"""
        WITH RECURSIVE chain (id, previous_response_id, depth) AS (
            SELECT id, previous_response_id, 1 FROM {table}
            WHERE id = %s AND organization_id = %s AND expires_at > %s
            UNION ALL
            SELECT r.id, r.previous_response_id, chain.depth + 1
            FROM {table} r JOIN chain ON r.id = chain.previous_response_id
            WHERE r.organization_id = %s AND r.expires_at > %s
                AND chain.depth < %s
        )
        SELECT id, previous_response_id FROM chain ORDER BY depth
    """
    org = organization_id
    params: list[Any] = [response_id, org, now, org, now, MAX_HISTORY]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        chain: list[tuple[str, str]] = cursor.fetchall()
    if not chain or not chain[-1][1]:
        return [link for link, _ in chain]
    if len(chain) == MAX_HISTORY:
        raise errors.bad_request(
            f"The conversation of previous_response_id '{response_id}' "
            f"is longer than {MAX_HISTORY} responses.",
            "previous_response_id",
        )
    return []


def delete(organization_id: int, response_id: str) -> bool:
    """Delete the organization's live stored response; False when there is none."""
    if not is_response_id(response_id):
        return False
    deleted, _ = (
        StoredResponse.objects.for_organization(organization_id)
        .live()
        .filter(pk=response_id)
        .delete()
    )
    return deleted > 0


def input_items_page(
    organization_id: int,
    response_id: str,
    after: str | None = None,
    limit: int = PAGE_LIMIT_DEFAULT,
    order: str = "desc",
) -> dict[str, Any]:
    """One page of a stored response's input items, as OpenAI lists them.

    ``order`` "desc" (OpenAI's default) lists the last item first; ``after``
    is the id of the item the previous page ended with. Raises
    ``response_not_found`` for an id that is not the organization's, and a
    400 naming the parameter for a bad ``limit``, ``order`` or ``after``.
    """
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise errors.bad_request(
            f"Invalid 'limit': integer below minimum value or above maximum value. "
            f"Expected a value between 1 and {PAGE_LIMIT_MAX}, but got {limit}.",
            "limit",
        )
    if order not in ("asc", "desc"):
        raise errors.bad_request(
            f"Invalid 'order': expected one of asc or desc, but got '{order[:50]}'.",
            "order",
        )
    stored = get(organization_id, response_id)
    if stored is None:
        raise errors.response_not_found(response_id)
    items = list(stored.input_items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise errors.bad_request(
                f"No input item with id '{after[:200]}' in response '{response_id}'.",
                "after",
            )
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }


def expire(batch: int = EXPIRY_BATCH) -> int:
    """Delete every expired stored response, ``batch`` rows per statement.

    Short statements keep locks brief while the gateway writes new rows.
    Returns the number deleted.
    """
    total = 0
    now = timezone.now()
    while True:
        ids = list(
            StoredResponse.objects.filter(expires_at__lte=now)
            .order_by()
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return total
        deleted, _ = StoredResponse.objects.filter(
            pk__in=ids, expires_at__lte=now
        ).delete()
        total += deleted
