"""Closed-loop HTTP load generator (asyncio + aiohttp).

``concurrency`` workers each send a request, read the whole answer, and send the
next, for ``duration`` seconds (or until ``total`` requests were sent). Records
per-request latency and, for streams, time to first body byte. An answer counts
as an error when its status is not 200 or a stream ends without its completion
marker (``[DONE]`` / ``message_stop``) or carries an error event.

Standalone: ``python -m bench.loadgen --base http://127.0.0.1:8000 --scenario chat
-c 16 -d 5 [--key KEY]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# The seed's model on an OpenAI provider whose wire API is Responses
# (``bench/seed.py``): /v1/responses passes through, as Portkey's and LiteLLM's do.
RESPONSES_MODEL = "gpt-4.1-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
PROMPT = [{"role": "user", "content": "Say hello in twenty tokens, please."}]


# An error event in a stream: an error object (OpenAI's chat, Modelgate's,
# LiteLLM's), Anthropic's and Responses' error events. Not the bare key: a
# Responses event carries ``"error":null``.
ERROR_MARKS = (b'"error":{', b'"error": {', b'"type":"error"', b"response.failed")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: bytes
    stream: bool
    marker: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def openai_scenario(name: str, model: str, stream: bool) -> Scenario:
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return Scenario(
        name=name,
        path="/v1/chat/completions",
        body=_body(body),
        stream=stream,
        marker=b"data: [DONE]" if stream else b"",
    )


def anthropic_scenario(name: str, model: str, stream: bool) -> Scenario:
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return Scenario(
        name=name,
        path="/v1/messages",
        body=_body(body),
        stream=stream,
        marker=b"message_stop" if stream else b"",
        headers={"anthropic-version": "2023-06-01"},
    )


def responses_scenario(name: str, model: str, stream: bool) -> Scenario:
    """OpenAI Responses; ``store`` false: no gateway keeps state for the peers
    (Portkey and LiteLLM pass the body through), so neither does Modelgate."""
    body: dict[str, Any] = {
        "model": model,
        "input": PROMPT[0]["content"],
        "max_output_tokens": 64,
        "store": False,
    }
    if stream:
        body["stream"] = True
    return Scenario(
        name=name,
        path="/v1/responses",
        body=_body(body),
        stream=stream,
        marker=b"response.completed" if stream else b"",
    )


def embeddings_scenario(name: str, model: str) -> Scenario:
    return Scenario(
        name=name,
        path="/v1/embeddings",
        body=_body({"model": model, "input": PROMPT[0]["content"]}),
        stream=False,
    )


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    # Every answer's SSE events (the warm-up's too): the chunks a gateway relayed.
    events: int = 0
    warm_requests: int = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        ttfb = sorted(self.ttfbs)

        def ms(values: list[float], q: float) -> float | None:
            value = percentile(values, q)
            return None if value is None else round(value * 1000, 3)

        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(len(lat) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": ms(lat, 50),
            "p90_ms": ms(lat, 90),
            "p99_ms": ms(lat, 99),
            "ttfb_p50_ms": ms(ttfb, 50),
            "ttfb_p90_ms": ms(ttfb, 90),
            "ttfb_p99_ms": ms(ttfb, 99),
            "events": self.events,
            "warm_requests": self.warm_requests,
        }


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    scenario: Scenario,
    headers: dict[str, str],
    result: Result,
    record: bool,
) -> None:
    started = time.perf_counter()
    first: float | None = None
    try:
        async with session.post(url, data=scenario.body, headers=headers) as resp:
            if scenario.stream:
                tail = b""
                bad = False
                done_seen = False
                events = 0
                async for chunk in resp.content.iter_any():
                    if first is None:
                        first = time.perf_counter()
                    if any(mark in chunk for mark in ERROR_MARKS):
                        bad = True
                    # Events end with a blank line, which a read may split.
                    events += chunk.count(b"\n\n") + (
                        tail[-1:] == b"\n" and chunk[:1] == b"\n"
                    )
                    # The completion marker, even split across reads (the last
                    # event of a Responses stream is longer than any tail kept).
                    window = tail + chunk
                    done_seen = done_seen or scenario.marker in window
                    tail = window[-64:]
                result.events += events
                ok = resp.status == 200 and not bad and done_seen
                detail = tail.decode(errors="replace")
            else:
                payload = await resp.read()
                ok = resp.status == 200
                detail = payload[:300].decode(errors="replace")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
        resp = None
    done = time.perf_counter()
    if not record:
        result.warm_requests += 1
        return
    result.requests += 1
    if not ok:
        status = resp.status if resp is not None else "-"
        result.error(f"{status} {detail}")
        return
    result.latencies.append(done - started)
    if first is not None:
        result.ttfbs.append(first - started)


async def run(
    base: str,
    scenario: Scenario,
    concurrency: int,
    *,
    duration: float | None = 5.0,
    total: int | None = None,
    warmup: float = 0.5,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    on_progress: Callable[[int], Any] | None = None,
    progress_every: int = 0,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Drive ``base`` with ``scenario``; bounded by ``duration`` and/or ``total``."""
    if duration is None and total is None:
        raise ValueError("give a duration or a total")
    url = base.rstrip("/") + scenario.path
    extra = headers or {}
    headers = {"Content-Type": "application/json", **scenario.headers, **extra}
    if key:
        headers["Authorization"] = f"Bearer {key}"
        if scenario.path == "/v1/messages":
            headers["x-api-key"] = key
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    result = Result()
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, auto_decompress=False
    ) as session:
        # Warm-up: open the connections, fill the server's caches; not recorded.
        warm_until = time.perf_counter() + warmup

        async def warm() -> None:
            for _ in range(10_000):
                if time.perf_counter() >= warm_until:
                    break
                await _one(session, url, scenario, headers, result, record=False)

        if warmup > 0:
            await asyncio.gather(*(warm() for _ in range(concurrency)))

        started = time.perf_counter()
        # A hard cap on time even in count mode: 2 h, or 3x the duration.
        deadline = started + (duration if duration is not None else 7200.0)
        hard_stop = started + (3 * duration + 30 if duration is not None else 7200.0)
        sent = 0
        next_mark = progress_every

        async def worker() -> None:
            nonlocal sent, next_mark
            while sent < (total if total is not None else 1 << 62):
                now = time.perf_counter()
                if now >= deadline or now >= hard_stop:
                    break
                sent += 1
                await _one(session, url, scenario, headers, result, record=True)
                if on_progress and progress_every and result.requests >= next_mark:
                    next_mark += progress_every
                    on_progress(result.requests)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result.summary()


SCENARIOS = {
    "chat": lambda: openai_scenario("chat", "gpt-4o-mini", False),
    "stream": lambda: openai_scenario("stream", "gpt-4o-mini", True),
    "xstream": lambda: openai_scenario("xstream", "claude-sonnet-4-5", True),
    "anthropic": lambda: anthropic_scenario("anthropic", "claude-sonnet-4-5", False),
    "anthropic-stream": lambda: anthropic_scenario(
        "anthropic-stream", "claude-sonnet-4-5", True
    ),
    "responses": lambda: responses_scenario("responses", RESPONSES_MODEL, False),
    "responses-stream": lambda: responses_scenario(
        "responses-stream", RESPONSES_MODEL, True
    ),
    "embeddings": lambda: embeddings_scenario("embeddings", EMBEDDING_MODEL),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Closed-loop load generator")
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="chat")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("-n", "--total", type=int, default=None)
    parser.add_argument("--key", default=None)
    args = parser.parse_args(argv)
    if not args.base.startswith("http://127.0.0.1:"):
        parser.error("benchmarks only target http://127.0.0.1")
    summary = asyncio.run(
        run(
            args.base,
            SCENARIOS[args.scenario](),
            args.concurrency,
            duration=args.duration,
            total=args.total,
            key=args.key,
        )
    )
    print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
