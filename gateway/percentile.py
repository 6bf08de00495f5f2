"""``Percentile``: the continuous percentile of a column, as one SQL aggregate.

PostgreSQL has it built in (``percentile_cont(f) WITHIN GROUP (ORDER BY x)``),
an ordered-set aggregate Django has no class for. SQLite (the embedded default)
has none, so ``register_sqlite_percentile`` adds one to every new SQLite
connection (``connection_created``): ``mg_percentile_cont(x, f)``, computed in
Python with PostgreSQL's definition (linear interpolation between the two
nearest ranks, NULLs ignored). Both stay one aggregate inside one query, usable
in ``aggregate()`` and in grouped ``annotate()`` alike, so a report's query
count does not depend on the backend.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Aggregate, FloatField, Value
from django.db.models.expressions import Combinable
from django.db.models.sql.compiler import SQLCompiler

SQLITE_FUNCTION = "mg_percentile_cont"


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont`` over ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    weight = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * weight


class Percentile(Aggregate):
    """``Percentile("latency_ms", 0.95)``: the interpolated 95th percentile."""

    name = "Percentile"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression: str | Combinable, fraction: float, **extra: Any):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        self.fraction = fraction
        super().__init__(expression, **extra)

    def as_sql(  # type: ignore[override]  # Aggregate.as_sql's keyword-only extras are not used
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        raise NotImplementedError(
            f"Percentile supports PostgreSQL and SQLite, not {connection.vendor}"
        )

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return self._render(
            compiler,
            connection,
            "percentile_cont(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)",
        )

    def as_sqlite(  # type: ignore[override]  # SQLiteNumericMixin's tuple params; Django accepts a list
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return self._render(
            compiler, connection, f"{SQLITE_FUNCTION}(%(expressions)s, %(fraction)s)"
        )

    def _render(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, template: str
    ) -> tuple[str, list[Any]]:
        expression_sql, params = compiler.compile(self.get_source_expressions()[0])
        fraction_sql, fraction_params = compiler.compile(Value(self.fraction))
        where = ""
        filter_params: list[Any] = []
        if self.filter is not None:
            # Both backends take FILTER (WHERE ...) on aggregates (SQLite >= 3.30).
            filter_sql, found = compiler.compile(self.filter)
            where, filter_params = f" FILTER (WHERE {filter_sql})", list(found)
        sql = template % {"expressions": expression_sql, "fraction": fraction_sql}
        if template.startswith("percentile_cont"):
            return sql + where, [*fraction_params, *params, *filter_params]
        return sql + where, [*params, *fraction_params, *filter_params]


class _SQLitePercentile:
    """The SQLite aggregate behind ``mg_percentile_cont(value, fraction)``."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return percentile_cont(self.values, self.fraction)


def register_sqlite_percentile(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    """``connection_created`` receiver: add the aggregate to a SQLite connection."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_FUNCTION, 2, _SQLitePercentile)
