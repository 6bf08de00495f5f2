"""Gateway routes, mounted under /v1/."""

from __future__ import annotations

from django.urls import path, re_path

from gateway.views import (
    ChatCompletionsView,
    EmbeddingsView,
    ModelsView,
    unknown_route,
)

urlpatterns = [
    path("chat/completions", ChatCompletionsView.as_view(), name="chat-completions"),
    path("embeddings", EmbeddingsView.as_view(), name="embeddings"),
    path("models", ModelsView.as_view(), name="models"),
    path("models/<path:model>", ModelsView.as_view(), name="model-detail"),
    re_path(r"", unknown_route),
]
