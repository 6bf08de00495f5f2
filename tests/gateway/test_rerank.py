"""``POST /v1/rerank`` over a live gateway, on each vendor's strict fake.

The compatible dialects (vLLM/Jina, TEI, Voyage), the Cohere provider type
(v2 rerank, also driven by Cohere's own SDK) and Bedrock's Rerank API: sorting,
``top_n``, ``return_documents``, refusals of bad input, vendor errors in
OpenAI's envelope, failover, usage and cost recorded, and isolation.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import httpx
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes import rerank as fake
from tests.fakes.server import serve
from tests.gateway import upstreams

QUERY = "capital of france"
DOCS = [
    "Berlin is the capital of Germany.",
    {"text": "Paris is the capital of France.", "id": "doc-paris", "page": 3},
    "France exports wine.",
    "The ocean is deep.",
]
# The fake's score: the share of the query's words in the document.
ORDER = [1, 0, 2, 3]


def rerank_model(provider, model_id, **prices):
    model = AIModel.objects.create(
        provider=provider,
        organization=provider.organization,
        model_id=model_id,
        model_type=AIModel.ModelType.RERANK,
        **prices,
    )
    Grant.objects.create(model=model, organization=provider.organization)
    return model


def compat_provider(org, url, *, name="rr", priority=100, **config):
    provider = Provider(
        organization=org,
        name=name,
        provider_type="vllm",
        endpoint=f"{url}/v1",
        auth_method="bearer",
        priority=priority,
    )
    provider.seal("credentials", {"api_key": "rr-test-key"})
    provider.seal("provider_config", config)
    provider.save()
    return provider


@pytest.fixture
def secret(world):
    return ApiKey.issue(organization=world.acme, user=world.bob, name="k")[1]


def post(gateway, secret, body, path="/v1/rerank"):
    return httpx.post(
        gateway.url + path,
        json=body,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


@contextmanager
def compat(dialect, world, **config):
    with serve(fake.make_app(dialect)) as server:
        provider = compat_provider(world.acme, server.url, **config)
        rerank_model(
            provider,
            fake.MODEL,
            input_cost_per_million=Decimal(2),
            cost_per_thousand_searches=Decimal(2),
        )
        yield server


def test_vllm_dialect_sorts_cuts_and_returns_the_documents_as_sent(
    gateway, world, secret
):
    with compat("jina", world) as server:
        reply = post(
            gateway,
            secret,
            {
                "model": fake.MODEL,
                "query": QUERY,
                "documents": DOCS,
                "top_n": 2,
                "return_documents": True,
            },
        )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert [r["index"] for r in data["results"]] == ORDER[:2]
    scores = [r["relevance_score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    assert data["results"][0]["document"] == DOCS[1]  # the object, whole
    assert data["results"][1]["document"] == {"text": DOCS[0]}
    assert data["model"] == fake.MODEL and data["id"]
    sent = server.app["requests"][-1]
    assert sent["path"] == "/v1/rerank"
    assert sent["json"] == {
        "model": fake.MODEL,
        "query": QUERY,
        "documents": [d if isinstance(d, str) else d["text"] for d in DOCS],
        "top_n": 2,
        "return_documents": False,
    }
    tokens = fake.tokens(QUERY, sent["json"]["documents"])
    assert data["usage"] == {"total_tokens": tokens, "search_units": 0}
    usage.flush()
    record = UsageRecord.objects.get(endpoint="rerank")
    assert (record.status_code, record.input_tokens, record.search_units) == (
        200,
        tokens,
        0,
    )
    assert record.organization == world.acme
    assert record.cost == Decimal(tokens) * 2 / 1_000_000


def test_tei_dialect_scores_at_the_server_root_and_the_gateway_cuts(
    gateway, world, secret
):
    with compat("tei", world, rerank_api="tei") as server:
        reply = post(
            gateway,
            secret,
            {"model": fake.MODEL, "query": QUERY, "documents": DOCS, "top_n": 3},
        )
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["index"] for r in results] == ORDER[:3]
    assert all("document" not in r for r in results)
    sent = server.app["requests"][-1]
    assert sent["path"] == "/rerank"
    assert set(sent["json"]) == {"query", "texts", "raw_scores", "return_text"}
    assert sent["json"]["raw_scores"] is False


def test_voyage_dialect_sends_top_k_and_reads_data(gateway, world, secret):
    with compat("voyage", world, rerank_api="voyage") as server:
        reply = post(
            gateway,
            secret,
            {"model": fake.MODEL, "query": QUERY, "documents": DOCS, "top_n": 10},
        )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert [r["index"] for r in data["results"]] == ORDER  # top_n > documents: all
    sent = server.app["requests"][-1]["json"]
    assert sent["top_k"] == 4 and "top_n" not in sent
    assert data["usage"]["total_tokens"] == fake.tokens(QUERY, sent["documents"])


BAD_BODIES = [
    ({"query": QUERY, "documents": []}, "documents"),
    ({"query": QUERY}, "documents"),
    ({"query": QUERY, "documents": ["a"] * 1001}, "documents"),
    ({"query": QUERY, "documents": ["a"], "top_n": 0}, "top_n"),
    ({"query": QUERY, "documents": ["a"], "top_n": "2"}, "top_n"),
    ({"query": "", "documents": ["a"]}, "query"),
    ({"documents": ["a"]}, "query"),
    ({"query": QUERY, "documents": [{"title": "no text"}]}, "documents[0].text"),
    ({"query": QUERY, "documents": ["a", 7]}, "documents[1]"),
    ({"query": QUERY, "documents": ["a", " "]}, "documents[1]"),
    (
        {"query": QUERY, "documents": ["a"], "return_documents": "yes"},
        "return_documents",
    ),
    ({"query": QUERY, "documents": ["a"], "rank_fields": ["title"]}, "rank_fields"),
]


def test_bad_input_is_a_400_naming_the_field_and_never_sent(gateway, world, secret):
    with compat("jina", world) as server:
        for body, param in BAD_BODIES:
            reply = post(gateway, secret, {"model": fake.MODEL, **body})
            assert reply.status_code == 400, (body, reply.text)
            error = reply.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert error["param"] == param, (body, error)
        assert server.app["requests"] == []


def test_inference_models_and_unknown_names_are_refused(gateway, world, secret):
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme)
        reply = post(
            gateway,
            secret,
            {"model": upstream.chat_model, "query": QUERY, "documents": ["a"]},
        )
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "invalid_model_type"
        assert "not a rerank model" in reply.json()["error"]["message"]
        missing = post(
            gateway, secret, {"model": "nope", "query": QUERY, "documents": ["a"]}
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "model_not_found"
        assert not [r for r in upstream.requests if "rerank" in r["path"]]


def test_another_organizations_rerank_model_is_not_found(gateway, world):
    _, globex_secret = ApiKey.issue(
        organization=world.globex, user=world.charlie, name="k"
    )
    with compat("jina", world) as server:
        reply = post(
            gateway,
            globex_secret,
            {"model": fake.MODEL, "query": QUERY, "documents": ["a"]},
        )
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "model_not_found"
    assert server.app["requests"] == []


def test_vendor_errors_in_openais_envelope_and_failover(gateway, world, secret):
    with compat("jina", world, name="live"):
        body = {"model": fake.MODEL, "query": "FAIL 400 please", "documents": ["a"]}
        refused = post(gateway, secret, body)
        assert refused.status_code == 400
        assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
        body["query"] = "FAIL 503 please"
        down = post(gateway, secret, body)
        assert down.status_code in (502, 503)
        assert down.json()["error"]["type"]
        # A first provider that cannot be reached: the second one answers.
        dead = compat_provider(
            world.acme, "http://127.0.0.1:9", name="dead", priority=1
        )
        rerank_model(dead, fake.MODEL)
        ok = post(
            gateway, secret, {"model": fake.MODEL, "query": QUERY, "documents": DOCS}
        )
        assert ok.status_code == 200, ok.text
        assert [r["index"] for r in ok.json()["results"]] == ORDER
    usage.flush()
    statuses = sorted(
        UsageRecord.objects.filter(endpoint="rerank").values_list(
            "status_code", flat=True
        )
    )
    assert 200 in statuses and 400 in statuses


def test_cohere_provider_rerank_chat_embeddings_discovery_and_its_sdk(
    gateway, world, secret
):
    import cohere
    import openai

    from models_catalog.discovery import sync_provider_models
    from providers.health import check_provider
    from tests.fakes import cohere as cohere_fake

    with upstreams.start("cohere") as upstream:
        provider = upstreams.register(upstream, world.acme)
        rerank_model(
            provider,
            cohere_fake.RERANK_MODEL,
            cost_per_thousand_searches=Decimal(2),
        )
        reply = post(
            gateway,
            secret,
            {
                "model": cohere_fake.RERANK_MODEL,
                "query": QUERY,
                "documents": DOCS,
                "return_documents": True,
            },
        )
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert [r["index"] for r in data["results"]] == ORDER
        assert data["meta"]["billed_units"] == {"search_units": 1}
        sent = upstream.requests[-1]
        assert sent["path"] == "/v2/rerank"
        assert sent["json"]["documents"][1] == DOCS[1]["text"]

        # Cohere's own SDK, pointed at the gateway (its /v2/rerank under /v1).
        client = cohere.ClientV2(base_url=gateway.v1, api_key=secret, timeout=30)
        answer = client.rerank(
            model=cohere_fake.RERANK_MODEL, query=QUERY, documents=DOCS[2:], top_n=1
        )
        assert [r.index for r in answer.results] == [0]
        assert answer.meta.billed_units.search_units == 1

        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        chat = sdk.chat.completions.create(
            model=cohere_fake.CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert chat.choices[0].message.content
        vectors = sdk.embeddings.create(model=cohere_fake.EMBED_MODEL, input=["a"])
        assert len(vectors.data) == 1
        assert {r["path"] for r in upstream.requests} >= {
            "/compatibility/v1/chat/completions",
            "/compatibility/v1/embeddings",
        }

        sync_provider_models(provider)
        kinds = dict(
            AIModel.objects.filter(provider=provider).values_list(
                "model_id", "model_type"
            )
        )
        assert kinds == {
            cohere_fake.CHAT_MODEL: "inference",
            cohere_fake.EMBED_MODEL: "embedding",
            cohere_fake.RERANK_MODEL: "rerank",
        }
        assert check_provider(provider).health == "available"

    usage.flush()
    records = UsageRecord.objects.filter(endpoint="rerank", status_code=200)
    assert [r.search_units for r in records] == [1, 1]
    assert all(r.cost == Decimal("0.002") for r in records)


def test_bedrock_rerank_through_the_agent_runtime_signed(gateway, world, secret):
    from tests.fakes import bedrock

    with upstreams.start("bedrock") as upstream:
        provider = upstreams.register(upstream, world.acme)
        rerank_model(
            provider,
            bedrock.RERANK_MODELS[0],
            cost_per_thousand_searches=Decimal(1),
        )
        reply = post(
            gateway,
            secret,
            {
                "model": bedrock.RERANK_MODELS[0],
                "query": QUERY,
                "documents": DOCS,
                "top_n": 2,
            },
        )
        assert reply.status_code == 200, reply.text
        assert [r["index"] for r in reply.json()["results"]] == ORDER[:2]
        sent = upstream.requests[-1]
        assert sent["path"] == "/rerank"
        assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
        config = sent["json"]["rerankingConfiguration"]["bedrockRerankingConfiguration"]
        assert config["numberOfResults"] == 2
        assert config["modelConfiguration"]["modelArn"] == (
            f"arn:aws:bedrock:{bedrock.REGION}::foundation-model/"
            f"{bedrock.RERANK_MODELS[0]}"
        )
        failed = post(
            gateway,
            secret,
            {
                "model": bedrock.RERANK_MODELS[0],
                "query": "FAIL 400",
                "documents": ["a"],
            },
        )
        assert failed.status_code == 400
        assert "error" in failed.json()
    usage.flush()
    record = UsageRecord.objects.get(endpoint="rerank", status_code=200)
    assert (record.search_units, record.usage_estimated) == (1, True)
    assert record.cost == Decimal("0.001")


def test_legacy_completions_on_a_cohere_model_go_through_chat(gateway, world, secret):
    """Cohere's Compatibility API has chat completions and embeddings only: a
    /v1/completions call on a Cohere model is translated through chat, never
    passed through to a /completions that Cohere does not serve."""
    import openai

    with upstreams.start("cohere") as upstream:
        upstreams.register(upstream, world.acme)
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        done = sdk.completions.create(model=upstream.chat_model, prompt="Say hi")
        assert done.choices[0].text
        streamed = sdk.completions.create(
            model=upstream.chat_model, prompt="Say hi", stream=True
        )
        assert "".join(c.choices[0].text for c in streamed if c.choices)
        paths = [r["path"] for r in upstream.requests]
        assert paths == ["/compatibility/v1/chat/completions"] * 2, paths


def test_a_vendors_absurd_token_count_does_not_stall_the_usage_writer(
    gateway, world, secret
):
    """A compatible server is any tenant's own endpoint: a count beyond what a
    usage row holds (``usage.total_tokens`` of 2**40) is recorded at the
    column's bound, and every record queued beside it is still written."""
    from aiohttp import web

    async def absurd(request: web.Request) -> web.Response:
        body = await request.json()
        results = [
            {"index": i, "relevance_score": 0.5} for i in range(len(body["documents"]))
        ]
        return web.json_response({"results": results, "usage": {"total_tokens": 2**40}})

    app = web.Application()
    app.router.add_post("/v1/rerank", absurd)
    with serve(app) as server, compat("jina", world) as honest:
        greedy = compat_provider(world.acme, server.url, name="greedy")
        rerank_model(greedy, "greedy-rerank")
        assert (
            post(
                gateway,
                secret,
                {"model": "greedy-rerank", "query": QUERY, "documents": ["a"]},
            ).status_code
            == 200
        )
        assert (
            post(
                gateway,
                secret,
                {"model": fake.MODEL, "query": QUERY, "documents": ["a"]},
            ).status_code
            == 200
        )
        assert honest.app["requests"]
    usage.flush()
    tokens = dict(
        UsageRecord.objects.filter(endpoint="rerank").values_list(
            "model_name", "input_tokens"
        )
    )
    assert tokens == {"greedy-rerank": 2**31 - 1, fake.MODEL: fake.tokens(QUERY, ["a"])}
