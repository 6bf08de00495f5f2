"""An Anthropic Messages request as a canonical Chat Completions request (pure).

Interface (fixed): ``to_canonical(body) -> dict``; raises a 400 ``DriverError``
naming the field for bad input.
"""

from __future__ import annotations

from typing import Any


def to_canonical(body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError
