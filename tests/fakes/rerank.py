"""Strict fakes of the rerank servers the gateway's compatible dialects call.

``make_app(dialect, api_key=...)`` serves one dialect, validated like the
vendor (unknown fields, wrong types, empty lists, unknown models → 4xx):

- ``jina`` (vLLM / Jina): ``POST /v1/rerank`` and ``POST /rerank``, ``{model,
  query, documents, top_n?, return_documents?}`` → ``{id, model, usage:
  {total_tokens}, results: [{index, relevance_score, document?}]}``;
- ``tei`` (text-embeddings-inference): ``POST /rerank``, ``{query, texts,
  raw_scores?, return_text?, truncate?, truncation_direction?}`` → ``[{index,
  score, text?}]``;
- ``voyage``: ``POST /v1/rerank``, ``{model, query, documents, top_k?,
  return_documents?, truncation?}`` → ``{object, data: [{index,
  relevance_score, document?}], model, usage: {total_tokens}}``.

Scores are the share of the query's words found in the document (so tests know
the order); a query containing ``FAIL 503`` (any status) answers that status.
``cohere_rerank`` is Cohere's v2 handler, used by ``tests/fakes/cohere.py``.
Bearer auth with ``api_key``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.openai import new_app, record

MODEL = "rerank-test-v1"


def score(query: str, text: str) -> float:
    """The share of the query's words that occur in ``text`` (0..1)."""
    words = set(re.findall(r"\w+", query.lower()))
    found = set(re.findall(r"\w+", text.lower()))
    return round(len(words & found) / len(words), 4) if words else 0.0


def tokens(query: str, texts: list[str]) -> int:
    return sum(len(t.split()) for t in [query, *texts])


def fail_status(query: str) -> int | None:
    match = re.search(r"\bFAIL (\d{3})\b", query)
    return int(match.group(1)) if match else None


def ranked(query: str, texts: list[str], top: int | None) -> list[tuple[int, float]]:
    scores = sorted(
        ((i, score(query, t)) for i, t in enumerate(texts)), key=lambda p: -p[1]
    )
    return scores[:top] if top else scores


class Invalid(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _check(body: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(422, "Body must be a JSON object.")
    unknown = set(body) - allowed
    if unknown:
        raise Invalid(422, f"Unknown field(s): {sorted(unknown)}")
    missing = required - set(body)
    if missing:
        raise Invalid(422, f"Missing field(s): {sorted(missing)}")
    if not isinstance(body["query"], str) or not body["query"]:
        raise Invalid(422, "query must be a non-empty string.")
    return body


def _texts(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Invalid(422, f"{name} must be a non-empty list.")
    if not all(isinstance(t, str) and t for t in value):
        raise Invalid(422, f"{name} must hold non-empty strings.")
    return value


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Invalid(422, f"{name} must be a positive integer.")
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(422, f"{name} must be a boolean.")
    return value


def cohere_rerank(body: Any) -> dict[str, Any]:
    """Cohere's v2 rerank: strings only, billed in search units (100 docs each)."""
    body = _check(
        body,
        {"model", "query", "documents", "top_n", "max_tokens_per_doc", "priority"},
        {"model", "query", "documents"},
    )
    texts = _texts(body["documents"], "documents")
    if len(texts) > 1000:
        raise Invalid(400, "too many documents: at most 1000.")
    top = _positive(body.get("top_n"), "top_n")
    return {
        "id": str(uuid.uuid4()),
        "results": [
            {"index": i, "relevance_score": s}
            for i, s in ranked(body["query"], texts, top)
        ],
        "meta": {
            "api_version": {"version": "2"},
            "billed_units": {"search_units": -(-len(texts) // 100)},
        },
    }


def make_app(
    dialect: str, *, api_key: str = "rr-test-key", models: tuple[str, ...] = (MODEL,)
) -> web.Application:
    app = new_app(requests=[])

    def refuse(status: int, message: str) -> web.Response:
        if dialect == "tei":
            return web.json_response(
                {"error": message, "error_type": "Validation"}, status=status
            )
        return web.json_response({"detail": message}, status=status)

    def jina(body: Any) -> Any:
        body = _check(
            body,
            {"model", "query", "documents", "top_n", "return_documents"},
            {"model", "query", "documents"},
        )
        texts = _texts(body["documents"], "documents")
        top, docs = (
            _positive(body.get("top_n"), "top_n"),
            _flag(body, "return_documents"),
        )
        results = []
        for i, s in ranked(body["query"], texts, top):
            row: dict[str, Any] = {"index": i, "relevance_score": s}
            if docs:
                row["document"] = {"text": texts[i]}
            results.append(row)
        return {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": body["model"],
            "usage": {"total_tokens": tokens(body["query"], texts)},
            "results": results,
        }

    def tei(body: Any) -> Any:
        body = _check(
            body,
            {
                "query",
                "texts",
                "raw_scores",
                "return_text",
                "truncate",
                "truncation_direction",
            },
            {"query", "texts"},
        )
        texts = _texts(body["texts"], "texts")
        raw, text = _flag(body, "raw_scores"), _flag(body, "return_text")
        rows = []
        for i, s in ranked(body["query"], texts, None):
            row: dict[str, Any] = {"index": i, "score": s * 10 - 5 if raw else s}
            if text:
                row["text"] = texts[i]
            rows.append(row)
        return rows

    def voyage(body: Any) -> Any:
        body = _check(
            body,
            {"model", "query", "documents", "top_k", "return_documents", "truncation"},
            {"model", "query", "documents"},
        )
        texts = _texts(body["documents"], "documents")
        top, docs = (
            _positive(body.get("top_k"), "top_k"),
            _flag(body, "return_documents"),
        )
        data = []
        for i, s in ranked(body["query"], texts, top):
            row: dict[str, Any] = {"relevance_score": s, "index": i}
            if docs:
                row["document"] = texts[i]
            data.append(row)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"total_tokens": tokens(body["query"], texts)},
        }

    handlers = {"jina": jina, "tei": tei, "voyage": voyage}[dialect]

    async def rerank(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        record(request, body)
        if request.headers.get("Authorization") != f"Bearer {api_key}":
            return refuse(401, "Unauthorized")
        try:
            if isinstance(body, dict) and isinstance(body.get("query"), str):
                status = fail_status(body["query"])
                if status:
                    return refuse(status, f"failure {status} as asked")
            if (
                dialect != "tei"
                and isinstance(body, dict)
                and body.get("model") not in models
            ):
                return refuse(404, f"The model `{body.get('model')}` does not exist.")
            return web.json_response(handlers(body))
        except Invalid as exc:
            return refuse(exc.status, str(exc))

    if dialect in ("jina", "voyage"):
        app.router.add_post("/v1/rerank", rerank)
    if dialect in ("jina", "tei"):
        app.router.add_post("/rerank", rerank)
    return app
