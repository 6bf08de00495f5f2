"""The site's account pages: change a password, reset a forgotten one by email.

Django's own views, with the site's templates (``templates/registration/``).
Template names differ from the admin's ``password_change_form.html`` and
``password_change_done.html`` so that the admin's own password page keeps its
look. A completed reset also lifts the sign-in lockout of that username
(``accounts.signin_throttle``): whoever reads the account's mail may sign in
again at once, even while someone else keeps guessing the username.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator

from accounts.access import organization_context
from accounts.signin_throttle import forget_failures_of


class SiteLayout:
    """The layout's context (organization, switcher) for a Django auth view."""

    request: HttpRequest
    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]  # a mixin before a Django view
        if self.request.user.is_authenticated:
            ctx = organization_context(self.request)
            context.update(
                organization=ctx.organization,
                membership=ctx.membership,
                memberships=ctx.memberships,
            )
        context["section"] = self.section
        return context


@method_decorator(login_required, name="dispatch")
class PasswordChangeView(SiteLayout, auth_views.PasswordChangeView):
    section = "password"
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("password_change_done")


@method_decorator(login_required, name="dispatch")
class PasswordChangeDoneView(SiteLayout, auth_views.PasswordChangeDoneView):
    section = "password"
    template_name = "registration/password_change_complete.html"


class PasswordResetView(SiteLayout, auth_views.PasswordResetView):
    """Mails a link when the address belongs to an active user; answers the
    same either way (Django's form sends nothing for an unknown address)."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    @property
    def extra_email_context(self) -> dict[str, str]:  # type: ignore[override]  # Django reads a class attribute; a property computes it per use
        return {"timeout_text": timeout_text(settings.PASSWORD_RESET_TIMEOUT)}


def timeout_text(seconds: int) -> str:
    """``PASSWORD_RESET_TIMEOUT`` for people: "1 hour", "3 days", "90 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


class PasswordResetConfirmView(SiteLayout, auth_views.PasswordResetConfirmView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        forget_failures_of(form.user.get_username())
        return response
