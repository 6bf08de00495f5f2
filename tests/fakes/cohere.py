"""A fake Cohere: its Compatibility API, v2 rerank and the v1 model list.

- ``/compatibility/v1/chat/completions`` and ``/embeddings``: the strict OpenAI
  fake (``tests/fakes/openai.py``) mounted there, as Cohere serves it; its
  other routes (legacy ``/completions``, ``/responses``) answer 404, as
  Cohere's Compatibility API has only chat completions and embeddings;
- ``POST /v2/rerank``: ``{model, query, documents: [str], top_n?,
  max_tokens_per_doc?, priority?}`` → ``{id, results, meta: {billed_units:
  {search_units}}}`` (``rerank.cohere_rerank``); errors as Cohere sends them
  (``{"id", "message"}``);
- ``GET /v1/models?page_size&page_token&endpoint&default_only``: ``{models:
  [{name, endpoints, context_length, ...}], next_page_token}``, one model per
  page so discovery must follow the token.

Bearer auth everywhere with ``API_KEY``.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes import openai as openai_fake
from tests.fakes.rerank import Invalid, cohere_rerank, fail_status

API_KEY = "co-test-key"
CHAT_MODEL = "command-a-03-2025"
EMBED_MODEL = "embed-english-v3.0"
RERANK_MODEL = "rerank-v3.5"
MODELS = [
    {"name": CHAT_MODEL, "endpoints": ["chat"], "context_length": 256000},
    {"name": EMBED_MODEL, "endpoints": ["embed", "classify"], "context_length": 512},
    {"name": RERANK_MODEL, "endpoints": ["rerank"], "context_length": 4096},
    {"name": "classify-only", "endpoints": ["classify"]},
]


def cohere_error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"id": str(uuid.uuid4()), "message": message}, status=status
    )


def make_app(*, api_key: str = API_KEY) -> web.Application:
    app = openai_fake.make_app(
        api_key=api_key,
        prefix="/compatibility/v1",
        models=(CHAT_MODEL, EMBED_MODEL),
        vendor="cohere",
    )

    @web.middleware
    async def compatibility_only(request: web.Request, handler: Any) -> Any:
        served = ("/chat/completions", "/embeddings", "/models")
        if request.path.startswith("/compatibility/v1/") and not request.path.endswith(
            served
        ):
            openai_fake.record(request, None)
            return cohere_error(404, f"Not Found: {request.path}")
        return await handler(request)

    app.middlewares.append(compatibility_only)

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {api_key}"

    async def rerank(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        openai_fake.record(request, body)
        if not authorized(request):
            return cohere_error(401, "invalid api token")
        if isinstance(body, dict) and isinstance(body.get("query"), str):
            status = fail_status(body["query"])
            if status:
                return cohere_error(status, f"failure {status} as asked")
        if isinstance(body, dict) and body.get("model") != RERANK_MODEL:
            return cohere_error(404, f"model '{body.get('model')}' not found")
        try:
            return web.json_response(cohere_rerank(body))
        except Invalid as exc:
            return cohere_error(400, str(exc))

    async def list_models(request: web.Request) -> web.Response:
        openai_fake.record(request, None)
        if not authorized(request):
            return cohere_error(401, "invalid api token")
        allowed = {"page_size", "page_token", "endpoint", "default_only"}
        if set(request.query) - allowed:
            return cohere_error(400, "unknown query parameter")
        start = int(request.query.get("page_token") or 0)
        page: dict[str, Any] = {"models": MODELS[start : start + 1]}
        if start + 1 < len(MODELS):
            page["next_page_token"] = str(start + 1)
        return web.json_response(page)

    app.router.add_post("/v2/rerank", rerank)
    app.router.add_get("/v1/models", list_models)
    return app
