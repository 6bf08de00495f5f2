"""The invitee's page (``/invitations/<token>/``): join, sign in, or create an account.

Whoever holds the link may accept it (the link is the credential, as the
invitation email says); it works once. A link that is unknown answers 404,
one that expired, was revoked or used answers 410: the same page, which does
not say which. The page is not cached, since its URL carries the token; the
site's referrer policy (same-origin) keeps the URL from other sites. (With
"no-referrer" the browser would send ``Origin: null`` on the form's POST, and
Django's CSRF check would rightly refuse it.)
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import BaseUserCreationForm, UsernameField
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache

from accounts import invitations
from accounts.access import choose_organization
from accounts.models import Invitation, User
from portal.layout import page

USERNAME_TAKEN = "This username is taken; choose another."
# Each link may be told "taken" this many times an hour; then every name gets
# TOO_MANY_NAMES, so a link cannot be used to list the instance's usernames.
NAME_TRIES = 5
NAME_TRIES_SECONDS = 3600
TOO_MANY_NAMES = "Too many usernames were tried with this link. Try again in an hour."
BACKEND = "django.contrib.auth.backends.ModelBackend"


class InviteeAccountForm(BaseUserCreationForm[User]):
    """Username and password (twice, Django's validators); the email is the
    invitation's and never comes from the form."""

    class Meta:
        model = User
        fields = ["username"]
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        self.instance.email = invitation.email
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none"}
        )

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"])
        tries = f"invitation-name-tries:{self.invitation.pk}"
        if int(cache.get(tries, 0)) >= NAME_TRIES:
            raise forms.ValidationError(TOO_MANY_NAMES)
        if User.objects.filter(username__iexact=username).exists():
            cache.add(tries, 0, NAME_TRIES_SECONDS)
            cache.incr(tries)
            raise forms.ValidationError(USERNAME_TAKEN)
        return username


def _unavailable(request: HttpRequest, token: str) -> HttpResponse:
    """410 for a link of ours that can no longer be used, else 404: one page.

    The person who accepted it (a double submit, a second click) goes home.
    """
    used = (
        Invitation.objects.filter(token_hash=invitations.hash_token(token)).first()
        if len(token) <= invitations.MAX_TOKEN_CHARS
        else None
    )
    user_id = request.user.pk if request.user.is_authenticated else None
    if used is not None and user_id is not None and used.accepted_by_id == user_id:
        return redirect("home")
    status = 404 if used is None else 410
    return page(request, "portal/invitation_unavailable.html", status=status)


def _joined(request: HttpRequest, user: User, invitation: Invitation) -> HttpResponse:
    choose_organization(request, invitation.organization.slug)
    messages.success(request, f"You joined {invitation.organization.name}.")
    return redirect("home")


@never_cache
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.find(token)
    except invitations.InvitationUnavailable:
        return _unavailable(request, token)
    form = None
    if request.user.is_authenticated:
        user = request.user
        if request.method == "POST":
            try:
                invitations.accept(token, user)
            except invitations.InvitationUnavailable:
                return _unavailable(request, token)
            return _joined(request, user, invitation)
    else:
        form = InviteeAccountForm(request.POST or None, invitation=invitation)
        if request.method == "POST" and form.is_valid():
            try:
                with transaction.atomic():
                    user = form.save()
                    invitations.accept(token, user)
            except invitations.InvitationUnavailable:
                return _unavailable(request, token)
            except IntegrityError:  # the same username taken a moment ago
                form.add_error("username", USERNAME_TAKEN)
            else:
                login(request, user, backend=BACKEND)
                return _joined(request, user, invitation)
    return page(
        request,
        "portal/invitation.html",
        invitation=invitation,
        form=form,
        token=token,
        already_member=request.user.is_authenticated
        and invitation.organization.memberships.filter(
            user_id=request.user.pk
        ).exists(),
    )
