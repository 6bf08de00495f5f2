"""Embeddings through InvokeModel: Amazon Titan (one text per call) and Cohere
embed (batches of 96). Pure body building and answer reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import embeddings_list
from providers.drivers.errors import invalid_request

COHERE_BATCH = 96


def embedding_inputs(request: Mapping[str, Any]) -> list[str]:
    value = request.get("input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise invalid_request("input must be a string or an array of strings.", "input")
    if not all(isinstance(v, str) for v in value):
        raise invalid_request(
            "Bedrock embeddings take text input, not token arrays.", "input"
        )
    if any(not v.strip() for v in value):
        raise invalid_request("input must not contain empty strings.", "input")
    return list(value)


def embedding_family(model_id: str) -> str:
    if "titan-embed" in model_id:
        return "titan"
    if "cohere.embed" in model_id:
        return "cohere"
    raise invalid_request(
        "Bedrock embeddings support Amazon Titan and Cohere embed models only.",
        "model",
    )


def titan_embed_body(model_id: str, text: str, dimensions: Any) -> dict[str, Any]:
    if "titan-embed-text-v1" in model_id or "titan-embed-g1" in model_id:
        if dimensions is not None:
            raise invalid_request(
                "This Titan model has fixed dimensions.", "dimensions"
            )
        return {"inputText": text}
    body: dict[str, Any] = {"inputText": text, "normalize": True}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def cohere_embed_body(texts: list[str], request: Mapping[str, Any]) -> dict[str, Any]:
    if request.get("dimensions") is not None:
        raise invalid_request(
            "Cohere embed on Bedrock does not take dimensions.", "dimensions"
        )
    return {
        "texts": texts,
        "input_type": str(request.get("input_type") or "search_document"),
    }


def cohere_vectors(data: Mapping[str, Any]) -> list[list[float]]:
    embeddings = data.get("embeddings")
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    return [list(v) for v in embeddings or []]


def embeddings_response(
    vectors: list[list[float]], prompt_tokens: int, model: str, encoding: str | None
) -> dict[str, Any]:
    """Titan reports the input tokens; Cohere on Bedrock reports none (0)."""
    return embeddings_list(vectors, model, prompt_tokens, encoding)
