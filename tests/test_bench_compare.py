"""``bench.compare``: a run against a baseline, ratios over direct, noise-aware."""

from __future__ import annotations

from bench import compare


def report(direct: list[float], modelgate: list[float]) -> dict:
    def cell(rps: float) -> dict:
        return {"rps": rps, "p50_ms": 1000 / rps, "p99_ms": 4000 / rps}

    return {
        "raw": {
            "chat|c16|w0|direct": [cell(r) for r in direct],
            "chat|c16|w1|modelgate": [cell(r) for r in modelgate],
            "chat|c16|w1|portkey": [cell(1.0)],
        }
    }


def verdicts(rows: list[dict]) -> dict[str, str]:
    return {r["metric"]: r["verdict"] for r in rows}


def test_a_slower_gateway_on_a_slower_machine_is_the_same():
    """Ratios over the same repetition's direct: a machine half as fast is
    no regression."""
    old = report([4000, 4100, 3900], [400, 410, 395])
    new = report([2000, 2050, 1950], [200, 204, 198])
    rows = compare.compare(old, new)
    assert {r["cell"] for r in rows} == {"chat|c16|w1"}  # Modelgate's cells only
    assert verdicts(rows)["rps"] == "same"


def test_a_move_beyond_the_spread_is_reported_and_one_within_it_is_not():
    old = report([4000, 4000, 4000], [400, 380, 420])  # 10 % spread
    worse = report([4000, 4000, 4000], [300, 290, 310])
    within = report([4000, 4000, 4000], [390, 410, 385])
    better = report([4000, 4000, 4000], [600, 590, 610])
    assert verdicts(compare.compare(old, worse))["rps"] == "WORSE"
    assert verdicts(compare.compare(old, within))["rps"] == "same"
    assert verdicts(compare.compare(old, better)) == {
        "rps": "better",
        "p50": "better",
        "p99": "better",
    }
    assert "WORSE" in compare.render(compare.compare(old, worse))
