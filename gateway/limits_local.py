"""Admission's bookkeeping in this process: the Lua scripts' twin, without Redis.

The embedded platform (no ``REDIS_URL``) runs one web process, so its limits
and budgets hold here, by the monotonic clock. ``admit`` answers exactly what
``gateway.limits_lua.ADMIT`` answers (the same list), so one decoder reads
both; counters of budgets are seeded from the usage records when first used
(``seed``) and live as long as the process.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime
from typing import Any

from gateway.budgets.applicable import BudgetRef


class LocalLedger:
    def __init__(self) -> None:
        self.requests: dict[str, deque[float]] = {}
        # Per token bucket: call id -> [time, tokens], in admission order.
        self.tokens: dict[str, dict[str, list[float]]] = {}
        self.spent: dict[str, int] = {}
        # Per budget: call id -> (expires at, nanos reserved).
        self.reserved: dict[int, dict[str, tuple[float, int]]] = {}

    def clear(self) -> None:
        self.requests.clear()
        self.tokens.clear()
        self.spent.clear()
        self.reserved.clear()

    def seed(self, counter: str, total: int) -> None:
        self.spent.setdefault(counter, total)

    def _token_log(
        self, label: str, window: float, now: float
    ) -> dict[str, list[float]]:
        log = self.tokens.setdefault(label, {})
        for call in [c for c, (at, _) in log.items() if at <= now - window]:
            del log[call]
        return log

    def _reservations(self, pk: int, now: float) -> dict[str, tuple[float, int]]:
        held = self.reserved.setdefault(pk, {})
        for call in [c for c, (until, _) in held.items() if until <= now]:
            del held[call]
        return held

    def admit(
        self,
        requests: list[tuple[str, int]],
        tokens: list[tuple[str, int]],
        budgets: list[BudgetRef],
        counters: list[str],
        weight: int,
        call_id: str,
        *,
        window: float,
        tokens_estimate: int,
        nanos_estimate: int,
        ttl: float,
    ) -> list[Any]:
        us = 1_000_000
        now = time.monotonic()
        rq: list[float] = [-1, -1, 0]
        tk: list[float] = [-1, -1, 0]
        for index, (key, cap) in enumerate(requests, 1):
            log = self.requests.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            excess = len(log) + weight - cap
            if excess > 0:
                wait = window if weight > cap else log[excess - 1] + window - now
                return [
                    *(1, index, wait * us, cap, max(cap - len(log), 0), wait * us),
                    *(-1, -1, 0, 0, 0),
                ]
            left = cap - len(log) - weight
            if rq[0] < 0 or left < rq[1]:
                rq = [cap, left, window * us]
        estimate = int(tokens_estimate)
        for index, (label, cap) in enumerate(tokens, 1):
            entries = self._token_log(label, window, now)
            used = sum(int(n) for _, n in entries.values())
            if used + estimate > cap:
                wait = window
                if estimate <= cap:
                    freed = 0
                    for at, n in entries.values():
                        freed += int(n)
                        if used - freed + estimate <= cap:
                            wait = at + window - now
                            break
                return [
                    2,
                    index,
                    wait * us,
                    *rq,
                    cap,
                    max(cap - used, 0),
                    wait * us,
                    0,
                    0,
                ]
            left = cap - used - estimate
            if tk[0] < 0 or left < tk[1]:
                tk = [cap, left, window * us]
        for index, (budget, counter) in enumerate(
            zip(budgets, counters, strict=True), 1
        ):
            spent = self.spent.get(counter)
            if spent is None:
                return [4, index, 0, *rq, *tk, 0, 0]
            reserved = sum(n for _, n in self._reservations(budget.pk, now).values())
            if spent + reserved + int(nanos_estimate) > budget.amount_nanos:
                return [3, index, 0, *rq, *tk, spent, reserved]
        for key, _ in requests:
            self.requests[key].extend([now] * weight)
        for label, _ in tokens:
            self.tokens[label][call_id] = [now, estimate]
        for budget in budgets:
            self.reserved[budget.pk][call_id] = (now + ttl, int(nanos_estimate))
        return [0, 0, 0, *rq, *tk, 0, 0]

    def settle(
        self,
        call_id: str,
        token_labels: list[str],
        budgets: list[BudgetRef],
        tokens: int,
        nanos: int,
        at: datetime,
    ) -> None:
        now = time.monotonic()
        for label in token_labels:
            entries = self.tokens.setdefault(label, {})
            if call_id in entries:
                entries[call_id][1] = max(0, tokens)
            elif tokens > 0:
                entries[call_id] = [now, tokens]
        for budget in budgets:
            self.reserved.get(budget.pk, {}).pop(call_id, None)
            counter = budget.counter_key(budget.bounds(at)[0])
            if counter in self.spent:
                self.spent[counter] += max(0, nanos)
