"""The model admin's "Test" button and list action (``gateway.model_test``).

The gateway builds on the catalog, so it adds its view to ``AIModelAdmin``
(``object_views``: ``<pk>/test/``) and its action to the model list here,
as ``models_catalog.admin`` adds "Discover models now" to the provider admin.
Both are POSTs under the admin's CSRF check, and both test only a model the
admin may change (the admin's scoped ``get_object`` / queryset): any other id
is the same 404 as one that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect

from gateway.model_test import TestResult, test_model
from models_catalog.admin import AIModelAdmin
from models_catalog.models import AIModel

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest


def report(modeladmin: AIModelAdmin, request: HttpRequest, model: AIModel) -> None:
    """Run the test and show its outcome as an admin message."""
    result: TestResult = test_model(model, request.user)  # type: ignore[arg-type]  # admin_view: a signed-in staff User
    name = f"{model.provider.name}/{model.model_id}"
    if result.ok:
        modeladmin.message_user(
            request,
            f"Test of {name}: “{result.answer}” in {result.latency_ms} ms "
            f"({result.input_tokens} tokens in, {result.output_tokens} out).",
            messages.SUCCESS,
        )
        return
    status = f" (HTTP {result.status})" if result.status else ""
    took = f" after {result.latency_ms} ms" if result.latency_ms else ""
    modeladmin.message_user(
        request,
        f"Test of {name} failed{took}{status}: {result.error}",
        messages.ERROR,
    )


def test_view(
    modeladmin: AIModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    model = modeladmin.get_object(request, object_id)  # scoped: 404 otherwise
    if not modeladmin.has_change_permission(request, model):
        raise Http404
    report(modeladmin, request, model)
    return redirect("admin:models_catalog_aimodel_change", model.pk)


@admin.action(description="Test the selected model", permissions=["change"])
def test_selected_model(
    modeladmin: AIModelAdmin, request: HttpRequest, queryset: QuerySet[AIModel]
) -> None:
    models = list(queryset.select_related("provider")[:2])
    if len(models) != 1:
        modeladmin.message_user(
            request, "Select exactly one model to test.", messages.WARNING
        )
        return
    report(modeladmin, request, models[0])


AIModelAdmin.object_views["test"] = test_view
AIModelAdmin.actions = [*AIModelAdmin.actions, test_selected_model]
