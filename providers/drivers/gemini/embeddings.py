"""Embeddings through batchEmbedContents: request bodies and answers (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.canonical import embeddings_list
from providers.drivers.errors import DriverError, invalid_request
from providers.drivers.gemini.urls import model_path


def build_embed_bodies(
    request: Mapping[str, Any],
    model_id: str,
    batch_size: int = 100,
    task_type: str | None = None,
) -> list[dict[str, Any]]:
    """batchEmbedContents bodies (chunked) for an OpenAI embeddings request."""
    raw = request.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs:
        raise invalid_request("input must be a string or an array of strings.", "input")
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            raise invalid_request(
                "Gemini embeddings take text only, not token arrays.", f"input[{i}]"
            )
        if not item:
            raise invalid_request("input must not contain empty strings.", "input")
    name = model_path(model_id)
    extra: dict[str, Any] = {}
    if request.get("dimensions") is not None:
        extra["outputDimensionality"] = request["dimensions"]
    if task_type:
        extra["taskType"] = task_type
    reqs = [
        {"model": name, "content": {"parts": [{"text": text}]}, **extra}
        for text in inputs
    ]
    size = max(1, batch_size)
    return [{"requests": reqs[i : i + size]} for i in range(0, len(reqs), size)]


def parse_embed_vectors(data: Mapping[str, Any], expected: int) -> list[list[float]]:
    vectors = [list(e.get("values") or []) for e in data.get("embeddings") or []]
    if len(vectors) != expected:
        raise DriverError(
            f"gemini returned {len(vectors)} embeddings for {expected} inputs",
            status=502,
        )
    return vectors


def embeddings_result(
    vectors: list[list[float]], model: str, encoding_format: str | None = None
) -> dict[str, Any]:
    """Gemini's batchEmbedContents reports no token counts: usage is zero."""
    return embeddings_list(vectors, model, 0, encoding_format)
