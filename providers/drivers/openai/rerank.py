"""Rerank on OpenAI-type servers, one dialect per ``rerank_api`` (pure).

The dialect is provider config ``rerank_api``, else the type's default
(``VendorSpec.rerank_api``: ``jina`` for the compatible presets; OpenAI and
Azure have none). The Cohere type has its own (``cohere/``). Each dialect has a
URL rule, a body builder and an answer reader:

- ``jina``: vLLM (``/rerank``, ``/v1/rerank``), Jina, Together, Cohere v1 and
  other servers of that shape: ``POST {base}/rerank`` with ``{model, query,
  documents, top_n, return_documents: false}`` → ``{results: [{index,
  relevance_score}], usage: {total_tokens}}``.
- ``tei``: Hugging Face text-embeddings-inference: ``POST {root}/rerank`` (the
  base URL without its ``/v1``) with ``{query, texts, raw_scores: false,
  return_text: false}`` → ``[{index, score}]`` (no usage: 0 tokens recorded).
- ``voyage``: ``POST {base}/rerank`` with ``{model, query, documents, top_k,
  return_documents: false}`` → ``{data: [{index, relevance_score}], usage:
  {total_tokens}}``.

The documents are always sent as plain texts: the gateway keeps the caller's
objects and attaches them to the answer itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.config import DriverConfig
from providers.drivers.errors import invalid_request
from providers.drivers.registry import vendor_spec
from providers.drivers.rerank import rerank_answer, rerank_result, tokens_of
from providers.drivers.vendor import RERANK_APIS


def rerank_api(cfg: DriverConfig) -> str:
    """The provider's rerank dialect, or a 400 when it has none."""
    spec = vendor_spec(cfg.provider_type)
    chosen = str(cfg.config.get("rerank_api") or (spec.rerank_api if spec else ""))
    if chosen not in RERANK_APIS:
        label = spec.label if spec else cfg.provider_type
        raise invalid_request(f"{label} providers do not serve rerank here.", "model")
    return chosen


def _strip(base: str, suffix: str) -> str:
    base = base.rstrip("/")
    return base[: -len(suffix)] if base.endswith(suffix) else base


def rerank_url(cfg: DriverConfig, dialect: str) -> str:
    base = cfg.base_url.rstrip("/")
    if dialect == "tei":
        return f"{_strip(base, '/v1')}/rerank"
    return f"{base}/rerank"


def rerank_body(
    dialect: str, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    """The vendor's request body for a canonical rerank request."""
    query, documents, top_n = request["query"], request["documents"], request["top_n"]
    if dialect == "tei":
        return {
            "query": query,
            "texts": documents,
            "raw_scores": False,
            "return_text": False,
        }
    body: dict[str, Any] = {"model": model_id, "query": query, "documents": documents}
    if dialect == "voyage":
        body["return_documents"] = False
        if top_n is not None:
            body["top_k"] = top_n
        return body
    if top_n is not None:
        body["top_n"] = top_n
    body["return_documents"] = False
    return body


def parse_rerank(dialect: str, data: Any, count: int, vendor: str) -> dict[str, Any]:
    """A vendor's rerank answer as the canonical one (``drivers/rerank.py``)."""
    if dialect == "tei":
        return rerank_answer(rerank_result(data, count, vendor, "score"))
    if not isinstance(data, dict):
        return rerank_answer(rerank_result(None, count, vendor))
    if dialect == "voyage":
        results = rerank_result(data.get("data"), count, vendor)
        return rerank_answer(results, total_tokens=tokens_of(data.get("usage")))
    results = rerank_result(data.get("results"), count, vendor)
    return rerank_answer(results, total_tokens=tokens_of(data.get("usage")))
