"""Bootstrap from a YAML file: organizations, users, providers, models and grants.

Public surface:

- ``load(path, environ) -> Plan`` reads the file, interpolates ``${VAR}``,
  ``${VAR:-default}`` (``$${`` is a literal ``${``; ``VAR_FILE`` names a file
  holding the value) and validates everything: shape, unknown fields, types, enum
  values, references (to the file or the database) and the provider rules of
  ``providers.catalog``. It writes nothing and raises ``BootstrapError`` listing
  every problem as ``FILE:LINE: path.to.field: reason``.
- ``apply(plan, dry_run=False) -> Report`` creates or updates rows in one
  transaction, writing a row only when a value differs, and counts what was
  created, updated and left unchanged per kind. Bootstrap never deletes.

Fields missing from the file keep their stored value (or the model default on a
new row). A provider's ``auth`` replaces its credentials; ``config`` replaces
its vendor settings. Each top-level section is a row of ``SECTIONS`` (parse,
resolve references, apply). Messages name fields, never their values, so
secrets cannot leak through errors.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction

from accounts.models import Membership, Organization, User
from gateway.apikeys import display_prefix, hash_secret, validate_operator_secret
from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers import catalog
from providers.crypto import CryptoError
from providers.models import Provider

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+\Z")
USERNAME_RE = re.compile(r"^[\w.@+-]+\Z")
_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_COST = Decimal("1000000")
_CENT = Decimal("0.000001")  # the catalog stores costs with 6 decimals
KINDS = (
    "organizations",
    "users",
    "memberships",
    "providers",
    "models",
    "grants",
    "api_keys",
)


@dataclass(frozen=True, order=True)
class Problem:
    line: int  # 0: about the file as a whole
    path: str
    message: str


class BootstrapError(Exception):
    """The file cannot be applied; ``str()`` lists every problem, one a line."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = sorted(set(problems))
        super().__init__(source)

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"{self.source}: {count} problem{'s' * (count != 1)}; nothing changed"]
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line else self.source
            lines.append(
                f"{where}: {p.path}: {p.message}" if p.path else f"{where}: {p.message}"
            )
        return "\n".join(lines)


class Context:
    """The problems found so far."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, line: int, path: str, message: str) -> None:
        self.problems.append(Problem(line, path, message))

    def has_problem_under(self, prefixes: Iterable[str]) -> bool:
        prefixes = list(prefixes)
        return any(
            p.path == prefix or p.path.startswith((f"{prefix}.", f"{prefix}["))
            for p in self.problems
            for prefix in prefixes
        )


@dataclass
class Item:
    """A YAML value with its line: a scalar, ``dict[str, Item]`` or ``list[Item]``."""

    value: Any
    line: int
    text: str = ""  # a scalar as written (after interpolation)
    key_lines: dict[str, int] = field(default_factory=dict)
    broken: bool = False  # already reported (interpolation failed): stay quiet


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Composer:
    """YAML nodes to ``Item`` trees, interpolating environment variables.

    Interpolation runs on parsed scalars, not on the raw text: a variable's value
    cannot change the document's structure, and YAML syntax errors (which quote
    the source) never contain a secret.
    """

    def __init__(self, ctx: Context, environ: Mapping[str, str]) -> None:
        self.ctx = ctx
        self.environ = environ
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()

    def item(self, node: yaml.Node, path: str) -> Item:
        line = node.start_mark.line + 1
        if id(node) in self.active:
            self.ctx.error(line, path, "an alias refers to itself")
            return Item(None, line)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, line)
            if isinstance(node, yaml.SequenceNode):
                children = [
                    self.item(child, f"{path}[{i}]")
                    for i, child in enumerate(node.value)
                ]
                return Item(children, line)
            return self._scalar(node, path, line)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: str, line: int) -> Item:
        values: dict[str, Item] = {}
        key_lines: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.ctx.error(key_line, path, "keys must be plain strings")
                continue
            key = key_node.value
            if key in values:
                self.ctx.error(
                    key_line,
                    _join(path, key),
                    f"duplicate key (first at line {key_lines[key]})",
                )
                continue
            key_lines[key] = key_line
            values[key] = self.item(value_node, _join(path, key))
        for merge in merges:  # YAML merge keys (<<: *anchor); explicit keys win
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                merged = self.item(source, path)
                if not isinstance(merged.value, dict):
                    self.ctx.error(merged.line, path, "'<<' must merge a mapping")
                    continue
                for key, value in merged.value.items():
                    if key not in values:
                        values[key] = value
                        key_lines[key] = merged.key_lines[key]
        return Item(values, line, key_lines=key_lines)

    def _scalar(self, node: yaml.ScalarNode, path: str, line: int) -> Item:
        text, tag = node.value, node.tag
        if tag == _STR_TAG and "$" in text:
            before = len(self.ctx.problems)
            text = self._interpolate(text, path, line)
            if len(self.ctx.problems) > before:
                return Item(text, line, text=text, broken=True)
            if node.style is None:  # plain scalars get their type from the result
                tag = self.resolver.resolve(yaml.ScalarNode, text, (True, False))
        try:
            value = self.constructor.construct_object(
                yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, node.style)
            )
        except yaml.YAMLError:
            self.ctx.error(line, path, f"unsupported YAML tag {tag}")
            value = None
        return Item(value, line, text=text)

    def _interpolate(self, text: str, path: str, line: int) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            inner = match.group(1)
            var = _VAR_RE.match(inner) if inner is not None else None
            if var is None:
                self.ctx.error(
                    line, path, "bad ${...}: write ${NAME}, ${NAME:-default} or $${"
                )
                return ""
            name, default = var.group(1), var.group(2)
            value = self._lookup(name, path, line)
            if value:
                return value
            if default is not None:  # like the shell: unset or empty
                return default
            if value is None:
                self.ctx.error(line, path, f"environment variable {name} is not set")
                return ""
            return value

        return _TOKEN_RE.sub(replace, text)

    def _lookup(self, name: str, path: str, line: int) -> str | None:
        if name in self.environ:
            return self.environ[name]
        filename = self.environ.get(f"{name}_FILE")
        if not filename:
            return None
        try:
            return Path(filename).read_text(encoding="utf-8").removesuffix("\n")
        except (OSError, UnicodeDecodeError):
            self.ctx.error(line, path, f"cannot read the file named by {name}_FILE")
            return ""


def _unknown(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field; {hint}expected one of: {', '.join(allowed)}"


class Fields:
    """Typed reads of one mapping. Problems are recorded; a bad value reads as None.

    An absent key and an explicit null both mean "not given".
    """

    def __init__(
        self, ctx: Context, item: Item, path: str, allowed: Iterable[str]
    ) -> None:
        self.ctx, self.path, self.line = ctx, path, item.line
        self.values: dict[str, Item] = {}
        self.key_lines: dict[str, int] = {}
        if isinstance(item.value, dict):
            self.values, self.key_lines = item.value, item.key_lines
        else:
            ctx.error(item.line, path, f"must be a mapping, not {_kind(item.value)}")
        allowed = tuple(allowed)
        for key, line in self.key_lines.items():
            if key not in allowed:
                ctx.error(line, self.sub(key), _unknown(key, allowed))

    def sub(self, name: str) -> str:
        return _join(self.path, name)

    def line_of(self, name: str) -> int:
        return self.key_lines.get(name, self.line)

    def error(self, name: str, message: str) -> None:
        item = self.values.get(name)
        if item is None or not item.broken:
            self.ctx.error(self.line_of(name), self.sub(name), message)

    def get(self, name: str) -> Item | None:
        item = self.values.get(name)
        return item if item is not None and item.value is not None else None

    def _wrong(self, name: str, item: Item, expected: str) -> None:
        self.error(name, f"must be {expected}, not {_kind(item.value)}")

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        choices: Iterable[str] = (),
        slug: bool = False,
        max_length: int = 0,
    ) -> str | None:
        item = self.get(name)
        if item is None:
            if required:
                self.error(name, "is required")
            return None
        if isinstance(item.value, dict | list):
            self._wrong(name, item, "a string")
            return None
        # A plain scalar such as 1.10 or yes is taken as written.
        value = item.value if isinstance(item.value, str) else item.text
        choices = tuple(choices)
        if required and not value:
            self.error(name, "must not be empty")
        elif choices and value not in choices:
            self.error(name, f"must be one of: {', '.join(choices)}")
        else:
            # Kept even when bad (the error stops the apply) so references to
            # it resolve and do not add noise.
            if slug and not SLUG_RE.match(value):
                self.error(name, "may hold only letters, digits, '-' and '_'")
            elif max_length and len(value) > max_length:
                self.error(name, f"must be at most {max_length} characters")
            return value
        return None

    def flag(self, name: str) -> bool | None:
        item = self.get(name)
        if item is None:
            return None
        if isinstance(item.value, bool):
            return item.value
        if isinstance(item.value, str) and item.value.lower() in ("true", "false"):
            return item.value.lower() == "true"
        self._wrong(name, item, "true or false")
        return None

    def integer(self, name: str, *, minimum: int | None = None) -> int | None:
        item = self.get(name)
        if item is None:
            return None
        value = item.value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self._wrong(name, item, "a whole number")
            return None
        if minimum is not None and value < minimum:
            self.error(name, f"must be at least {minimum}")
            return None
        return value

    def number(self, name: str) -> Decimal | None:
        item = self.get(name)
        if item is None:
            return None
        try:
            if isinstance(item.value, bool | dict | list):
                raise InvalidOperation
            value = Decimal(str(item.value).strip())
        except InvalidOperation:
            self._wrong(name, item, "a number")
            return None
        if not value.is_finite() or value < 0:
            self.error(name, "must be a number, 0 or more")
            return None
        return value

    def mapping(self, name: str) -> Item | None:
        item = self.get(name)
        if item is not None and not isinstance(item.value, dict):
            self._wrong(name, item, "a mapping")
            return None
        return item

    def entries(self, name: str) -> list[Item]:
        item = self.get(name)
        if item is None:
            return []
        if not isinstance(item.value, list):
            self._wrong(name, item, "a list")
            return []
        return list(item.value)


def _plain(ctx: Context, item: Item, path: str) -> Any:
    """An ``Item`` tree as JSON-compatible Python (for encrypted config values)."""
    if isinstance(item.value, dict):
        return {k: _plain(ctx, v, _join(path, k)) for k, v in item.value.items()}
    if isinstance(item.value, list):
        return [_plain(ctx, v, f"{path}[{i}]") for i, v in enumerate(item.value)]
    if item.value is None or isinstance(item.value, str | int | float | bool):
        return item.value
    return item.text  # dates and the like, as written


# ---------------------------------------------------------------------------
# The plan: what the file asks for, validated.


@dataclass
class UserSpec:
    username: str
    line: int
    email: str | None = None
    password: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    staff: bool = False


@dataclass
class MemberSpec:
    organization: str
    username: str
    role: str


@dataclass
class ModelSpec:
    model_id: str
    values: dict[str, Any]
    config: dict[str, Any] | None  # None: keep what is stored


@dataclass
class ProviderSpec:
    organization: str
    name: str
    path: str
    line: int
    lines: dict[str, int]  # field path (relative) -> line
    values: dict[str, Any]
    auth: tuple[str, dict[str, Any], dict[str, Any]] | None  # method, creds, config
    config: dict[str, Any] | None
    models: dict[str, ModelSpec] = field(default_factory=dict)
    final_credentials: dict[str, Any] = field(default_factory=dict)
    final_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class GrantSpec:
    path: str
    lines: dict[str, int]
    target: tuple[str, str]  # ("model" | "provider", reference)
    grantee: tuple[str, str]  # ("user" | "organization", username or slug)
    resolved: tuple[str, ...] = ()  # (org, provider) or (org, provider, model_id)


@dataclass
class ApiKeySpec:
    path: str
    lines: dict[str, int]
    organization: str
    name: str
    secret: str
    user: str | None
    models: list[str] | None
    requests_per_minute: int | None


@dataclass
class Plan:
    source: str
    organizations: dict[str, str | None] = field(default_factory=dict)  # slug: name
    users: dict[str, UserSpec] = field(default_factory=dict)
    memberships: list[MemberSpec] = field(default_factory=list)
    providers: dict[tuple[str, str], ProviderSpec] = field(default_factory=dict)
    grants: list[GrantSpec] = field(default_factory=list)
    api_keys: list[ApiKeySpec] = field(default_factory=list)


@dataclass
class Report:
    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )

    def add(self, kind: str, outcome: str) -> None:
        self.counts[kind][outcome] += 1

    @property
    def changed(self) -> bool:
        return any(c["created"] or c["updated"] for c in self.counts.values())

    def lines(self) -> list[str]:
        return [
            f"{kind}: {c['created']} created, {c['updated']} updated, "
            f"{c['unchanged']} unchanged"
            for kind, c in self.counts.items()
        ]


# ---------------------------------------------------------------------------
# organizations: (with their members)

ORG_FIELDS = ("slug", "name", "members")
MEMBER_FIELDS = ("username", "email", "role", "password", "first_name", "last_name")


def _parse_organizations(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    lines: dict[str, int] = {}
    for i, entry in enumerate(_section_entries(ctx, item, path)):
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
    user.staff = user.staff or role == Membership.Role.ADMIN


def _resolve_organizations(ctx: Context, plan: Plan) -> None:
    """Members are defined in place: nothing to look up."""


def _apply_organizations(plan: Plan, report: Report) -> None:
    orgs: dict[str, Organization] = {}
    for slug, name in plan.organizations.items():
        org = Organization.objects.filter(slug=slug).first()
        created = org is None
        org = org or Organization(slug=slug, name=name or slug)
        _save(report, "organizations", org, created, _assign(org, {"name": name}))
        orgs[slug] = org
    users: dict[str, User] = {}
    for spec in plan.users.values():
        user = User.objects.filter(username=spec.username).first()
        created = user is None
        user = user or User(username=spec.username)
        values = {"email": spec.email, "first_name": spec.first_name}
        changed = _assign(user, {**values, "last_name": spec.last_name})
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
        _save(report, "users", user, created, changed)
        users[spec.username] = user
    for m in plan.memberships:
        org, user = orgs[m.organization], users[m.username]
        row = Membership.objects.filter(user=user, organization=org).first()
        created = row is None
        row = row or Membership(user=user, organization=org, role=m.role)
        _save(report, "memberships", row, created, _assign(row, {"role": m.role}))


# ---------------------------------------------------------------------------
# providers: (with their models)

PROVIDER_FIELDS = (
    "organization", "name", "type", "endpoint", "auth", "config", "instance_wide",
    "status", "priority", "requests_per_minute", "timeout_connect",
    "timeout_first_byte", "timeout_total", "models",
)  # fmt: skip
MODEL_FIELDS = (
    "model_id", "name", "alias", "type", "status", "instance_wide",
    "input_cost_per_million", "output_cost_per_million", "context_window",
    "requests_per_minute", "config",
)  # fmt: skip
AUTH_FIELDS: dict[str, tuple[str, ...]] = {
    catalog.AuthMethod.BEARER: ("api_key",),
    catalog.AuthMethod.X_API_KEY: ("api_key",),
    catalog.AuthMethod.API_KEY: ("api_key", "header", "prefix"),
    catalog.AuthMethod.CUSTOM_HEADERS: ("headers",),
    catalog.AuthMethod.AWS_SIGV4: (
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
    ),
    catalog.AuthMethod.OAUTH2: ("token_url", "client_id", "scope", "client_secret"),
    catalog.AuthMethod.NONE: (),
}
# Provider config keys that ``auth`` owns (written there, stored in the config).
AUTH_CONFIG_KEYS = {
    "auth_header": "header",
    "auth_prefix": "prefix",
    "token_url": "token_url",
    "client_id": "client_id",
    "scope": "scope",
}
SECRET_KEYS = {"api_key", "headers", "access_key_id", "secret_access_key",
               "session_token", "client_secret", "password"}  # fmt: skip
# Where catalog.validate's fields are written in the file, best first.
CATALOG_FIELDS: dict[str, tuple[str, ...]] = {
    "provider_type": ("type",),
    "auth_method": ("auth.method", "auth", "type"),
    "endpoint": ("endpoint", "config.base_url", "config"),
    "provider_config": ("config", "auth"),
    "credentials": ("auth",),
}


def _parse_providers(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(_section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", PROVIDER_FIELDS)
        org = f.text("organization", required=True)
        name = f.text("name", required=True, slug=True, max_length=100)
        ptype = f.text("type", required=True, choices=catalog.TYPES)
        endpoint = f.text("endpoint", max_length=500)
        if endpoint and not catalog.is_http_url(endpoint.strip()):
            f.error("endpoint", "must be an http:// or https:// URL with a host")
        values = {
            "provider_type": ptype,
            "endpoint": endpoint,
            "instance_wide": f.flag("instance_wide"),
            "status": f.text("status", choices=Provider.Status.values),
            "priority": f.integer("priority"),
            "requests_per_minute": f.integer("requests_per_minute", minimum=1),
        }
        for key in ("timeout_connect", "timeout_first_byte", "timeout_total"):
            seconds = f.number(key)
            if seconds == 0:
                f.error(key, "must be more than 0 seconds")
            values[key] = float(seconds) if seconds else None
        auth_item, config_item = f.mapping("auth"), f.mapping("config")
        default_method = catalog.default_auth_method(ptype) if ptype else None
        auth = (
            _parse_auth(ctx, auth_item, f.sub("auth"), default_method)
            if auth_item
            else None
        )
        config = (
            _parse_config(ctx, config_item, f.sub("config")) if config_item else None
        )
        if auth and config is not None:
            for key, value in auth[2].items():
                if key in config and config[key] != value:
                    f.error("config", f"{key} differs from the one under auth")
        lines = {k: f.line_of(k) for k in f.key_lines}
        if auth_item and isinstance(auth_item.value, dict):
            for key, line in auth_item.key_lines.items():
                lines[f"auth.{key}"] = line
        if config_item and "base_url" in config_item.key_lines:
            lines["config.base_url"] = config_item.key_lines["base_url"]
        if org is None or name is None:
            continue
        if (org, name) in plan.providers:
            first = plan.providers[(org, name)].line
            f.error("name", f"duplicate provider in {org} (first at line {first})")
            continue
        spec = ProviderSpec(org, name, f.path, entry.line, lines, values, auth, config)
        plan.providers[(org, name)] = spec
        for j, model in enumerate(f.entries("models")):
            _parse_model(ctx, model, f"{f.path}.models[{j}]", spec)


def _parse_auth(
    ctx: Context, item: Item, path: str, default_method: str | None
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    given = item.value.get("method")
    method = default_method if given is None else given.value
    if not isinstance(method, str):
        method = None
    if method not in AUTH_FIELDS:
        everything = {name for names in AUTH_FIELDS.values() for name in names}
        f = Fields(ctx, item, path, ("method", *sorted(everything)))
        f.text("method", required=True, choices=AUTH_FIELDS)
        return None
    f = Fields(ctx, item, path, ("method", *AUTH_FIELDS[method]))
    creds: dict[str, Any] = {}
    config: dict[str, Any] = {}
    needed = {"api_key", "access_key_id", "secret_access_key", "token_url", "client_id"}
    needed.add("client_secret")
    for key in AUTH_FIELDS[method]:
        if key == "headers":
            creds["headers"] = _parse_headers(f)
            continue
        value = f.text(key, required=key in needed)
        if value is None:
            continue
        if key == "region" and not catalog.AWS_REGION_RE.match(value):
            f.error(key, "is not an AWS region name (like us-east-1)")
        elif key == "token_url" and not catalog.is_http_url(value):
            f.error(key, "must be an http:// or https:// URL")
        elif key == "header" and (problem := catalog.header_name_problem(value)):
            f.error(key, problem)
        target = config if key in ("region", *AUTH_CONFIG_KEYS.values()) else creds
        target[_config_key(key)] = value
    return method, creds, config


def _config_key(auth_key: str) -> str:
    return {v: k for k, v in AUTH_CONFIG_KEYS.items()}.get(auth_key, auth_key)


def _parse_headers(f: Fields) -> dict[str, str]:
    item = f.mapping("headers")
    if item is None or not item.value:
        f.error("headers", "must name at least one header")
        return {}
    headers: dict[str, str] = {}
    for name, value in item.value.items():
        path, line = f"{f.sub('headers')}.{name}", item.key_lines[name]
        problem = catalog.header_name_problem(name)
        if problem:
            f.ctx.error(line, path, problem)
        elif isinstance(value.value, dict | list) or value.value is None:
            f.ctx.error(line, path, f"must be a string, not {_kind(value.value)}")
        else:
            headers[name] = value.value if isinstance(value.value, str) else value.text
    return headers


def _parse_config(ctx: Context, item: Item, path: str) -> dict[str, Any]:
    f = Fields(ctx, item, path, item.value)  # vendor settings: an open map
    config: dict[str, Any] = _plain(ctx, item, path)
    for key in config:
        if key in SECRET_KEYS:
            f.error(key, "credentials belong under auth")
        elif key in AUTH_CONFIG_KEYS:
            f.error(key, f"set it under auth (as {AUTH_CONFIG_KEYS[key]})")
    base_url = f.text("base_url")
    if base_url and not catalog.is_http_url(base_url.strip()):
        f.error("base_url", "must be an http:// or https:// URL with a host")
    region = f.text("region")
    if region and not catalog.AWS_REGION_RE.match(region):
        f.error("region", "is not an AWS region name (like us-east-1)")
    for key in ("deployments", "extra_headers"):
        mapping = f.mapping(key)
        for name, value in mapping.value.items() if mapping else ():
            line = mapping.key_lines[name] if mapping else 0
            problem = (
                catalog.header_name_problem(name) if key == "extra_headers" else ""
            )
            if problem:
                ctx.error(line, f"{path}.{key}.{name}", problem)
            elif not isinstance(value.value, str):
                ctx.error(line, f"{path}.{key}.{name}", "must be a string")
    return config


def _parse_model(ctx: Context, item: Item, path: str, provider: ProviderSpec) -> None:
    f = Fields(ctx, item, path, MODEL_FIELDS)
    model_id = f.text("model_id", required=True, max_length=255)
    values: dict[str, Any] = {
        "name": f.text("name", max_length=200),
        "alias": f.text("alias", max_length=255),
        "model_type": f.text("type", choices=AIModel.ModelType.values),
        "status": f.text("status", choices=AIModel.Status.values),
        "instance_wide": f.flag("instance_wide"),
        "context_window": f.integer("context_window", minimum=1),
        "requests_per_minute": f.integer("requests_per_minute", minimum=1),
    }
    for key in ("input_cost_per_million", "output_cost_per_million"):
        cost = f.number(key)
        if cost is not None and (cost >= _MAX_COST or cost != cost.quantize(_CENT)):
            f.error(key, "must be below 1000000 with at most 6 decimals")
            cost = None
        values[key] = cost
    config_item = f.mapping("config")
    config = _plain(ctx, config_item, f.sub("config")) if config_item else None
    if model_id is None:
        return
    if model_id in provider.models:
        f.error("model_id", f"is listed twice for provider {provider.name}")
        return
    provider.models[model_id] = ModelSpec(model_id, values, config)


def _resolve_providers(ctx: Context, plan: Plan) -> None:
    for spec in plan.providers.values():
        if not _org_exists(plan, spec.organization):
            ctx.error(
                spec.lines["organization"],
                f"{spec.path}.organization",
                f"unknown organization {spec.organization!r}",
            )
            continue
        stored = Provider.objects.filter(
            organization__slug=spec.organization, name=spec.name
        ).first()
        creds, creds_ok = _reveal(stored, "credentials")
        config, config_ok = _reveal(stored, "provider_config")
        if spec.auth is None and not (creds_ok and config_ok):
            ctx.error(
                spec.line,
                f"{spec.path}.auth",
                "the stored credentials do not decrypt with the configured keys; "
                "give auth in the file",
            )
        if spec.config is not None:
            general = dict(spec.config)
        else:
            general = {k: v for k, v in config.items() if k not in AUTH_CONFIG_KEYS}
        if spec.auth is not None:
            method, creds, auth_config = spec.auth
        else:
            method = stored.auth_method if stored else ""
            auth_config = {k: v for k, v in config.items() if k in AUTH_CONFIG_KEYS}
        spec.final_credentials, spec.final_config = creds, {**general, **auth_config}
        spec.values["auth_method"] = method
        if spec.values["provider_type"] is None:
            continue
        endpoint = spec.values["endpoint"]
        if endpoint is None:
            endpoint = stored.endpoint if stored else ""
        problems = catalog.validate(
            spec.values["provider_type"],
            method or catalog.default_auth_method(spec.values["provider_type"]),
            endpoint,
            spec.final_config,
            spec.final_credentials,
        )
        found: list[Problem] = []
        for catalog_field, messages in problems.items():
            where = CATALOG_FIELDS.get(catalog_field, ("type",))
            if ctx.has_problem_under(f"{spec.path}.{w}" for w in where):
                continue  # already reported, with a better line
            at = next((w for w in where if w in spec.lines), where[0])
            line = spec.lines.get(at, spec.line)
            found += [Problem(line, f"{spec.path}.{at}", m) for m in messages]
        ctx.problems += found
        _check_timeouts(ctx, spec, stored)


def _check_timeouts(ctx: Context, spec: ProviderSpec, stored: Provider | None) -> None:
    def final(name: str) -> float:
        given = spec.values[name]
        if given is not None:
            return float(given)
        default = Provider._meta.get_field(name).default
        return float(getattr(stored, name) if stored else default)

    if final("timeout_first_byte") > final("timeout_total"):
        line = spec.lines.get("timeout_first_byte", spec.line)
        ctx.error(
            line, f"{spec.path}.timeout_first_byte", "must not exceed timeout_total"
        )


def _reveal(obj: Provider | AIModel | None, name: str) -> tuple[dict[str, Any], bool]:
    """The decrypted value (``{}`` when unset) and whether it decrypted."""
    if obj is None:
        return {}, True
    try:
        value = obj.reveal(name, default={})
    except (CryptoError, ValueError):
        return {}, False
    return (value if isinstance(value, dict) else {}), True


def _apply_providers(plan: Plan, report: Report) -> None:
    for spec in plan.providers.values():
        org = Organization.objects.get(slug=spec.organization)
        provider = Provider.objects.filter(organization=org, name=spec.name).first()
        created = provider is None
        provider = provider or Provider(organization=org, name=spec.name)
        changed = _assign(provider, spec.values)
        changed += _seal(provider, "credentials", spec.final_credentials)
        changed += _seal(provider, "provider_config", spec.final_config)
        _save(report, "providers", provider, created, changed)
        for mspec in spec.models.values():
            row = AIModel.objects.filter(
                provider=provider, model_id=mspec.model_id
            ).first()
            created = row is None
            row = row or AIModel(
                provider=provider, organization=org, model_id=mspec.model_id
            )
            changed = _assign(row, mspec.values)
            if mspec.config is not None:
                changed += _seal(row, "model_config", mspec.config)
            _save(report, "models", row, created, changed)


# ---------------------------------------------------------------------------
# grants:

GRANT_FIELDS = ("model", "provider", "user", "organization")


def _parse_grants(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(_section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", GRANT_FIELDS)
        given = {key: f.text(key) for key in GRANT_FIELDS}
        targets = [(k, v) for k in ("model", "provider") if (v := given[k])]
        grantees = [(k, v) for k in ("user", "organization") if (v := given[k])]
        if len(targets) != 1:
            ctx.error(entry.line, f.path, "give exactly one of model, provider")
        if len(grantees) != 1:
            ctx.error(entry.line, f.path, "give exactly one of user, organization")
        if len(targets) == 1 and len(grantees) == 1:
            lines = {k: f.line_of(k) for k in GRANT_FIELDS}
            plan.grants.append(GrantSpec(f.path, lines, targets[0], grantees[0]))


def _resolve_grants(ctx: Context, plan: Plan) -> None:
    seen: dict[tuple[Any, ...], str] = {}
    for grant in plan.grants:
        kind, ref = grant.target
        found = _find_model(plan, ref) if kind == "model" else _find_provider(plan, ref)
        if not found:
            form = "provider-name/model-id" if kind == "model" else "provider-name"
            ctx.error(
                grant.lines[kind],
                f"{grant.path}.{kind}",
                f"unknown {kind} {ref!r} (write {form}, optionally after "
                "org-slug/, for one in this file or the database)",
            )
        elif len(found) > 1:
            names = ", ".join("/".join(f) for f in found)
            ctx.error(
                grant.lines[kind],
                f"{grant.path}.{kind}",
                f"{ref!r} is ambiguous ({names}); prefix the organization slug",
            )
        else:
            grant.resolved = found[0]
        who, name = grant.grantee
        exists = (
            _org_exists(plan, name)
            if who == "organization"
            else _user_exists(plan, name)
        )
        if not exists:
            ctx.error(
                grant.lines[who], f"{grant.path}.{who}", f"unknown {who} {name!r}"
            )
        key = (grant.resolved, grant.grantee)
        if grant.resolved and key in seen:
            ctx.error(grant.lines[kind], grant.path, f"same grant as {seen[key]}")
        seen.setdefault(key, grant.path)


def _find_provider(plan: Plan, ref: str) -> list[tuple[str, ...]]:
    org, _, name = ref.rpartition("/")
    if org:
        return [(org, name)] if _provider_exists(plan, org, name) else []
    from_db = Provider.objects.filter(name=name).values_list(
        "organization__slug", flat=True
    )
    orgs = {o for (o, n) in plan.providers if n == name} | set(from_db)
    return [(o, name) for o in sorted(orgs)]


def _find_model(plan: Plan, ref: str) -> list[tuple[str, ...]]:
    """``org/provider/model-id`` when that names a model, else ``provider/model-id``.

    Model ids may hold slashes themselves, so both readings are tried.
    """
    parts = ref.split("/")
    if len(parts) >= 3:
        org, provider, model_id = parts[0], parts[1], "/".join(parts[2:])
        if _model_exists(plan, org, provider, model_id):
            return [(org, provider, model_id)]
    if len(parts) < 2:
        return []
    provider, model_id = parts[0], "/".join(parts[1:])
    return [
        (org, provider, model_id)
        for (org, _name) in _find_provider(plan, provider)
        if _model_exists(plan, org, provider, model_id)
    ]


def _org_exists(plan: Plan, slug: str) -> bool:
    return slug in plan.organizations or Organization.objects.filter(slug=slug).exists()


def _user_exists(plan: Plan, username: str) -> bool:
    return username in plan.users or User.objects.filter(username=username).exists()


def _provider_exists(plan: Plan, org: str, name: str) -> bool:
    return (org, name) in plan.providers or Provider.objects.filter(
        organization__slug=org, name=name
    ).exists()


def _model_exists(plan: Plan, org: str, provider: str, model_id: str) -> bool:
    spec = plan.providers.get((org, provider))
    if spec is not None and model_id in spec.models:
        return True
    return AIModel.objects.filter(
        provider__organization__slug=org, provider__name=provider, model_id=model_id
    ).exists()


def _apply_grants(plan: Plan, report: Report) -> None:
    for grant in plan.grants:
        org, provider_name, *rest = grant.resolved
        provider = Provider.objects.get(organization__slug=org, name=provider_name)
        target: dict[str, Any] = (
            {"model": AIModel.objects.get(provider=provider, model_id=rest[0])}
            if rest
            else {"provider": provider}
        )
        who, name = grant.grantee
        if who == "user":
            target["user"] = User.objects.get(username=name)
        else:
            target["organization"] = Organization.objects.get(slug=name)
        _, created = Grant.objects.get_or_create(**target)
        report.add("grants", "created" if created else "unchanged")


# ---------------------------------------------------------------------------
# api_keys: gateway keys whose secret the operator provides (stored hashed)

API_KEY_FIELDS = (
    "organization",
    "user",
    "name",
    "secret",
    "models",
    "requests_per_minute",
)


def _parse_api_keys(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(_section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", API_KEY_FIELDS)
        org = f.text("organization", required=True)
        name = f.text("name", required=True, max_length=100)
        secret = f.text("secret", required=True)
        if secret:
            problem = validate_operator_secret(secret)
            if problem:
                f.error("secret", problem)  # the reason only, never the value
        models = None
        if f.get("models") is not None:
            models = []
            for j, model in enumerate(f.entries("models")):
                if isinstance(model.value, str) and model.value:
                    models.append(model.value)
                else:
                    ctx.error(model.line, f"{f.sub('models')}[{j}]", "must be a name")
        if org and name and secret:
            plan.api_keys.append(
                ApiKeySpec(
                    path=f.path,
                    lines={k: f.line_of(k) for k in API_KEY_FIELDS},
                    organization=org,
                    name=name,
                    secret=secret,
                    user=f.text("user"),
                    models=models,
                    requests_per_minute=f.integer("requests_per_minute", minimum=1),
                )
            )


def _resolve_api_keys(ctx: Context, plan: Plan) -> None:
    names: dict[tuple[str, str], str] = {}
    hashes: dict[str, str] = {}
    for spec in plan.api_keys:
        if not _org_exists(plan, spec.organization):
            ctx.error(
                spec.lines["organization"],
                f"{spec.path}.organization",
                f"unknown organization {spec.organization!r}",
            )
        if spec.user is not None and not _is_member(plan, spec.user, spec.organization):
            ctx.error(
                spec.lines["user"],
                f"{spec.path}.user",
                f"{spec.user!r} is not a member of {spec.organization!r}",
            )
        key = (spec.organization, spec.name)
        if key in names:
            ctx.error(spec.lines["name"], spec.path, f"same key as {names[key]}")
        names.setdefault(key, spec.path)
        digest = hash_secret(spec.secret)
        if digest in hashes:
            ctx.error(
                spec.lines["secret"], f"{spec.path}.secret", f"reuses {hashes[digest]}"
            )
        hashes.setdefault(digest, f"{spec.path}.secret")
        taken = (
            ApiKey.objects.filter(secret_hash=digest)
            .exclude(organization__slug=spec.organization, name=spec.name)
            .exists()
        )
        if taken:
            ctx.error(
                spec.lines["secret"],
                f"{spec.path}.secret",
                "this secret already belongs to another key",
            )


def _is_member(plan: Plan, username: str, org: str) -> bool:
    if any(m.username == username and m.organization == org for m in plan.memberships):
        return True
    return Membership.objects.filter(
        user__username=username, organization__slug=org
    ).exists()


def _apply_api_keys(plan: Plan, report: Report) -> None:
    for spec in plan.api_keys:
        org = Organization.objects.get(slug=spec.organization)
        key = ApiKey.objects.filter(organization=org, name=spec.name).first()
        created = key is None
        if key is None:
            key = ApiKey(organization=org, name=spec.name)
        user = User.objects.get(username=spec.user) if spec.user else None
        values: dict[str, Any] = {
            "secret_hash": hash_secret(spec.secret),
            "prefix": display_prefix(spec.secret),
            "requests_per_minute": spec.requests_per_minute,
            "allowed_models": spec.models,
        }
        changed = _assign(key, values)
        if key.user_id != (user.pk if user else None):
            key.user = user
            changed.append("user")
        _save(report, "api_keys", key, created, changed)


# ---------------------------------------------------------------------------
# The table of sections, and the entry points.


@dataclass(frozen=True)
class Section:
    parse: Callable[[Context, Item, str, Plan], None]
    resolve: Callable[[Context, Plan], None]
    apply: Callable[[Plan, Report], None]


# Resolved and applied in this order: later sections refer to earlier ones.
SECTIONS: dict[str, Section] = {
    "organizations": Section(
        _parse_organizations, _resolve_organizations, _apply_organizations
    ),
    "providers": Section(_parse_providers, _resolve_providers, _apply_providers),
    "grants": Section(_parse_grants, _resolve_grants, _apply_grants),
    "api_keys": Section(_parse_api_keys, _resolve_api_keys, _apply_api_keys),
}


def _section_entries(ctx: Context, item: Item, path: str) -> list[Item]:
    if not isinstance(item.value, list):
        ctx.error(item.line, path, f"must be a list, not {_kind(item.value)}")
        return []
    return list(item.value)


def load(path: str | Path, environ: Mapping[str, str]) -> Plan:
    """Read and validate the whole file; raise ``BootstrapError`` on any problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise BootstrapError(
            source, [Problem(0, "", f"cannot read: {reason}")]
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: the snippet would quote the file.
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        reason = ": ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise BootstrapError(
            source, [Problem(line, "", f"invalid YAML: {reason}")]
        ) from None
    except yaml.YAMLError:
        raise BootstrapError(source, [Problem(0, "", "invalid YAML")]) from None
    ctx = Context()
    plan = Plan(source)
    if root is not None:
        document = _Composer(ctx, environ).item(root, "")
        top = Fields(ctx, document, "", SECTIONS)
        for name, section in SECTIONS.items():
            item = top.get(name)
            if item is not None:
                section.parse(ctx, item, name, plan)
        for section in SECTIONS.values():
            section.resolve(ctx, plan)
    if ctx.problems:
        raise BootstrapError(source, ctx.problems)
    return plan


def apply(plan: Plan, *, dry_run: bool = False) -> Report:
    """Write the plan in one transaction (rolled back when ``dry_run``)."""
    for attempt in range(3):
        report = Report()
        try:
            with transaction.atomic():
                for section in SECTIONS.values():
                    section.apply(plan, report)
                if dry_run:
                    transaction.set_rollback(True)
        except IntegrityError:
            # Another replica starting at the same time created the same rows
            # first; the next attempt finds them.
            if attempt == 2:
                raise
        else:
            return report
    raise AssertionError("unreachable")


def _assign(obj: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set the given (non-None) values; return the names of fields that changed."""
    changed: list[str] = []
    for name, value in values.items():
        if value is not None and getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def _seal(obj: Provider | AIModel, name: str, value: dict[str, Any]) -> list[str]:
    """Encrypt ``value`` unless it is what is stored (each seal is a new ciphertext)."""
    stored, ok = _reveal(obj, name)
    if ok and stored == value:
        return []
    obj.seal(name, value or None)
    return [name]


def _save(
    report: Report, kind: str, obj: models.Model, created: bool, changed: list[str]
) -> None:
    if created:
        obj.save()
        report.add(kind, "created")
    elif changed:
        auto = [
            f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)
        ]
        obj.save(update_fields=[*changed, *auto])
        report.add(kind, "updated")
    else:
        report.add(kind, "unchanged")
