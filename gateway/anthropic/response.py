"""A canonical chat completion as an Anthropic Message (pure).

Interface (fixed): ``from_canonical(completion, model) -> dict``.
"""

from __future__ import annotations

from typing import Any


def from_canonical(completion: dict[str, Any], model: str) -> dict[str, Any]:
    raise NotImplementedError
