"""Latency histograms: fixed log-scale buckets and percentiles read from them.

A latency of ``ms`` milliseconds falls in bucket ``bucket_of(ms)``: 0 for
0 ms, else ``1 + floor(ln(ms) / ln(1.1))``, so bucket ``b`` holds the whole
milliseconds in ``[1.1**(b-1), 1.1**b)``: each bucket is 10 % wider than the
one before (1 ms ... 10 min is buckets 1 to 140; the largest latency a record
can hold, 2**31 ms, is bucket 226). Below 10 ms most buckets hold one whole
millisecond or none.

``percentile`` follows PostgreSQL's ``percentile_cont`` (linear interpolation
between the two nearest ranks) with each rank's value estimated inside its
bucket: the ``k``-th of ``n`` values in a bucket is placed at
``low + (high - low) * (k + 0.5) / n`` over the bucket's whole milliseconds.
Estimate and true value share a bucket, so the error is less than the bucket's
width: under 10 % of the exact percentile (about half that on average), and
exact where the bucket holds one whole millisecond. Buckets are computed in
Python from ``latency_ms`` counts, the same way for rolled-up and raw rows,
so no database needs a logarithm function.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cache

GROWTH = 1.1
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(ms: int) -> int:
    """The bucket of a latency in whole milliseconds."""
    if ms <= 0:
        return 0
    return 1 + int(math.log(ms) / _LOG_GROWTH)


@cache
def _first_ms(bucket: int) -> int:
    """The smallest whole millisecond in ``bucket`` or any later one."""
    if bucket <= 0:
        return 0
    ms = max(1, math.ceil(GROWTH ** (bucket - 1)))
    # Float rounding can put the edge one millisecond either side: settle it
    # with bucket_of itself, so the bounds always agree with the bucketing.
    while ms > 1 and bucket_of(ms - 1) >= bucket:
        ms -= 1
    while bucket_of(ms) < bucket:
        ms += 1
    return ms


def bounds(bucket: int) -> tuple[int, int]:
    """The smallest and largest whole millisecond of a (non-empty) bucket."""
    return _first_ms(bucket), _first_ms(bucket + 1) - 1


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """The sum of several ``{bucket: count}`` histograms."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            total[bucket] = total.get(bucket, 0) + count
    return total


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The ``fraction`` percentile of ``{bucket: count}`` (None when empty)."""
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    items = sorted((b, n) for b, n in histogram.items() if n > 0)
    count = sum(n for _, n in items)
    if not count:
        return None
    position = fraction * (count - 1)
    low_rank = math.floor(position)
    low = _value_at(items, low_rank)
    if position == low_rank:
        return low
    high = _value_at(items, low_rank + 1)
    return low + (high - low) * (position - low_rank)


def _value_at(items: list[tuple[int, int]], rank: int) -> float:
    """The estimated value of the ``rank``-th smallest (0-based) latency."""
    before = 0
    for bucket, n in items:
        if rank < before + n:
            low, high = bounds(bucket)
            return low + (high - low) * (rank - before + 0.5) / n
        before += n
    raise IndexError(rank)
