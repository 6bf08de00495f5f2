"""``POST /v1/rerank``: the Cohere / Jina rerank shape, for rerank-type models.

The request: ``model``, ``query`` (a non-empty string), ``documents`` (1 to
``MAX_DOCUMENTS`` items, each a non-empty string or an object whose ``text``
is one), ``top_n`` (an integer >= 1; more than the documents means all of
them) and ``return_documents`` (a boolean, default false, as Cohere's). Any
other field is refused with a 400 naming it (Cohere v1's ``rank_fields`` and
``max_chunks_per_doc``, v2's ``max_tokens_per_doc``: the vendors differ too
much to honour them everywhere). Only the texts go to the vendor; an object's
other fields stay here and come back in ``document`` as sent.

The answer: ``{id, model, results: [{index, relevance_score, document?}],
meta: {api_version, billed_units: {search_units}}, usage: {total_tokens,
search_units}}``, the results sorted by ``relevance_score`` descending (ties
by index) and cut to ``top_n``, whatever order and length the vendor sent:
``meta`` is what Cohere's SDKs read, ``usage`` what Jina's clients read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import bad_request
from gateway.fields import Fields, check_array, check_depth, check_model, wrong

MAX_DOCUMENTS = 1000
FIELDS = frozenset({"model", "query", "documents", "top_n", "return_documents"})


@dataclass(frozen=True)
class RerankRequest:
    """A validated rerank body: the canonical request and what the answer needs."""

    documents: list[Any]
    top_n: int | None
    return_documents: bool

    def canonical(self, query: str) -> dict[str, Any]:
        """The driver's request (``providers/drivers/rerank.py``): texts only."""
        texts = [d if isinstance(d, str) else d["text"] for d in self.documents]
        return {"query": query, "documents": texts, "top_n": self.top_n}


def parse(body: Mapping[str, Any]) -> RerankRequest:
    """Check a rerank body; a 400 naming the field for anything wrong."""
    check_depth(body)
    check_model(body.get("model"))
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise bad_request(
            f"Unsupported parameter(s) for rerank: {', '.join(unknown)}. "
            f"Supported: {', '.join(sorted(FIELDS))}.",
            unknown[0],
            "unsupported_parameter",
        )
    fields = Fields(body, "")
    fields.string("query", required=True)
    if not body["query"].strip():
        raise bad_request("'query' must not be empty.", "query")
    if body.get("documents") in (None, []):
        raise bad_request(
            "'documents' must be a non-empty array of strings or objects with "
            "a 'text' field.",
            "documents",
            "missing_required_parameter",
        )
    documents = check_array(body["documents"], "documents", 1, MAX_DOCUMENTS)
    for j, item in enumerate(documents):
        text = item.get("text") if isinstance(item, dict) else item
        where = f"documents[{j}].text" if isinstance(item, dict) else f"documents[{j}]"
        if not isinstance(text, str):
            expected = "a string" if isinstance(item, dict) else "a string or object"
            raise wrong(where, expected, text)
        if not text.strip():
            raise bad_request(f"'{where}' must not be empty.", where)
    fields.integer("top_n", 1)
    fields.boolean("return_documents")
    top_n = body.get("top_n")
    return RerankRequest(
        documents=documents,
        top_n=min(top_n, len(documents)) if top_n is not None else None,
        return_documents=bool(body.get("return_documents")),
    )


def answer(
    name: str, request: RerankRequest, reranked: dict[str, Any]
) -> dict[str, Any]:
    """The caller's answer from the driver's canonical one (already recorded)."""
    results = sorted(
        reranked["results"], key=lambda r: (-r["relevance_score"], r["index"])
    )
    if request.top_n is not None:
        results = results[: request.top_n]
    if request.return_documents:
        for result in results:
            sent = request.documents[result["index"]]
            result["document"] = {"text": sent} if isinstance(sent, str) else sent
    used = reranked["usage"]
    meta: dict[str, Any] = {"api_version": {"version": "2"}}
    if used["search_units"]:
        meta["billed_units"] = {"search_units": used["search_units"]}
    return {
        "id": str(uuid.uuid4()),
        "model": name,
        "results": results,
        "meta": meta,
        "usage": {
            "total_tokens": used["total_tokens"],
            "search_units": used["search_units"],
        },
    }
