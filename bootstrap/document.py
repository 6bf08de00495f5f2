"""The bootstrap file as read: YAML nodes to ``Item`` trees, and typed reads.

``Composer`` turns YAML nodes into ``Item`` trees (interpolating ``${VAR}``);
``Fields`` reads one mapping with types and records every ``Problem`` in a
``Context``; ``BootstrapError`` reports them all. Nothing here knows the sections.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import yaml

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+\Z")
USERNAME_RE = re.compile(r"^[\w.@+-]+\Z")
_TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z", re.DOTALL)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


def kind_of(value: Any) -> str:
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


class Composer:
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
            # The composer builds only mapping, sequence and scalar nodes.
            return self._scalar(cast(yaml.ScalarNode, node), path, line)
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
                tag = self.resolver.resolve(  # type: ignore[no-untyped-call]  # types-PyYAML leaves it unannotated
                    yaml.ScalarNode, text, (True, False)
                )
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
            ctx.error(item.line, path, f"must be a mapping, not {kind_of(item.value)}")
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
        self.error(name, f"must be {expected}, not {kind_of(item.value)}")

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


def plain(ctx: Context, item: Item, path: str) -> Any:
    """An ``Item`` tree as JSON-compatible Python (for encrypted config values)."""
    if isinstance(item.value, dict):
        return {k: plain(ctx, v, _join(path, k)) for k, v in item.value.items()}
    if isinstance(item.value, list):
        return [plain(ctx, v, f"{path}[{i}]") for i, v in enumerate(item.value)]
    if item.value is None or isinstance(item.value, str | int | float | bool):
        return item.value
    return item.text  # dates and the like, as written
