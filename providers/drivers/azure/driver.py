"""The Azure OpenAI driver: the OpenAI driver with Azure's URLs, body and errors.

With ``wire_api: responses`` it calls the v1 surface's ``/openai/v1/responses``
(whatever ``api_surface`` says; the classic surface's preview route is not
used), the deployment named in ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.drivers.azure.discovery import parse_deployments
from providers.drivers.azure.errors import azure_error
from providers.drivers.azure.translate import (
    build_azure_chat_body,
    build_azure_completions_body,
    build_azure_embeddings_body,
    chat_url,
    completions_url,
    deployment_for,
    deployments_url,
    embeddings_url,
    responses_url,
)
from providers.drivers.config import ModelInfo
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver


class AzureOpenAIDriver(OpenAIDriver):
    vendor = "Azure OpenAI"

    def chat_url(self, model_id: str) -> str:
        return chat_url(self.config, model_id)

    def embeddings_url(self, model_id: str) -> str:
        return embeddings_url(self.config, model_id)

    def completions_url(self, model_id: str) -> str:
        return completions_url(self.config, model_id)

    def completions_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_azure_completions_body(self.config, request, model_id, stream)

    def responses_url(self, model_id: str) -> str:
        return responses_url(self.config)

    def responses_model(self, model_id: str) -> str:
        return deployment_for(self.config, model_id)

    def models_url(self) -> str:
        return deployments_url(self.config)

    def chat_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_azure_chat_body(self.config, request, model_id, stream)

    def embeddings_body(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        return build_azure_embeddings_body(self.config, request, model_id)

    def parse_models(self, data: Any) -> list[ModelInfo]:
        return parse_deployments(data)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return azure_error(status, body, headers, self.vendor, self.config)
