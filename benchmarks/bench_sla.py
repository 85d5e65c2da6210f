"""Benchmark: the SLA hot paths -- commands with clocks, ticks, and what-if replays.

One run, two questions, each next to what a user would otherwise write:

1. **Recording (the host).** N cases (fixed seed) are worked through a real ``Desk`` on
   the memory store: opened at random hours, started, answered, put on hold
   (``await_info``) and resumed by the agent or by a customer message, re-prioritised,
   given field tasks (created, started, blocked, completed), resolved and accepted,
   closed or left to auto-close. The policy: resolution and first-response SLAs and a
   task OLA on Europe/Amsterdam Mon-Fri 09:00-17:00 with Dutch holidays, warnings and
   escalations. The very same command plan runs on a desk without a policy, so the
   difference is the cost of SLA clocks per command. The scheduler's ``desk.tick()``
   runs every 15 simulated minutes throughout; its time is kept apart. The plan's first
   500 cases run again on a SQLite file, with and without the policy
   (``sla_command_overhead_pct_sqlite``): what a host on the embedded default pays.
2. **What-if (the data team).** The recorded logs are evaluated under another policy
   (other targets, Mon-Sat 07:00-21:00) at the end of the recording:

   * ``evaluate_many``: the engine's rules replay every case (serially, and on a
     ``ProcessPoolExecutor(2)``, workers warmed up first), in two passes (the rules, then
     the calendar arithmetic of all cases at once);
   * ``ResolutionSpans``: every case's commands as numpy arrays, with the resolution
     clock they produce (the engine's rules, command by command), evaluated at once, on
     the N cases and on the spans tiled to ~100,000 cases (copies shifted back by whole
     weeks);
   * the naive alternative: a pandas DataFrame of (opened, resolved, pauses) built from
     the logs by hand, and a per-row ``apply`` with businesstimedelta.

   Elapsed business hours of the resolution clock must agree case by case between all
   three (to the minute: businesstimedelta drops microseconds; all instants here are
   whole seconds, so in practice they agree exactly); the run stops with MISMATCH if not.

The command path also runs on a third desk whose SLA reactor plays back the events
and timers the real one returned, at no cost (``floor``): what is left is the
pipeline's cost of carrying the SLA events (fold, hash chain, store), outside
``casekit.sla``.

Where the time goes (issue 15: SLA overhead <= 25 %, engine what-if >= 5x the pandas +
businesstimedelta script). The command loop and the serial what-ifs are timed in this
process's CPU time (``time.process_time``), the process pool by the wall clock: wall
times swing 2x on a shared machine. Instruction counts do not swing at all
(callgrind, the plan's first 100 cases, ticks off, 875 commands, 1.04 domain and 0.77
SLA events per command; about 5-6k instructions per microsecond):

* A command without SLAs: 329k instructions (446k before the round below; ~90 us then).
* With SLAs: 573k, +74 % (780k, +75 % before that round; 988k, +110 %, before the
  changes of issue 15). The round (the fold's generated ``evolve``, one generated JSON
  encoder per event class, UTC instants' JSON kept by identity, kept SLA timers) took
  92k per command off the SLA part (335k -> 243k) but as much off the rest, so the
  percentage barely moved.
* A reactor that returns nothing costs +22k (+5 %): the ``Change``, the checks of
  its answer, its ``timers`` call.
* Floor: 469k, +40 % (624k, +40 %, before the round). Where the ~245k of the SLA part
  go now (each component called through a C function of its own, its inclusive
  instructions per command read off callgrind, the plan's first 60 cases, SLAs on
  against off): the reaction (``SlaReactor.react``) ~138k, of which ~97k the rules and
  ~48k folding its events into the clocks and the case; the hash chain ~48k more (now
  ~51k per event: ~22k the generated encoder, ~16k SHA-256, ~6k the record); timers
  ~27k more (the engine's ~20k, the pipeline's checks); the memory store ~8k more; the
  ``Change``, the checks of the reactor's answer and the rest ~25k. ``<= 25 %`` (~84k
  per command for everything SLA) stays out of reach: the engine's rules alone are
  above it.
* A later round (selection keyed by the priority alone when no definition has a
  condition; ``keep_running`` reuses the clock it was given unless an event for it is
  pending; no ``cancel_on``/``reset_on`` check without event names): 583k -> 575k per
  command with SLAs, against 342k without, +70 % -> +68 % (callgrind collecting only
  inside the command loop, the plan's first 100 cases, ticks off). The floor measured
  the same way: 470k, +37 %: the pipeline's share alone is above 25 %.
* The command-path round after it (callgrind collecting only inside the command loop:
  the loop runs under ``functools.reduce`` and ``--toggle-collect=functools_reduce``;
  the plan's first 100 cases, ticks off, the floor's tape recorded without ticks too):
  without SLAs 354k -> 333k per command, with SLAs 590k -> 531k, +66.5 % -> +59.4 %;
  floor 469k -> 415k, +32 % -> +24.5 %. Three changes: ``evolve`` fills a draft
  subclass and assigns ``__class__`` (``object.__setattr__`` cost ~1,000 instructions a
  field: an ``SlaClock`` evolve 24.5k -> 10.9k; this helps both desks); the reaction
  folds each event into its clock where it builds it (its rebuild of the case 45k ->
  9k per command); the reactor skips the rules for a command that cannot change a
  clock (``casekit.sla._steady``: the case reads the same to the rules as when they
  last left its clocks tuple; 242 of the 875 commands). Where the SLA part's ~198k per
  command go now (each part read through a C function of its own, which adds a little):
  the reaction ~106k (139k before), of which the rules ~68k (the calendar arithmetic
  of starts, resumes and retargets among them); the hash chain ~47k (untouched); timers
  ~26k (~12k of it the next warning instant of each new running clock, one calendar
  step); the ``Commit``'s checks and the memory store ~16k (untouched); the rest
  (``Change``, the checks of the reactor's answer) ~14k. Building the events and clocks
  by evolving templates instead of ``__init__`` was tried: no gain (a 5-field event
  costs the same, an ``SlaClock`` 26k -> 22k, a ``Timer`` 7k -> 11k). In CPU time
  (``python benchmarks/bench_sla.py``, 2,000 cases, one run of each tree on a loaded
  machine): overhead +115 % -> +111 %, floor +60 % -> +47 %, 124 -> 112 us per
  command with SLAs, 58 -> 53 without.
* The round after (same callgrind region, the plan's first 100 cases, ticks off): without
  SLAs 332k -> 301k per command, with SLAs 529k -> 480k: the SLA part 197k -> 179k, the
  percentage unchanged (+59.2 % -> +59.5 %: the rest shrank as much). Frozen attrs
  classes set each field through ``object.__setattr__`` (~1,000 instructions a field):
  the SLA events and clocks a reaction builds, the domain events ``decide`` builds, the
  records, ``Change`` and ``Committed`` are now built by ``casekit.model._evolve.maker``
  (a draft subclass filled, then ``__class__`` assigned; the validators run as
  ``__init__`` runs them); ``isinstance(event, Event)`` on the 50-class union cost ~5k
  per reactor event (now a set look-up first); the actor's and each duration's JSON are
  kept by identity; the steady precheck's ``note`` reuses the projection ``holds``
  computed. What is left of the SLA part is mostly fixed costs: SHA-256 of each SLA
  event's record (~21k per event), its canonical JSON (~28k for an ``sla.started``,
  ``isoformat`` ~11k per new instant), the rules (~65k per command).
* ``casekit.sla`` itself: ~105k per command (10-20 us; 250k before issue 15): the rules
  of two case clocks and one per task, building the SLA events, the calendar
  arithmetic; selection and timers are memoized (per policy, per clock object, per
  clocks tuple).

In wall time the floor is higher still (+66 % to +124 % in runs of 300 and 2,000 cases
on this machine, against 57 % in instructions; +66 % with the garbage collector off):
the SLA events' objects also weigh on allocation and on the collector's passes over
a growing heap.

What-if, per case (9.7 commands, 2.6 clocks; callgrind, the plan's first 300 cases, the
difference between one ``evaluate_many`` over them and none): ``evaluate_many`` costs
259-271k instructions (two runs), pandas + businesstimedelta 1,563k: 5.8-6.0x (771k and
2.0x event by event, before issue P; 2,755k before issue 15). Measured as two warm runs
against none on the same 300 cases' logs (pickled), a later round took it from 265k to
241k (-9 %): ``SlaOutcome`` no longer slotted (a frozen slotted class sets each of its 15
fields through ``object.__setattr__``: ~15k instructions per outcome built and freed,
~9k now), the percentage rounded without ``round``'s decimal conversions where that
gives the same float, and no lists summed. In CPU time (``time.process_time``, best of 7,
same process, 2,000 cases) 36-41 us against 158-171 us per case: 4.1-4.4x (the engine
event by event: 106 us); that round moved the ratio by a few percent only (3.6x -> 3.6-3.7x
in runs on a loaded machine, 28k cases/s against 7.7k): in the bench the recorded logs
lie scattered over the heap the desk left, and the first pass alone takes 21-24 us per
case there against 16-17 us on a compact (pickled) copy of the same logs in the same
process (13 us in a small process). Python's per-object costs weigh more in time than in
instructions. The replay runs in two passes (``casekit.sla._vector``): the rules first,
command by command but without a calendar (the business time a clock uses never
changes what the rules decide), and only for the clocks whose rules read what the
command changed, writing down the business-time questions they meet; then every question
of every case at once, one numpy batch per calendar (``elapsed_many``, ``add_each``);
then the outcomes. Policies the first pass does not follow (conditions, account or group
calendars, next-response, periodic-update and custom metrics, ``cancel_on``/``reset_on``)
and logs with events it does not know are replayed event by event, as before. The
vectorized path (``ResolutionSpans``) is how a what-if of resolution clocks runs at numpy
speed (the ``whatif_speedup_vs_pandas_businesstimedelta`` line).
A later round (December 2026) took the serial what-if from 3.3-3.6x to 4.4-4.6x the
pandas + businesstimedelta script (alternating runs of 2,000 cases, CPU time, quiet
machine: 37.7k against 8.6k cases/s): outcomes built column by column (numpy sums per
clock, timedeltas and percentages made at once), fewer objects per case, a command that
only adds a message runs only the first-response rules, events pulled out of their
records in one C loop, and ``SlaOutcome`` slotted again and built on a draft. What is
left is Python's own: the garbage collector takes 7-11 % of a replay (31 young and 2
middle-generation collections per 2,000 cases; the young objects are lists 31 %,
outcomes 23 %, clocks 23 %, the case, track and task state the rest), and the rules
and the business-time questions the rest.
The round after (December 2026) took that collector's share away: a case's objects
(its state, tracks, tasks and clocks) die as soon as it has been followed, its clocks
written down in columns of atoms (``Questions.report``) that the outcomes are built
from; 6 young and 1 middle-generation collections per 2,000 cases are left (the
outcomes' own), and a replay with the collector off is 1 % faster, against 20 % before
(29.3 against 29.0 us per case; 44.6 against 35.7 before, same process, best of 5,
on a loaded machine). Clocks and tracks are built field by field on an empty instance
(a class call through ``__init__`` costs more than the fields), the rules of a case
clock that runs on are read in ``react`` itself, and case columns are spread to their
clocks through one index list. Instructions per case (callgrind, two warm runs, the
logs in the oldest generation): 216k -> 194k on the first 300 cases recorded live,
217k -> 191k on 500 (of them the first pass 141k, the answers 27k, 20k of it turning
instants into microseconds, the outcomes 22k). CPU time (the same 2,000 cases,
alternating processes, best of 7, load average 10-13 on 2 cores): 34-42 -> 27-31 us per
case, 5.7-6.1x -> 6.8-7.6x the pandas + businesstimedelta script in that harness; the
bench itself, six alternating runs of each tree on that loaded machine: 3.3-5.8x
before (median 4.1x) against 4.2-6.2x (median 5.8x; five of the six 5.4-6.2x).

businesstimedelta works on naive datetimes and treats them as UTC. It is given the
*local Amsterdam wall time* of each instant. That is exact here: the opening hours
(07:00-21:00) never touch the 02:00-03:00 hour that DST skips or repeats, so the
wall-clock length of every business period equals its real length. (Naive *UTC*
values would be off by one or two hours at every edge, and differently across DST.)

Run ``python benchmarks/bench_sla.py`` (under a minute on 2 cores) or with ``--quick``
(about five seconds); ``--cases`` sets N. Needs the ``bench`` extra: businesstimedelta,
pandas, numpy, holidays.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, NoReturn
from zoneinfo import ZoneInfo

import attrs
import businesstimedelta as btd
import holidays
import numpy as np
import pandas as pd
from _tape import PlaybackReactor, Tape, TapingReactor
from _timing import best_of, table_row

from casekit import Account, Actor, Contact, Desk, Direction, ManualClock, Priority, hookimpl
from casekit.audit import EventRecord
from casekit.model.events import CaseOpened, CaseStateChanged, Event
from casekit.reactors import ORDER_LAST, ReactorRegistry
from casekit.sla import (
    BusinessCalendar,
    Escalation,
    ResolutionSpans,
    SlaDefinition,
    SlaKind,
    SlaMetric,
    SlaOutcome,
    SlaPolicy,
    Subject,
    evaluate_many,
)
from casekit.sla._reactor import SlaReactor
from casekit.storage.sqlite import SQLiteStore

AMS = ZoneInfo("Europe/Amsterdam")
SEED = 20260323
# A Monday 08:00 in Amsterdam; DST starts on the 29th, Easter follows. Kept in UTC: adding
# a timedelta to a ZoneInfo datetime is wall-clock arithmetic, and comparing two of them
# compares wall times, both wrong across the DST change.
T0 = datetime(2026, 3, 23, 8, 0, tzinfo=AMS).astimezone(UTC)
TICK_EVERY = timedelta(minutes=15)
TILED_CASES = 100_000
SQLITE_CASES = 500  # the plan's first cases run again on a SQLite file
H = timedelta(hours=1)
AGENT = Actor.agent("bench", groups={"support", "field"})
CUSTOMER = Actor.contact("c1")
PRIORITIES = (Priority.CRITICAL, Priority.HIGH, Priority.MODERATE, Priority.LOW)
PRIORITY_WEIGHTS = (5, 20, 50, 25)

# --- the policies -------------------------------------------------------------------------

DUTCH = sorted(holidays.country_holidays("NL", years=range(2018, 2028)).keys())
OFFICE = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, holidays=DUTCH)
EXTENDED = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sat": "07:00-21:00"}, holidays=DUTCH)


def policy_in_force() -> SlaPolicy:
    """What the desk records with: office hours, three clocks per case (and task)."""
    return SlaPolicy(
        definitions=(
            SlaDefinition(
                id="resolution",
                calendar="office",
                targets={
                    Priority.CRITICAL: 4 * H,
                    Priority.HIGH: 8 * H,
                    Priority.MODERATE: 16 * H,
                    Priority.LOW: 40 * H,
                },
                escalations=(
                    Escalation(level=1, action="notify:team-lead"),
                    Escalation(level=2, after=2 * H, action="notify:service-manager"),
                ),
            ),
            SlaDefinition(
                id="first-response",
                metric=SlaMetric.FIRST_RESPONSE,
                calendar="office",
                targets={
                    Priority.CRITICAL: H / 2,
                    Priority.HIGH: H,
                    Priority.MODERATE: 4 * H,
                    Priority.LOW: 8 * H,
                },
            ),
            SlaDefinition(
                id="field-ola",
                kind=SlaKind.OLA,
                subject=Subject.TASK,
                calendar="office",
                targets={
                    Priority.CRITICAL: 2 * H,
                    Priority.HIGH: 4 * H,
                    Priority.MODERATE: 8 * H,
                    Priority.LOW: 16 * H,
                },
            ),
        ),
        calendars={"office": OFFICE},
    )


WHATIF_TARGETS = {
    Priority.CRITICAL: 6 * H,
    Priority.HIGH: 12 * H,
    Priority.MODERATE: 24 * H,
    Priority.LOW: 60 * H,
}


def policy_tried() -> SlaPolicy:
    """The what-if: longer hours (Mon-Sat 07-21) and other targets, same clocks."""
    base = policy_in_force()
    targets = {
        "resolution": WHATIF_TARGETS,
        "first-response": {p: t / 2 for p, t in WHATIF_TARGETS.items()},
        "field-ola": {p: t / 3 for p, t in WHATIF_TARGETS.items()},
    }
    return SlaPolicy(
        definitions=tuple(
            attrs.evolve(d, calendar="extended", targets=targets[d.id]) for d in base.definitions
        ),
        calendars={"extended": EXTENDED},
    )


# --- the command plan ---------------------------------------------------------------------


class Step(NamedTuple):
    """One command of the plan: at ``at``, on case number ``case``, do ``op``."""

    at: datetime
    seq: int
    case: int
    op: str
    arg: str = ""


def case_steps(rng: random.Random, opened: datetime) -> list[tuple[datetime, str, str]]:
    """One case's life, as a valid sequence of (instant, command, argument)."""
    now = opened
    out: list[tuple[datetime, str, str]] = []

    def later(mean_minutes: float) -> datetime:
        nonlocal now
        now += timedelta(seconds=1 + int(rng.expovariate(1 / (mean_minutes * 60))))
        return now

    priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    out.append((now, "open", priority.value))
    if rng.random() < 0.85:
        out.append((later(40), "start", ""))
    out.append((later(30), "reply", ""))
    for _ in range(rng.randint(1, 6)):
        move = rng.random()
        later(rng.choice((20, 90, 360)))
        if move < 0.25:
            out.append((now, "await_info", ""))
            if rng.random() < 0.15:  # resolved while waiting on the customer
                out.append((later(300), "resolve", ""))
                break
            resumer = "customer" if rng.random() < 0.6 else "resume"
            out.append((later(rng.choice((60, 600, 1500))), resumer, ""))
        elif move < 0.40:
            others = [p for p in PRIORITIES if p is not priority]
            priority = rng.choice(others)
            out.append((now, "priority", priority.value))
        elif move < 0.60:
            out.append((now, "task", ""))
            out.append((later(60), "task_start", ""))
            if rng.random() < 0.3:
                out.append((later(60), "task_block", ""))
                out.append((later(240), "task_start", ""))
            out.append((later(120), "task_complete", ""))
        elif move < 0.85:
            out.append((now, "reply", ""))
        else:
            out.append((now, "note", ""))
    else:
        out.append((later(120), "resolve", ""))
    ending = rng.random()
    if ending < 0.4:
        out.append((later(600), "accept", ""))
    elif ending < 0.7:
        out.append((later(120), "close", ""))
    # else: left to the auto-close timer
    return out


def make_plan(cases: int, seed: int) -> tuple[list[Step], datetime]:
    """Every case's steps merged in time order, cut at the end of the recording."""
    rng = random.Random(seed)
    opened = T0
    steps: list[Step] = []
    seq = 0
    last_open = T0
    for case in range(cases):
        opened += timedelta(seconds=1 + int(rng.expovariate(1 / (20 * 60))))
        last_open = opened
        for at, op, arg in case_steps(rng, opened):
            steps.append(Step(at, seq, case, op, arg))
            seq += 1
    end = last_open + timedelta(days=1)  # the youngest cases are still being worked
    return sorted(s for s in steps if s.at <= end), end


@attrs.define
class Recording:
    """What running the plan on one desk measured."""

    desk: Desk | None
    case_ids: list[str]
    seconds: dict[str, float] = attrs.field(factory=lambda: defaultdict(float))
    counts: Counter[str] = attrs.field(factory=Counter)
    tick_seconds: float = 0.0
    ticks: int = 0
    timers: int = 0
    tick_events: int = 0

    @property
    def commands(self) -> int:
        return sum(self.counts.values())

    @property
    def command_seconds(self) -> float:
        return sum(self.seconds.values())


@attrs.frozen
class ReactorPlugin:
    """Registers one reactor where the desk's SLA reactor would be."""

    reactor: Any

    @hookimpl
    def casekit_register_reactors(self, registry: ReactorRegistry) -> None:
        registry.add(self.reactor, order=ORDER_LAST)


def new_desk(
    clock: ManualClock, sla: SlaPolicy | None, reactor: Any = None, path: Path | None = None
) -> Desk:
    """A desk on the memory store, or on a new SQLite file at ``path``."""
    plugins = [ReactorPlugin(reactor)] if reactor is not None else []
    store = SQLiteStore(path) if path is not None else None
    desk = Desk(store=store, clock=clock, discover=False, sla=sla, plugins=plugins)
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_contact(Contact(id="c1", account_id="acme", name="Carla"))
    return desk


def record(
    plan: Sequence[Step],
    end: datetime,
    sla: SlaPolicy | None,
    reactor: Any = None,
    path: Path | None = None,
) -> Recording:
    """Run ``plan`` on a fresh desk (memory store, or SQLite at ``path``), ticking every
    15 simulated minutes (with ``reactor`` in place of the SLA engine, if given)."""
    clock = ManualClock(T0)
    desk = new_desk(clock, sla, reactor, path)
    rec = Recording(desk, [])  # the desk, for the caller's use
    ids = rec.case_ids
    task_of: dict[int, str] = {}
    next_tick = T0
    perf = time.process_time  # this process's work alone: steadier on a shared machine
    for step in [*plan, Step(end, -1, -1, "end")]:
        while next_tick <= step.at:
            clock.set(next_tick)
            due = len(desk.store.due_timers(next_tick, limit=1_000_000))
            began = perf()
            fired = desk.tick(next_tick, limit=1_000_000)
            rec.tick_seconds += perf() - began
            rec.ticks += 1
            rec.timers += due
            rec.tick_events += len(fired)
            next_tick += TICK_EVERY
        if step.op == "end":
            break
        clock.set(step.at)
        began = perf()
        perform(desk, step, ids, task_of)
        rec.seconds[step.op] += perf() - began
        rec.counts[step.op] += 1
    return rec


def perform(desk: Desk, step: Step, ids: list[str], task_of: dict[int, str]) -> None:
    """Run one step of the plan through the desk's public API."""
    op = step.op
    case_id = ids[step.case] if op != "open" else ""
    if op == "open":
        ids.append(
            desk.open_case(
                actor=AGENT,
                subject=f"Case {step.case}",
                account_id="acme",
                contact_id="c1",
                priority=Priority(step.arg),
                group="support",
            ).id
        )
    elif op == "start":
        desk.start(case_id, actor=AGENT)
    elif op == "reply":
        desk.add_interaction(case_id, "We are looking into it.", actor=AGENT)
    elif op == "note":
        desk.add_interaction(
            case_id, "Checked the logs.", actor=AGENT, direction=Direction.INTERNAL
        )
    elif op == "customer":
        desk.add_interaction(case_id, "Here is the serial number.", actor=CUSTOMER)
    elif op == "await_info":
        desk.await_info(case_id, actor=AGENT, reason="serial number?")
    elif op == "resume":
        desk.resume(case_id, actor=AGENT)
    elif op == "priority":
        desk.change_priority(case_id, Priority(step.arg), actor=AGENT, reason="impact")
    elif op == "task":
        task_of[step.case] = desk.create_task(case_id, "Site visit", actor=AGENT, group="field").id
    elif op == "task_start":
        desk.start_task(task_of[step.case], actor=AGENT)
    elif op == "task_block":
        desk.block_task(task_of[step.case], actor=AGENT, reason="waiting for parts")
    elif op == "task_complete":
        desk.complete_task(task_of[step.case], actor=AGENT, notes="done")
    elif op == "resolve":
        desk.resolve(case_id, actor=AGENT, code="fixed", notes="Replaced the part.")
    elif op == "accept":
        desk.accept(case_id, actor=CUSTOMER)
    elif op == "close":
        desk.close_case(case_id, actor=AGENT)
    else:  # pragma: no cover - the plan only has the ops above
        raise AssertionError(op)


# --- the naive alternative: pandas + businesstimedelta --------------------------------------


def local_naive(t: datetime) -> datetime:
    """Amsterdam wall time of an instant, without tzinfo (what businesstimedelta takes)."""
    return t.astimezone(AMS).replace(tzinfo=None)


def naive_frame(logs: Sequence[Sequence[EventRecord]], as_of: datetime) -> Any:
    """What a user writes: one row per case, opened / stopped / pauses in local time."""
    rows = []
    for log in logs:
        opened: datetime | None = None
        stop: datetime | None = None
        paused_at: datetime | None = None
        pauses: list[tuple[datetime, datetime]] = []
        for record in log:
            event = record.event
            if isinstance(event, CaseOpened):
                opened = event.at
            elif isinstance(event, CaseStateChanged) and stop is None and event.at <= as_of:
                if event.new.value == "awaiting_info":
                    paused_at = paused_at or event.at
                elif paused_at is not None:
                    pauses.append((paused_at, event.at))
                    paused_at = None
                if event.new.value in ("resolved", "closed"):
                    stop = event.at
        assert opened is not None
        end = stop or as_of
        if paused_at is not None:
            pauses.append((paused_at, end))
        rows.append(
            {
                "case_id": log[0].event.case_id,
                "opened": local_naive(opened),
                "stopped": local_naive(end),
                "pauses": [(local_naive(a), local_naive(min(b, end))) for a, b in pauses],
            }
        )
    return pd.DataFrame(rows)


def btd_rules() -> Any:
    """The what-if calendar for businesstimedelta: Mon-Sat 07:00-21:00, Dutch holidays."""
    return btd.Rules(
        [
            btd.WorkDayRule(
                start_time=clock_time(7), end_time=clock_time(21), working_days=[0, 1, 2, 3, 4, 5]
            ),
            btd.HolidayRule(DUTCH),
        ]
    )


def naive_elapsed(frame: Any, rules: Any) -> Any:
    """Business hours per case: a per-row ``apply`` calling businesstimedelta."""

    def row_hours(row: Any) -> float:
        total: timedelta = rules.difference(row["opened"], row["stopped"]).timedelta
        for a, b in row["pauses"]:
            total -= rules.difference(a, b).timedelta
        return total / H

    return frame.apply(row_hours, axis=1)


# --- helpers ----------------------------------------------------------------------------


def tiled(spans: ResolutionSpans, copies: int, period: timedelta) -> ResolutionSpans:
    """``copies`` of ``spans``, copy ``k`` shifted back by ``k * period``."""
    n = len(spans.case_ids)
    shift = (np.arange(copies, dtype=np.int64) * -(period // timedelta(microseconds=1))).astype(
        "timedelta64[us]"
    )

    def shifted(values: Any) -> Any:
        return (values[None, :] + shift[:, None]).ravel()

    def offset(rows: Any) -> Any:
        return (rows[None, :] + np.arange(copies, dtype=np.int64)[:, None] * n).ravel()

    def tile(values: Any) -> Any:
        return np.tile(values, copies)

    clocks = spans.clocks
    return attrs.evolve(
        spans,
        case_ids=tuple(f"{cid}/{k}" for k in range(copies) for cid in spans.case_ids),
        priorities=spans.priorities * copies,
        channels=spans.channels * copies,
        account_ids=spans.account_ids * copies,
        group_case=offset(spans.group_case),
        group_at=shifted(spans.group_at),
        group_state=tile(spans.group_state),
        group_priority=tile(spans.group_priority),
        group_category=tile(spans.group_category),
        clocks=attrs.evolve(
            clocks,
            group_cycle=tile(clocks.group_cycle),
            group_stage=tile(clocks.group_stage),
            group_target=tile(clocks.group_target),
            span_case=offset(clocks.span_case),
            span_cycle=tile(clocks.span_cycle),
            span_paused=tile(clocks.span_paused),
            span_start=shifted(clocks.span_start),
            span_end=shifted(clocks.span_end),
            span_dropped=tile(clocks.span_dropped),
        ),
    )


def scalar_elapsed_hours(spans: ResolutionSpans, row: int, as_of: datetime) -> float:
    """One row of ``ResolutionSpans.evaluate`` with the scalar calendar (a spot check):
    the running stretches of the clock's current cycle, cut at ``as_of``."""

    def instant(value: Any) -> datetime | None:
        if np.isnat(value):
            return None
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=int(value.astype("datetime64[us]").astype(np.int64))
        )

    now = np.datetime64(as_of.astimezone(UTC).replace(tzinfo=None), "us")
    clocks = spans.clocks
    groups = np.flatnonzero((spans.group_case == row) & (spans.group_at <= now))
    if len(groups) == 0:
        return math.nan
    cycle = clocks.group_cycle[groups[-1]]
    total = timedelta(0)
    mine = (clocks.span_case == row) & (clocks.span_cycle == cycle) & ~clocks.span_paused
    for k in np.flatnonzero(mine):
        a = instant(clocks.span_start[k])
        b = instant(clocks.span_end[k])
        assert a is not None
        if a > as_of:
            continue
        if b is None or b > as_of:
            b = as_of
        elif clocks.span_dropped[k]:
            continue  # a cancellation records no time, as in the engine
        total += EXTENDED.elapsed(a, b)
    return total / H


def domain_events(logs: Sequence[Sequence[EventRecord]]) -> list[list[Event]]:
    """What is worth shipping to a worker: events, not records, and no ``sla.*`` ones
    (``evaluate`` drops those anyway). Pickling is most of the cost of a process pool."""
    return [[r.event for r in log if not r.event.name.startswith("sla.")] for log in logs]


def resolution_outcomes(outcomes: Sequence[SlaOutcome]) -> dict[str, SlaOutcome]:
    return {o.case_id: o for o in outcomes if o.key == "resolution"}


def fail(message: str) -> NoReturn:
    sys.exit(f"MISMATCH {message}")


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 cases, a few seconds")
    parser.add_argument("--cases", type=int, default=None, help="override N")
    args = parser.parse_args(argv)
    n_cases = args.cases or (300 if args.quick else 2_000)
    recordings = 2 if args.quick else 3  # alternating runs of each desk, best kept
    repeats = 3

    # -- 1. recording ------------------------------------------------------------------
    plan, end = make_plan(n_cases, SEED)
    warm_plan, warm_end = make_plan(30, SEED + 1)
    for sla in (None, policy_in_force()):  # imports, caches, calendar compilation
        record(warm_plan, warm_end, sla)
    # The floor: the same SLA events and timers, played back by a reactor that
    # computes nothing, so only the pipeline's cost of carrying them remains.
    tape = Tape()
    record(plan, end, None, TapingReactor(SlaReactor(policy_in_force()), tape, "sla"))
    # Alternate the three desks and keep the faster run of each. Each desk is dropped
    # (and collected) before the next starts, so its objects do not weigh on the next
    # run's garbage collections; the last desk with SLAs is kept for its logs.
    runs: dict[str, Recording] = {}
    tick_s = {"off": math.inf, "on": math.inf, "floor": math.inf}
    desk: Desk | None = None
    for _ in range(recordings):
        for variant in ("off", "on", "floor"):
            if variant == "on":
                desk = None  # only the last desk with SLAs survives the loop
            gc.collect()
            tape.rewind()
            rec = record(
                plan,
                end,
                policy_in_force() if variant == "on" else None,
                PlaybackReactor(tape, "sla") if variant == "floor" else None,
            )
            if variant == "on":
                desk = rec.desk
            rec.desk = None
            tick_s[variant] = min(tick_s[variant], rec.tick_seconds)
            best = runs.get(variant)
            if best is None or rec.command_seconds < best.command_seconds:
                runs[variant] = rec
            del rec
    off, on, floor = runs["off"], runs["on"], runs["floor"]
    assert desk is not None
    if off.counts != on.counts or floor.counts != on.counts:
        fail(f"the plan ran {off.commands} commands without SLAs but {on.commands} with")
    ids = on.case_ids
    logs = [desk.history(case_id, actor=AGENT) for case_id in ids]
    events = sum(len(log) for log in logs)
    sla_events = sum(r.event.name.startswith("sla.") for log in logs for r in log)
    for case_id in ids[:: max(1, len(ids) // 20)]:
        if not desk.verify(case_id).ok:
            fail(f"audit chain of {case_id}")
    # The scheduler was down for eight days: one tick catches up on everything due
    # (SLA moments, and the auto-close of every case resolved in the last week).
    later = end + timedelta(days=8)
    backlog = len(desk.store.due_timers(later, limit=1_000_000))
    catchup_s, catchup = best_of(1, partial(desk.tick, later, limit=1_000_000))
    del desk
    gc.collect()

    # -- 1b. the same commands on the SQLite store (the embedded default) ---------------
    # A host's desk runs on a database, where the command itself costs more and the SLA
    # part a little more (its events' and timers' rows). Fewer cases: each run writes a
    # new file.
    sqlite_plan, sqlite_end = make_plan(min(n_cases, SQLITE_CASES), SEED)
    sqlite_s = {"off": math.inf, "on": math.inf}
    sqlite_commands = 0
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(recordings):
            for variant in ("off", "on"):
                gc.collect()
                path = Path(tmp) / f"{variant}-{run}.db"
                sla = policy_in_force() if variant == "on" else None
                done = record(sqlite_plan, sqlite_end, sla, path=path)
                if done.desk is not None:
                    done.desk.close()
                sqlite_s[variant] = min(sqlite_s[variant], done.command_seconds)
                sqlite_commands = done.commands

    # -- 2. what-if ----------------------------------------------------------------------
    cpu = time.process_time  # serial runs: this process's CPU time; the pool's: wall
    tried = policy_tried()
    as_of = end
    engine_s, engine_out = best_of(
        repeats, lambda: evaluate_many(logs, tried, as_of=as_of), clock=cpu
    )
    with ProcessPoolExecutor(2) as pool:
        evaluate_many(logs[:256], tried, as_of=as_of, executor=pool)  # start and warm both
        pool_s, pool_out = best_of(
            repeats, lambda: evaluate_many(logs, tried, as_of=as_of, executor=pool)
        )
        slim_s, slim_out = best_of(
            repeats, lambda: evaluate_many(domain_events(logs), tried, as_of=as_of, executor=pool)
        )
    if pool_out != engine_out or slim_out != engine_out:
        fail("evaluate_many on the process pool differs from the serial run")
    engine = resolution_outcomes(engine_out)

    extract_s, spans = best_of(repeats, lambda: ResolutionSpans.from_logs(logs), clock=cpu)
    targets = {p.value: t for p, t in WHATIF_TARGETS.items()}
    vec_s, vec = best_of(repeats, lambda: spans.evaluate(EXTENDED, targets, as_of=as_of), clock=cpu)

    span_days = (end - T0).days + 1
    period = timedelta(weeks=math.ceil(span_days / 7))
    copies = math.ceil(TILED_CASES / n_cases)
    big = tiled(spans, copies, period)
    n_big = len(big.case_ids)
    big_s, big_out = best_of(
        repeats, lambda: big.evaluate(EXTENDED, targets, as_of=as_of), clock=cpu
    )

    frame_s, frame = best_of(repeats, lambda: naive_frame(logs, as_of), clock=cpu)
    rules = btd_rules()
    apply_s, naive = best_of(repeats, lambda: naive_elapsed(frame, rules), clock=cpu)

    # -- cross-checks ---------------------------------------------------------------------
    if list(vec["case_id"]) != ids or list(frame["case_id"]) != ids or list(engine) != ids:
        fail("the three what-ifs do not list the same cases in the same order")
    worst = {"vectorized": 0.0, "pandas+btd": 0.0}
    for row, case_id in enumerate(ids):
        outcome = engine[case_id]
        expected = outcome.elapsed / H
        for name, got in (
            ("vectorized", float(vec["elapsed_hours"][row])),
            ("pandas+btd", float(naive.iloc[row])),
        ):
            gap = abs(got - expected) * 3600
            worst[name] = max(worst[name], gap)
            # The vectorized path follows the engine exactly; pandas+btd drops microseconds.
            if gap >= (1e-6 if name == "vectorized" else 60):
                fail(
                    f"{case_id}: engine {expected:.4f} business hours, {name} {got:.4f} "
                    f"({outcome.stage.value}, priority {spans.priorities[row]})"
                )
        if abs(float(vec["paused_hours"][row]) - outcome.paused / H) * 3600 >= 1e-6:
            fail(f"{case_id}: paused engine {outcome.paused} vs {vec['paused_hours'][row]}h")
        if vec["stage"][row] != outcome.stage.value:
            fail(f"{case_id}: stage engine {outcome.stage.value} vs {vec['stage'][row]}")
        if bool(vec["breached"][row]) != outcome.breached:
            fail(f"{case_id}: breached engine {outcome.breached} vs {vec['breached'][row]}")
    for key in ("elapsed_hours", "paused_hours", "breached"):
        if not np.array_equal(big_out[key][:n_cases], vec[key], equal_nan=key != "breached"):
            fail(f"tiled copy 0 differs from the original spans in {key}")
    for row in random.Random(SEED).sample(range(n_big), 100):
        want = scalar_elapsed_hours(big, row, as_of)
        if abs(float(big_out["elapsed_hours"][row]) - want) * 3600 >= 1e-3:
            fail(f"tiled row {row}: vectorized {big_out['elapsed_hours'][row]} vs scalar {want}")

    # -- report ----------------------------------------------------------------------------
    on_rate, off_rate = on.commands / on.command_seconds, off.commands / off.command_seconds
    overhead = (on.command_seconds / off.command_seconds - 1) * 100
    floor_pct = (floor.command_seconds / off.command_seconds - 1) * 100
    engine_us = (on.command_seconds - floor.command_seconds) / on.commands * 1e6
    carry_us = (floor.command_seconds - off.command_seconds) / on.commands * 1e6
    print(
        f"Recording: {n_cases:,} cases, {on.commands:,} commands over {(end - T0).days} "
        f"simulated days, {events:,} events ({sla_events:,} of them sla.*); best of "
        f"{recordings} alternating runs per desk"
    )
    widths = (-14, 7, 12, 12, 9, 10, 9)
    print(
        table_row(
            ("command", "count", "SLA off us", "SLA on us", "overhead", "floor us", "floor"),
            widths,
        )
    )
    print("-" * 78)
    per_op = [
        (
            op,
            count,
            off.seconds[op] / count * 1e6,
            on.seconds[op] / count * 1e6,
            floor.seconds[op] / count * 1e6,
        )
        for op, count in sorted(on.counts.items(), key=lambda kv: -kv[1])
    ]
    per_op.append(
        (
            "all commands",
            on.commands,
            1e6 / off_rate,
            1e6 / on_rate,
            floor.command_seconds / on.commands * 1e6,
        )
    )
    for op, count, us_off, us_on, us_floor in per_op:
        pct = f"{us_on / us_off - 1:+.0%}"
        low = f"{us_floor / us_off - 1:+.0%}"
        cells = (op, count, f"{us_off:,.0f}", f"{us_on:,.0f}", pct, f"{us_floor:,.0f}", low)
        print(table_row(cells, widths))
    print(
        f"commands/s: {off_rate:,.0f} without SLAs, {on_rate:,.0f} with (3 clocks per case "
        "+ 1 per task, Mon-Fri 09-17 Amsterdam)"
    )
    print(
        f"floor = the same SLA events and timers played back by a reactor that computes "
        f"nothing: {carry_us:,.1f} us/command carrying them through the pipeline (fold, "
        f"hash chain, store), {engine_us:,.1f} us/command computing them (casekit.sla)"
    )
    sqlite_overhead = (sqlite_s["on"] / sqlite_s["off"] - 1) * 100
    print(
        f"on the SQLite store, {sqlite_commands:,} commands of the plan's first "
        f"{min(n_cases, SQLITE_CASES):,} cases: "
        f"{sqlite_s['off'] / sqlite_commands * 1e6:,.0f} us/command without SLAs, "
        f"{sqlite_s['on'] / sqlite_commands * 1e6:,.0f} with, {sqlite_overhead:+.0f} %"
    )
    tick_rate = on.timers / tick_s["on"]
    print(
        f"scheduler tick every 15 min: {on.ticks:,} ticks handled {on.timers:,} due timers "
        f"({on.tick_events:,} events) in {tick_s['on']:.2f} s = {tick_rate:,.0f} timers/s, "
        f"{tick_s['on'] / on.ticks * 1e6:,.0f} us/tick; without SLAs {off.timers:,} "
        f"auto-close timers, {tick_s['off'] / off.ticks * 1e6:,.0f} us/tick"
    )
    catchup_rate = backlog / catchup_s
    print(
        f"catch-up tick after 8 days down: {backlog:,} due timers ({len(catchup):,} events) "
        f"in {catchup_s:.2f} s = {catchup_rate:,.0f} timers/s"
    )
    print()
    print(
        f"What-if at the end of the recording (Mon-Sat 07:00-21:00, other targets), "
        f"{n_cases:,} cases; resolution clocks agree to {max(worst.values()):.3f} s"
    )
    columns = (-44, 9, 12, 9)
    print(table_row(("method", "seconds", "cases/s", "x pandas"), columns))
    print("-" * 77)
    pandas_rate = n_cases / apply_s
    rows: list[tuple[str, float, int]] = [
        ("evaluate_many, engine replay (serial)", engine_s, n_cases),
        ("evaluate_many, ProcessPoolExecutor(2)", pool_s, n_cases),
        ("  same, shipping events without sla.*", slim_s, n_cases),
        ("ResolutionSpans.from_logs (extract)", extract_s, n_cases),
        ("ResolutionSpans.evaluate", vec_s, n_cases),
        (f"ResolutionSpans.evaluate, tiled x{copies}", big_s, n_big),
        ("pandas DataFrame from the logs (extract)", frame_s, n_cases),
        ("pandas apply + businesstimedelta", apply_s, n_cases),
    ]
    for name, seconds, count in rows:
        rate = count / seconds
        times = f"{rate / pandas_rate:.1f}"
        print(table_row((name, f"{seconds:.3f}", f"{rate:,.0f}", times), columns))
    engine_rate = n_cases / engine_s
    vec_rate = n_big / big_s
    print(
        f"The engine replays all {events - sla_events:,} non-SLA events into {len(engine_out):,}"
        f" clocks; the vectorized path and pandas only measure resolution. Speedup = tiled"
        f" evaluate vs the pandas apply, per case."
    )
    print(f"RESULT commands_per_s_sla_off={off_rate:.0f}")
    print(f"RESULT commands_per_s_sla_on={on_rate:.0f}")
    print(f"RESULT sla_command_overhead_pct={overhead:.1f}")
    print(f"RESULT sla_command_floor_pct={floor_pct:.1f}")
    print(f"RESULT sla_command_engine_us={engine_us:.1f}")
    print(f"RESULT sla_command_carry_us={carry_us:.1f}")
    print(f"RESULT sla_command_overhead_pct_sqlite={sqlite_overhead:.1f}")
    print(f"RESULT tick_timers_per_s={tick_rate:.0f}")
    print(f"RESULT tick_catchup_timers_per_s={catchup_rate:.0f}")
    print(f"RESULT whatif_engine_cases_per_s={engine_rate:.0f}")
    print(f"RESULT whatif_engine_pool2_cases_per_s={n_cases / pool_s:.0f}")
    print(f"RESULT whatif_engine_pool2_slim_cases_per_s={n_cases / slim_s:.0f}")
    print(f"RESULT whatif_vectorized_cases_per_s={vec_rate:.0f}")
    print(f"RESULT whatif_pandas_businesstimedelta_cases_per_s={pandas_rate:.0f}")
    print(f"RESULT whatif_speedup_vs_pandas_businesstimedelta={vec_rate / pandas_rate:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
