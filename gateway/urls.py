"""Gateway routes, mounted under /v1/; any other /v1 URL is a JSON 404.

``/v1/chat/completions/`` (a trailing slash) and ``/v1//models`` are other URLs:
404, not redirects (a redirected POST loses its body, and the SDKs never send
them).
"""

from __future__ import annotations

from django.urls import path, re_path

from gateway.views import (
    ChatCompletionsView,
    CompletionsView,
    CountTokensView,
    EmbeddingsView,
    MessagesView,
    ModelsView,
    RerankView,
    ResponseInputItemsView,
    ResponsesView,
    ResponseView,
    UnknownRouteView,
)

urlpatterns = [
    path("chat/completions", ChatCompletionsView.as_view(), name="chat-completions"),
    path("completions", CompletionsView.as_view(), name="completions"),
    path("messages", MessagesView.as_view(), name="messages"),
    path(
        "messages/count_tokens", CountTokensView.as_view(), name="messages-count-tokens"
    ),
    path("responses", ResponsesView.as_view(), name="responses"),
    path("embeddings", EmbeddingsView.as_view(), name="embeddings"),
    path("rerank", RerankView.as_view(), name="rerank"),
    # Cohere's SDKs post to {base_url}/v2/rerank: base_url=<gateway>/v1 works.
    path("v2/rerank", RerankView.as_view(), name="rerank-cohere-v2"),
    path("models", ModelsView.as_view(), name="models"),
    path("models/<path:model>", ModelsView.as_view(), name="model-detail"),
    path("responses/<str:response_id>", ResponseView.as_view(), name="response-detail"),
    path(
        "responses/<str:response_id>/input_items",
        ResponseInputItemsView.as_view(),
        name="response-input-items",
    ),
    re_path(r"", UnknownRouteView.as_view(), name="unknown-route"),
]
