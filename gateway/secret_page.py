"""The admin page that shows a new credential's secret, once."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def secret_shown_once(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    template: str,
    title: str,
    obj: Any,
    secret: str,
) -> HttpResponse:
    """The page showing a new credential's secret, on this response only: never
    via a redirect, the session or a message cookie (also the management token
    admin's, ``api.admin``, and the alert webhook's)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "key": obj,
        "secret": secret,
        "opts": model_admin.model._meta,
    }
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store"
    return response
