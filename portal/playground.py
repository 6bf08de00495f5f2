"""The playground: try a visible model from the site, through the gateway's call path.

``playground_page`` renders the page (the inference models the user may call in
the current organization, with their prices for the cost shown after a reply).
``playground_chat`` is the page's POST endpoint: session authentication and
Django's CSRF check (the token in the ``X-CSRFToken`` header), the JSON body
checked by the gateway's own ``validate_chat``, then ``gateway.call.chat_stream``
exactly as for ``/v1/chat/completions``: the same visibility, the same model and
provider limits, the same usage recording, with the record's source marked
``playground``. The call acts for the signed-in user in the organization the
site acts in (``Principal.for_membership``) with no API key, so no key secret
exists to leak, and vendor credentials stay inside the driver as always.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_POST

from accounts.access import OrganizationContext, organization_context
from gateway import call as call_path
from gateway.auth import KeyInfo
from gateway.errors import DriverError, GatewayError, bad_request, error_response
from gateway.models import UsageRecord
from gateway.state import state
from gateway.validation import validate_chat
from models_catalog.models import AIModel
from models_catalog.visibility import Principal
from portal import starter
from portal.catalog import usable_models
from portal.layout import page

# What the page may send; the endpoint adds stream and stream_options itself.
FIELDS = frozenset({"model", "messages", "temperature", "max_tokens"})


@dataclass(frozen=True)
class Choice:
    """One model of the select: the name the call uses and its prices."""

    name: str
    label: str
    provider: str
    input_cost: str
    output_cost: str


def choices_for(ctx: OrganizationContext) -> list[Choice]:
    """The inference models the user may call in the current organization."""
    chat = AIModel.ModelType.INFERENCE
    found: list[Choice] = []
    for model in (m for m in usable_models(ctx) if m.model_type == chat):
        # Pinned to the model's provider: the reply (and its price) is this
        # model's, not another provider's that serves the same name.
        found.append(
            Choice(
                name=f"{model.provider.name}/{model.model_id}",
                label=str(model.alias or model),
                provider=model.provider.name,
                input_cost=str(model.input_cost_per_million),
                output_cost=str(model.output_cost_per_million),
            )
        )
    return found


@login_required
def playground_page(request: HttpRequest) -> HttpResponse:
    ctx = organization_context(request)
    choices = choices_for(ctx)
    prices = {c.name: {"input": c.input_cost, "output": c.output_cost} for c in choices}
    return page(
        request,
        "portal/playground.html",
        ctx,
        section="playground",
        choices=choices,
        prices=prices,
        starter_offer=starter.can_offer(ctx),
    )


def _key_for(request: HttpRequest) -> KeyInfo:
    """The signed-in user acting in the site's organization, as a keyless KeyInfo.

    Raises a 401 when signed out, a 403 for a member of no organization. No
    per-key limit, allow-list or expiry: there is no key (``key_pk`` None);
    the model's and provider's limits still apply in the call path. Sync: it
    reads the session's user and memberships (run in a thread).
    """
    if not request.user.is_authenticated:
        raise _signed_out()
    membership = organization_context(request).membership
    if membership is None:
        raise _no_organization()
    return KeyInfo(
        key_pk=None,
        organization_id=membership.organization_id,
        user_id=membership.user_id,
        principal=Principal.for_membership(membership),
        allowed_models=frozenset(),
        expires_at=None,
        requests_per_minute=None,
    )


def chat_body(raw: bytes) -> dict[str, Any]:
    """The page's JSON as a streamed chat body, validated like a /v1 body."""
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise bad_request(
            f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0]
        )
    body = {name: data[name] for name in FIELDS if data.get(name) is not None}
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    validate_chat(body)
    return body


def _signed_out() -> GatewayError:
    return GatewayError(
        "Sign in to use the playground.",
        status=401,
        type="invalid_request_error",
        code="not_signed_in",
    )


def _no_organization() -> GatewayError:
    return GatewayError(
        "You are not a member of any organization yet.",
        status=403,
        type="invalid_request_error",
        code="no_organization",
    )


@require_POST
async def playground_chat(request: HttpRequest) -> HttpResponseBase:
    """Stream one playground reply as OpenAI's server-sent events.

    Errors before the first byte are answered in OpenAI's JSON envelope with
    their status (401 signed out, 400 bad input, 404 unknown or invisible
    model, 429 over a limit, 5xx upstream); errors mid-stream arrive as an
    error event, as on /v1.
    """
    started = time.monotonic()
    try:
        key = await sync_to_async(_key_for)(request)
        body = chat_body(request.body)
        await state().refresh()
        call = call_path.Call(
            key,
            "chat",
            body,
            started=started,
            stream=True,
            source=UsageRecord.Source.PLAYGROUND,
        )
        events = await call_path.chat_stream(call)
    except DriverError as err:
        return error_response(err)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
