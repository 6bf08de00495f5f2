"""Create the first superuser for the embedded platform, once, and say how to log in."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Create a superuser 'admin' when no superuser exists; the password comes "
        "from ADMIN_PASSWORD or is generated and written to DATA_DIR/admin-password."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = settings.DATA_DIR / "admin-password"
        if User.objects.filter(is_superuser=True).exists():
            if password_file.exists():
                self.stdout.write(f"Admin login: admin / (password in {password_file})")
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, f"{username}@localhost", password)
        if not os.environ.get("ADMIN_PASSWORD"):
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created admin login: {username} / {password} "
                    f"(also saved in {password_file})"
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Created admin login: {username}"))
