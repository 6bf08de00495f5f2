"""Issue a management token for the API: the first one, or a superuser's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.access import administers, member_role
from accounts.models import Organization, User
from api.models import ManagementToken


class Command(BaseCommand):
    help = (
        "Issue a management API token acting for USER, in ORGANIZATION with a "
        "role; without --organization, a superuser's token for every organization. "
        "Prints the secret once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Username it acts for.")
        parser.add_argument("--organization", help="Organization slug.")
        parser.add_argument(
            "--role",
            choices=ManagementToken.Role.values,
            default=ManagementToken.Role.READ_ONLY,
        )
        parser.add_argument("--name", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError("No such user.")
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(
                slug=options["organization"]
            ).first()
            if organization is None:
                raise CommandError("No such organization.")
            if not (
                user.is_superuser or administers(member_role(user.pk, organization.pk))
            ):
                raise CommandError("The user does not administer this organization.")
        elif not user.is_superuser:
            raise CommandError("Only a superuser's token may omit --organization.")
        _, secret = ManagementToken.issue(
            organization, user, options["name"], options["role"]
        )
        self.stdout.write(secret)
