"""``CohereDriver``: the OpenAI driver on Cohere's Compatibility API, plus
Cohere's own model list (discovery, health); rerank is the OpenAI driver's
``cohere`` dialect."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from providers.drivers.cohere.discovery import PAGE_SIZE, parse_models
from providers.drivers.config import ModelInfo, UpstreamRequest
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver

COMPATIBILITY_PATH = "/compatibility/v1"
MAX_PAGES = 50


class CohereDriver(OpenAIDriver):
    vendor = "Cohere"

    @property
    def root(self) -> str:
        """The API's root: the base URL without its compatibility path."""
        base = self.base
        if base.endswith(COMPATIBILITY_PATH):
            return base[: -len(COMPATIBILITY_PATH)]
        return base

    async def _models_page(self, query: dict[str, str]) -> dict[str, Any]:
        headers = await self.headers()
        headers.pop("Content-Type")
        url = f"{self.root}/v1/models?{urlencode(query)}"
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
