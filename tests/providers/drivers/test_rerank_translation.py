"""Rerank translation vectors: each dialect's URL, body and answer (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.usage import cost
from providers import catalog
from providers.drivers.bedrock import rerank as bedrock
from providers.drivers.cohere import response as cohere_response
from providers.drivers.cohere import translate as cohere_translate
from providers.drivers.cohere.discovery import parse_models
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai import rerank

REQUEST = {"query": "q", "documents": ["a", "b", "c"], "top_n": 2}


def config(provider_type: str, base: str, **settings: str) -> DriverConfig:
    return DriverConfig(provider_type, base, "bearer", config=settings)


@pytest.mark.parametrize(
    ("provider_type", "base", "extra", "dialect", "url"),
    [
        ("vllm", "http://h:8000/v1", {}, "jina", "http://h:8000/v1/rerank"),
        (
            "openai_compatible",
            "http://h/v1",
            {"rerank_api": "tei"},
            "tei",
            "http://h/rerank",
        ),
        (
            "together",
            "https://t/v1",
            {"rerank_api": "voyage"},
            "voyage",
            "https://t/v1/rerank",
        ),
    ],
)
def test_dialect_and_url(provider_type, base, extra, dialect, url):
    cfg = config(provider_type, base, **extra)
    assert rerank.rerank_api(cfg) == dialect
    assert rerank.rerank_url(cfg, dialect) == url


def test_cohere_reranks_on_its_own_api_root():
    base = "https://api.cohere.ai/compatibility/v1"
    assert cohere_translate.rerank_url(base) == "https://api.cohere.ai/v2/rerank"


def test_types_without_rerank_refuse_with_a_400():
    for provider_type in ("openai", "azure_openai"):
        with pytest.raises(DriverError) as refused:
            rerank.rerank_api(config(provider_type, "https://x/v1"))
        assert refused.value.status == 400


def test_bodies_per_dialect():
    assert rerank.rerank_body("jina", REQUEST, "m") == {
        "model": "m",
        "query": "q",
        "documents": ["a", "b", "c"],
        "top_n": 2,
        "return_documents": False,
    }
    assert rerank.rerank_body("tei", REQUEST, "m") == {
        "query": "q",
        "texts": ["a", "b", "c"],
        "raw_scores": False,
        "return_text": False,
    }
    assert rerank.rerank_body("voyage", {**REQUEST, "top_n": None}, "m") == {
        "model": "m",
        "query": "q",
        "documents": ["a", "b", "c"],
        "return_documents": False,
    }
    assert cohere_translate.rerank_body(REQUEST, "m") == {
        "model": "m",
        "query": "q",
        "documents": ["a", "b", "c"],
        "top_n": 2,
    }


def test_answers_per_dialect():
    rows = [{"index": 2, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]
    jina = rerank.parse_rerank(
        "jina", {"results": rows, "usage": {"total_tokens": 12}}, 3, "v"
    )
    assert jina["usage"] == {"search_units": 0, "total_tokens": 12}
    assert jina["results"] == rows
    tei = rerank.parse_rerank("tei", [{"index": 1, "score": 0.5}], 3, "v")
    assert tei["results"] == [{"index": 1, "relevance_score": 0.5}]
    voyage = rerank.parse_rerank(
        "voyage", {"data": rows, "usage": {"total_tokens": 7}}, 3, "v"
    )
    assert voyage["usage"]["total_tokens"] == 7
    cohere = cohere_response.parse_rerank(
        {"results": rows, "meta": {"billed_units": {"search_units": 1}}}, 3
    )
    assert cohere["usage"] == {"search_units": 1, "total_tokens": 0}


@pytest.mark.parametrize(
    "rows",
    [
        [{"index": 3, "relevance_score": 0.1}],  # outside the documents
        [{"index": 0, "relevance_score": 0.1}, {"index": 0, "relevance_score": 0.2}],
        [{"index": 0, "relevance_score": "high"}],
        [{"index": True, "relevance_score": 0.1}],
        "nope",
    ],
)
def test_nonsense_from_the_vendor_is_a_502(rows):
    with pytest.raises(DriverError) as bad:
        rerank.parse_rerank("jina", {"results": rows}, 3, "v")
    assert bad.value.status == 502


def test_bedrock_body_arn_and_estimated_search_units():
    body = bedrock.rerank_body(REQUEST, "amazon.rerank-v1:0", "us-west-2")
    config_ = body["rerankingConfiguration"]["bedrockRerankingConfiguration"]
    assert config_ == {
        "modelConfiguration": {
            "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"
        },
        "numberOfResults": 2,
    }
    assert body["queries"] == [{"type": "TEXT", "textQuery": {"text": "q"}}]
    assert body["sources"][1] == {
        "type": "INLINE",
        "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "b"}},
    }
    arn = "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"
    assert bedrock.model_arn(arn, "eu-west-1") == arn
    answer = bedrock.parse_rerank(
        [{"results": [{"index": 0, "relevanceScore": 0.3}]}], 101
    )
    assert answer["usage"]["search_units"] == 2 and answer["usage_estimated"]


def test_cohere_models_typed_by_their_endpoints():
    models = parse_models(
        {
            "models": [
                {"name": "command-a", "endpoints": ["chat"], "context_length": 256000},
                {"name": "embed-v4.0", "endpoints": ["embed"]},
                {"name": "rerank-v3.5", "endpoints": ["rerank"]},
                {"name": "classifier", "endpoints": ["classify"]},
            ]
        }
    )
    assert [(m.model_id, m.model_type) for m in models] == [
        ("command-a", "inference"),
        ("embed-v4.0", "embedding"),
        ("rerank-v3.5", "rerank"),
    ]
    assert models[0].context_window == 256000


def test_search_units_bill_per_thousand_and_tokens_at_the_input_price():
    assert cost(0, 0, Decimal(0), Decimal(0), search_units=3) == 0
    assert cost(
        1000, 0, Decimal(2), Decimal(0), search_units=3, search_price=Decimal(2)
    ) == Decimal("0.002") + Decimal("0.006")


def test_rerank_api_is_validated_where_the_type_has_it():
    def problems(provider_type: str, value: str) -> list[str]:
        found = catalog.validate(
            provider_type, "none", "http://h/v1", {"rerank_api": value}, {}
        )
        return found.get("provider_config", [])

    assert problems("vllm", "tei") == []
    assert "not a rerank API" in problems("vllm", "bogus")[0]
    assert "no 'rerank_api'" in problems("openai", "jina")[0]
