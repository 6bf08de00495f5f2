"""URL map: the admin, the user pages, and the gateway under /v1/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from gateway import pages
from gateway.views import UnknownRouteView

admin.site.site_header = "Modelgate"
admin.site.site_title = "Modelgate admin"
admin.site.index_title = "Providers, models and access"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("v1/", include("gateway.urls")),
    path("v1", UnknownRouteView.as_view()),  # /v1 itself: the gateway's JSON 404
    path("models/", pages.models_page, name="models"),
    path("keys/", pages.keys_page, name="keys"),
    path("keys/<int:pk>/revoke", pages.revoke_key, name="revoke-key"),
    path("organization/", pages.switch_organization, name="switch-organization"),
]
