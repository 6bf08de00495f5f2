"""Stored responses: the official openai SDK retrieves, deletes and lists them.

Responses are stored with ``response_store.save`` as the POST path will; the
reads go through the live gateway (a real uvicorn) on PostgreSQL and Redis
when configured. charlie's key (globex) is the outsider: every acme id is a
404 for it, exactly like an id that never existed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from openai.types.responses import Response, ResponseItemList

from gateway import response_store
from gateway.errors import DriverError
from gateway.models import ApiKey, StoredResponse
from gateway.responses.ids import new_id
from gateway.tasks import expire_stored_responses
from tests.conftest import World
from tests.test_settings import KEY, SECRET, start

SECRET_TEXT = "zq-the-launch-code-is-4417"
CONFIGURED = {"SECRET_KEY": SECRET, "CREDENTIALS_KEYS": KEY}


def message(text: str, role: str = "user") -> dict[str, Any]:
    """An input message item as OpenAI lists it."""
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": role,
        "status": "completed",
        "content": [{"type": "input_text", "text": text}],
    }


def answer(text: str, previous: str | None = None) -> dict[str, Any]:
    """A complete Response object with one assistant message."""
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": 1764260000,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-4o-mini",
        "output": [
            {
                "id": new_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": previous,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
        },
        "user": None,
        "metadata": {"topic": "tests"},
    }


def store(
    world: World,
    text: str,
    items: list[dict[str, Any]] | None = None,
    previous: str | None = None,
    organization: Any = None,
) -> dict[str, Any]:
    """Save one answer of ``organization`` (acme by default); return it."""
    response = answer(text, previous)
    response_store.save(
        (organization or world.acme).pk,
        None,
        None,
        response,
        items if items is not None else [message(f"question for {text}")],
        previous,
    )
    return response


@pytest.fixture
def keys(gateway: Any, world: World) -> dict[str, str]:
    """A secret per principal: bob of acme and charlie of globex."""
    _, bob = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    _, charlie = ApiKey.issue(
        organization=world.globex, user=world.charlie, name="charlie"
    )
    return {"bob": bob, "charlie": charlie}


@pytest.fixture
def sdk(gateway: Any, keys: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=keys["bob"], max_retries=0)


@pytest.fixture
def http(gateway: Any) -> Any:
    with httpx.Client(base_url=gateway.v1, timeout=30) as client:
        yield client


def test_a_stored_response_is_retrieved_exactly_as_answered(
    sdk: openai.OpenAI, http: httpx.Client, keys: dict[str, str], world: World
) -> None:
    stored = store(world, "the answer")
    retrieved = sdk.responses.retrieve(stored["id"])
    assert isinstance(retrieved, Response)
    assert retrieved.id == stored["id"] and retrieved.output_text == "the answer"
    raw = http.get(
        f"/responses/{stored['id']}",
        headers={"Authorization": f"Bearer {keys['bob']}"},
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.json() == stored  # every field, extras included
    Response.model_validate(raw.json())


def test_delete_removes_it_and_answers_openais_deletion_object(
    sdk: openai.OpenAI, http: httpx.Client, keys: dict[str, str], world: World
) -> None:
    kept, gone = store(world, "kept"), store(world, "gone")
    auth = {"Authorization": f"Bearer {keys['bob']}"}
    raw = http.delete(f"/responses/{gone['id']}", headers=auth)
    assert raw.status_code == 200
    assert raw.json() == {"id": gone["id"], "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(gone["id"])
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(gone["id"])
    sdk.responses.delete(kept["id"])  # the SDK's own call
    assert not StoredResponse.objects.exists()


def test_input_items_are_listed_and_paged_in_both_orders(
    sdk: openai.OpenAI, http: httpx.Client, keys: dict[str, str], world: World
) -> None:
    items = [message(f"item {n}") for n in range(5)]
    stored = store(world, "five inputs", items)
    ids = [item["id"] for item in items]
    # The SDK pages with `after` = the last id of each page.
    pages = sdk.responses.input_items.list(stored["id"], limit=2, order="asc")
    assert [item.id for item in pages] == ids
    newest_first = sdk.responses.input_items.list(stored["id"], limit=2)
    assert [item.id for item in newest_first] == ids[::-1]
    assert [item.id for item in sdk.responses.input_items.list(stored["id"])] == (
        ids[::-1]
    )
    auth = {"Authorization": f"Bearer {keys['bob']}"}
    first = http.get(
        f"/responses/{stored['id']}/input_items",
        params={"limit": 2, "order": "asc"},
        headers=auth,
    ).json()
    assert first == {
        "object": "list",
        "data": items[:2],
        "first_id": ids[0],
        "last_id": ids[1],
        "has_more": True,
    }
    ResponseItemList.model_validate(first)
    last = http.get(
        f"/responses/{stored['id']}/input_items",
        params={"limit": 2, "after": ids[1]},  # desc: items before the second
        headers=auth,
    ).json()
    assert last == {
        "object": "list",
        "data": [items[0]],
        "first_id": ids[0],
        "last_id": ids[0],
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "msg_not_an_item_here"}, "after"),
    ],
)
def test_bad_list_parameters_are_400s_naming_the_parameter(
    http: httpx.Client,
    keys: dict[str, str],
    world: World,
    params: dict[str, Any],
    param: str,
) -> None:
    stored = store(world, "listed")
    raw = http.get(
        f"/responses/{stored['id']}/input_items",
        params=params,
        headers={"Authorization": f"Bearer {keys['bob']}"},
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["param"] == param
    assert raw.json()["error"]["type"] == "invalid_request_error"


GARBAGE_IDS = [
    "not-a-response",
    "resp_",
    "resp_" + "a" * 500,
    "resp_%00abc",
    "resp_x'%20OR%20'1'='1",
    "resp_%E2%98%83",
]


def _calls(http: httpx.Client, secret: str, response_id: str) -> list[httpx.Response]:
    auth = {"Authorization": f"Bearer {secret}"}
    return [
        http.get(f"/responses/{response_id}", headers=auth),
        http.get(f"/responses/{response_id}/input_items", headers=auth),
        http.delete(f"/responses/{response_id}", headers=auth),
    ]


def test_missing_foreign_and_garbage_ids_are_the_same_404(
    http: httpx.Client, keys: dict[str, str], world: World
) -> None:
    acme = store(world, "acme's own")
    missing = new_id("resp")
    expected = [
        (r.status_code, r.text.replace(missing, "<ID>"))
        for r in _calls(http, keys["charlie"], missing)
    ]
    assert [status for status, _ in expected] == [404, 404, 404]
    assert expected[0][1] == (
        '{"error":{"message":"No response found with id \'<ID>\'.",'
        '"type":"invalid_request_error","param":null,"code":"response_not_found"}}'
    )
    foreign = [
        (r.status_code, r.text.replace(acme["id"], "<ID>"))
        for r in _calls(http, keys["charlie"], acme["id"])
    ]
    assert foreign == expected
    assert StoredResponse.objects.filter(pk=acme["id"]).exists()  # not deleted
    for garbage in GARBAGE_IDS:
        for raw in _calls(http, keys["bob"], garbage):
            assert raw.status_code == 404, (garbage, raw.text)
            assert raw.json()["error"]["code"] in ("response_not_found", "unknown_url")
    # The owner still reads it.
    assert [r.status_code for r in _calls(http, keys["bob"], acme["id"])[:2]] == [
        200,
        200,
    ]


def test_the_sdk_raises_not_found_for_another_organizations_response(
    gateway: Any, keys: dict[str, str], world: World
) -> None:
    acme = store(world, "acme's own")
    charlie = openai.OpenAI(base_url=gateway.v1, api_key=keys["charlie"], max_retries=0)
    with pytest.raises(openai.NotFoundError):
        charlie.responses.retrieve(acme["id"])
    with pytest.raises(openai.NotFoundError):
        charlie.responses.delete(acme["id"])
    with pytest.raises(openai.NotFoundError):
        list(charlie.responses.input_items.list(acme["id"]))


def test_an_expired_response_is_gone_before_beat_deletes_it(
    sdk: openai.OpenAI, world: World
) -> None:
    stored = store(world, "old")
    StoredResponse.objects.filter(pk=stored["id"]).update(expires_at=timezone.now())
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(stored["id"])
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(stored["id"])
    assert response_store.get(world.acme.pk, stored["id"]) is None


def test_no_column_holds_the_conversation_in_plain_text(world: World) -> None:
    stored = store(world, f"reply {SECRET_TEXT}", [message(f"ask {SECRET_TEXT}")])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {StoredResponse._meta.db_table} WHERE id = %s",
            [stored["id"]],
        )
        row = cursor.fetchone()
    assert row is not None
    dump = " ".join(str(value) for value in row)
    assert SECRET_TEXT not in dump
    assert "launch" not in dump and "reply" not in dump
    kept = response_store.get(world.acme.pk, stored["id"])
    assert kept is not None
    assert kept.response == stored
    assert SECRET_TEXT in kept.input_items[0]["content"][0]["text"]


def test_history_of_a_chain_of_three_is_oldest_first(world: World) -> None:
    q1, q2, q3 = message("one?"), message("two?"), message("three?")
    r1 = store(world, "one.", [q1])
    r2 = store(world, "two.", [q2], previous=r1["id"])
    r3 = store(world, "three.", [q3], previous=r2["id"])
    assert response_store.history(world.acme.pk, r3["id"]) == [
        q1,
        *r1["output"],
        q2,
        *r2["output"],
        q3,
        *r3["output"],
    ]
    assert response_store.history(world.acme.pk, r1["id"]) == [q1, *r1["output"]]


def _not_found(organization_id: int, response_id: str) -> dict[str, Any]:
    with pytest.raises(DriverError) as caught:
        response_store.history(organization_id, response_id)
    assert caught.value.status == 400
    return caught.value.envelope()


def test_a_foreign_missing_or_expired_link_breaks_the_chain(world: World) -> None:
    foreign = store(world, "globex's", organization=world.globex)
    on_foreign = store(world, "acme's on top", previous=foreign["id"])
    assert _not_found(world.acme.pk, on_foreign["id"]) == {
        "error": {
            "message": f"Previous response with id '{on_foreign['id']}' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }
    # globex cannot start from acme's response either.
    assert _not_found(world.globex.pk, on_foreign["id"])["error"]["code"] == (
        "previous_response_not_found"
    )
    parent = store(world, "parent")
    child = store(world, "child", previous=parent["id"])
    assert response_store.delete(world.acme.pk, parent["id"])
    assert StoredResponse.objects.filter(pk=child["id"]).exists()  # no cascade
    _not_found(world.acme.pk, child["id"])
    old = store(world, "old")
    newer = store(world, "newer", previous=old["id"])
    StoredResponse.objects.filter(pk=old["id"]).update(expires_at=timezone.now())
    _not_found(world.acme.pk, newer["id"])
    for garbage in ("resp_", "nope", "resp_" + "z" * 300):
        _not_found(world.acme.pk, garbage)


def test_a_looping_chain_is_refused_instead_of_walked_forever(world: World) -> None:
    first_id = new_id("resp")
    loop = store(world, "b", previous=first_id)
    response = answer("a", loop["id"])
    response["id"] = first_id
    response_store.save(world.acme.pk, None, None, response, [], loop["id"])
    with pytest.raises(DriverError) as caught:
        response_store.history(world.acme.pk, first_id)
    assert caught.value.status == 400
    assert "longer than 1000 responses" in caught.value.message


def test_the_retention_setting_sets_each_expiry(world: World) -> None:
    assert settings.RESPONSES_RETENTION_DAYS == 30  # the default
    with override_settings(RESPONSES_RETENTION_DAYS=2):
        stored = store(world, "short-lived")
    row = StoredResponse.objects.get(pk=stored["id"])
    assert row.expires_at - row.created_at == timedelta(days=2)
    assert row.organization == world.acme and row.model_name == "gpt-4o-mini"


@pytest.mark.parametrize("days", ["0", "-3"])
def test_a_retention_below_one_day_is_refused_at_start(
    tmp_path: Path, days: str
) -> None:
    result = start(
        {**CONFIGURED, "RESPONSES_RETENTION_DAYS": days},
        tmp_path,
    )
    assert result.returncode != 0
    assert "RESPONSES_RETENTION_DAYS must be at least 1" in result.stderr


def test_a_retention_can_be_configured(tmp_path: Path) -> None:
    result = start(
        {**CONFIGURED, "RESPONSES_RETENTION_DAYS": "7"},
        tmp_path,
        "from django.conf import settings\nprint(settings.RESPONSES_RETENTION_DAYS)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"


def test_the_expiry_task_deletes_only_expired_rows_in_batches(world: World) -> None:
    expired = [store(world, f"expired {n}") for n in range(5)]
    expired.append(store(world, "globex expired", organization=world.globex))
    live = [store(world, "live"), store(world, "live", organization=world.globex)]
    StoredResponse.objects.filter(pk__in=[r["id"] for r in expired]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert response_store.expire(batch=2) == 6
    assert set(StoredResponse.objects.values_list("pk", flat=True)) == {
        r["id"] for r in live
    }
    assert expire_stored_responses() == 0  # the count only, never content
    StoredResponse.objects.update(expires_at=timezone.now())
    assert expire_stored_responses() == 2
    entry = settings.CELERY_BEAT_SCHEDULE["expire-stored-responses"]
    assert entry["task"] == "gateway.expire_stored_responses"
    assert entry["schedule"] == 3600
