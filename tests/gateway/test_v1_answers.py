"""Every /v1 request is answered in OpenAI's envelope: methods, paths, CORS.

Over a real uvicorn (the ``gateway`` fixture): a wrong method is a 405 with
``Allow``, an unknown path a JSON 404 once the key is checked (401 first), an
``OPTIONS`` is answered without a key or a body, and browser origins listed in
``GATEWAY_CORS_ALLOWED_ORIGINS`` (none by default) get CORS headers on every
answer. Nothing here answers HTML or a 5xx.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from asgiref.sync import async_to_sync

from gateway.models import ApiKey
from tests.gateway import upstreams

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
APP = "https://app.example.com"
# Every route and the methods it serves (OPTIONS is always served too).
ROUTES = {
    "/v1/chat/completions": ["POST"],
    "/v1/completions": ["POST"],
    "/v1/embeddings": ["POST"],
    "/v1/responses": ["POST"],
    "/v1/models": ["GET", "HEAD"],
    "/v1/models/gpt-4o-mini": ["GET", "HEAD"],
}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
UNKNOWN_PATHS = [
    "/v1/audio/speech",
    "/v1",
    "/v1/",
    "/v1//models",
    "/v1/chat/completions/",
    "/v1/models/",
    "/v1/audi%6f/speech",
    "/v1/%ff%fe",
    "/v1/..%2f..%2fadmin/",
]


@pytest.fixture
def openai_key(gateway, world) -> Iterator[str]:
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        yield secret


def send(gateway, method: str, path: str, secret: str | None = None, **kw):
    headers = dict(kw.pop("headers", {}))
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    # The path goes out as written (percent-escapes included).
    url = httpx.URL(gateway.url).copy_with(raw_path=path.encode())
    return httpx.request(method, url, headers=headers, timeout=30, **kw)


def assert_envelope(response: httpx.Response, status: int, code: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    if response.request.method != "HEAD":
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["type"] == "invalid_request_error"


def raw(gateway, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes; return what came back before the server went quiet."""
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(request)
        answer = b""
        try:
            while piece := s.recv(65536):
                answer += piece
                if b"\r\n\r\n" in answer:
                    head, _, body = answer.partition(b"\r\n\r\n")
                    length = [
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ]
                    if head.startswith(b"HTTP/1.1 204") or (
                        length and len(body) >= length[0]
                    ):
                        break
        except TimeoutError:
            pass
    return answer


def test_every_route_answers_each_wrong_method_with_405_and_allow(openai_key, gateway):
    for path, served in ROUTES.items():
        allow = ", ".join([*served, "OPTIONS"])
        for method in METHODS:
            if method in served:
                continue
            response = send(gateway, method, path, openai_key)
            assert_envelope(response, 405, "method_not_allowed")
            assert response.headers["allow"] == allow, (method, path)


def test_unknown_paths_answer_a_json_404_for_every_method(openai_key, gateway):
    for path in UNKNOWN_PATHS:
        for method in METHODS:
            response = send(gateway, method, path, openai_key)
            assert_envelope(response, 404, "unknown_url")


def test_an_unknown_path_without_a_valid_key_is_a_401_not_a_404(openai_key, gateway):
    for path in ["/v1/audio/speech", "/v1", "/v1/chat/completions/"]:
        assert_envelope(send(gateway, "GET", path), 401, "invalid_api_key")
        assert_envelope(send(gateway, "POST", path, "sk-wrong"), 401, "invalid_api_key")
    # A wrong method is likewise only answered to a key.
    response = send(gateway, "GET", "/v1/chat/completions")
    assert_envelope(response, 401, "invalid_api_key")


def test_percent_escapes_name_the_same_route_and_model_names(openai_key, gateway):
    # The server decodes the path: %63 is "c", %2F inside a model name is "/".
    response = send(gateway, "GET", "/v1/%63hat/completions", openai_key)
    assert_envelope(response, 405, "method_not_allowed")
    response = send(gateway, "GET", "/v1/models/openai-fake%2Fgpt-4o-mini", openai_key)
    assert response.status_code == 200
    assert response.json()["id"] == "gpt-4o-mini"
    response = send(gateway, "GET", "/v1/models/no%2Fsuch", openai_key)
    assert_envelope(response, 404, "model_not_found")


def test_head_answers_as_get_without_a_body(openai_key, gateway):
    got = send(gateway, "GET", "/v1/models", openai_key)
    head = send(gateway, "HEAD", "/v1/models", openai_key)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == "application/json"
    assert head.content == b""
    assert send(gateway, "HEAD", "/v1/models/no-such", openai_key).status_code == 404


def test_a_query_string_that_is_not_utf8_is_a_400_envelope_not_html(
    openai_key, gateway
):
    # uvicorn refuses such bytes itself; other ASGI servers pass them on, and
    # Django would answer them with an empty text/html 400. The app directly:
    from config.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/models",
        "raw_path": b"/v1/models",
        "query_string": b"x=\xff",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {openai_key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    start = sent[0]
    assert start["status"] == 400
    headers = {k.lower(): v for k, v in start["headers"]}
    assert headers[b"content-type"] == b"application/json"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"


def test_options_lists_the_methods_without_a_key_or_cors_headers(gateway):
    for path, served in ROUTES.items():
        response = send(gateway, "OPTIONS", path, headers={"Origin": APP})
        assert response.status_code == 204, path
        assert response.headers["allow"] == ", ".join([*served, "OPTIONS"])
        assert response.content == b""
        assert "content-type" not in response.headers
        # None allowed by default: nothing CORS, nothing varies by origin.
        assert not [h for h in response.headers if h.startswith("access-control")]
        assert "vary" not in response.headers
    response = send(gateway, "OPTIONS", "/v1/audio/speech")
    assert_envelope(response, 404, "unknown_url")


def test_a_preflight_is_answered_without_reading_its_body(gateway):
    # A declared 100 MB body that never comes: the answer must not wait for it.
    answer = raw(
        gateway,
        b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: 104857600\r\n\r\n" + b"x" * 1024,
    )
    assert answer.startswith(b"HTTP/1.1 204"), answer[:300]
    assert b"allow: POST, OPTIONS" in answer


def test_a_preflight_from_an_allowed_origin_allows_the_route_and_asked_headers(
    gateway, settings
):
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [APP]
    asked = "authorization, content-type, x-stainless-os, openai-beta"
    response = send(
        gateway,
        "OPTIONS",
        "/v1/chat/completions",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"] == asked
    assert response.headers["access-control-max-age"] == "600"
    assert "Origin" in response.headers["vary"]
    # Keys travel in a header, never in cookies: credentials are not allowed.
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_from_another_origin_gets_allow_but_no_cors_headers(
    gateway, settings
):
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [APP]
    for origin in ["https://evil.example.com", "http://app.example.com", "null"]:
        response = send(
            gateway,
            "OPTIONS",
            "/v1/models",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 204
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
        assert not [h for h in response.headers if h.startswith("access-control")]
        assert response.headers["vary"] == "Origin"


def test_answers_to_an_allowed_origin_carry_cors_headers_whatever_the_status(
    openai_key, gateway, settings
):
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = ["HTTPS://App.Example.com/"]
    origin = {"Origin": APP}
    answers = {
        "chat": send(
            gateway,
            "POST",
            "/v1/chat/completions",
            openai_key,
            json=CHAT,
            headers=origin,
        ),
        "stream": send(
            gateway,
            "POST",
            "/v1/chat/completions",
            openai_key,
            json={**CHAT, "stream": True},
            headers=origin,
        ),
        "models": send(gateway, "GET", "/v1/models", openai_key, headers=origin),
        "401": send(gateway, "GET", "/v1/models", "sk-wrong", headers=origin),
        "404": send(gateway, "GET", "/v1/audio/speech", openai_key, headers=origin),
        "405": send(gateway, "GET", "/v1/embeddings", openai_key, headers=origin),
        "400": send(
            gateway,
            "POST",
            "/v1/chat/completions",
            openai_key,
            content=b"{",
            headers={**origin, "Content-Type": "application/json"},
        ),
    }
    for label, response in answers.items():
        assert response.headers.get("access-control-allow-origin") == APP, label
        exposed = response.headers["access-control-expose-headers"]
        assert {"x-request-id", "retry-after", "retry-after-ms", "x-should-retry"} <= {
            h.strip() for h in exposed.split(",")
        }, label
        assert "Origin" in response.headers["vary"], label
    assert answers["chat"].status_code == answers["stream"].status_code == 200
    assert answers["stream"].text.endswith("data: [DONE]\n\n")


def test_answers_to_other_origins_carry_no_cors_headers(openai_key, gateway, settings):
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [APP]
    for headers in [{"Origin": "https://evil.example.com"}, {}]:
        for response in [
            send(
                gateway,
                "POST",
                "/v1/chat/completions",
                openai_key,
                json=CHAT,
                headers=headers,
            ),
            send(gateway, "GET", "/v1/models", "sk-wrong", headers=headers),
        ]:
            assert not [h for h in response.headers if h.startswith("access-control")]
            # The answer differs by Origin: caches must key on it.
            assert response.headers["vary"] == "Origin"


def start_settings(origins: str, tmp_path) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with the origins set."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "GATEWAY_CORS_ALLOWED_ORIGINS": origins,
    }
    code = "from django.conf import settings\n"
    code += "print(settings.GATEWAY_CORS_ALLOWED_ORIGINS)"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_allowed_origins_are_read_normalized_and_malformed_ones_refused(tmp_path):
    started = start_settings(
        " HTTPS://App.example.com/ ,http://localhost:3000,*", tmp_path
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == (
        "['https://app.example.com', 'http://localhost:3000', '*']"
    )
    for wrong in [
        "app.example.com",
        "https://app.example.com/path",
        "ftp://x",
        "https://",
    ]:
        refused = start_settings(wrong, tmp_path)
        assert refused.returncode != 0, wrong
        assert "GATEWAY_CORS_ALLOWED_ORIGINS" in refused.stderr
