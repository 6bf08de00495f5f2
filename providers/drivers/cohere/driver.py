"""``CohereDriver``: the OpenAI driver on Cohere's Compatibility API (chat,
embeddings), plus Cohere's own API: v2 rerank and the model list (discovery,
health)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from providers.drivers.cohere.discovery import PAGE_SIZE, parse_models
from providers.drivers.cohere.errors import VENDOR, cohere_error
from providers.drivers.cohere.response import parse_rerank
from providers.drivers.cohere.translate import api_root, rerank_body, rerank_url
from providers.drivers.config import ModelInfo, UpstreamRequest
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver

MAX_PAGES = 50


class CohereDriver(OpenAIDriver):
    vendor = VENDOR

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return cohere_error(status, body, headers)

    def accepts_completions_raw(self, model_id: str) -> bool:
        """The Compatibility API has no legacy ``/completions``: translate through
        chat (``gateway.completions_api``)."""
        return False

    async def rerank(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = UpstreamRequest(
            "POST",
            rerank_url(self.base),
            await self.headers(),
            json=rerank_body(request, model_id),
        )
        data = self.read_json(await self.send(req))
        return parse_rerank(data, len(request["documents"]))

    async def _models_page(self, query: dict[str, str]) -> dict[str, Any]:
        headers = await self.headers()
        headers.pop("Content-Type")
        url = f"{api_root(self.base)}/v1/models?{urlencode(query)}"
        data = self.read_json(await self.send(UpstreamRequest("GET", url, headers)))
        if not isinstance(data, dict):
            raise DriverError("Cohere returned an unexpected model list.")
        return data

    async def list_models(self) -> list[ModelInfo]:
        found: list[ModelInfo] = []
        token = ""
        for _ in range(MAX_PAGES):
            query = {"page_size": str(PAGE_SIZE)}
            if token:
                query["page_token"] = token
            page = await self._models_page(query)
            found.extend(parse_models(page))
            token = str(page.get("next_page_token") or "")
            if not token:
                break
        return found

    async def health_check(self) -> None:
        await self._models_page({"page_size": "1"})
