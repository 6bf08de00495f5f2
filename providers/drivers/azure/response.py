"""Azure OpenAI answers and streams: OpenAI's own translation, unchanged.

Azure's stream quirks (the prompt-filter-only first chunk, trailing choices
without ``delta``) are absorbed by ``OpenAIStreamTranslator``.
"""

from __future__ import annotations

from providers.drivers.openai.response import (
    OpenAIStreamTranslator,
    parse_chat_response,
    parse_embeddings_response,
)

__all__ = ["OpenAIStreamTranslator", "parse_chat_response", "parse_embeddings_response"]
