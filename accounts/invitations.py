"""Invitations: an org admin invites an email with a role; the invitee accepts.

Joining an organization takes consent (DESIGN.md): nobody but a superuser
attaches an existing user directly. The invitation's link carries a random
256-bit token; only its SHA-256 is stored, so the database (a backup, the
admin) never holds a usable link, and a token is found by its hash: the
comparison never runs over the secret itself, so it leaks no timing. The link
works once, until ``INVITATION_EXPIRY_DAYS`` have passed, and can be revoked.

A random token looked up by hash rather than a signed payload: single use and
revocation need a row anyway, and the row makes the signature redundant.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.access import administers, member_role
from accounts.models import Invitation, Membership, Organization, User

# A token is 43 URL-safe characters; anything far longer is not one of ours.
MAX_TOKEN_CHARS = 64


class InvitationUnavailable(Exception):
    """The link is unknown, expired, revoked or already used (no detail given)."""


class AlreadyMember(Exception):
    """The email already belongs to a member of the organization."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    return BaseUserManager.normalize_email(email.strip())


def _issue_token(invitation: Invitation) -> str:
    """A fresh token and expiry on ``invitation`` (not saved); the old link dies."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_token(token)
    invitation.expires_at = timezone.now() + timedelta(
        days=settings.INVITATION_EXPIRY_DAYS
    )
    return token


def invitation_link(base_url: str, token: str) -> str:
    """The absolute link for ``token``; ``base_url`` is the site's root URL."""
    path = reverse("invitation", kwargs={"token": token})
    return base_url.rstrip("/") + path


def _send(invitation: Invitation, link: str) -> None:
    context = {"invitation": invitation, "link": link}
    subject = render_to_string("accounts/invitation_subject.txt", context)
    body = render_to_string("accounts/invitation_email.txt", context)
    send_mail(
        " ".join(subject.split()),
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )


def invite(
    organization: Organization,
    email: str,
    role: str,
    invited_by: User | None,
    base_url: str,
) -> Invitation:
    """Invite ``email`` into ``organization`` with ``role`` and email the link.

    Re-inviting an email with an open invitation to the organization replaces
    it: new role, inviter, token and expiry (the earlier link stops working).
    Raises ``AlreadyMember`` when a member of the organization has that email.
    ``base_url`` is the root URL the link is built on (the request's host).
    """
    email = normalize_email(email)
    if Membership.objects.filter(
        organization=organization, user__email__iexact=email
    ).exists():
        raise AlreadyMember(email)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .open()
            .filter(organization=organization, email__iexact=email)
            .first()
        ) or Invitation(organization=organization, email=email)
        invitation.role = role
        invitation.invited_by = invited_by
        token = _issue_token(invitation)
        invitation.save()
        link = invitation_link(base_url, token)
        # Sent after the commit: a rolled-back invitation sends no link.
        transaction.on_commit(lambda: _send(invitation, link))
    return invitation


def resend(invitation: Invitation, base_url: str) -> bool:
    """Email a fresh link for an open invitation (also after expiry); False if closed.

    The token cannot be sent again (only its hash is kept): a new one replaces
    it and the expiry starts over.
    """
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None or locked.revoked_at is not None:
            return False
        token = _issue_token(locked)
        locked.save(update_fields=["token_hash", "expires_at"])
        link = invitation_link(base_url, token)
        transaction.on_commit(lambda: _send(locked, link))
    return True


def revoke(invitation: Invitation) -> bool:
    """Close an invitation that was not accepted; its link stops working."""
    return invitation.revoke()


def find(token: str) -> Invitation:
    """The pending invitation of ``token``, or ``InvitationUnavailable``."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvitationUnavailable
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if invitation is None or not invitation.is_pending or not _speaks_for(invitation):
        raise InvitationUnavailable
    return invitation


def _speaks_for(invitation: Invitation) -> bool:
    """Whether the inviter may still invite into the organization.

    An invitation speaks for its inviter: once they are removed, demoted or
    deleted, their open invitations die with their role (else a removed admin
    could let themselves back in with an invitation they sent themselves).
    """
    inviter = invitation.invited_by
    if inviter is None or not inviter.is_active:
        return False
    if inviter.is_superuser:
        return True
    return administers(member_role(inviter.pk, invitation.organization_id))


def accept(token: str, user: User) -> Membership:
    """``user`` joins the invitation's organization with its role; the link is used.

    Atomic, with the invitation row locked: of two submits at once, one joins
    and the other finds it used. The same user submitting twice gets their
    membership again (idempotent). An existing membership keeps the higher of
    its role and the invited one: accepting never demotes.
    """
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(token_hash=hash_token(token))
            .first()
            if token and len(token) <= MAX_TOKEN_CHARS
            else None
        )
        if invitation is None:
            raise InvitationUnavailable
        if (
            invitation.accepted_by_id is not None
            and invitation.accepted_by_id == user.pk
        ):
            again = Membership.objects.filter(
                user=user, organization_id=invitation.organization_id
            ).first()
            if again is not None:
                return again
        if not invitation.is_pending or not _speaks_for(invitation):
            raise InvitationUnavailable
        membership, created = Membership.objects.get_or_create(
            user=user,
            organization_id=invitation.organization_id,
            defaults={"role": invitation.role},
        )
        if not created and administers(invitation.role):
            membership.role = Membership.Role.ADMIN
            membership.save()
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership
