"""A legacy Completions body, checked and translated into chat requests (pure).

Every body, whoever serves it, must hold a model name, a boolean ``stream``
and an object ``stream_options`` (``check_envelope``); a provider that serves
``/completions`` itself judges the rest.

For the other providers the body is translated through chat
(``to_canonical``): each prompt (a string, or each string of a list) becomes
one chat request whose only message is a user message holding the prompt.
``max_tokens`` defaults to 16, OpenAI's legacy default. ``temperature``,
``top_p``, ``n``, ``stop``, ``seed``, ``user``, ``presence_penalty``,
``frequency_penalty`` and ``logit_bias`` keep their names and meaning in chat,
so each vendor maps, drops or refuses them exactly as it does on
``/v1/chat/completions`` (``n`` > 1 is refused where the vendor returns one
choice, ``seed`` dropped where it has none...). What chat cannot honour is a 400
naming the parameter: ``echo`` true, a non-empty ``suffix``, ``logprobs``,
``best_of`` other than 1 (or other than ``n``), token-array prompts, more than
``MAX_PROMPTS`` prompts, and any field OpenAI's endpoint does not define.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import GatewayError, bad_request
from gateway.fields import (
    Fields,
    check_array,
    check_depth,
    check_model,
    check_object,
    is_int,
    out_of_range,
    wrong,
)

#: The request fields of OpenAI's ``POST /v1/completions``.
FIELDS = frozenset(
    {
        "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias",
        "logprobs", "max_tokens", "n", "presence_penalty", "seed", "stop", "stream",
        "stream_options", "suffix", "temperature", "top_p", "user",
    }
)  # fmt: skip
#: Fields that mean the same in a chat request: passed on as they are.
CHAT_FIELDS = (
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "user",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
)
#: OpenAI's legacy default for ``max_tokens`` on this endpoint.
DEFAULT_MAX_TOKENS = 16
#: Prompts one translated request may hold: each is one upstream chat call.
MAX_PROMPTS = 16
NATIVE_HINT = (
    " It is available on models whose provider serves the completions endpoint "
    "itself (OpenAI, Azure OpenAI, OpenAI-compatible servers)."
)


def check_envelope(body: Any) -> None:
    """What every Completions body needs, whoever serves it (400 naming the field)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    check_model(body.get("model"))
    check_depth(body)
    f = Fields(body, "")
    f.boolean("stream")
    f.get("stream_options", check_object)
    if isinstance(body.get("stream_options"), dict):
        Fields(body["stream_options"], "stream_options").boolean("include_usage")


def include_usage(body: Mapping[str, Any]) -> bool:
    """Whether the caller asked for the stream's usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def unsupported(param: str, what: str) -> GatewayError:
    """A 400 naming ``param``: the translation through chat cannot honour it."""
    return bad_request(
        f"{what} This model's provider is reached through chat completions, "
        f"which cannot honour '{param}'.{NATIVE_HINT}",
        param,
        "unsupported_parameter",
    )


def to_canonical(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One canonical chat request per prompt, or a 400 naming what cannot be."""
    for name in body:
        if name not in FIELDS:
            shown = str(name)[:100]
            raise bad_request(
                f"Unrecognized request argument supplied: {shown}",
                shown,
                "unknown_parameter",
            )
    _refuse_what_chat_cannot_do(body)
    base: dict[str, Any] = {"model": body["model"]}
    max_tokens = body.get("max_tokens")
    base["max_tokens"] = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    for name in CHAT_FIELDS:
        if body.get(name) is not None:
            base[name] = body[name]
    if body.get("stream"):
        base["stream"] = True
    return [
        {**base, "messages": [{"role": "user", "content": prompt}]}
        for prompt in prompts(body.get("prompt"))
    ]


def _refuse_what_chat_cannot_do(body: Mapping[str, Any]) -> None:
    f = Fields(body, "")
    f.boolean("echo")
    f.string("suffix")
    f.integer("logprobs", 0, 5)
    f.integer("best_of", 1, 20)
    f.integer("n", 1, 128)
    if body.get("echo"):
        raise unsupported("echo", "echo returns the prompt with its log probabilities.")
    if body.get("suffix"):
        raise unsupported("suffix", "suffix asks for an insertion, not a completion.")
    if body.get("logprobs") is not None:
        raise unsupported("logprobs", "logprobs returns per-token log probabilities.")
    best_of = body.get("best_of")
    n = body.get("n") or 1
    if best_of is not None and (best_of > 1 or best_of != n):
        raise unsupported(
            "best_of", "best_of ranks several completions by their log probabilities."
        )


def prompts(value: Any) -> list[str]:
    """The prompt texts: a string, or a list of up to ``MAX_PROMPTS`` strings."""
    if value is None:
        raise bad_request(
            "Missing required parameter: 'prompt'.",
            "prompt",
            "missing_required_parameter",
        )
    if isinstance(value, str):
        if not value:
            raise out_of_range("prompt", "must not be empty")
        return [value]
    items = check_array(value, "prompt", low=1)
    if any(is_int(item) or isinstance(item, list) for item in items):
        raise unsupported("prompt", "A prompt of token ids needs a tokenizer.")
    if len(items) > MAX_PROMPTS:
        raise out_of_range(
            "prompt",
            f"at most {MAX_PROMPTS} prompts per request for this model (each is "
            "one chat call to its provider)",
        )
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise wrong(f"prompt[{i}]", "a string", item)
        if not item:
            raise out_of_range(f"prompt[{i}]", "must not be empty")
    return list(items)


def estimate_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt text as chat messages, for a usage estimate (``gateway.estimate``)."""
    value = body.get("prompt")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list):
        texts = []
    return {
        "messages": [
            {"role": "user", "content": text} for text in texts if isinstance(text, str)
        ]
    }
