"""The benchmark harness: fake upstream, Modelgate, Portkey, LiteLLM, one table.

``python -m bench`` (see bench/README.md). In one run it starts the fake
upstream, a dedicated migrated and seeded Modelgate database, Modelgate under
uvicorn (as production runs it) and, when they install, Portkey's Node gateway
(``bench/portkey.py``) and LiteLLM's proxy on the same fake; then drives direct /
Modelgate / Portkey / LiteLLM in turn, cell by cell, with the same closed-loop
load generator; prints one table of medians (and the gateway CPU each request
and each streamed chunk cost) and writes JSON to bench/results/.
``--save-baseline`` / ``--compare`` keep a run and check a later one against it
(``bench/compare.py``). Everything it starts runs in its own process group and
is stopped on exit. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bench import compare, loadgen, portkey

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
HOST = "127.0.0.1"
SCENARIOS = [
    "chat",
    "stream",
    "xstream",
    "anthropic",
    "anthropic-stream",
    "responses",
    "responses-stream",
    "embeddings",
]
SCENARIO_LABEL = {
    "chat": "chat",
    "stream": "chat stream",
    "xstream": "chat stream->Anthropic",
    "anthropic": "messages",
    "anthropic-stream": "messages stream",
    "responses": "responses",
    "responses-stream": "responses stream",
    "embeddings": "embeddings",
}
STREAMS = frozenset(s for s in SCENARIOS if "stream" in s)
# What "direct" means per scenario: the same upstream call without a gateway.
DIRECT_SCENARIO = {s: s for s in SCENARIOS} | {"xstream": "anthropic-stream"}
# The peers' cells (LiteLLM's proxy and Portkey's gateway serve every protocol
# here; a scenario left out of a set shows "-" for that peer).
SUPPORTED = {
    "portkey": frozenset(portkey.PROVIDER),
    "litellm": frozenset(SCENARIOS),
}
PEERS = ("portkey", "litellm")
LITELLM_MASTER_KEY = "sk-bench-litellm-master"
PG_BENCH_DB = "modelgate_bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------
# Processes: each in its own session/process group, all stopped on exit.


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: list[str], env: dict[str, str], log_path: Path
    ) -> subprocess.Popen[bytes]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Leftover children (uvicorn workers) of the group, if any.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)


PROCS = Processes()


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------
# Environment, database, seed.


def _credentials_key() -> str:
    raw = secrets.token_bytes(32)
    kid = "k" + hashlib.sha256(b"modelgate-kek-id:" + raw).hexdigest()[:12]
    return f"{kid}:{base64.b64encode(raw).decode()}"


@dataclass
class Database:
    """A dedicated database for one Modelgate instance (SQLite file or PG db)."""

    name: str
    data_dir: Path
    url: str
    admin_url: str = ""  # PostgreSQL: where to CREATE/DROP the bench database

    def create(self) -> None:
        if self.admin_url:
            _pg_exec(
                self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'
            )
            _pg_exec(self.admin_url, f'CREATE DATABASE "{self.name}"')
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        if self.admin_url:
            with contextlib.suppress(Exception):
                _pg_exec(
                    self.admin_url,
                    f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                )


def _pg_exec(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def make_database(run_dir: Path, name: str) -> Database:
    data_dir = run_dir / name
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parts = urlsplit(url)
        # Named after the URL's database too: two runs on one server (each with
        # its own DATABASE_URL) do not drop each other's.
        own = parts.path.strip("/")
        suffix = f"_{own}" if own and own != "postgres" else ""
        db_name = f"{PG_BENCH_DB}_{name}{suffix}".replace("-", "_")
        admin = urlunsplit(parts._replace(scheme="postgresql"))
        return Database(
            db_name,
            data_dir,
            urlunsplit(parts._replace(path=f"/{db_name}")),
            admin_url=admin,
        )
    return Database(name, data_dir, f"sqlite:///{data_dir / 'bench.sqlite3'}")


def django_env(db: Database, secret_key: str, cred_key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=secret_key,
        CREDENTIALS_KEYS=cred_key,
        DATA_DIR=str(db.data_dir),
        STATIC_ROOT=str(db.data_dir / "static"),
        DATABASE_URL=db.url,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PROVIDERS_ALLOW_PRIVATE_IPS="true",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_checked(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> None:
    started = time.monotonic()
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    log(f"{what}: {time.monotonic() - started:.1f}s")


def prepare_modelgate_db(
    db: Database, env: dict[str, str], fake_url: str, scale: bool
) -> dict[str, Any]:
    db.create()
    run_checked(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
        env,
        600,
        f"migrate {db.name}",
    )
    seed_out = db.data_dir / "seed.json"
    cmd = [PY, "-m", "bench.seed", "--fake-url", fake_url, "--out", str(seed_out)]
    if scale:
        cmd.append("--scale")
    run_checked(cmd, env, 1800, f"seed {db.name}{' (scale)' if scale else ''}")
    return json.loads(seed_out.read_text())


# --------------------------------------------------------------------------
# Servers.


@dataclass
class Server:
    name: str
    base: str
    key: str | None
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Per scenario, headers the target needs (Portkey's routing headers).
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def supports(self, scenario: str) -> bool:
        return scenario in SUPPORTED.get(self.name, SCENARIOS)

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server's whole process tree so far."""
        import psutil

        if self.proc is None:
            return None
        total = 0.0
        try:
            parent = psutil.Process(self.proc.pid)
            family = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return None
        for proc in family:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def worker_pids(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        parent = psutil.Process(self.proc.pid)
        # Serving processes only: not multiprocessing's helper, nor the usage
        # writers (gateway/usage_writer.py; their CPU counts in cpu_seconds).
        helpers = ("resource_tracker", "gateway.usage_writer")
        children = [
            c.pid
            for c in parent.children(recursive=True)
            if not any(h in " ".join(c.cmdline()) for h in helpers)
        ]
        return children or [parent.pid]


async def _probe(url: str, method: str = "GET") -> int | None:
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url) as resp,
        ):
            await resp.read()
            return resp.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None


def wait_ready(
    server: Server, path: str, ok: set[int], timeout: float, method: str = "GET"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        status = asyncio.run(_probe(server.base + path, method))
        if status in ok:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s")


def start_fake(run_dir: Path) -> Server:
    port = free_port()
    proc = PROCS.start(
        [PY, "-m", "bench.fake_upstream", "--port", str(port)],
        dict(os.environ),
        run_dir / "logs" / "fake.log",
    )
    server = Server("direct", f"http://{HOST}:{port}", None, proc)
    wait_ready(server, "/v1/chat/completions", {200}, 30, method="POST")
    return server


#: The ASGI servers Modelgate can be measured under (``--server``).
SERVERS = ("uvicorn", "granian")


def server_command(server: str, port: int, workers: int) -> list[str]:
    """The command line that serves Modelgate under ``server`` (uvicorn as
    production runs it: uvloop and httptools; Granian, Rust, with uvloop)."""
    if server == "granian":
        return [
            PY, "-m", "granian", "--interface", "asgi", "config.asgi:application",
            "--host", HOST, "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--no-access-log", "--no-ws", "--runtime-mode", "st",
        ]  # fmt: skip
    # As bin/run starts it: no proxy-headers middleware (Modelgate reads
    # X-Forwarded-For itself, only with TRUSTED_PROXY_COUNT).
    command = [
        PY, "-m", "uvicorn", "config.asgi:application", "--host", HOST,
        "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--lifespan", "on", "--no-proxy-headers",
    ]  # fmt: skip
    if (ROOT / "config" / "http_protocol.py").is_file():
        # The tree's own protocol (bench.ab's baseline may predate it).
        command += ["--http", "config.http_protocol:HttpToolsProtocol"]
    return command


def start_modelgate(
    name: str,
    env: dict[str, str],
    key: str,
    workers: int,
    run_dir: Path,
    server: str = "uvicorn",
) -> Server:
    port = free_port()
    proc = PROCS.start(
        server_command(server, port, workers),
        env,
        run_dir / "logs" / f"{name}-w{workers}.log",
    )
    server = Server(name, f"http://{HOST}:{port}", key, proc)
    # A keyless call: 401 once the app answers (and fills no cache).
    wait_ready(server, "/v1/models", {401}, 90)
    return server


LITELLM_VENV = BENCH / ".run" / "litellm-venv"


def find_litellm() -> str | None:
    candidates = [
        os.environ.get("LITELLM_BIN", ""),
        str(Path(PY).parent / "litellm"),
        str(LITELLM_VENV / "bin" / "litellm"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("litellm")


def install_litellm() -> str | None:
    """Install LiteLLM's proxy into its own venv (it pins openai<3, which the
    test extra's SDK outgrew, so it cannot share Modelgate's)."""
    print(f"Installing litellm[proxy] into {LITELLM_VENV} (once)...", flush=True)
    try:
        subprocess.run([PY, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run(
            [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"],
            check=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"LiteLLM could not be installed ({exc}); running without it.")
        return None
    return find_litellm()


def litellm_config(fake_url: str) -> str:
    openai_models = []
    for name in ("gpt-4o-mini", loadgen.RESPONSES_MODEL, loadgen.EMBEDDING_MODEL):
        openai_models += [
            f"  - model_name: {name}",
            "    litellm_params:",
            f"      model: openai/{name}",
            f"      api_base: {fake_url}/v1",
            "      api_key: sk-bench-openai",
        ]
    return "\n".join(
        [
            "# Generated by bench/run.py: the same fake upstream and models.",
            "model_list:",
            *openai_models,
            "  - model_name: claude-sonnet-4-5",
            "    litellm_params:",
            "      model: anthropic/claude-sonnet-4-5",
            f"      api_base: {fake_url}",
            "      api_key: sk-bench-anthropic",
            "litellm_settings:",
            "  telemetry: false",
            "  drop_params: true",
            "  turn_off_message_logging: true",
            "general_settings:",
            f"  master_key: {LITELLM_MASTER_KEY}",
            "",
        ]
    )


def start_litellm(binary: str, fake_url: str, workers: int, run_dir: Path) -> Server:
    config = BENCH / "litellm.yaml"
    config.write_text(litellm_config(fake_url))
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        LITELLM_MODE="PRODUCTION",
        LITELLM_TELEMETRY="False",
        DISABLE_ADMIN_UI="True",
        PYTHONUNBUFFERED="1",
    )
    proc = PROCS.start(
        [
            binary,
            "--config",
            str(config),
            "--host",
            HOST,
            "--port",
            str(port),
            "--num_workers",
            str(workers),
            "--telemetry",
            "False",
        ],
        env,
        run_dir / "logs" / f"litellm-w{workers}.log",
    )
    server = Server("litellm", f"http://{HOST}:{port}", LITELLM_MASTER_KEY, proc)
    wait_ready(server, "/health/liveliness", {200}, 240)
    return server


PORTKEY_DIR = BENCH / ".run" / "portkey"


def start_portkey(wrapper: Path, fake_url: str, workers: int, run_dir: Path) -> Server:
    port = free_port()
    proc = PROCS.start(
        portkey.command(wrapper, port),
        portkey.environment(workers),
        run_dir / "logs" / f"portkey-w{workers}.log",
    )
    server = Server("portkey", f"http://{HOST}:{port}", portkey.KEY, proc)
    server.headers = portkey.headers(fake_url)
    wait_ready(server, "/", {200}, 60)
    return server


# --------------------------------------------------------------------------
# Driving.


def drive(
    server: Server,
    scenario: str,
    concurrency: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    """One cell; with the server's CPU time over it (warm-up included) per
    request and per SSE event the client received."""
    name = DIRECT_SCENARIO[scenario] if server.name == "direct" else scenario
    cpu_before = None if server.name == "direct" else server.cpu_seconds()
    result = asyncio.run(
        loadgen.run(
            server.base,
            loadgen.SCENARIOS[name](),
            concurrency,
            duration=duration,
            warmup=warmup,
            key=server.key,
            headers=server.headers.get(scenario),
        )
    )
    cpu_after = None if cpu_before is None else server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) * 1e6
        handled = result["requests"] + result["warm_requests"]
        result["cpu_us_per_request"] = round(cpu_us / handled, 1) if handled else None
        events = result["events"]
        result["cpu_us_per_chunk"] = (
            round(cpu_us / events, 2) if events and scenario in STREAMS else None
        )
    return result


METRICS = [
    "rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "ttfb_p50_ms",
    "ttfb_p90_ms",
    "ttfb_p99_ms",
    "cpu_us_per_request",
    "cpu_us_per_chunk",
]


def median_cell(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"repetitions": len(samples)}
    for metric in METRICS:
        values = [s[metric] for s in samples if s.get(metric) is not None]
        out[metric] = round(statistics.median(values), 3) if values else None
    out["errors"] = sum(s["errors"] for s in samples)
    out["requests"] = sum(s["requests"] for s in samples)
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    if not a or not b:
        return None
    return a / b


def render_table(cells: dict[str, dict[str, Any]], order: list[tuple]) -> str:
    """One row per (scenario, concurrency, workers, target) with comparisons:
    Modelgate's throughput as a multiple of each peer's, the peer's p99 over
    Modelgate's, the overhead over direct, and the gateway's CPU per request and
    per streamed chunk. A peer that does not serve a scenario shows "-"."""
    head = (
        "scenario", "c", "w", "target", "req/s", "p50", "p99", "ttfb50", "err",
        "rps x PK", "rps x LL", "p99 PK/MG", "p99 LL/MG", "+p50 ms", "+p99 ms",
        "+ttfb50", "CPU us/req", "us/chunk",
    )  # fmt: skip
    rows = [head]
    for scenario, conc, workers, target in order:
        cell = cells.get(_key(scenario, conc, workers, target))
        if cell is None:
            if target in PEERS and scenario not in SUPPORTED[target]:
                rows.append(
                    (SCENARIO_LABEL.get(scenario, scenario), str(conc), str(workers))
                    + (target,)
                    + ("-",) * (len(head) - 4)
                )
            continue
        direct = cells.get(_key(scenario, conc, 0, "direct"))
        is_mg = target.startswith("modelgate")
        vs: dict[str, tuple[Any, Any]] = {}
        for peer in PEERS:
            other = cells.get(_key(scenario, conc, workers, peer))
            vs[peer] = (None, None)
            if is_mg and other:
                vs[peer] = (
                    _ratio(cell["rps"], other["rps"]),
                    _ratio(other["p99_ms"], cell["p99_ms"]),
                )

        def over(metric: str, cell: dict[str, Any] = cell, direct: Any = direct) -> Any:
            if target == "direct" or not direct or cell[metric] is None:
                return None
            if direct[metric] is None:
                return None
            return cell[metric] - direct[metric]

        def times(value: Any) -> str:
            return _fmt(value, 1) + ("x" if value else "")

        rows.append(
            (
                SCENARIO_LABEL.get(scenario, scenario),
                str(conc),
                "-" if target == "direct" else str(workers),
                target,
                _fmt(cell["rps"], 0),
                _fmt(cell["p50_ms"]),
                _fmt(cell["p99_ms"]),
                _fmt(cell["ttfb_p50_ms"]),
                str(cell["errors"]),
                times(vs["portkey"][0]),
                times(vs["litellm"][0]),
                times(vs["portkey"][1]),
                times(vs["litellm"][1]),
                _fmt(over("p50_ms")),
                _fmt(over("p99_ms")),
                _fmt(over("ttfb_p50_ms")),
                _fmt(cell.get("cpu_us_per_request"), 0),
                _fmt(cell.get("cpu_us_per_chunk"), 1),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i < 4 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_summary(
    cells: dict[str, dict[str, Any]],
    scenarios: list[str],
    concurrency: list[int],
    workers: list[int],
) -> str:
    """The README's table (Markdown): per cell, each target's req/s side by side,
    Modelgate's multiple of each peer, the p99s at a glance, Modelgate's overhead
    at the median and its CPU per streamed chunk."""
    head = (
        "| scenario | c | w | direct | Modelgate | Portkey | LiteLLM | MG x PK "
        "| MG x LL | p99 MG / PK / LL ms | MG +p50 / +ttfb50 ms | MG CPU us/chunk |"
    )
    lines = [head, "|" + " --- |" * 12]
    for scenario in scenarios:
        for conc in concurrency:
            for w in workers:
                direct = cells.get(_key(scenario, conc, 0, "direct"))
                mg = cells.get(_key(scenario, conc, w, "modelgate"))
                if mg is None:
                    continue
                peers = {p: cells.get(_key(scenario, conc, w, p)) for p in PEERS}

                def rps(cell: dict[str, Any] | None) -> str:
                    return f"{cell['rps']:,.0f}" if cell and cell["rps"] else "-"

                def p99(cell: dict[str, Any] | None) -> str:
                    return _fmt(cell and cell["p99_ms"], 1)

                def over(metric: str, mg: dict[str, Any] = mg, d: Any = direct) -> str:
                    if not d or mg[metric] is None or d[metric] is None:
                        return "-"
                    return f"{mg[metric] - d[metric]:.2f}"

                ratios = [
                    _ratio(mg["rps"], peers[p] and peers[p]["rps"]) for p in PEERS
                ]
                lines.append(
                    "| "
                    + " | ".join(
                        [
                            SCENARIO_LABEL.get(scenario, scenario),
                            str(conc),
                            str(w),
                            rps(direct),
                            rps(mg),
                            rps(peers["portkey"]),
                            rps(peers["litellm"]),
                            *(f"{r:.2f}x" if r else "-" for r in ratios),
                            " / ".join(
                                [p99(mg), p99(peers["portkey"]), p99(peers["litellm"])]
                            ),
                            f"{over('p50_ms')} / {over('ttfb_p50_ms')}"
                            if scenario in STREAMS
                            else over("p50_ms"),
                            _fmt(mg.get("cpu_us_per_chunk"), 1),
                        ]
                    )
                    + " |"
                )
    return "\n".join(lines)


def _key(scenario: str, conc: int, workers: int, target: str) -> str:
    return f"{scenario}|c{conc}|w{workers}|{target}"


# --------------------------------------------------------------------------
# Extra measurements: soak (RSS), profile (py-spy), /v1/models timing.


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(server: Server, total: int, concurrency: int, every: int) -> dict[str, Any]:
    pid = server.worker_pids()[0]
    samples: list[tuple[int, int]] = [(0, rss_kib(pid))]

    def progress(done: int) -> None:
        samples.append((done, rss_kib(pid)))
        log(f"soak: {done} requests, worker RSS {samples[-1][1] / 1024:.1f} MiB")

    summary = asyncio.run(
        loadgen.run(
            server.base,
            loadgen.SCENARIOS["chat"](),
            concurrency,
            duration=None,
            total=total,
            warmup=0,
            key=server.key,
            on_progress=progress,
            progress_every=every,
        )
    )
    time.sleep(1.5)  # let the usage writer flush its last batch
    samples.append((summary["requests"], rss_kib(pid)))
    by_count = dict(samples)
    at_10k = next((kib for n, kib in samples if n >= min(10_000, total)), None)
    final = samples[-1][1]
    return {
        "requests": summary["requests"],
        "errors": summary["errors"],
        "rps": summary["rps"],
        "worker_pid": pid,
        "rss_kib": by_count,
        "rss_after_10k_kib": at_10k,
        "rss_final_kib": final,
        "growth_pct": round((final - at_10k) / at_10k * 100, 2) if at_10k else None,
    }


def profile(
    server: Server,
    seconds: float,
    concurrency: int,
    out_dir: Path,
    stamp: str,
    scenario: str = "chat",
) -> dict[str, Any]:
    pyspy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(pyspy).exists():
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    pid = server.worker_pids()[0]
    raw = out_dir / f"profile-{stamp}.folded"
    spy = subprocess.Popen(
        [
            pyspy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "--format",
            "raw",
            "-o",
            str(raw),
            "--nonblocking",
            "--threads",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        load = drive(server, scenario, concurrency, seconds + 1, warmup=0.5)
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            os.killpg(spy.pid, signal.SIGKILL)
            spy.wait(timeout=5)
    if not raw.exists():
        return {"skipped": f"py-spy failed: {err.decode(errors='replace')[-500:]}"}
    return {"file": str(raw), "load": load, "top": summarize_folded(raw)}


def summarize_folded(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's raw output."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        self_counts[leaf] = self_counts.get(leaf, 0) + count
        for frame in set(frames):
            incl_counts[frame] = incl_counts.get(frame, 0) + count

    def share(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [(name, round(100 * n / total, 1)) for name, n in ranked]

    return {
        "samples": total,
        "self": share(self_counts),
        "inclusive": share(incl_counts),
    }


def time_models(server: Server, n: int = 20) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {server.key}"}
        times: list[float] = []
        count = 0
        async with aiohttp.ClientSession(headers=headers) as session:
            for _ in range(n):
                started = time.perf_counter()
                async with session.get(server.base + "/v1/models") as resp:
                    body = await resp.json()
                times.append((time.perf_counter() - started) * 1000)
                count = len(body.get("data", []))
        return {
            "models_listed": count,
            "first_ms": round(times[0], 1),
            "warm_median_ms": round(statistics.median(times[1:]), 2),
        }

    return asyncio.run(go())


# --------------------------------------------------------------------------
# Main.


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Modelgate vs Portkey vs LiteLLM vs direct",
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run")
    parser.add_argument("--repeat", type=int, default=None, help="default 3 (1 quick)")
    parser.add_argument("--duration", type=float, default=None, help="s per cell")
    parser.add_argument("--warmup", type=float, default=None, help="s per cell")
    parser.add_argument("--workers", type=int, nargs="+", default=None)
    parser.add_argument("--concurrency", type=int, nargs="+", default=None)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=None)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--no-portkey", action="store_true")
    parser.add_argument(
        "--backend",
        choices=["env", "sqlite", "postgres"],
        default="env",
        help="Modelgate's store: SQLite with in-process caches, or PostgreSQL + "
        "Redis (DATABASE_URL and REDIS_URL); default: whatever the environment "
        "sets",
    )
    parser.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="keep this run as bench/results/baseline-NAME.json",
    )
    parser.add_argument(
        "--compare",
        metavar="NAME",
        help="compare this run with baseline NAME: what moved beyond the noise",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also run Modelgate on a 1k-org/10k-model/100k-key database",
    )
    parser.add_argument(
        "--soak", action="store_true", help="100k requests at c=64, worker RSS"
    )
    parser.add_argument("--soak-requests", type=int, default=100_000)
    parser.add_argument(
        "--profile", type=float, default=0, help="py-spy a worker N s at c=16"
    )
    parser.add_argument(
        "--profile-scenario", choices=SCENARIOS, default="chat", help="default chat"
    )
    parser.add_argument(
        "--server", choices=SERVERS, default="uvicorn", help="Modelgate's ASGI server"
    )
    parser.add_argument("--run-dir", type=Path, default=BENCH / ".run")
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    if args.quick:
        # Every protocol once at c=16: as long as the three-scenario smoke was.
        args.repeat = args.repeat or 1
        args.duration = args.duration or 0.6
        args.warmup = 0.3 if args.warmup is None else args.warmup
        args.workers = args.workers or [1]
        args.concurrency = args.concurrency or [16]
        args.no_litellm = True
        args.no_portkey = True
    args.repeat = args.repeat or 3
    args.duration = args.duration or 5.0
    args.warmup = 1.0 if args.warmup is None else args.warmup
    args.workers = args.workers or [1, 2]
    args.concurrency = args.concurrency or [1, 16, 64]
    args.scenarios = args.scenarios or list(SCENARIOS)
    return args


def apply_backend(backend: str) -> None:
    """Point this process's environment (which the servers inherit) at the
    chosen store: SQLite and no Redis, or PostgreSQL and Redis."""
    if backend == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    elif backend == "postgres":
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
            raise SystemExit("--backend postgres needs DATABASE_URL=postgres://...")
        if not os.environ.get("REDIS_URL"):
            raise SystemExit("--backend postgres needs REDIS_URL=redis://...")


def environment(litellm: str | None, portkey_wrapper: Path | None) -> dict[str, Any]:
    def has(module: str) -> bool:
        import importlib.util

        return importlib.util.find_spec(module) is not None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "database": "postgresql"
        if os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
        else "sqlite",
        "redis": bool(os.environ.get("REDIS_URL")),
        "modelgate_uvloop": has("uvloop"),
        "modelgate_httptools": has("httptools"),
        "litellm": litellm,
        # Other work on the machine skews every figure: the load when it started.
        "loadavg": os.getloadavg(),
        "portkey": f"@portkey-ai/gateway {portkey.VERSION} ({portkey.PINS})"
        if portkey_wrapper
        else None,
        "node": shutil.which("node"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    apply_backend(args.backend)
    baseline = compare.load(args.results_dir, args.compare) if args.compare else None
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    atexit.register(PROCS.stop_all)
    run_dir: Path = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    litellm_bin = None if args.no_litellm else (find_litellm() or install_litellm())
    portkey_wrapper, portkey_problem = (
        (None, "") if args.no_portkey else portkey.install(PORTKEY_DIR)
    )
    report: dict[str, Any] = {
        "started": stamp,
        "args": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
        "environment": environment(litellm_bin, portkey_wrapper),
        "notes": [],
    }
    if not args.no_litellm and litellm_bin is None:
        note = "LiteLLM is not installed: skipped (pip install -e '.[bench]')."
        report["notes"].append(note)
        log(note)
    if portkey_problem:
        note = f"Portkey skipped: {portkey_problem}"
        report["notes"].append(note)
        log(note)

    secret_key, cred_key = secrets.token_urlsafe(50), _credentials_key()
    databases: list[Database] = []
    cells_raw: dict[str, list[dict[str, Any]]] = {}
    order: list[tuple] = []
    failed = False
    try:
        fake = start_fake(run_dir)
        log(f"fake upstream at {fake.base}")
        mg_targets = [("modelgate", False)]
        if args.scale:
            mg_targets.append(("modelgate-scale", True))
        seeds: dict[str, dict[str, Any]] = {}
        envs: dict[str, dict[str, str]] = {}
        for name, scale in mg_targets:
            db = make_database(run_dir, name)
            databases.append(db)
            envs[name] = django_env(db, secret_key, cred_key)
            seeds[name] = prepare_modelgate_db(db, envs[name], fake.base, scale)
        if args.scale:
            report["scale_seed"] = seeds["modelgate-scale"].get("scale")
            out = databases[1].data_dir / "scale_report.json"
            run_checked(
                [PY, "-m", "bench.scale_report", "--out", str(out)],
                envs["modelgate-scale"],
                600,
                "scale report (queries)",
            )
            report["scale_queries"] = json.loads(out.read_text())

        direct_done = False
        for workers in args.workers:
            servers: list[Server] = []
            for name, _ in mg_targets:
                servers.append(
                    start_modelgate(
                        name,
                        envs[name],
                        seeds[name]["key"],
                        workers,
                        run_dir,
                        args.server,
                    )
                )
                log(f"{name} ({workers} worker(s)) at {servers[-1].base}")
            if args.scale:
                report.setdefault("v1_models_http", {})[f"w{workers}"] = {
                    s.name: time_models(s) for s in servers
                }
            if portkey_wrapper:
                try:
                    servers.append(
                        start_portkey(portkey_wrapper, fake.base, workers, run_dir)
                    )
                    log(f"portkey ({workers} worker(s)) at {servers[-1].base}")
                except RuntimeError as exc:
                    note = f"Portkey did not start ({exc}); skipped."
                    report["notes"].append(note)
                    log(note)
            if litellm_bin:
                try:
                    servers.append(
                        start_litellm(litellm_bin, fake.base, workers, run_dir)
                    )
                    log(f"litellm ({workers} worker(s)) at {servers[-1].base}")
                except RuntimeError as exc:
                    note = f"LiteLLM did not start ({exc}); skipped."
                    report["notes"].append(note)
                    log(note)
            for rep in range(args.repeat):
                for scenario in args.scenarios:
                    for conc in args.concurrency:
                        targets = ([] if direct_done else [fake]) + [
                            s for s in servers if s.supports(scenario)
                        ]
                        for i, server in enumerate(targets):
                            if (
                                server.name == "litellm"
                                and server.proc
                                and (server.proc.poll() is not None)
                            ):
                                # LiteLLM's proxy has crashed here (a segfault in
                                # its Python, seen in dmesg): restart it, say so.
                                note = (
                                    "LiteLLM exited (code "
                                    f"{server.proc.returncode}); restarted before "
                                    f"{scenario} c={conc}."
                                )
                                report["notes"].append(note)
                                log(note)
                                server = start_litellm(
                                    litellm_bin, fake.base, workers, run_dir
                                )
                                servers[servers.index(targets[i])] = server
                            w = 0 if server is fake else workers
                            key = _key(scenario, conc, w, server.name)
                            result = drive(
                                server, scenario, conc, args.duration, args.warmup
                            )
                            if (
                                server.name == "litellm"
                                and server.proc
                                and server.proc.poll() is not None
                            ):
                                # It died during the cell: restart, measure again.
                                report["notes"].append(
                                    f"LiteLLM exited during {scenario} c={conc}; "
                                    "restarted and measured again."
                                )
                                log(report["notes"][-1])
                                fresh = start_litellm(
                                    litellm_bin, fake.base, workers, run_dir
                                )
                                servers[servers.index(server)] = fresh
                                server = fresh
                                result = drive(
                                    server, scenario, conc, args.duration, args.warmup
                                )
                            cells_raw.setdefault(key, []).append(result)
                            log(
                                f"rep {rep + 1}/{args.repeat} {key}: "
                                f"{result['rps']:.0f} req/s p50 {result['p50_ms']} ms "
                                f"p99 {result['p99_ms']} ms errors {result['errors']}"
                            )
                            if result["errors"]:
                                log(f"  errors: {result['error_samples'][:2]}")
            direct_done = True
            if args.profile and workers == 1:
                report["profile"] = profile(
                    servers[0],
                    args.profile,
                    16,
                    args.results_dir,
                    stamp,
                    args.profile_scenario,
                )
            for server in servers:
                PROCS.stop(server.proc)  # type: ignore[arg-type]

        if args.soak:
            server = start_modelgate(
                "modelgate", envs["modelgate"], seeds["modelgate"]["key"], 1, run_dir
            )
            log(f"soak: {args.soak_requests} requests at c=64 on 1 worker")
            report["soak"] = soak(
                server, args.soak_requests, 64, max(1, args.soak_requests // 10)
            )
            PROCS.stop(server.proc)  # type: ignore[arg-type]
    except Exception as exc:
        failed = True
        report["notes"].append(f"run failed: {type(exc).__name__}: {exc}")
        log(f"run failed: {type(exc).__name__}: {exc}")
    finally:
        PROCS.stop_all()
        for db in databases:
            db.drop()

    cells = {key: median_cell(samples) for key, samples in cells_raw.items()}
    for scenario in args.scenarios:
        for conc in args.concurrency:
            order.append((scenario, conc, 0, "direct"))
            for workers in args.workers:
                for target in ("modelgate", "modelgate-scale", *PEERS):
                    order.append((scenario, conc, workers, target))
    table = render_table(cells, order)
    report["cells"] = cells
    report["raw"] = cells_raw
    mg_errors = sum(c["errors"] for k, c in cells.items() if "|modelgate" in k)
    report["modelgate_errors"] = mg_errors
    report["environment"]["loadavg_end"] = os.getloadavg()
    summary = render_summary(cells, args.scenarios, args.concurrency, args.workers)
    report["summary_markdown"] = summary
    report["marginal_chunk_cost"] = marginal_chunk_cost(cells)
    out = args.results_dir / f"bench-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str))

    print()
    print(
        f"Modelgate benchmark ({report['environment']['database']}, "
        f"redis={'on' if report['environment']['redis'] else 'off'}, "
        f"{args.repeat} repetition(s) x {args.duration:g}s, medians; "
        f"{os.cpu_count()} CPUs; latencies in ms; load average "
        f"{report['environment']['loadavg'][0]:.1f} at the start, "
        f"{report['environment']['loadavg_end'][0]:.1f} at the end)"
    )
    print(table)
    print("\nSide by side (Markdown; req/s, medians):")
    print(summary)
    print_extras(report)
    if args.save_baseline:
        saved = compare.save(args.results_dir, args.save_baseline, report)
        print(f"baseline saved: {saved}")
    if baseline is not None:
        print(f"\nAgainst baseline {args.compare!r} (ratios over direct):")
        print(compare.render(compare.compare(baseline, report)))
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"results: {out}")
    if failed:
        return 2
    if mg_errors:
        print(f"FAIL: Modelgate returned {mg_errors} error(s)")
        return 1
    return 0


def marginal_chunk_cost(cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Gateway CPU per streamed chunk without the per-request part: a stream's
    CPU per request less its non-streaming sibling's (same protocol, vendor,
    cell), over the chunks one stream carries."""
    pairs = {
        "stream": "chat",
        "xstream": "chat",
        "anthropic-stream": "anthropic",
        "responses-stream": "responses",
    }
    out: dict[str, Any] = {}
    for key, cell in cells.items():
        scenario, conc, workers, target = key.split("|")
        plain = cells.get("|".join([pairs.get(scenario, ""), conc, workers, target]))
        if scenario not in pairs or target == "direct" or plain is None:
            continue
        stream_us, plain_us = (
            cell.get("cpu_us_per_request"),
            plain.get("cpu_us_per_request"),
        )
        per_chunk = cell.get("cpu_us_per_chunk")
        if not (stream_us and plain_us and per_chunk):
            continue
        chunks = stream_us / per_chunk
        out[key] = round((stream_us - plain_us) / chunks, 2)
    return out


def print_extras(report: dict[str, Any]) -> None:
    cells = report["cells"]
    marginal = report.get("marginal_chunk_cost") or {}
    if marginal:
        print(
            "\nGateway CPU us per streamed chunk, the per-request part taken out "
            "(stream CPU/request - non-streaming CPU/request) / chunks per stream:"
        )
        for key, value in sorted(marginal.items()):
            print(f"  {key}: {value}")
    scale_rows = []
    for key, cell in cells.items():
        if key.endswith("|modelgate-scale"):
            small = cells.get(key.replace("|modelgate-scale", "|modelgate"))
            if small and small["rps"]:
                scale_rows.append(
                    f"  {key.rsplit('|', 1)[0]}: {cell['rps']:.0f} vs "
                    f"{small['rps']:.0f} req/s "
                    f"({(cell['rps'] / small['rps'] - 1) * 100:+.1f} %)"
                )
    if scale_rows:
        print("\nScale database vs small database (Modelgate throughput):")
        print("\n".join(scale_rows))
    if "scale_seed" in report:
        print(f"scale seed: {report['scale_seed']}")
    if "scale_queries" in report:
        print(f"scale queries: {json.dumps(report['scale_queries'])}")
    if "v1_models_http" in report:
        print(f"/v1/models over HTTP: {json.dumps(report['v1_models_http'])}")
    if "soak" in report:
        s = report["soak"]
        print(
            f"\nSoak: {s['requests']} requests ({s['errors']} errors, "
            f"{s['rps']} req/s); "
            f"worker RSS after 10k {s['rss_after_10k_kib'] / 1024:.1f} MiB, final "
            f"{s['rss_final_kib'] / 1024:.1f} MiB ({s['growth_pct']:+.2f} %)"
        )
    if "profile" in report:
        p = report["profile"]
        if "skipped" in p:
            print(f"\nProfile skipped: {p['skipped']}")
        else:
            print(f"\nProfile ({p['top']['samples']} samples, {p['file']}), self %:")
            for name, pct in p["top"]["self"][:15]:
                print(f"  {pct:5.1f}  {name}")


if __name__ == "__main__":
    sys.exit(main())
