"""A run against a saved baseline: what moved beyond the noise.

Before landing a hot-path change: ``python -m bench --save-baseline before`` on
the old tree, then ``python -m bench --compare before`` on the new one (same
machine, same options). Both are reduced to ratios over direct, per repetition
(the fake upstream driven by the same load generator in the same repetition),
so a machine busier in one run than in the other cancels out. For each
Modelgate cell and metric a move counts only when it is larger than the noise:
the spread (max - min) of the repetitions' ratios in either run, and at least
``FLOOR`` of the baseline's median (one repetition has no spread to measure).

Standalone, on two saved results: ``python -m bench.compare OLD.json NEW.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

# The least relative move reported (one-repetition runs have no spread).
FLOOR = 0.05
TARGET = "modelgate"


def baseline_path(results_dir: Path, name: str) -> Path:
    return results_dir / f"baseline-{name}.json"


def save(results_dir: Path, name: str, report: dict[str, Any]) -> Path:
    path = baseline_path(results_dir, name)
    path.write_text(json.dumps(report, indent=2, default=str))
    return path


def load(results_dir: Path, name: str) -> dict[str, Any]:
    path = baseline_path(results_dir, name)
    if not path.exists():
        raise SystemExit(f"no baseline {name!r}: {path} (run --save-baseline {name})")
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def ratios(report: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Per Modelgate cell, each repetition's rps over direct's and p50 and p99
    latency over direct's (the direct of the same repetition)."""
    raw: dict[str, list[dict[str, Any]]] = report.get("raw", {})
    out: dict[str, dict[str, list[float]]] = {}
    for key, samples in raw.items():
        scenario, conc, _workers, target = key.split("|")
        if target != TARGET:
            continue
        direct = raw.get(f"{scenario}|{conc}|w0|direct", [])
        metrics: dict[str, list[float]] = {"rps": [], "p50": [], "p99": []}
        for i, sample in enumerate(samples):
            if not direct:
                break
            base = direct[min(i, len(direct) - 1)]
            for name, field, invert in (
                ("rps", "rps", False),
                ("p50", "p50_ms", True),
                ("p99", "p99_ms", True),
            ):
                mine, theirs = sample.get(field), base.get(field)
                if mine and theirs:
                    metrics[name].append(theirs / mine if invert else mine / theirs)
        out[key] = {k: v for k, v in metrics.items() if v}
    return out


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cell and metric both runs have: medians, noise, verdict.

    Every metric is "higher is better" (latencies are direct's over ours)."""
    before, after = ratios(old), ratios(new)
    rows = []
    for key in sorted(set(before) & set(after)):
        for metric in ("rps", "p50", "p99"):
            a, b = before[key].get(metric), after[key].get(metric)
            if not a or not b:
                continue
            med_a, med_b = statistics.median(a), statistics.median(b)
            noise = max(max(a) - min(a), max(b) - min(b), FLOOR * med_a)
            change = med_b - med_a
            verdict = "same"
            if abs(change) > noise:
                verdict = "better" if change > 0 else "WORSE"
            rows.append(
                {
                    "cell": key.rsplit("|", 1)[0],
                    "metric": metric,
                    "before": round(med_a, 4),
                    "after": round(med_b, 4),
                    "change_pct": round(100 * change / med_a, 1),
                    "noise_pct": round(100 * noise / med_a, 1),
                    "verdict": verdict,
                }
            )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "nothing to compare (no Modelgate cell in both runs)"
    moved = [r for r in rows if r["verdict"] != "same"]
    lines = [
        f"{len(rows)} cell metrics compared (rps: over direct's; p50/p99: direct's "
        f"over Modelgate's; higher is better), {len(moved)} moved beyond the noise:"
    ]
    for r in moved or []:
        lines.append(
            f"  {r['verdict']:6} {r['cell']:32} {r['metric']:4} "
            f"{r['before']:.3f} -> {r['after']:.3f} ({r['change_pct']:+.1f} %, "
            f"noise {r['noise_pct']:.1f} %)"
        )
    if not moved:
        lines.append("  nothing")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    rows = compare(json.loads(args.old.read_text()), json.loads(args.new.read_text()))
    print(render(rows))
    return 1 if any(r["verdict"] == "WORSE" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
