"""For data teams: what if we changed the SLA calendar or targets?

Simulates four weeks of a service desk on a virtual clock (the same Desk and SLA engine
that run in production), then asks three what-if questions of the recorded history:

1. tighter resolution targets,
2. a longer service day (08:00-20:00 and Saturday mornings),
3. both,

and prints SLA compliance per priority for each. With pandas installed the results are
also a DataFrame (``pip install pandas``); the numbers come from numpy either way.

Run it: ``python examples/sla_what_if.py``
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from casekit import Account, Actor, Desk, ManualClock, Priority
from casekit.sla import BusinessCalendar, ResolutionSpans, SlaDefinition, SlaPolicy

AMS = ZoneInfo("Europe/Amsterdam")
H = timedelta(hours=1)
OFFICE = BusinessCalendar.weekly(
    "Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, holidays=["2026-04-03", "2026-04-06"]
)
LONG_DAY = BusinessCalendar.weekly(
    "Europe/Amsterdam",
    {"mon-fri": "08:00-20:00", "sat": "09:00-13:00"},
    holidays=["2026-04-03", "2026-04-06"],
)
CURRENT = {"critical": 4 * H, "high": 8 * H, "moderate": 24 * H, "low": 40 * H}
TIGHTER = {"critical": 2 * H, "high": 4 * H, "moderate": 16 * H, "low": 40 * H}


def simulate(cases: int, seed: int) -> list[list[object]]:
    """Four weeks of cases worked by a small team, on a virtual clock."""
    rng = random.Random(seed)
    policy = SlaPolicy(
        definitions=(
            SlaDefinition(
                id="resolution",
                targets={Priority(p): t for p, t in CURRENT.items()},
                calendar="office",
            ),
        ),
        calendars={"office": OFFICE},
    )
    clock = ManualClock(datetime(2026, 3, 30, 8, 0, tzinfo=AMS))
    desk = Desk(clock=clock, sla=policy, discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    agent = Actor.agent("team", roles={"admin"})
    weights = [1, 4, 10, 5]
    open_ids: list[str] = []
    all_ids: list[str] = []
    for _ in range(cases):
        clock.advance(timedelta(minutes=rng.expovariate(1 / 25)))
        priority = rng.choices(list(Priority)[:4], weights)[0]
        case = desk.open_case(actor=agent, subject="x", account_id="acme", priority=priority)
        open_ids.append(case.id)
        all_ids.append(case.id)
        # The team resolves the oldest few cases when it gets to them.
        while open_ids and rng.random() < 0.5:
            case_id = open_ids.pop(rng.randrange(min(3, len(open_ids))))
            if rng.random() < 0.2:
                desk.await_info(case_id, actor=agent)
                clock.advance(timedelta(minutes=rng.randrange(10, 300)))
                desk.resume(case_id, actor=agent)
            desk.resolve(case_id, actor=agent, code="fixed", notes="done")
        desk.tick()
    return [desk.history(case_id, actor=agent) for case_id in all_ids]  # type: ignore[misc]


def compliance(result: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of resolved cases within target, per priority (the case's, at ``as_of``)."""
    rows = {}
    for priority in ("critical", "high", "moderate", "low"):
        mask = (result["priority"] == priority) & result["resolved"]
        if mask.any():
            rows[priority] = float(100 * (~result["breached"][mask]).mean())
    return rows


def main() -> None:
    logs = simulate(cases=600, seed=42)
    spans = ResolutionSpans.from_logs(logs)  # type: ignore[arg-type]
    as_of = datetime(2026, 5, 1, tzinfo=AMS)
    scenarios = {
        "today": (OFFICE, CURRENT),
        "tighter targets": (OFFICE, TIGHTER),
        "longer day": (LONG_DAY, CURRENT),
        "longer day + tighter": (LONG_DAY, TIGHTER),
    }
    print(f"{len(logs)} simulated cases; SLA compliance (% resolved within target).")
    print("A longer service day is a stricter promise: the same waits count as more")
    print("business time, unless staffing changes too (simulate that with the Desk).")
    print()
    print(
        f"{'scenario':<22}" + "".join(f"{p:>10}" for p in ("critical", "high", "moderate", "low"))
    )
    table = {}
    for name, (calendar, targets) in scenarios.items():
        result = spans.evaluate(calendar, targets, as_of=as_of)
        table[name] = compliance(result)
        cells = "".join(f"{table[name].get(p, float('nan')):>10.1f}" for p in CURRENT)
        print(f"{name:<22}{cells}")
    try:
        import pandas as pd  # noqa: PLC0415 - optional
    except ImportError:
        return
    frame = pd.DataFrame(table).T
    print()
    print("as a DataFrame (rows: scenarios):")
    print(frame.round(1).to_string())


if __name__ == "__main__":
    main()
