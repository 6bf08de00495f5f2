"""Tool and message vectors shared by every vendor's driver tests.

``user(text)`` is a user turn; ``tool(...)`` builds an OpenAI function tool;
``WEATHER_TOOL`` (one required string argument) and ``TIME_TOOL`` (no
arguments) are the two tools the vendors' translation vectors use, with
``weather_tool(...)`` for the variants a vendor's quirks need.
"""

from __future__ import annotations

from typing import Any

CITY = {"type": "object", "properties": {"city": {"type": "string"}}}


def user(text: Any) -> dict[str, Any]:
    """A user turn with ``text`` (a string or a list of content parts)."""
    return {"role": "user", "content": text}


def tool(
    name: str,
    parameters: dict[str, Any] | None = None,
    description: str | None = None,
    strict: bool | None = None,
) -> dict[str, Any]:
    """An OpenAI ``function`` tool; unset fields are left out."""
    function: dict[str, Any] = {"name": name}
    if description is not None:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


def weather_tool(
    required: bool = True,
    description: bool = True,
    strict: bool | None = None,
    closed: bool = False,
) -> dict[str, Any]:
    """``get_weather(city)``, the city required, described, strict or closed."""
    parameters: dict[str, Any] = dict(CITY)
    if required:
        parameters["required"] = ["city"]
    if closed:
        parameters["additionalProperties"] = False
    return tool(
        "get_weather",
        parameters,
        "Weather for a city" if description else None,
        strict,
    )


WEATHER_TOOL = weather_tool()
TIME_TOOL = tool("get_time")
