"""The OpenAPI schema: generated from the code, committed, served, documented.

``docs/openapi.yaml`` is the committed schema; regenerate it with
``DEBUG=true python manage.py spectacular --file docs/openapi.yaml`` after
changing the API (this test fails until then).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"


def generated() -> bytes:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={})


def test_the_committed_schema_is_the_generated_one():
    assert COMMITTED.read_bytes() == generated(), (
        "docs/openapi.yaml is stale: DEBUG=true python manage.py spectacular "
        "--file docs/openapi.yaml"
    )


def test_it_is_openapi_3_1_and_names_the_token_scheme():
    schema = yaml.safe_load(generated())
    assert schema["openapi"] == "3.1.0"
    scheme = schema["components"]["securitySchemes"]["managementToken"]
    assert {k: scheme[k] for k in ("type", "scheme")} == {
        "type": "http",
        "scheme": "bearer",
    }
    assert "mgmt_" in scheme["description"]
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert len(operations) == 55  # budgets: 6, alert settings: 4


def test_the_schema_is_served_to_anyone(db):
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert response.json() == yaml.safe_load(COMMITTED.read_text())


def test_the_documentation_page_uses_only_vendored_assets(db):
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Content-Security-Policy" in response.headers
    # Every script is a file (the CSP forbids inline code): no <script> tag
    # without a src, whatever its other attributes.
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts), scripts
    assert "<style" not in html and " style=" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 5
    for url in assets:
        assert url.startswith("/"), url  # no CDN, no other host
        if url.startswith(settings.STATIC_URL) or url.startswith("/static/"):
            path = url.split("/static/", 1)[1]
            assert finders.find(path), url
    script = Client().get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert "/api/v1/schema/" in script.content.decode()


def test_every_operation_documents_its_error_answers():
    schema = yaml.safe_load(generated())
    error = {"$ref": "#/components/schemas/Error"}
    fields = {"$ref": "#/components/schemas/FieldErrors"}
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            body = {
                c: a.get("content", {}).get("application/json", {})
                for c, a in answers.items()
            }
            assert body["401"]["schema"] == error, (method, path)
            if "{" in path:
                assert body["404"]["schema"] == error, (method, path)
            if method != "get":
                assert body["403"]["schema"] == error, (method, path)
            if method in ("post", "put", "patch"):
                assert body["400"]["schema"] == fields, (method, path)
    assert schema["components"]["schemas"]["FieldErrors"]["type"] == "object"
    usage = schema["paths"]["/api/v1/organizations/{organization}/usage/"]["get"]
    assert "400" in usage["responses"]  # its filters are validated
