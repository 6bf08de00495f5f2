"""A fake Azure OpenAI resource for driver tests.

``make_app(api_key=..., deployments={name: base_model})`` serves the classic
surface (``/openai/deployments/{deployment}/chat/completions|completions|embeddings``
with a required, known ``api-version``), the v1 surface (``/openai/v1/...`` with
the deployment in ``model``; its ``/responses`` is ``openai_responses.py``,
``/completions`` on both surfaces ``openai_completions.py``: only ``*instruct``
deployments complete, and the classic surface has no ``stream_options``) and the
deployments listing (``/openai/deployments?api-version=2023-03-15-preview``).
Auth is the ``api-key`` header (v1 also takes ``Authorization: Bearer <key>``). Azure's
quirks are reproduced: 404 "Resource not found" for a missing or unknown
api-version, 404 DeploymentNotFound, the prompt-filter-only first stream chunk,
content-filter annotations and a trailing choice without ``delta``, the
content-filter 400 (last user message "FILTER"), and ``developer`` rejected on
api-versions older than 2024-12-01-preview.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fakes import openai_completions, openai_responses
from tests.fakes.openai import (
    ROLES,
    completion,
    embeddings_for,
    last_user_text,
    new_app,
    plan_reply,
    read_json,
    record,
    stream_reply,
    validate_chat,
)

DEFAULT_DEPLOYMENTS = {
    "chat-prod": "gpt-4o-mini",
    "reasoner": "o3-mini",
    "embed-small": "text-embedding-3-small",
}
API_VERSIONS = frozenset(
    {
        "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21",
        "2024-12-01-preview", "2025-01-01-preview", "2025-04-01-preview",
    }
)  # fmt: skip
LISTING_VERSIONS = frozenset({"2022-12-01", "2023-03-15-preview"})
# Azure accepts ``model`` in the classic body too; everything else like OpenAI.
OLD_ROLES = tuple(r for r in ROLES if r != "developer")


def azure_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def resource_not_found() -> web.Response:
    return azure_error(404, "404", "Resource not found")


def deployment_not_found() -> web.Response:
    return azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the "
        "deployment within the last 5 minutes, please wait a moment and try again.",
    )


def content_filtered() -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering "
                "Azure OpenAI's content management policy. Please modify your "
                "prompt and retry.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "hate": {"filtered": True, "severity": "high"}
                    },
                },
            }
        },
        status=400,
    )


def azure_failure(status: int, version: str) -> web.Response:
    if status == 429:
        return azure_error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI "
            f"API version {version} have exceeded token rate limit of your current "
            "OpenAI S0 pricing tier. Please retry after 7 seconds.",
            headers={"Retry-After": "7"},
        )
    if status == 401:
        return access_denied()
    if status == 503:
        return azure_error(
            503, "ServiceUnavailable", "The service is temporarily unavailable."
        )
    if status >= 500:
        return azure_error(
            status,
            "InternalServerError",
            "The server had an error while processing your request.",
        )
    return web.json_response(
        {
            "error": {
                "message": "Invalid request (FAIL).",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        },
        status=status,
    )


def access_denied() -> web.Response:
    return azure_error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make "
        "sure to provide a valid key for an active subscription and use a correct "
        "regional API endpoint for your resource.",
    )


def make_app(
    *,
    api_key: str = "azure-test-key",
    deployments: dict[str, str] | None = None,
) -> web.Application:
    app = new_app(requests=[])
    deployed = dict(DEFAULT_DEPLOYMENTS if deployments is None else deployments)

    def authorized(request: web.Request, *, bearer_ok: bool) -> bool:
        if request.headers.get("api-key") == api_key:
            return True
        header = request.headers.get("Authorization", "")
        return bearer_ok and header == f"Bearer {api_key}"

    def version_problem(request: web.Request) -> web.Response | None:
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return resource_not_found()
        return None

    async def answer_chat(
        request: web.Request, body: dict[str, Any], deployment: str, version: str
    ) -> web.StreamResponse:
        if deployment not in deployed:
            return deployment_not_found()
        roles = ROLES if version >= "2024-12-01" else OLD_ROLES
        problem = validate_chat(body, require_model=False, roles=roles)
        if problem:
            return problem
        base_model = deployed[deployment]
        if "embed" in base_model:
            return azure_error(
                400,
                "OperationNotSupported",
                "The chatCompletion operation does not work with the specified "
                "model. Please choose different model and try again.",
            )
        if "max_tokens" in body and base_model.startswith(("o1", "o3", "o4", "gpt-5")):
            return web.json_response(
                {
                    "error": {
                        "message": "Unsupported parameter: 'max_tokens' is not "
                        "supported with this model. Use 'max_completion_tokens' "
                        "instead.",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": "unsupported_parameter",
                    }
                },
                status=400,
            )
        if last_user_text(body["messages"]).upper() == "FILTER":
            return content_filtered()
        plan = plan_reply(body, "azure")
        if isinstance(plan, tuple):
            return azure_failure(plan[0], version)
        if plan.slow:
            await asyncio.sleep(plan.slow)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return await stream_reply(request, plan, base_model, include, azure=True)
        answer = completion(plan, base_model)
        answer["prompt_filter_results"] = [
            {"prompt_index": 0, "content_filter_results": {}}
        ]
        answer["choices"][0]["content_filter_results"] = {}
        return web.json_response(answer)

    async def classic_chat(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if not authorized(request, bearer_ok=False):
            return access_denied()
        problem = version_problem(request)
        if problem:
            return problem
        deployment = request.match_info["deployment"]
        return await answer_chat(
            request, body, deployment, request.query["api-version"]
        )

    async def v1_chat(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if not authorized(request, bearer_ok=True):
            return access_denied()
        if not body.get("model"):
            return web.json_response(
                {
                    "error": {
                        "message": "you must provide a model parameter",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=400,
            )
        return await answer_chat(request, body, str(body["model"]), "v1")

    async def answer_completions(
        request: web.Request, body: dict[str, Any], deployment: str, version: str
    ) -> web.StreamResponse:
        if deployment not in deployed:
            return deployment_not_found()
        if version != "v1" and "stream_options" in body:
            return web.json_response(
                {
                    "error": {
                        "message": "Unrecognized request argument supplied: "
                        "stream_options",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=400,
            )
        problem = openai_completions.validate(body, require_model=version == "v1")
        if problem:
            return problem
        base_model = deployed[deployment]
        if "instruct" not in base_model:
            return azure_error(
                400,
                "OperationNotSupported",
                "The completion operation does not work with the specified model, "
                f"{base_model}. Please choose different model and try again. You "
                "can learn more about which models can be used with each operation "
                "here: https://go.microsoft.com/fwlink/?linkid=2197993.",
            )
        return await openai_completions.answer(
            request,
            body,
            base_model,
            "azure",
            lambda status: azure_failure(status, version),
            azure=True,
        )

    async def classic_completions(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if not authorized(request, bearer_ok=False):
            return access_denied()
        problem = version_problem(request)
        if problem:
            return problem
        deployment = request.match_info["deployment"]
        version = request.query["api-version"]
        return await answer_completions(request, body, deployment, version)

    async def v1_completions(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if not authorized(request, bearer_ok=True):
            return access_denied()
        return await answer_completions(request, body, str(body.get("model")), "v1")

    async def classic_embeddings(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not authorized(request, bearer_ok=False):
            return access_denied()
        problem = version_problem(request)
        if problem:
            return problem
        deployment = request.match_info["deployment"]
        if deployment not in deployed:
            return deployment_not_found()
        return embeddings_for(
            body,
            list(deployed.values()),
            frozenset(),
            require_model=False,
            model_name=deployed[deployment],
        )

    async def v1_embeddings(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not authorized(request, bearer_ok=True):
            return access_denied()
        deployment = str(body.get("model") or "")
        if deployment not in deployed:
            return deployment_not_found()
        return embeddings_for(
            body,
            list(deployed.values()),
            frozenset(),
            require_model=True,
            model_name=deployed[deployment],
        )

    async def list_deployments(request: web.Request) -> web.Response:
        record(request, None)
        if not authorized(request, bearer_ok=False):
            return access_denied()
        if request.query.get("api-version") not in LISTING_VERSIONS:
            return resource_not_found()
        data = [
            {
                "id": name,
                "model": model,
                "object": "deployment",
                "status": "succeeded",
                "owner": "organization-owner",
                "created_at": 1700000000,
                "updated_at": 1700000000,
                "scale_settings": {"scale_type": "standard"},
            }
            for name, model in deployed.items()
        ]
        return web.json_response({"object": "list", "data": data})

    async def v1_responses(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if not authorized(request, bearer_ok=True):
            return access_denied()
        deployment = str(body.get("model") or "")
        base_model = deployed.get(deployment, "")
        problem = openai_responses.validate(
            body, openai_responses.is_reasoning(base_model)
        )
        if problem:
            return problem
        if deployment not in deployed:
            return deployment_not_found()
        return await openai_responses.answer(
            request, body, base_model, "azure", lambda s: azure_failure(s, "v1")
        )

    router = app.router
    router.add_post("/openai/v1/responses", v1_responses)
    router.add_post("/openai/deployments/{deployment}/chat/completions", classic_chat)
    router.add_post("/openai/deployments/{deployment}/embeddings", classic_embeddings)
    router.add_post("/openai/v1/chat/completions", v1_chat)
    router.add_post("/openai/deployments/{deployment}/completions", classic_completions)
    router.add_post("/openai/v1/completions", v1_completions)
    router.add_post("/openai/v1/embeddings", v1_embeddings)
    router.add_get("/openai/deployments", list_deployments)
    return app
