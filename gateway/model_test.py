"""An admin's "Test" of one model: one tiny request through the gateway's call path.

``test_model(model, user)`` sends "Say OK" to a chat model (embeds "test" with
an embedding model, ranks two sentences with a rerank model) exactly as ``/v1``
would: ``gateway.call`` resolves
the model's pinned name (``<provider>/<model id>``) through the one visibility
rule, admits it against the model's and provider's limits, calls the driver and
records usage with the source ``admin_test``. The call is pinned to the tested
model (``Call.model_pk``): another model whose id or alias is the same name
(OpenRouter's ``openai/gpt-4o``, another organization's provider of the same
name) is never called, and a failure is not failed over, so "OK" means this
model on its own provider answered. The call acts for the admin in
the model's organization with no API key (as the playground does), so no key
secret exists, and vendor credentials stay inside the driver. Errors come back
as the gateway's own scrubbed messages, never a traceback.

``gateway.model_test_admin`` puts it on the model admin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync

from accounts.models import User
from gateway import call as call_path
from gateway.auth import KeyInfo
from gateway.errors import DriverError
from gateway.models import UsageRecord
from gateway.state import state
from models_catalog.models import AIModel
from models_catalog.visibility import Principal
from providers.crypto import CryptoError
from providers.health import scrubbed

PROMPT = "Say OK"
EMBED_INPUT = "test"
RERANK_QUERY = "What is the capital of France?"
RERANK_DOCUMENTS = ["The ocean is deep.", "Paris is the capital of France."]
# Room for a short answer; reasoning models may spend some of it thinking.
MAX_TOKENS = 32
ANSWER_CHARS = 300


@dataclass(frozen=True)
class TestResult:
    """What the admin sees: the answer or the error, and how long it took."""

    ok: bool
    answer: str
    latency_ms: int
    error: str = ""
    status: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    __test__ = False  # not a pytest test class, whatever its name says


def _key_for(model: AIModel, user: User) -> KeyInfo:
    """The admin acting in the model's organization, without an API key.

    The caller has checked that the user may change the model (an admin of its
    organization, or a superuser): rule 1 of the visibility rule applies.
    """
    return KeyInfo(
        key_pk=None,
        organization_id=model.organization_id,
        user_id=user.pk,
        principal=Principal(
            organization_id=model.organization_id,
            user_id=user.pk,
            is_org_admin=True,
        ),
        allowed_models=frozenset(),
        expires_at=None,
        requests_per_minute=None,
    )


def _answer_text(answer: dict[str, Any]) -> str:
    choices = answer.get("choices") or [{}]
    message = choices[0].get("message") or {}
    text = message.get("content") or ""
    if not isinstance(text, str):
        text = str(text)
    if not text.strip():
        reason = choices[0].get("finish_reason") or "none"
        return f"(no text; finish reason: {reason})"
    return text.strip()[:ANSWER_CHARS]


async def _run(key: KeyInfo, model: AIModel, name: str) -> dict[str, Any]:
    await state().refresh()
    source = UsageRecord.Source.ADMIN_TEST
    if model.model_type == AIModel.ModelType.RERANK:
        body: dict[str, Any] = {
            "model": name,
            "query": RERANK_QUERY,
            "documents": RERANK_DOCUMENTS,
        }
        request = {"query": RERANK_QUERY, "documents": RERANK_DOCUMENTS, "top_n": None}
        return await call_path.rerank(
            call_path.Call(key, "rerank", body, source=source, model_pk=model.pk),
            request,
        )
    if model.model_type == AIModel.ModelType.EMBEDDING:
        body = {"model": name, "input": EMBED_INPUT}
        return await call_path.embeddings(
            call_path.Call(key, "embeddings", body, source=source, model_pk=model.pk)
        )
    body = {
        "model": name,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    return await call_path.chat(
        call_path.Call(key, "chat", body, source=source, model_pk=model.pk)
    )


def unavailable_reason(model: AIModel) -> str:
    """Why the gateway would not route to the model now ("" when it would)."""
    if model.status != AIModel.Status.ACTIVE:
        return (
            "The model is inactive: activate it first (the gateway serves only "
            "active models)."
        )
    if model.provider.status != "active":
        return "Its provider is inactive: activate the provider first."
    if model.missing_since is not None:
        return (
            "The vendor no longer lists this model, so the gateway does not route "
            "to it until discovery finds it again."
        )
    return ""


def test_model(model: AIModel, user: User) -> TestResult:
    """Send one tiny request to the model through the gateway (sync)."""
    reason = unavailable_reason(model)
    if reason:
        return TestResult(ok=False, answer="", latency_ms=0, error=reason)
    name = f"{model.provider.name}/{model.model_id}"
    started = time.monotonic()
    try:
        answer = async_to_sync(_run)(_key_for(model, user), model, name)
    except DriverError as err:
        try:
            message = scrubbed(err.message, model.provider.driver_config())
        except CryptoError:
            message = err.message
        return TestResult(
            ok=False,
            answer="",
            latency_ms=_ms_since(started),
            error=message,
            status=err.status,
        )
    usage = answer.get("usage") or {}
    if model.model_type == AIModel.ModelType.RERANK:
        best = max(answer["results"], key=lambda r: r["relevance_score"])
        text = (
            f"ranked {len(answer['results'])} documents; the best: "
            f"{RERANK_DOCUMENTS[best['index']]!r} ({best['relevance_score']:.3f})"
        )
        usage = {"prompt_tokens": answer["usage"]["total_tokens"]}
    elif model.model_type == AIModel.ModelType.EMBEDDING:
        data = answer.get("data") or [{}]
        vector = data[0].get("embedding") or []
        text = f"an embedding of {len(vector)} dimensions"
    else:
        text = _answer_text(answer)
    return TestResult(
        ok=True,
        answer=text,
        latency_ms=_ms_since(started),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
