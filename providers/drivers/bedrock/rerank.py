"""Rerank through the Rerank API of Bedrock Agent Runtime (pure).

``POST {agent endpoint}/rerank``: provider config ``agent_endpoint``, else
AWS's ``https://bedrock-agent-runtime.{region}.amazonaws.com``; signed like the
runtime (SigV4, service ``bedrock``). The model is named by its foundation-model
ARN (``arn:aws:bedrock:{region}::foundation-model/{model id}``; an id that is
already an ARN is sent as it is). Texts go as inline ``TEXT`` sources, one
query; ``numberOfResults`` asks for every result (or ``top_n``) so one page
holds them. The answer reports no usage: Bedrock bills rerank per query, one
query for up to 100 documents, so that count is recorded as the search units,
marked estimated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.bedrock.errors import VENDOR
from providers.drivers.config import DriverConfig
from providers.drivers.errors import invalid_request
from providers.drivers.rerank import rerank_answer, rerank_result

#: Documents one billed query covers (AWS's Bedrock rerank pricing).
DOCUMENTS_PER_QUERY = 100
MAX_SOURCES = 1000
MAX_TEXT = 32000


def agent_url(cfg: DriverConfig, region: str) -> str:
    base = str(cfg.config.get("agent_endpoint") or "").strip().rstrip("/")
    base = base or f"https://bedrock-agent-runtime.{region}.amazonaws.com"
    return f"{base}/rerank"


def model_arn(model_id: str, region: str) -> str:
    if model_id.startswith("arn:"):
        return model_id
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _text(value: str, param: str) -> dict[str, str]:
    if len(value) > MAX_TEXT:
        raise invalid_request(
            f"Bedrock rerank takes texts of at most {MAX_TEXT} characters.", param
        )
    return {"text": value}


def rerank_body(
    request: Mapping[str, Any], model_id: str, region: str
) -> dict[str, Any]:
    documents: list[str] = request["documents"]
    if len(documents) > MAX_SOURCES:
        raise invalid_request(
            f"Bedrock rerank takes at most {MAX_SOURCES} documents.", "documents"
        )
    top_n = request["top_n"]
    return {
        "queries": [{"type": "TEXT", "textQuery": _text(request["query"], "query")}],
        "sources": [
            {
                "type": "INLINE",
                "inlineDocumentSource": {
                    "type": "TEXT",
                    "textDocument": _text(text, "documents"),
                },
            }
            for text in documents
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "modelConfiguration": {"modelArn": model_arn(model_id, region)},
                "numberOfResults": min(top_n or len(documents), len(documents)),
            },
        },
    }


def parse_rerank(pages: list[Any], count: int) -> dict[str, Any]:
    """Every page's ``results`` (``relevanceScore``) as the canonical answer."""
    rows: list[Any] = []
    for page in pages:
        results = page.get("results") if isinstance(page, dict) else None
        rows.extend(results if isinstance(results, list) else [None])
    queries = -(-count // DOCUMENTS_PER_QUERY)
    return rerank_answer(
        rerank_result(rows, count, VENDOR, "relevanceScore"),
        search_units=queries,
        estimated=True,
    )
