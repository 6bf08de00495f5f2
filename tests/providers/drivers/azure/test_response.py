"""azure: response translation (vendor answer → canonical), pure vectors."""

from __future__ import annotations

from providers.drivers.azure.discovery import parse_deployments
from providers.drivers.azure.translate import (
    build_azure_chat_body,
    build_azure_embeddings_body,
)
from tests.providers.drivers.azure.support import TOOLS, cfg
from tests.providers.drivers.vectors import user


def test_classic_body_drops_model_and_keeps_the_rest() -> None:
    request = {
        "model": "alias",
        "messages": [{"role": "system", "content": "s"}, user("hi")],
        "tools": TOOLS,
        "tool_choice": "required",
        "seed": 1,
    }
    body = build_azure_chat_body(cfg(), request, "gpt-4o", stream=False)
    assert body == {k: v for k, v in request.items() if k != "model"}


def test_reasoning_deployment_gets_max_completion_tokens() -> None:
    config = cfg(deployments={"fast": "o3-mini-prod"})
    body = build_azure_chat_body(config, {"max_tokens": 9}, "fast", stream=False)
    assert body == {"max_completion_tokens": 9}


def test_embeddings_bodies() -> None:
    request = {"model": "alias", "input": "x", "dimensions": 2}
    assert build_azure_embeddings_body(cfg(), request, "emb") == {
        "input": "x",
        "dimensions": 2,
    }
    v1 = cfg(api_surface="v1", deployments={"emb": "emb-prod"})
    assert build_azure_embeddings_body(v1, request, "emb")["model"] == "emb-prod"


def test_parse_deployments() -> None:
    data = {
        "object": "list",
        "data": [
            {"id": "chat-prod", "model": "gpt-4o", "status": "succeeded"},
            {"id": "embed", "model": "text-embedding-3-small", "status": "succeeded"},
            {"id": "broken", "model": "gpt-4o", "status": "failed"},
            {"model": "no-id"},
        ],
    }
    models = parse_deployments(data)
    assert [(m.model_id, m.name, m.model_type) for m in models] == [
        ("chat-prod", "gpt-4o", "inference"),
        ("embed", "text-embedding-3-small", "embedding"),
    ]
