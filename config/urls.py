"""URL map: the admin, the site (``portal``), the management API under /api/v1/
and the gateway under /v1/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from gateway.views import UnknownRouteView

admin.site.site_header = "Modelgate"
admin.site.site_title = "Modelgate admin"
admin.site.index_title = "Providers, models and access"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("v1/", include("gateway.urls")),
    path("v1", UnknownRouteView.as_view()),  # /v1 itself: the gateway's JSON 404
    path("", include("portal.urls")),
]
