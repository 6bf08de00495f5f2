"""Create a gateway API key from the command line; prints the secret once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.access import is_member
from accounts.models import Organization, User
from gateway.forms import parse_model_list
from gateway.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a user (or, without --user, the organization)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="organization slug")
        parser.add_argument("--user", help="username the key acts for")
        parser.add_argument("--name", required=True)
        parser.add_argument("--models", default="", help="comma-separated allow-list")
        parser.add_argument("--expires-in-days", type=int)
        parser.add_argument("--rpm", type=int, help="requests per minute cap")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["organization"]).first()
        if org is None:
            raise CommandError(
                f"No organization with slug {options['organization']!r}."
            )
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
            if not is_member(user.pk, org.pk):
                raise CommandError(f"{user} is not a member of {org.slug}.")
        if ApiKey.objects.filter(organization=org, name=options["name"]).exists():
            raise CommandError(
                f"{org.slug} already has a key named {options['name']!r}."
            )
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        _key, secret = ApiKey.issue(
            org,
            user,
            options["name"],
            allowed_models=parse_model_list(options["models"]),
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            requests_per_minute=options["rpm"],
        )
        self.stderr.write("Copy the key now; it will not be shown again:")
        self.stdout.write(secret)
