"""The ``organizations`` section: organizations with their members (users)."""

from __future__ import annotations

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.access import administers
from accounts.models import Membership, Organization, User
from bootstrap.document import USERNAME_RE, Context, Fields, Item
from bootstrap.plan import (
    MemberSpec,
    Plan,
    Report,
    UserSpec,
    assign,
    save,
    section_entries,
)

ORG_FIELDS = ("slug", "name", "members")
MEMBER_FIELDS = ("username", "email", "role", "password", "first_name", "last_name")


def parse_organizations(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    lines: dict[str, int] = {}
    for i, entry in enumerate(section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", ORG_FIELDS)
        slug = f.text("slug", required=True, slug=True, max_length=64)
        name = f.text("name", max_length=200)
        if slug is None:
            continue
        if slug in plan.organizations:
            f.error("slug", f"duplicate organization (first at line {lines[slug]})")
            continue
        lines[slug] = entry.line
        plan.organizations[slug] = name
        for j, member in enumerate(f.entries("members")):
            _parse_member(ctx, member, f"{f.path}.members[{j}]", slug, plan)


def _parse_member(ctx: Context, item: Item, path: str, org: str, plan: Plan) -> None:
    f = Fields(ctx, item, path, MEMBER_FIELDS)
    username = f.text("username", required=True, max_length=150)
    if username and not USERNAME_RE.match(username):
        f.error("username", "may hold only letters, digits and @.+-_")
    new = UserSpec(
        username or "",
        item.line,
        email=f.text("email", max_length=254),
        password=f.text("password"),
        first_name=f.text("first_name", max_length=150),
        last_name=f.text("last_name", max_length=150),
    )
    role = f.text("role", choices=Membership.Role.values) or Membership.Role.MEMBER
    if new.email:
        try:
            validate_email(new.email)
        except ValidationError:
            f.error("email", "is not a valid email address")
    if new.password is not None:
        try:
            validate_password(new.password)
        except ValidationError as exc:
            f.error("password", " ".join(exc.messages))
    if not username:
        return
    if any(m.organization == org and m.username == username for m in plan.memberships):
        f.error("username", "is listed twice in this organization")
        return
    plan.memberships.append(MemberSpec(org, username, role))
    user = plan.users.setdefault(username, new)
    for attr in ("email", "password", "first_name", "last_name"):
        given, known = getattr(new, attr), getattr(user, attr)
        if user is not new and given is not None:
            if known is None:
                setattr(user, attr, given)
            elif known != given:
                f.error(
                    attr,
                    f"differs from the one given for {username} at line {user.line}",
                )
    user.staff = user.staff or administers(role)


def resolve_organizations(ctx: Context, plan: Plan) -> None:
    """Members are defined in place: nothing to look up."""


def apply_organizations(plan: Plan, report: Report) -> None:
    orgs: dict[str, Organization] = {}
    for slug, name in plan.organizations.items():
        org = Organization.objects.filter(slug=slug).first()
        created = org is None
        org = org or Organization(slug=slug, name=name or slug)
        save(report, "organizations", org, created, assign(org, {"name": name}))
        orgs[slug] = org
    users: dict[str, User] = {}
    for spec in plan.users.values():
        user = User.objects.filter(username=spec.username).first()
        created = user is None
        user = user or User(username=spec.username)
        values = {"email": spec.email, "first_name": spec.first_name}
        changed = assign(user, {**values, "last_name": spec.last_name})
        if spec.staff and not user.is_staff:
            user.is_staff = True
            changed.append("is_staff")
        if spec.password is not None and not check_password(
            spec.password, user.password
        ):
            user.set_password(spec.password)
            changed.append("password")
        elif created and spec.password is None:
            user.set_unusable_password()
        save(report, "users", user, created, changed)
        users[spec.username] = user
    for m in plan.memberships:
        org, user = orgs[m.organization], users[m.username]
        row = Membership.objects.filter(user=user, organization=org).first()
        created = row is None
        row = row or Membership(user=user, organization=org, role=m.role)
        save(report, "memberships", row, created, assign(row, {"role": m.role}))
