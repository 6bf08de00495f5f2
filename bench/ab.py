"""Before/after throughput of Modelgate in one run: a git ref against the working tree.

``python -m bench.ab --baseline main`` exports the baseline ref (``git archive``)
next to the run, seeds one database, starts one Modelgate from the baseline and
one from this tree on it (same workers, same fake upstream, same Redis), and
drives them in alternation, cell by cell, swapping which goes first each round,
so that whatever else loads the machine falls on both alike. It prints, per
scenario, each round's throughput of both, the ratio new/old per round, and
the median ratio with its spread (min and max): the spread is the noise.

Options: ``--rounds N`` (alternations, default 6), ``--duration S`` and
``--warmup S`` per cell, ``--workers W``, ``--concurrency C``, ``--scenarios``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import io
import json
import os
import secrets
import signal
import statistics
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from bench import run as bench

ROOT = bench.ROOT


def export_ref(ref: str, into: Path) -> Path:
    """The tree of ``ref`` as files under ``into`` (replaced if present)."""
    target = into / f"baseline-{ref.replace('/', '_')}"
    if target.exists():
        subprocess.run(["rm", "-rf", str(target)], check=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def start(
    name: str,
    tree: Path,
    env: dict[str, str],
    key: str,
    workers: int,
    run_dir: Path,
    server: str = "uvicorn",
) -> bench.Server:
    """Modelgate from ``tree`` (its modules shadow the installed ones)."""
    env = {**env, "PYTHONPATH": str(tree)}
    saved = bench.ROOT
    bench.ROOT = tree  # the working directory of the started process
    try:
        return bench.start_modelgate(name, env, key, workers, run_dir, server)
    finally:
        bench.ROOT = saved


def alternate(
    servers: dict[str, bench.Server],
    args: argparse.Namespace,
    results: dict[str, list[dict[str, Any]]],
) -> None:
    """Drive the two ``servers`` in turn, cell by cell, swapping which goes
    first each round (``args``: rounds, scenarios, concurrency, duration,
    warmup); each round's pair of results is appended to ``results[scenario]``."""
    first, second = servers
    for round_ in range(args.rounds):
        order = [first, second] if round_ % 2 == 0 else [second, first]
        for scenario in args.scenarios:
            cell: dict[str, Any] = {}
            for which in order:
                result = bench.drive(
                    servers[which],
                    scenario,
                    args.concurrency,
                    args.duration,
                    args.warmup,
                )
                cell[which] = result
                bench.log(
                    f"round {round_ + 1} {scenario} {which}: "
                    f"{result['rps']:.0f} req/s p50 {result['p50_ms']} ms "
                    f"errors {result['errors']}"
                )
            results[scenario].append(cell)


def _median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--baseline", required=True, help="git ref to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--scenarios", nargs="+", choices=bench.SCENARIOS, default=["chat", "stream"]
    )
    parser.add_argument(
        "--old-server", choices=bench.SERVERS, default="uvicorn", help="ASGI server"
    )
    parser.add_argument(
        "--new-server", choices=bench.SERVERS, default="uvicorn", help="ASGI server"
    )
    parser.add_argument("--run-dir", type=Path, default=bench.BENCH / ".run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, bench._on_signal)
    atexit.register(bench.PROCS.stop_all)
    run_dir: Path = args.run_dir.resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    old_tree = export_ref(args.baseline, run_dir)
    db = bench.make_database(run_dir, f"ab-{os.getpid()}")
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in args.scenarios}
    try:
        fake = bench.start_fake(run_dir)
        env = bench.django_env(db, secrets.token_urlsafe(50), bench._credentials_key())
        seed = bench.prepare_modelgate_db(db, env, fake.base, scale=False)
        servers = {
            "old": start(
                "old",
                old_tree,
                env,
                seed["key"],
                args.workers,
                run_dir,
                args.old_server,
            ),
            "new": start(
                "new", ROOT, env, seed["key"], args.workers, run_dir, args.new_server
            ),
        }
        for which, server in servers.items():
            # Which code answers: a keyless OPTIONS differs between trees that
            # differ in their /v1 surface (a sanity check, printed).
            status = asyncio.run(bench._probe(server.base + "/v1/models", "OPTIONS"))
            bench.log(f"{which}: keyless OPTIONS /v1/models answers {status}")
        alternate(servers, args, results)
    finally:
        bench.PROCS.stop_all()
        db.drop()

    print(
        f"\nbaseline {args.baseline} (old) vs working tree (new): "
        f"{args.workers} worker(s), c={args.concurrency}, "
        f"{args.rounds} alternations x {args.duration:g}s, {os.cpu_count()} CPUs"
    )
    summary: dict[str, Any] = {}
    for scenario, cells in results.items():
        ratios = [c["new"]["rps"] / c["old"]["rps"] for c in cells if c["old"]["rps"]]
        old = [round(c["old"]["rps"]) for c in cells]
        new = [round(c["new"]["rps"]) for c in cells]
        errors = sum(c[w]["errors"] for c in cells for w in ("old", "new"))
        p99 = {w: [c[w]["p99_ms"] for c in cells] for w in ("old", "new")}
        summary[scenario] = {
            "old_rps": old,
            "new_rps": new,
            "ratios": [round(r, 3) for r in ratios],
            "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
            "errors": errors,
            "p99_ms": p99,
        }
        print(
            f"{scenario:8} old req/s {old}\n{'':8} new req/s {new}\n"
            f"{'':8} new/old median {summary[scenario]['median_ratio']} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}), errors {errors}\n"
            f"{'':8} p99 ms median old {_median(p99['old'])}, new {_median(p99['new'])}"
        )
    out = run_dir / "ab-result.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
