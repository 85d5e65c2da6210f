"""Small scenarios the simulator tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit.sim import AgentGroup, CaseType, Exponential, PoissonArrivals, Scenario
from casekit.sla import SlaDefinition, SlaPolicy


def mmc(
    *,
    agents: int = 5,
    per_minute: float = 4.0,
    handle: float = 60.0,
    arrivals: int = 5_000,
    seed: int = 0,
) -> Scenario:
    """An M/M/c queue: Poisson arrivals, exponential handle times, alike agents, and an
    answer-within-20-s SLA on a 24x7 calendar."""
    return Scenario(
        name=f"M/M/{agents}",
        start=datetime(2026, 1, 5, tzinfo=UTC),
        max_arrivals=arrivals,
        arrivals=PoissonArrivals(per_hour=per_minute * 60),
        case_types=(CaseType(name="call", channel="phone", handle_time=Exponential(handle)),),
        agents=(AgentGroup(name="agent", count=agents),),
        sla=SlaPolicy(
            definitions=(
                SlaDefinition(
                    id="answer",
                    metric="first_response",
                    targets={"moderate": timedelta(seconds=20)},
                ),
            )
        ),
        seed=seed,
    )


@pytest.fixture
def small() -> Scenario:
    return mmc()
