"""Ids shaped like OpenAI's Responses ids: a prefix, ``_`` and 48 lowercase hex."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"
