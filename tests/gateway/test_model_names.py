"""/v1/models names what a client can call: aliases, pinned names, model types.

acme has two providers (``east``, ``west``: each a strict OpenAI fake) serving
the same chat and embedding models, plus an alias on west and a rerank model
on east; globex serves the same model ids from its own provider. Every id acme
is shown answers ``/v1/models/{id}`` and is callable (the pinned ones reach
their provider); nothing of globex's shows, not even as a pinned name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from tests.conftest import World
from tests.gateway import upstreams

LISTED = {
    "east/gpt-4o-mini": "inference",
    "east/text-embedding-3-small": "embedding",
    "fast": "inference",
    "gpt-4o-mini": "inference",
    "rerank-v1": "rerank",
    "text-embedding-3-small": "embedding",
    "west/gpt-4o-mini": "inference",
    "west/text-embedding-3-small": "embedding",
}


@pytest.fixture
def catalog(gateway: Any, world: World) -> Iterator[dict[str, Any]]:
    with (
        upstreams.start("openai") as east,
        upstreams.start("openai") as west,
        upstreams.start("openai") as foreign,
    ):
        east_provider = upstreams.register(east, world.acme, name="east", priority=10)
        west_provider = upstreams.register(west, world.acme, name="west", priority=20)
        for provider, model_id, alias, model_type in (
            (west_provider, "gpt-4o", "fast", AIModel.ModelType.INFERENCE),
            (east_provider, "rerank-v1", "", AIModel.ModelType.RERANK),
        ):
            model = AIModel.objects.create(
                provider=provider,
                organization=world.acme,
                model_id=model_id,
                alias=alias,
                model_type=model_type,
            )
            Grant.objects.create(model=model, organization=world.acme)
        upstreams.register(foreign, world.globex, name="globex-hidden")
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        yield {"secret": secret, "east": east, "west": west, "foreign": foreign}


def test_every_listed_id_is_answered_and_callable_with_its_type(
    gateway: Any, catalog: dict[str, Any]
) -> None:
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=catalog["secret"], max_retries=0)
    listed = sdk.models.list().data
    assert {m.id: m.model_extra["model_type"] for m in listed} == LISTED  # type: ignore[index]
    for entry in listed:
        retrieved = sdk.models.retrieve(entry.id)
        assert retrieved.id == entry.id
        assert retrieved.model_extra == entry.model_extra
    east, west = catalog["east"].requests, catalog["west"].requests
    for name, model_type in LISTED.items():
        before = (len(east), len(west))
        if model_type == "inference":
            answer = sdk.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.choices[0].message.content
        elif model_type == "embedding":
            assert sdk.embeddings.create(model=name, input="hi").data
        else:
            continue  # rerank: its own endpoint
        reached = (len(east) - before[0], len(west) - before[1])
        assert sum(reached) == 1
        if "/" in name:  # a pinned name reaches its provider
            assert reached == ((1, 0) if name.startswith("east/") else (0, 1))
    assert catalog["foreign"].requests == []


def test_the_anthropic_shape_lists_the_same_names_and_types(
    gateway: Any, catalog: dict[str, Any]
) -> None:
    sdk = anthropic.Anthropic(
        base_url=gateway.url, api_key=catalog["secret"], max_retries=0
    )
    page = sdk.models.list(limit=100)
    assert {m.id: m.model_extra["model_type"] for m in page.data} == LISTED  # type: ignore[index]
    assert {m.type for m in page.data} == {"model"}
    pinned = sdk.models.retrieve("west/gpt-4o-mini")
    assert (pinned.id, pinned.type) == ("west/gpt-4o-mini", "model")


def test_another_organizations_providers_never_show(
    gateway: Any, world: World, catalog: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {catalog['secret']}"}
    for extra in ({}, {"anthropic-version": "2023-06-01"}):
        answer = httpx.get(f"{gateway.v1}/models", headers={**headers, **extra})
        assert answer.status_code == 200
        assert "globex" not in answer.text
    hidden = httpx.get(
        f"{gateway.v1}/models/globex-hidden/gpt-4o-mini", headers=headers
    )
    assert hidden.status_code == 404
    # globex sees its own provider's model once, unpinned: acme's are not its own.
    _, theirs = ApiKey.issue(organization=world.globex, user=None, name="svc")
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=theirs, max_retries=0)
    assert sorted(m.id for m in sdk.models.list()) == [
        "gpt-4o-mini",
        "text-embedding-3-small",
    ]
