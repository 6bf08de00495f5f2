"""URL map: the admin, then the gateway under /v1/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Modelgate"
admin.site.site_title = "Modelgate admin"
admin.site.index_title = "Providers, models and access"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("v1/", include("gateway.urls")),
]
