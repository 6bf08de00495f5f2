"""The site's pages: sign-in, home, models, keys, playground, invitations."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import (
    catalog,
    home,
    invitations,
    keys,
    organizations,
    playground,
    starter,
)

urlpatterns = [
    path("", home.home, name="home"),
    path("favicon.ico", home.favicon),
    path("models/", catalog.models_page, name="models"),
    path("keys/", keys.keys_page, name="keys"),
    path("keys/<int:pk>/revoke", keys.revoke_key, name="revoke-key"),
    path(
        "organization/", organizations.switch_organization, name="switch-organization"
    ),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("portal.accounts_urls")),
    path("playground/", playground.playground_page, name="playground"),
    path("playground/chat", playground.playground_chat, name="playground-chat"),
    path("playground/starter", starter.add_starter_provider, name="starter-provider"),
    path("invitations/<str:token>/", invitations.invitation_page, name="invitation"),
]
