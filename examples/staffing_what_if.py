"""For data teams: what if we staffed the contact centre differently?

Loads the scenario file ``examples/sim/contact_centre.toml`` (arrivals with a daily
and weekly shape, three kinds of case, two teams on shift calendars, SLAs on office
hours), simulates it with casekit's own router, calendars and SLA rules, and compares
three plans over several seeds (mean ± standard error):

1. as it is,
2. two more people in the service team,
3. the billing team on the extended calendar (07:00-21:00, Saturdays too).

Then it asks Erlang C how many agents the billing line's peak hour needs, the
back-of-the-envelope answer the simulation refines.

Run it: ``python examples/staffing_what_if.py`` (``pip install 'casekit[notebook]'``
prints the table with pandas; without it, plain text).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from casekit.analytics import required_agents
from casekit.sim import Scenario, sweep

HERE = Path(__file__).resolve().parent
SEEDS = 3


def main() -> None:
    # Two days keep the example quick; the file simulates a week.
    base = Scenario.from_toml(HERE / "sim" / "contact_centre.toml").evolve(
        duration=timedelta(days=2)
    )
    service = next(g for g in base.agents if g.name == "service")
    plans = {
        "as is": base,
        "service +2": base.with_agents("service", count=service.count + 2),
        "billing 07-21": base.with_agents("billing", shift="extended"),
    }
    runs = sweep(plans, seeds=SEEDS, progress=False)
    metrics = ("mean_wait_s", "abandoned", "sla.first-response.compliance", "utilisation")
    print(f"{len(runs.summaries)} runs ({SEEDS} seeds per plan), mean ± standard error:")
    for plan, figures in runs.compare(*metrics).items():
        shown = ", ".join(f"{name} {mean:.3g} ± {se:.2g}" for name, (mean, se) in figures.items())
        print(f"  {plan:14} {shown}")

    # Erlang C for the billing line at its busiest hour: the share of arrivals that
    # are billing calls times the peak hourly rate, 7-minute calls, 80 % in 60 s.
    weights = {t.name: t.weight for t in base.case_types}
    share = weights["billing call"] / sum(weights.values())
    peak = base.arrivals.peak_per_hour * share  # type: ignore[union-attr]
    staffing = required_agents(
        arrivals=peak,
        interval=timedelta(hours=1),
        handle_time=timedelta(minutes=7),
        service_level=0.8,
        answer_within=timedelta(seconds=60),
    )
    print(
        f"Erlang C: {peak:.1f} billing calls in the peak hour need {staffing.agents} agents "
        f"for 80 % answered within a minute (the scenario has "
        f"{next(g.count for g in base.agents if g.name == 'billing')})"
    )


if __name__ == "__main__":
    main()
