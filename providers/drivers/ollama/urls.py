"""Ollama endpoint URLs: the server root (a pasted ``/api`` or ``/v1`` is tolerated)."""

from __future__ import annotations

from providers.drivers.config import DriverConfig

DEFAULT_BASE_URL = "http://localhost:11434"


def base_url(cfg: DriverConfig) -> str:
    """The server root; a pasted ``/api`` or ``/v1`` suffix is tolerated."""
    url = (cfg.base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    for suffix in ("/api", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def api_url(cfg: DriverConfig, path: str) -> str:
    return f"{base_url(cfg)}/api/{path.lstrip('/')}"
