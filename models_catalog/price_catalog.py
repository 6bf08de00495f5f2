"""The bundled price and context-window catalog of well-known models.

``models_catalog/data/model_catalog.json`` lists, per provider type, the list
prices (USD per million tokens) and context windows of well-known models, with
the date of the figures and the vendors' price pages they come from. An entry
may also price prompt-cache reads and writes (``cache_read``, ``cache_write``);
without them cached tokens bill at the input price. A rerank model's entry may
price its searches (``per_thousand_searches``, USD per 1,000 search units).
A newer file is loaded with ``manage.py refresh_model_catalog --file PATH``,
which stores it in the database (``CatalogRelease``) so every process and
replica uses it; the newest of the bundled file and the stored releases wins.

``load(raw)`` validates a catalog (``CatalogError`` names what is wrong);
``current()`` is the catalog in force; ``Catalog.lookup(provider_type,
model_id)`` finds an entry, tolerating the usual spellings of one model:
``-latest`` and ``:latest`` tags, Gemini's
``models/`` prefix, Bedrock's cross-region prefixes (``us.``, ``eu.``, ...)
and OpenRouter's ``vendor/model`` ids. The exact id is always tried first; a
date-stamped snapshot (``-20250929``, ``-2024-08-06``) is looked up without its
date only for a vendor marked ``snapshots_priced_alike`` (Anthropic prices every
snapshot of a model alike; OpenAI does not, e.g. ``gpt-4o-2024-05-13`` is $5/$15
where ``gpt-4o`` is $2.50/$10, so its snapshots are listed one by one and an
unlisted one is not guessed). ``apply_prices(model, provider_type)`` fills a
model's unset prices (cache prices included) and context window from it;
``refresh(...)`` puts a catalog in force and re-prices every model that is not
priced by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import transaction

from models_catalog.models import AIModel, CatalogRelease

BUNDLED = Path(__file__).parent / "data" / "model_catalog.json"
SCHEMA = 1
MAX_PRICE = Decimal("1000000")  # the model's DecimalField holds 12 digits, 6 after
# A snapshot's date at the end of an id: -20250929, -2024-08-06.
DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


class CatalogError(ValueError):
    """The catalog file is not usable; the message says where and why."""


@dataclass(frozen=True)
class Entry:
    input_cost: Decimal
    output_cost: Decimal
    context_window: int | None
    # None: the vendor publishes no cache price (or none is listed), so cached
    # prompt tokens bill at the input price.
    cache_read_cost: Decimal | None = None
    cache_write_cost: Decimal | None = None
    # Rerank models: USD per 1,000 search units (None: searches not priced).
    search_cost: Decimal | None = None


@dataclass
class Vendor:
    models: dict[str, Entry] = field(default_factory=dict)
    default: Entry | None = None
    same_as: str = ""
    snapshots_priced_alike: bool = False
    strip_prefixes: tuple[str, ...] = ()
    route_by_prefix: dict[str, str] = field(default_factory=dict)


@dataclass
class Catalog:
    as_of: dt.date
    vendors: dict[str, Vendor]
    sources: dict[str, str]

    def lookup(
        self, provider_type: str, model_id: str, _depth: int = 0
    ) -> Entry | None:
        """The entry for a provider type's model id, or None when not catalogued."""
        vendor = self.vendors.get(provider_type)
        if vendor is None or _depth > 2:
            return None
        if vendor.same_as:
            return self.lookup(vendor.same_as, model_id, _depth + 1)
        spellings = _spellings(
            model_id, vendor.strip_prefixes, vendor.snapshots_priced_alike
        )
        for name in spellings:
            if name in vendor.models:
                return vendor.models[name]
        for prefix, other in vendor.route_by_prefix.items():
            if model_id.startswith(prefix):
                found = self.lookup(other, model_id[len(prefix) :], _depth + 1)
                if found is not None:
                    return found
        return vendor.default

    def model_count(self) -> int:
        return sum(len(v.models) for v in self.vendors.values())


def _spellings(
    model_id: str, strip_prefixes: tuple[str, ...], drop_dates: bool
) -> list[str]:
    """The ways one model's id is written, most specific first.

    ``drop_dates`` also tries a snapshot's id without its date: only for a
    vendor that prices every snapshot of a model alike.
    """
    names = [model_id]
    base = model_id.removeprefix("models/")
    for prefix in strip_prefixes:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    for name in (base, base.lower()):
        names.append(name)
        for tag in (":latest", "-latest"):
            if name.endswith(tag):
                names.append(name.removesuffix(tag))
        undated = DATE_SUFFIX.sub("", name) if drop_dates else name
        names.append(undated)
        # OpenRouter writes Anthropic's versions with dots: claude-sonnet-4.5.
        names.append(undated.replace(".", "-"))
    return list(dict.fromkeys(names))


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CatalogError(f"{where}: a price must be a number, not {value!r}.")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where}: {value!r} is not a number.") from None
    if not price.is_finite() or price < 0 or price >= MAX_PRICE:
        raise CatalogError(f"{where}: {value!r} is not a price between 0 and 999999.")
    if price != price.quantize(Decimal("0.000001")):
        raise CatalogError(f"{where}: {value!r} has more than 6 decimal places.")
    return price


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected an object with input and output.")
    known = {
        "input",
        "output",
        "cache_read",
        "cache_write",
        "per_thousand_searches",
        "context_window",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown field {unknown[0]!r}.")
    for name in ("input", "output"):
        if name not in raw:
            raise CatalogError(f"{where}: the {name} price is missing.")
    window = raw.get("context_window")
    if window is not None and (
        isinstance(window, bool)
        or not isinstance(window, int)
        or not 0 < window < 2**31
    ):
        raise CatalogError(f"{where}: context_window must be a positive integer.")
    cache = {
        name: _price(raw[name], f"{where}.{name}") if name in raw else None
        for name in ("cache_read", "cache_write", "per_thousand_searches")
    }  # optional: an unpriced cache bills as input, unpriced searches as 0
    return Entry(
        _price(raw["input"], f"{where}.input"),
        _price(raw["output"], f"{where}.output"),
        window,
        cache_read_cost=cache["cache_read"],
        cache_write_cost=cache["cache_write"],
        search_cost=cache["per_thousand_searches"],
    )


def _vendor(raw: Any, where: str) -> Vendor:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected an object.")
    unknown = sorted(
        set(raw)
        - {
            "models",
            "default",
            "same_as",
            "snapshots_priced_alike",
            "strip_prefixes",
            "route_by_prefix",
        }
    )
    if unknown:
        raise CatalogError(f"{where}: unknown field {unknown[0]!r}.")
    models = raw.get("models", {})
    if not isinstance(models, dict):
        raise CatalogError(f"{where}.models: expected an object of model ids.")
    prefixes = raw.get("strip_prefixes", [])
    routes = raw.get("route_by_prefix", {})
    if not (isinstance(prefixes, list) and all(isinstance(p, str) for p in prefixes)):
        raise CatalogError(f"{where}.strip_prefixes: expected a list of strings.")
    if not (
        isinstance(routes, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in routes.items())
    ):
        raise CatalogError(f"{where}.route_by_prefix: expected prefix → provider type.")
    same_as = raw.get("same_as", "")
    if not isinstance(same_as, str):
        raise CatalogError(f"{where}.same_as: expected a provider type.")
    alike = raw.get("snapshots_priced_alike", False)
    if not isinstance(alike, bool):
        raise CatalogError(f"{where}.snapshots_priced_alike: expected true or false.")
    return Vendor(
        models={
            str(mid): _entry(entry, f"{where}.models[{mid!r}]")
            for mid, entry in models.items()
        },
        default=_entry(raw["default"], f"{where}.default")
        if "default" in raw
        else None,
        same_as=same_as,
        snapshots_priced_alike=alike,
        strip_prefixes=tuple(prefixes),
        route_by_prefix=routes,
    )


def load(raw: str | bytes) -> Catalog:
    """Parse and validate a catalog file's text; raises ``CatalogError``."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogError(f"The file is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise CatalogError("The file must hold a JSON object.")
    if data.get("schema") != SCHEMA:
        raise CatalogError(
            f"Unsupported schema {data.get('schema')!r}; expected {SCHEMA}."
        )
    if data.get("currency") != "USD":
        raise CatalogError('currency must be "USD" (prices are stored in USD).')
    try:
        as_of = dt.date.fromisoformat(str(data.get("as_of")))
    except ValueError:
        raise CatalogError("as_of must be the figures' date, YYYY-MM-DD.") from None
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise CatalogError("sources must name the price pages the figures come from.")
    vendors_raw = data.get("vendors")
    if not isinstance(vendors_raw, dict) or not vendors_raw:
        raise CatalogError("vendors must be an object keyed by provider type.")
    vendors = {str(k): _vendor(v, f"vendors[{k!r}]") for k, v in vendors_raw.items()}
    for name, vendor in vendors.items():
        targets = [vendor.same_as] if vendor.same_as else []
        for target in [*targets, *vendor.route_by_prefix.values()]:
            if target not in vendors:
                raise CatalogError(
                    f"vendors[{name!r}] refers to {target!r}, which is not in the file."
                )
    return Catalog(as_of, vendors, {str(k): str(v) for k, v in sources.items()})


@lru_cache(maxsize=1)
def bundled() -> Catalog:
    return load(BUNDLED.read_bytes())


def current() -> Catalog:
    """The catalog in force: the newest of the bundled file and stored releases."""
    catalog = bundled()
    release = CatalogRelease.objects.order_by("-as_of", "-loaded_at").first()
    if release is not None and release.as_of >= catalog.as_of:
        return _parsed_release(release.pk, release.content)
    return catalog


@lru_cache(maxsize=4)
def _parsed_release(pk: int, content: str) -> Catalog:
    return load(content)


def follows_catalog(model: AIModel) -> bool:
    """Whether the catalog may set the model's prices (see ``apply_prices``)."""
    if model.price_source == AIModel.PriceSource.CATALOG:
        return True
    return (
        model.price_source == AIModel.PriceSource.UNSET
        and not model.input_cost_per_million
        and not model.output_cost_per_million
        and model.cache_read_cost_per_million is None
        and model.cache_write_cost_per_million is None
        and model.cost_per_thousand_searches is None
    )


def apply_prices(
    model: AIModel, provider_type: str, catalog: Catalog | None = None
) -> list[str]:
    """Fill the model's unset prices and context window from the catalog.

    A model priced from the catalog follows the catalog; one never priced
    (``unset`` and both prices 0) is priced from it. Prices an admin entered
    (``manual``, as are the bootstrap file's), or that other code wrote without
    saying where they came from (``unset`` but not 0), are kept.
    Returns the changed field names (unsaved).
    """
    entry = (catalog or current()).lookup(provider_type, model.model_id)
    if entry is None:
        return []
    changed: list[str] = []
    if follows_catalog(model):
        new = {
            "input_cost_per_million": entry.input_cost,
            "output_cost_per_million": entry.output_cost,
            "cache_read_cost_per_million": entry.cache_read_cost,
            "cache_write_cost_per_million": entry.cache_write_cost,
            "cost_per_thousand_searches": entry.search_cost,
            "price_source": AIModel.PriceSource.CATALOG,
        }
        if any(getattr(model, name) != value for name, value in new.items()):
            for name, value in new.items():
                setattr(model, name, value)
            changed += new
    if model.context_window is None and entry.context_window:
        model.context_window = entry.context_window
        changed.append("context_window")
    return changed


@dataclass
class RefreshResult:
    catalog: Catalog
    priced: list[str] = field(default_factory=list)  # unset before
    repriced: list[str] = field(default_factory=list)  # catalog prices changed
    windows: int = 0  # context windows filled in


def refresh(content: str | None = None) -> RefreshResult:
    """Put a catalog in force and apply it, all or nothing.

    ``content`` is a new catalog file's text (validated first: ``CatalogError``
    changes nothing); it must not be older than the catalog in force. Without
    it, the catalog in force is applied again (after an upgrade brought a newer
    bundled file, say). Models priced by an admin keep their prices.
    """
    in_force = current()
    catalog = in_force
    if content is not None:
        catalog = load(content)
        if catalog.as_of < in_force.as_of:
            raise CatalogError(
                f"The file's figures are of {catalog.as_of}, older than the "
                f"catalog in force ({in_force.as_of}); nothing was changed."
            )
    result = RefreshResult(catalog)
    with transaction.atomic():
        if content is not None:
            CatalogRelease.objects.create(as_of=catalog.as_of, content=content)
        models = (
            AIModel.objects.select_for_update(of=("self",))
            .select_related("provider")
            .order_by("pk")
        )
        for model in models:
            was_unset = model.price_source == AIModel.PriceSource.UNSET
            changed = apply_prices(model, model.provider.provider_type, catalog)
            if not changed:
                continue
            model.save(update_fields=[*changed, "updated_at"])
            label = f"{model.provider.name}/{model.model_id}"
            if "price_source" in changed or "input_cost_per_million" in changed:
                (result.priced if was_unset else result.repriced).append(label)
            if "context_window" in changed:
                result.windows += 1
    return result
