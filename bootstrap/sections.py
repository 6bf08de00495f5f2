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

Layout: ``document`` reads the YAML (``Item``, ``Fields``, ``BootstrapError``);
``plan`` holds the validated ``Plan``, the ``Report`` and shared lookup and write
helpers; ``organizations``, ``providers``, ``grants`` and ``api_keys`` each own
one section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import IntegrityError, transaction

from bootstrap.api_keys import apply_api_keys, parse_api_keys, resolve_api_keys
from bootstrap.document import (
    BootstrapError,
    Composer,
    Context,
    Fields,
    Item,
    Problem,
)
from bootstrap.grants import apply_grants, parse_grants, resolve_grants
from bootstrap.organizations import (
    apply_organizations,
    parse_organizations,
    resolve_organizations,
)
from bootstrap.plan import KINDS, Plan, Report
from bootstrap.providers import (
    apply_providers,
    parse_providers,
    resolve_providers,
)

__all__ = [
    "KINDS",
    "SECTIONS",
    "BootstrapError",
    "Plan",
    "Problem",
    "Report",
    "Section",
    "apply",
    "load",
]


@dataclass(frozen=True)
class Section:
    parse: Callable[[Context, Item, str, Plan], None]
    resolve: Callable[[Context, Plan], None]
    apply: Callable[[Plan, Report], None]


# Resolved and applied in this order: later sections refer to earlier ones.
SECTIONS: dict[str, Section] = {
    "organizations": Section(
        parse_organizations, resolve_organizations, apply_organizations
    ),
    "providers": Section(parse_providers, resolve_providers, apply_providers),
    "grants": Section(parse_grants, resolve_grants, apply_grants),
    "api_keys": Section(parse_api_keys, resolve_api_keys, apply_api_keys),
}


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
        document = Composer(ctx, environ).item(root, "")
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
