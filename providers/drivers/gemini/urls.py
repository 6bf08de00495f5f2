"""Gemini endpoint URLs: the API root, model resource paths, generateContent."""

from __future__ import annotations

from urllib.parse import quote

from providers.drivers.config import DriverConfig
from providers.drivers.gemini import DEFAULT_ENDPOINT

DEFAULT_BASE = DEFAULT_ENDPOINT


def base_url(cfg: DriverConfig) -> str:
    return (cfg.base_url or DEFAULT_BASE).rstrip("/")


def model_path(model_id: str) -> str:
    """``models/<id>`` (or ``tunedModels/<id>``), escaped so it stays one segment."""
    kind, _, name = model_id.rpartition("/")
    kind = "tunedModels" if kind == "tunedModels" else "models"
    return f"{kind}/{quote(name, safe='-._~')}"


def chat_url(cfg: DriverConfig, model_id: str, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url(cfg)}/{model_path(model_id)}:{method}"
