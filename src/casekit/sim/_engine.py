"""The simulator: one event loop on a virtual clock, driving casekit's own router.

Design (why it is fast): the simulated world is kept in flat arrays indexed by case
number, the future in a heap of the instants events are due at (plain integers: whole
microseconds since the epoch, UTC) with a dict beside it from each instant to what is
due then, ``(kind, case, work)``, the next arrival outside both, and nothing is built
per arrival but the instant the router is told: the
:class:`~casekit.routing.WorkItem` of a completed case is routed again as the next
case of its type, with a new id and creation instant. No processes, generators or
event objects per case, as a general-purpose simulation library would build. The
decisions are the production router's (:class:`~casekit.routing.Router`:
queues, skills, strategies, relaxation ladders, capacity, shifts), and the SLA clocks
follow the production engine's rules with the production calendars, so a run's
outcomes are those :func:`casekit.sla.whatif.evaluate` gives for the same case
histories (``tests/sim/test_sla_agrees.py`` checks every clock of random runs).

The case lifecycle as simulated (the events :meth:`SimResult.event_logs` writes):

* a case arrives (``case.opened``) and is routed; a customer with ``patience`` gives up
  if no agent took it in time (``cancel``);
* an agent picks it up: the first pick-up starts the case (``start``) and answers the
  customer (the first response); the agent works it for a drawn handle time;
* the handling ends waiting for the customer (``await_info``, probability
  ``awaiting_info``), who answers after ``answer_time`` (``resume``), and the case is
  routed again (affinity prefers the same agent); or it is resolved;
* a resolved case may be reopened by the customer after ``reopen_after`` (``reject``,
  probability ``reopen``) and routed again.

Cases of a type that names a playbook take another path (``_playbooks``): each is a
case on a real Desk driven at the loop's instants, its work the tasks the production
runner opens (work numbers below zero), its timers events of kind ``PLAYBOOK``.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from bisect import bisect_right
from datetime import datetime
from itertools import accumulate
from typing import Any

from casekit.exceptions import InvalidScenario, MissingDependency
from casekit.routing import Outcome, Presence, Queue, QueueOrder, Router
from casekit.sim._compile import (
    ABANDON,
    ANSWER,
    AWAITING,
    BREACHED,
    BUCKET_US,
    CANCELLED,
    CANCELLED_CLOCK,
    DAY,
    DAY_US,
    DONE,
    EPOCH,
    MAX_SAMPLES,
    MET,
    NEW,
    OPEN,
    PAUSED,
    PLAYBOOK,
    REOPEN,
    RESOLVED,
    RUNNING,
    SAMPLE,
    SET_CREATED,
    SET_ID,
    STEP_BITS,
    STEP_MASK,
    TICK,
    US,
    Clock,
    Definition,
    Kind,
    build_agents,
    check_periods,
    check_policy,
    compile_types,
    due_at,
    instant,
    instant_steps,
    micros,
    rate_table,
    real_time,
)
from casekit.sim._playbooks import PlaybookDesk
from casekit.sim._result import SimResult, SlaColumns
from casekit.sim._scenario import PoissonArrivals, ReplayArrivals, Scenario
from casekit.sla import BusinessCalendar

__all__ = ["simulate"]


# What a case's trail records (for event logs).
T_ASSIGNED, T_AWAIT, T_ANSWER, T_RESOLVE, T_REOPEN, T_CANCEL = range(6)

MAX_ARRIVALS = 100_000_000
"""The most arrivals one run may expect (a run keeps about 100 bytes per case)."""

_SAFETY_DAYS = 366
"""How long after the last arrival a drained run may go on (work queued for shifts
that never open again would otherwise keep the clock ticking)."""


class _Progress:
    """A tqdm bar when asked for (and installed), updated every ``step`` arrivals."""

    def __init__(self, progress: bool | None, total: int | None, name: str) -> None:
        self.bar: Any = None
        if progress is False or (progress is None and (total is None or total < 200_000)):
            return
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        except ImportError:
            if progress:
                raise MissingDependency("tqdm", "notebook", "a progress bar") from None
            return
        self.bar = tqdm(total=total, desc=name, unit="case", leave=False)

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    progress: bool | None = None,
    record: bool = False,
) -> SimResult:
    """Run ``scenario`` and return what happened to every case, agent and queue.

    Args:
        scenario: What to simulate.
        seed: Overrides ``scenario.seed`` (a sweep runs one scenario under many seeds).
        progress: Show a progress bar (tqdm, ``casekit[notebook]``); ``None`` shows one
            for runs of 200,000 arrivals or more when tqdm is installed.
        record: Keep every case's history, so that :meth:`SimResult.event_logs` can
            write it as casekit events (costs memory: use it for thousands of cases,
            not millions).

    Raises:
        InvalidScenario: A policy the simulator cannot follow, or a replay arrival
            outside the calendars' range.
    """
    if not isinstance(scenario, Scenario):
        raise InvalidScenario(
            f"must be a Scenario, not {type(scenario).__name__}", where="scenario"
        )
    check_periods(scenario)
    run = _Run(scenario, scenario.seed if seed is None else seed, record)
    bar = _Progress(progress, run.expected, scenario.name)
    try:
        run.loop(bar)
    finally:
        bar.close()
    return run.result()


class _Run:
    # Slots: with more than 30 attributes an instance's __dict__ no longer fits
    # CPython's shared keys, and every ``self.x`` of the loop would be a dict lookup.
    __slots__ = (
        "a_absent",
        "a_absent_until",
        "a_busy",
        "a_handled",
        "absence",
        "agent_ids",
        "agent_index",
        "arrived",
        "backlog",
        "busy",
        "by_due",
        "c_agent",
        "c_created",
        "c_first",
        "c_first_agent",
        "c_handled",
        "c_item",
        "c_queued_at",
        "c_reopens",
        "c_resolved",
        "c_state",
        "c_type",
        "c_wait",
        "c_waits",
        "c_work",
        "capacity",
        "columns",
        "definitions",
        "desk",
        "end_us",
        "events",
        "expected",
        "heap",
        "items",
        "k_breached",
        "k_consumed",
        "k_cycles",
        "k_ended",
        "k_paused",
        "k_since",
        "k_stage",
        "ladders",
        "last_arrival",
        "mix",
        "next_at",
        "next_kind",
        "now",
        "peak",
        "pending",
        "queued",
        "rates",
        "record",
        "replay",
        "rng",
        "router",
        "samples",
        "scenario",
        "seed",
        "shifts",
        "start_us",
        "trails",
        "type_names",
        "types",
        "unroutable",
        "views",
    )

    def __init__(self, scenario: Scenario, seed: int, record: bool) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidScenario(f"must be a whole number, got {seed!r}", where="seed")
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self.record = record
        names = check_policy(scenario)
        self.definitions: list[Definition] = []
        self.types = compile_types(scenario, self.definitions, names)
        self._unselected(names)
        self.start_us = micros(scenario.start)
        self.end_us = None if scenario.end is None else micros(scenario.end)
        agents, self.absence = build_agents(scenario)
        self.agent_ids = [a.id for a in agents]
        self.agent_index = {a.id: n for n, a in enumerate(agents)}
        self.router = Router(
            agents,
            scenario.queues or (Queue("default"),),
            strategies=scenario.strategies,
            history_limit=0,
            record_candidates=1,
            retain_finished=0,
        )
        self._type_queues()
        self.by_due = any(q.order is QueueOrder.SLA_DUE for q in scenario.queues)
        self.ladders = any(q.ladder for q in scenario.queues)
        self.shifts: list[BusinessCalendar] = []
        for agent in agents:
            if agent.shift is not None and all(agent.shift is not s for s in self.shifts):
                self.shifts.append(agent.shift)
        # The case mix: cumulative weights for a bisect per arrival.
        weights = [t.weight for t in scenario.case_types]
        total = sum(weights)
        self.mix = [w / total for w in accumulate(weights)]
        self.type_names = {t.name: n for n, t in enumerate(scenario.case_types)}
        self.replay: list[tuple[int, int]] = []
        self.rates: list[float] = []
        self.peak = 0.0
        self.expected: int | None = self._arrivals()
        self._columns()
        # Per agent: handling time, cases handled, on-shift time lost to absence.
        self.a_busy = [0] * len(agents)
        self.a_handled = [0] * len(agents)
        self.a_absent = [0] * len(agents)
        self.a_absent_until = [0] * len(agents)  # the end of the last absent day
        # Over time.
        self.samples: list[tuple[int, int, int, int]] = []  # at, queued, backlog, busy agents
        # The future: the instants events are due at, in a heap of plain integers (one
        # comparison each, where tuples took three), and beside it what is due at each
        # instant, ``(kind, case, work)``: one event, or a list of those due at the same
        # instant in the order they were pushed (see push and pop_tied).
        self.heap: list[int] = []
        self.events: dict[int, Event | list[Event]] = {}
        self.pending = 0  # work events in the heap (not ticks, samples or days)
        self.next_at = _NEVER  # the next arrival (next_arrival)
        self.next_kind = -1
        self.queued = 0
        self.backlog = 0
        self.busy = 0
        self.arrived = 0
        self.unroutable = 0
        self.now = self.last_arrival = self.start_us
        # Work in the router's queues, by item id: (case, work number). A playbook's
        # tasks stay here from routing to completion (``_playbooks``).
        self.items: dict[str, tuple[int, int]] = {}
        # Playbook case types run on a real desk; their tasks are work numbered -1, -2...
        self.desk = PlaybookDesk(self) if any(t.playbook for t in scenario.case_types) else None

    def _unselected(self, names: dict[str, int]) -> None:
        """Definitions no case type selects still get (empty) columns, in policy order."""
        scenario = self.scenario
        for sla_id, key in sorted(names.items(), key=lambda kv: kv[1]):
            if key >= len(self.definitions):
                assert scenario.sla is not None
                definition = scenario.sla.definition(sla_id)
                assert definition is not None
                self.definitions.append(
                    Definition(
                        sla_id,
                        scenario.sla.calendar(definition.calendar),
                        False,
                        frozenset(),
                        False,
                    )
                )

    def _type_queues(self) -> None:
        """Each type's queue: the one it names, else the first whose condition its items
        match (the router's rule; the fields it reads are the type's, the same for every
        item), so that routing need not look for it per item."""
        for kind in self.types:
            if kind.queue is None:
                kind.queue = next(
                    (q.name for q in self.router.queues if q.condition.matches(kind.template)),
                    None,
                )

    @property
    def playbooks(self) -> PlaybookDesk:
        """The playbook desk: only work, events and cases of playbook types reach here,
        and a run with such types has one."""
        assert self.desk is not None
        return self.desk

    def _columns(self) -> None:
        # Per case, flat and zero-filled ahead (grown by doubling): 0 means "none" in
        # every column (instants are microseconds since 1970, agents are numbered
        # from 1), so an arrival writes two columns and its clocks' start.
        self.capacity = 0
        self.c_type = array("i")
        self.c_created = array("q")
        self.c_first = array("q")  # first pick-up
        self.c_resolved = array("q")  # last resolution or cancellation
        self.c_state = array("b")
        self.c_agent = array("i")  # the agent who has it (last pick-up)
        self.c_first_agent = array("i")
        self.c_reopens = array("i")
        self.c_waits = array("i")  # how many times it waited for an agent
        self.c_wait = array("q")  # total time waiting for an agent
        self.c_handled = array("q")  # total handling time
        self.c_work = array("i")  # routings so far, minus one
        self.c_queued_at = array("q")  # when its current routing started
        self.trails: list[list[tuple[int, int, int]]] = []
        # The work item each case had routed last (work numbers 0 and up): the loop
        # gives it back to its type's spares once completed (see reuse()).
        self.c_item: list[Any] = []  # WorkItem or None
        ndef = len(self.definitions)
        self.k_stage = [array("b") for _ in range(ndef)]
        self.k_consumed = [array("q") for _ in range(ndef)]
        self.k_since = [array("q") for _ in range(ndef)]
        self.k_paused = [array("q") for _ in range(ndef)]
        self.k_cycles = [array("i") for _ in range(ndef)]  # cycles after the first
        self.k_breached = [array("b") for _ in range(ndef)]
        self.k_ended = [[0, 0] for _ in range(ndef)]  # earlier cycles: met, breached
        self.columns = [
            self.c_type, self.c_created, self.c_first, self.c_resolved, self.c_state,
            self.c_agent, self.c_first_agent, self.c_reopens, self.c_waits, self.c_wait,
            self.c_handled, self.c_work, self.c_queued_at,
            *self.k_stage, *self.k_consumed, *self.k_since, *self.k_paused, *self.k_cycles,
            *self.k_breached,
        ]  # fmt: skip
        # While the loop runs, the columns are written through memoryviews of these
        # arrays: a view stores an integer without the argument parsing an array's
        # item assignment goes through (about a fifth of the work of each write). A
        # view pins its array's size: grow() and result() release them first.
        self.views: list[memoryview] = []
        self.grow(min(self.expected or 1024, 1 << 22))

    def _bind(self, columns: list[Any]) -> None:
        """Point the column attributes, and each type's clocks, at ``columns`` (in the
        order of ``self.columns``: the arrays, or views of them)."""
        ndef = len(self.definitions)
        (
            self.c_type, self.c_created, self.c_first, self.c_resolved, self.c_state,
            self.c_agent, self.c_first_agent, self.c_reopens, self.c_waits, self.c_wait,
            self.c_handled, self.c_work, self.c_queued_at,
        ) = columns[:13]  # fmt: skip
        clock_columns = [columns[13 + n * ndef : 13 + (n + 1) * ndef] for n in range(6)]
        (
            self.k_stage, self.k_consumed, self.k_since, self.k_paused, self.k_cycles,
            self.k_breached,
        ) = clock_columns  # fmt: skip
        clocks: list[Clock] = [
            (
                self.k_stage[key], self.k_consumed[key], self.k_since[key],
                self.k_paused[key], self.k_breached[key], 0,
                None if definition.elapsed is real_time else definition.elapsed,
            )
            for key, definition in enumerate(self.definitions)
        ]  # fmt: skip
        for kind in self.types:
            kind.bind(clocks)

    def _release(self) -> None:
        for view in self.views:
            view.release()
        self.views = []

    def _arrivals(self) -> int | None:
        """Prepare the arrivals; how many are expected (``None``: unknown)."""
        scenario = self.scenario
        arrivals = scenario.arrivals
        if isinstance(arrivals, ReplayArrivals):
            kinds = [self.type_names[k] for k in arrivals.case_types] or [-1] * len(arrivals.times)
            replay = sorted(zip((micros(t) for t in arrivals.times), kinds, strict=True))
            end = self.end_us
            self.replay = [
                r for r in replay if self.start_us <= r[0] and (end is None or r[0] < end)
            ]
            if scenario.max_arrivals is not None:
                self.replay = self.replay[: scenario.max_arrivals]
            if not self.replay:
                raise InvalidScenario(
                    f"none of the {len(replay):,} arrivals falls between the start "
                    f"({scenario.start.isoformat()}) and the end "
                    f"({'none' if scenario.end is None else scenario.end.isoformat()})",
                    where="arrivals.times",
                )
            return len(self.replay)
        assert isinstance(arrivals, PoissonArrivals)
        # A week ahead to start with; next_arrival extends the table as time goes on.
        horizon = self.end_us if self.end_us is not None else self.start_us + 7 * DAY_US
        self.rates = rate_table(arrivals, self.start_us, horizon)
        self.peak = max(self.rates)
        expected = scenario.max_arrivals
        if self.end_us is not None:
            buckets = (self.end_us - self.start_us) // BUCKET_US + 1
            estimate = int(sum(self.rates[:buckets]) * BUCKET_US)
            expected = estimate if expected is None else min(expected, estimate)
        if expected is not None and expected > MAX_ARRIVALS:
            raise InvalidScenario(
                f"about {expected:.3g} arrivals expected; one run simulates at most "
                f"{MAX_ARRIVALS:,}: lower per_hour or duration, or set max_arrivals",
                where="arrivals.per_hour" if scenario.max_arrivals is None else "max_arrivals",
            )
        return expected

    def grow(self, count: int) -> None:
        """Room for ``count`` more cases in every column (new views of them: the loop
        binds its columns again)."""
        self._release()
        for column in self.columns:
            column.frombytes(bytes(column.itemsize * count))
        self.c_item.extend([None] * count)
        self.capacity += count
        self.views = [memoryview(column) for column in self.columns]
        self._bind(self.views)

    # -- scheduling ---------------------------------------------------------------------

    def push(self, at: int, kind: int, case: int, work: int) -> None:
        event = (kind, case, work)
        if self.events.setdefault(at, event) is event:
            heapq.heappush(self.heap, at)
        else:
            self.push_tied(at, event)
        if kind <= PLAYBOOK:
            self.pending += 1

    def push_tied(self, at: int, event: Event) -> None:
        """:meth:`push` of an event due at an instant another one is due at already:
        after those (the instant stays in the heap once)."""
        there = self.events[at]
        if isinstance(there, list):
            there.append(event)
        else:
            self.events[at] = [there, event]

    def pop_tied(self, at: int, tied: Event | list[Event]) -> Event:
        """The first of the events due at ``at`` (``tied``: a list, taken out of
        ``events``): the lowest kind, and of those the first pushed, as a heap of
        ``(instant, kind, push number)`` would give; the others stay due."""
        assert isinstance(tied, list)
        first = min(range(len(tied)), key=lambda n: tied[n][0])  # the first of the lowest
        event = tied.pop(first)
        if len(tied) > 1:
            self.events[at] = tied
        else:
            self.events[at] = tied[0]
        return event

    def pending_events(self) -> list[tuple[int, int, int, int]]:
        """Every event still due: ``(instant, kind, case, work)``."""
        out = []
        for at, due in self.events.items():
            for kind, case, work in due if isinstance(due, list) else (due,):
                out.append((at, kind, case, work))
        return out

    def next_arrival(self, after: int) -> None:
        """Draw the arrival after ``after``: ``next_at`` (``_NEVER``: none) and
        ``next_kind`` (its case type, ``-1``: drawn as it arrives). Arrivals come one at a
        time and before anything else at their instant: the loop keeps the next one out
        of the heap, and compares."""
        self.next_at = _NEVER
        scenario = self.scenario
        if scenario.max_arrivals is not None and self.arrived >= scenario.max_arrivals:
            return
        if self.replay:
            if self.arrived < len(self.replay):
                self.next_at, self.next_kind = self.replay[self.arrived]
            return
        # Thinning: candidates at the week's peak rate, kept with probability rate/peak.
        rng, rates, peak, start = self.rng, self.rates, self.peak, self.start_us
        at = after
        while True:
            at += int(rng.expovariate(peak)) + 1
            bucket = (at - start) // BUCKET_US
            if self.end_us is not None and at >= self.end_us:
                return
            if bucket >= len(rates):
                arrivals = scenario.arrivals
                assert isinstance(arrivals, PoissonArrivals)
                rates.extend(rate_table(arrivals, start + len(rates) * BUCKET_US, at + DAY_US))
            rate = rates[bucket]
            if rate >= peak or rng.random() * peak < rate:
                self.next_at = at
                return

    # -- the loop -----------------------------------------------------------------------

    def loop(self, bar: _Progress) -> None:  # noqa: PLR0915 - the hot path, inline
        """Run events until nothing is left that could change.

        Arrivals, pick-ups and completions of plain case types (no clock pauses while
        new, open or resolved) run inline here, with everything they touch bound to
        local names: they are nearly every event of a run. The rest (customers'
        answers, reopens, abandonment, shifts, absence, samples, and runs that record
        histories or order queues by SLA due) go through the methods, which do the same
        for every case type; ``tests/sim`` compares the two on the same seeds.
        """
        heap = self.heap
        pop = heapq.heappop
        push = heapq.heappush
        self.next_arrival(self.start_us)
        self.push_periodic()
        step = max(1, (self.expected or 0) // 100)
        reported = 0
        end = self.end_us if not self.scenario.drain else None
        stop_after = _NEVER if end is None else end
        # Time-driven changes that can still hand queued work out: shifts opening,
        # relaxation ladders, absent agents coming back.
        timed = bool(self.shifts or self.ladders or self.absence)
        inline = not self.record and not self.by_due
        rng = self.rng
        random_ = rng.random
        log = math.log
        router = self.router
        route = router.route
        complete = router.complete
        items = self.items
        types = self.types
        single = types[0] if len(types) == 1 else None
        mix = self.mix
        last_type = len(types) - 1
        c_type, c_created, c_first = self.c_type, self.c_created, self.c_first
        c_resolved, c_state, c_agent = self.c_resolved, self.c_state, self.c_agent
        c_first_agent, c_wait, c_handled = self.c_first_agent, self.c_wait, self.c_handled
        c_waits, c_queued_at, c_item = self.c_waits, self.c_queued_at, self.c_item
        agent_index = self.agent_index
        a_busy, a_handled = self.a_busy, self.a_handled
        max_arrivals = self.scenario.max_arrivals
        # Arrivals at one rate all week need no thinning.
        flat = not self.replay and min(self.rates) == self.peak
        peak = self.peak
        end_us = self.end_us
        epoch = EPOCH
        one_us = US
        # The router's instants (datetimes) of the loop's: a base every 2 ** 24 us, built
        # again as the clock passes the next (it only moves forward), plus two table
        # steps (instant_steps): a third of the work of epoch + one_us * at.
        highs, lows = instant_steps()
        base_shift = 2 * STEP_BITS
        base_of = -1
        base = epoch
        set_id, set_created = SET_ID, SET_CREATED
        events = self.events
        take = events.pop
        due = events.setdefault

        next_at, next_kind = self.next_at, self.next_kind
        while True:
            if heap and heap[0] < next_at:
                at = heap[0]
                event = take(at)
                if type(event) is tuple:
                    pop(heap)
                    what, case, work = event
                else:
                    what, case, work = self.pop_tied(at, event)
                if at > stop_after:
                    break
            elif next_at != _NEVER:
                # The next arrival: at its instant, before anything in the heap.
                at = next_at
                case = self.arrived
                if not inline:
                    self.now = at
                    self.arrive(at, case, next_kind)
                    next_at, next_kind = self.next_at, self.next_kind
                    if self.arrived - reported >= step:
                        bar.update(self.arrived - reported)
                        reported = self.arrived
                    continue
                # arrive(), inline
                self.now = at
                if single is not None:
                    kind = single
                    if next_kind >= 0:
                        kind = types[next_kind]
                else:
                    number = next_kind if next_kind >= 0 else bisect_right(mix, random_())
                    kind = types[number if number <= last_type else last_type]
                self.arrived = arrived = case + 1
                self.last_arrival = at
                self.backlog += 1
                if case >= self.capacity:
                    self.grow(self.capacity)
                    c_type, c_created, c_first = self.c_type, self.c_created, self.c_first
                    c_resolved, c_state, c_agent = self.c_resolved, self.c_state, self.c_agent
                    c_first_agent, c_wait = self.c_first_agent, self.c_wait
                    c_handled, c_waits, c_queued_at = self.c_handled, self.c_waits, self.c_queued_at
                c_type[case] = kind.index
                c_created[case] = at
                for stages, since in kind.starts:
                    stages[case] = RUNNING
                    since[case] = at
                # next_arrival(), inline for arrivals at one rate
                if not flat:
                    self.next_arrival(at)
                    next_at, next_kind = self.next_at, self.next_kind
                elif max_arrivals is None or arrived < max_arrivals:
                    next_at = at + int(-log(1.0 - random_()) / peak) + 1
                    if end_us is not None and next_at >= end_us:
                        next_at = _NEVER
                else:
                    next_at = _NEVER
                # route(), inline
                if kind.plain:
                    item_id = str(case)
                    if at >> base_shift != base_of:
                        base_of = at >> base_shift
                        base = epoch + one_us * (base_of << base_shift)
                    now = base + (highs[at >> STEP_BITS & STEP_MASK] + lows[at & STEP_MASK])
                    spare = kind.spare
                    if spare:
                        item = spare.pop()
                        set_id(item, item_id)
                        set_created(item, now)
                    else:
                        item = kind.make(item_id, now, None, None)
                    c_item[case] = item
                    decision = route(item, now, queue=kind.queue)
                    outcome = decision.outcome
                    if outcome is _ASSIGNED:
                        # assigned(), inline for a new case: it waited for nothing, and
                        # the first response stops its first-response clocks as they
                        # start (this instant: they used nothing).
                        agent = agent_index[decision.agent_id]  # type: ignore[index]
                        c_agent[case] = c_first_agent[case] = agent + 1
                        c_first[case] = at
                        c_state[case] = OPEN
                        for stages, _, _, _, breached, target, _ in kind.first_clocks:
                            if target >= 0:  # what it used (nothing) <= target
                                stages[case] = MET
                            else:
                                stages[case] = BREACHED
                                breached[case] = 1
                        rate = kind.handle_rate
                        handle = int(-log(1.0 - random_()) / rate) + 1 if rate else kind.handle(rng)
                        c_handled[case] = handle
                        a_busy[agent] += handle
                        a_handled[agent] += 1
                        self.busy += 1
                        event = (DONE, case, 0)
                        if due(then := at + handle, event) is event:
                            push(heap, then)
                        else:
                            self.push_tied(then, event)
                        self.pending += 1
                    elif outcome is _QUEUED:
                        items[item_id] = (case, 0)
                        c_queued_at[case] = at
                        self.queued += 1
                        c_waits[case] = 1
                        if kind.patience is not None:
                            self.push(at + kind.patience(rng), ABANDON, case, 0)
                    else:
                        self.unroutable += 1
                else:
                    self.route(at, case, kind, 0)
                if arrived - reported >= step:
                    bar.update(arrived - reported)
                    reported = arrived
                continue
            else:
                break
            if what == DONE and inline and (kind := types[c_type[case]]).plain:
                # done(), inline
                self.pending -= 1
                self.now = at
                item = c_item[case]
                item_id = item.id
                self.busy -= 1
                if at >> base_shift != base_of:
                    base_of = at >> base_shift
                    base = epoch + one_us * (base_of << base_shift)
                now = base + (highs[at >> STEP_BITS & STEP_MASK] + lows[at & STEP_MASK])
                decisions: list[Any] = complete(item_id, now)
                if item.previous_agent is None:
                    kind.spare.append(item)  # the router is done with it
                if kind.answer is not None and random_() < kind.p_await:
                    self.set_state(at, case, AWAITING)
                    self.push(at + kind.answer(rng), ANSWER, case, 0)
                else:
                    c_resolved[case] = at
                    c_state[case] = RESOLVED
                    for clock in kind.clocks:
                        if clock[0][case] in _ACTIVE:
                            _stop(clock, case, at)
                    if kind.reopen_after is not None and random_() < kind.p_reopen:
                        self.push(at + kind.reopen_after(rng), REOPEN, case, 0)
                    else:
                        self.backlog -= 1
                # handed_out(), inline: queued work the agent's room went to.
                for decision in decisions:
                    if decision.outcome is not _ASSIGNED:
                        continue
                    item_id = decision.item_id
                    entry = items.get(item_id)
                    if entry is None:
                        continue  # a playbook's task cancelled (and withdrawn) meanwhile
                    case, work = entry
                    if work >= 0:
                        del items[item_id]
                    self.queued -= 1
                    kind = types[c_type[case]]
                    if not kind.plain:
                        self.assigned(at, case, work, decision.agent_id)
                        continue
                    # assigned(), inline for plain types: the first response, and the
                    # handling starts.
                    agent = agent_index[decision.agent_id]
                    c_wait[case] += at - c_queued_at[case]
                    c_agent[case] = agent + 1
                    self.busy += 1
                    if not c_first[case]:
                        c_first[case] = at
                        c_first_agent[case] = agent + 1
                        c_state[case] = OPEN
                        for clock in kind.first_clocks:
                            if clock[0][case] == RUNNING:
                                _stop(clock, case, at)
                    if work == 0:
                        rate = kind.handle_rate
                        handle = int(-log(1.0 - random_()) / rate) + 1 if rate else kind.handle(rng)
                    else:
                        rate = kind.rework_rate
                        handle = int(-log(1.0 - random_()) / rate) + 1 if rate else kind.rework(rng)
                    c_handled[case] += handle
                    a_busy[agent] += handle
                    a_handled[agent] += 1
                    event = (DONE, case, work)
                    if due(then := at + handle, event) is event:
                        push(heap, then)
                    else:
                        self.push_tied(then, event)
                    self.pending += 1
                continue
            # Work; a desk timer is work only while a runner's timer is due by then.
            if what <= PLAYBOOK and (what != PLAYBOOK or self.playbooks.is_work(at, case)):
                self.pending -= 1
            elif (
                self.pending == 0
                and next_at == _NEVER
                and (
                    self.queued == 0 or not timed or at > self.last_arrival + _SAFETY_DAYS * DAY_US
                )
            ):
                break  # nothing left that could ever change
            self.now = at
            if what == DONE:
                self.done(at, case, work)
            elif what == ANSWER:
                self.resume(at, case, T_ANSWER)
            elif what == REOPEN:
                self.resume(at, case, T_REOPEN)
            elif what == ABANDON:
                self.abandon(at, case, work)
            elif what == PLAYBOOK:
                self.playbooks.fire(at, case)
            elif what == DAY:
                self.day(at)
            elif what == TICK:
                self.tick(at, case)
            else:
                self.sample(at)
        bar.update(self.arrived - reported)
        if end is not None:
            self.now = max(self.now, end)

    def push_periodic(self) -> None:
        if not self.scenario.drain and self.end_us is not None:
            # A sentinel the loop pops (and stops at) before any real event after the
            # end, so that the work still in flight stays in the heap for result().
            self.events[self.end_us + 1] = (-1, 0, 0)
            heapq.heappush(self.heap, self.end_us + 1)
        self.push(self.start_us, SAMPLE, 0, 0)
        for number, calendar in enumerate(self.shifts):
            self.push(self.boundary(calendar, self.start_us), TICK, number, 0)
        if self.ladders:
            self.push(self.start_us + self.scenario.tick_every // US, TICK, -1, 0)
        if self.absence:
            self.push(self.start_us, DAY, 0, 0)

    def boundary(self, calendar: BusinessCalendar, at: int) -> int:
        moment = instant(at)
        change = (
            calendar.next_close(moment) if calendar.is_open(moment) else calendar.next_open(moment)
        )
        return max(at + 1, micros(change))

    # -- what happens -------------------------------------------------------------------

    def arrive(self, at: int, case: int, kind_no: int) -> None:
        if kind_no < 0:
            # One case type needs no draw (the inline path in loop() draws the same).
            kind_no = bisect_right(self.mix, self.rng.random()) if len(self.types) > 1 else 0
            if kind_no >= len(self.types):
                kind_no = len(self.types) - 1
        kind = self.types[kind_no]
        self.arrived += 1
        self.last_arrival = at
        self.backlog += 1
        if case >= self.capacity:
            self.grow(self.capacity)
        self.c_type[case] = kind_no
        self.c_created[case] = at
        if self.record:
            self.trails.append([])
        for number in kind.keys:
            self.k_stage[number][case] = RUNNING
            self.k_since[number][case] = at
        self.next_arrival(at)
        self.route(at, case, kind, 0)

    def route(self, at: int, case: int, kind: Kind, work: int) -> None:
        if work == 0 and not kind.plain:
            # The clocks just started with the case NEW: those pausing in NEW start
            # paused, as the engine starts them.
            for key in kind.keys:
                if NEW in self.definitions[key].pausing:
                    self.pause_or_resume(key, case, at, True)
            if kind.playbook is not None:
                self.playbooks.arrive(at, case, kind)
                return
        item_id = str(case) if work == 0 else f"{case}.{work}"
        now = EPOCH + US * at
        previous = None
        if work:
            agent = self.c_agent[case]
            if agent:
                previous = self.agent_ids[agent - 1]
        due = self.due_of(case) if self.by_due else None
        spare = kind.spare
        if spare and previous is None and due is None:
            item = spare.pop()
            SET_ID(item, item_id)
            SET_CREATED(item, now)
        else:
            item = kind.make(item_id, now, previous, due)
        self.c_item[case] = item
        self.c_queued_at[case] = at
        decision = self.router.route(item, now, queue=kind.queue)
        outcome = decision.outcome
        if outcome is _ASSIGNED:
            self.assigned(at, case, work, decision.agent_id)  # type: ignore[arg-type]
        elif outcome is _QUEUED:
            self.items[item_id] = (case, work)
            self.queued += 1
            self.c_waits[case] += 1
            if work == 0 and kind.patience is not None:
                self.push(at + kind.patience(self.rng), ABANDON, case, 0)
        else:  # unroutable: no agent here could ever serve it
            self.unroutable += 1

    def due_of(self, case: int) -> datetime | None:
        """The earliest due instant of the case's running clocks (earliest-due queues)."""
        best = None
        kind = self.types[self.c_type[case]]
        for number in kind.keys:
            if self.k_stage[number][case] != RUNNING:
                continue
            remaining = kind.targets[number] - self.k_consumed[number][case]
            calendar = self.definitions[number].calendar
            due = due_at(calendar, instant(self.k_since[number][case]), remaining)
            if best is None or due < best:
                best = due
        return best

    def assigned(self, at: int, case: int, work: int, agent_id: str) -> None:
        if work < 0:
            self.playbooks.assigned(at, case, work, agent_id)
            return
        agent = self.agent_index[agent_id]
        self.c_wait[case] += at - self.c_queued_at[case]
        previous = self.c_agent[case]
        self.c_agent[case] = agent + 1
        self.busy += 1
        kind = self.types[self.c_type[case]]
        if not self.c_first[case]:
            self.c_first[case] = at
            self.c_first_agent[case] = agent + 1
            self.c_state[case] = OPEN
            if kind.plain:
                # The common case, inline: the first response stops the first-response
                # clocks; NEW and OPEN pause nothing.
                for key in kind.first_response:
                    if self.k_stage[key][case] == RUNNING:
                        self.stop(key, case, at, kind.targets[key])
            elif kind.keys:
                self.set_state(at, case, OPEN, first_response=True)
        handle = kind.handle(self.rng) if work == 0 else kind.rework(self.rng)
        self.c_handled[case] += handle
        self.a_busy[agent] += handle
        self.a_handled[agent] += 1
        if self.record:
            self.trails[case].append((at, T_ASSIGNED, agent if agent + 1 != previous else -1))
        self.push(at + handle, DONE, case, work)

    def done(self, at: int, case: int, work: int) -> None:
        if work < 0:
            self.playbooks.done(at, case, work)
            return
        item_id = str(case) if work == 0 else f"{case}.{work}"
        self.busy -= 1
        decisions = self.router.complete(item_id, EPOCH + US * at)
        kind = self.types[self.c_type[case]]
        item = self.c_item[case]
        if item is not None and item.previous_agent is None and item.sla_due is None:
            kind.spare.append(item)  # the router is done with it
        rng = self.rng
        if kind.answer is not None and rng.random() < kind.p_await:
            self.set_state(at, case, AWAITING)
            if self.record:
                self.trails[case].append((at, T_AWAIT, -1))
            self.push(at + kind.answer(rng), ANSWER, case, 0)
        else:
            self.c_resolved[case] = at
            if kind.plain:
                self.c_state[case] = RESOLVED
                for key in kind.keys:
                    stage = self.k_stage[key][case]
                    if stage in (RUNNING, PAUSED):
                        self.stop(key, case, at, kind.targets[key])
            else:
                self.set_state(at, case, RESOLVED)
            if self.record:
                self.trails[case].append((at, T_RESOLVE, -1))
            if kind.reopen_after is not None and rng.random() < kind.p_reopen:
                self.push(at + kind.reopen_after(rng), REOPEN, case, 0)
            else:
                self.backlog -= 1
        if decisions:
            self.handed_out(at, decisions)

    def handed_out(self, at: int, decisions: list[Any]) -> None:
        for decision in decisions:
            if decision.outcome is _ASSIGNED:
                entry = self.items.get(decision.item_id)
                if entry is None:
                    # A playbook's task its runner cancelled while this hand-out was
                    # taken up: withdrawn from the router since, its agent's room given
                    # to other work (``PlaybookDesk.sync``).
                    continue
                case, work = entry
                if work >= 0:
                    del self.items[decision.item_id]
                self.queued -= 1
                self.assigned(at, case, work, decision.agent_id)

    def resume(self, at: int, case: int, why: int) -> None:
        if why == T_REOPEN:
            self.c_reopens[case] += 1
            self.c_resolved[case] = 0
        if self.record:
            self.trails[case].append((at, why, -1))
        self.set_state(at, case, OPEN)
        work = self.c_work[case] = self.c_work[case] + 1
        self.route(at, case, self.types[self.c_type[case]], work)

    def abandon(self, at: int, case: int, work: int) -> None:
        item_id = str(case) if work == 0 else f"{case}.{work}"
        if self.c_first[case] or item_id not in self.items:
            return  # an agent took it in time
        del self.items[item_id]
        self.queued -= 1
        self.backlog -= 1
        self.c_wait[case] += at - self.c_queued_at[case]
        self.router.withdraw(item_id, EPOCH + US * at)
        self.set_state(at, case, CANCELLED)
        self.c_resolved[case] = at
        if self.record:
            self.trails[case].append((at, T_CANCEL, -1))

    def day(self, at: int) -> None:
        rng = self.rng
        now = EPOCH + US * at
        tomorrow = at + DAY_US
        for agent, probability in self.absence:
            absent = rng.random() < probability
            agent_id = self.agent_ids[agent]
            presence = Presence.AWAY if absent else Presence.AVAILABLE
            if self.router.agent(agent_id).presence is not presence:
                self.handed_out(at, self.router.set_presence(agent_id, presence, now))
            if absent:
                shift = self.router.agent(agent_id).shift
                lost = tomorrow - at if shift is None else shift.elapsed_us(at, tomorrow)
                self.a_absent[agent] += lost
                self.a_absent_until[agent] = tomorrow
        self.push(tomorrow, DAY, 0, 0)

    def tick(self, at: int, calendar: int) -> None:
        self.handed_out(at, self.router.tick(EPOCH + US * at))
        if calendar >= 0:
            self.push(self.boundary(self.shifts[calendar], at), TICK, calendar, 0)
        else:
            self.push(at + self.scenario.tick_every // US, TICK, -1, 0)

    def sample(self, at: int) -> None:
        self.samples.append((at, self.queued, self.backlog, self.busy))
        if len(self.samples) < MAX_SAMPLES:
            self.push(at + self.scenario.sample_every // US, SAMPLE, 0, 0)

    # -- SLA clocks ---------------------------------------------------------------------

    def set_state(self, at: int, case: int, state: int, *, first_response: bool = False) -> None:
        """Move the case to ``state`` and its clocks with it, as the engine's rules do
        (``casekit.sla.engine``: start, stop, pause, resume and reopen)."""
        self.c_state[case] = state
        kind = self.types[self.c_type[case]]
        for key in kind.keys:
            definition = self.definitions[key]
            target = kind.targets[key]
            stages = self.k_stage[key]
            stage = stages[case]
            active = stage in (RUNNING, PAUSED)
            if state == CANCELLED:
                if active:
                    self.stop(key, case, at, target, cancelled=True)
            elif definition.first_response:
                if active and (first_response or state == RESOLVED):
                    self.stop(key, case, at, target)
                elif active:
                    self.pause_or_resume(key, case, at, state in definition.pausing)
            elif state == RESOLVED:
                if active:
                    self.stop(key, case, at, target)
            elif stage in (MET, BREACHED):  # reopened
                if definition.restart:
                    # The cycle that ends here still counts in the summaries.
                    self.k_ended[key][0 if stage == MET else 1] += 1
                    self.k_consumed[key][case] = 0
                    self.k_paused[key][case] = 0
                    self.k_breached[key][case] = 0
                    self.k_cycles[key][case] += 1
                stages[case] = RUNNING
                self.k_since[key][case] = at
                self.pause_or_resume(key, case, at, state in definition.pausing)
            elif active:
                self.pause_or_resume(key, case, at, state in definition.pausing)

    def pause_or_resume(self, key: int, case: int, at: int, pause: bool) -> None:
        stage = self.k_stage[key][case]
        elapsed = self.definitions[key].elapsed
        since = self.k_since[key][case]
        if pause and stage == RUNNING:
            self.k_consumed[key][case] += elapsed(since, at)
            self.k_stage[key][case] = PAUSED
            self.k_since[key][case] = at
        elif not pause and stage == PAUSED:
            self.k_paused[key][case] += elapsed(since, at)
            self.k_stage[key][case] = RUNNING
            self.k_since[key][case] = at

    def stop(self, key: int, case: int, at: int, target: int, *, cancelled: bool = False) -> None:
        stages = self.k_stage[key]
        if cancelled:
            # As the engine: a cancelled clock keeps what it had recorded at its last
            # pause, and counts nothing more.
            stages[case] = CANCELLED_CLOCK
            return
        since = self.k_since[key][case]
        used = self.k_consumed[key]
        if stages[case] == RUNNING:
            used[case] += self.definitions[key].elapsed(since, at)
        else:
            self.k_paused[key][case] += self.definitions[key].elapsed(since, at)
        self.k_since[key][case] = at
        if used[case] <= target:
            stages[case] = MET
        else:
            stages[case] = BREACHED
            self.k_breached[key][case] = 1

    # -- the result ---------------------------------------------------------------------

    def _waits_in_progress(self, as_of: int) -> None:
        """Cases still queued at the end have waited until then (as their first wait,
        measured to the end, says)."""
        for case, work in self.items.values():
            if work >= 0:
                self.c_wait[case] += max(0, as_of - self.c_queued_at[case])
        if self.desk is not None:
            self.desk.waits_in_progress(as_of)

    def result(self) -> SimResult:
        as_of = self.now
        count = self.arrived
        self._release()
        for column in self.columns:
            del column[count:]
        self._bind(self.columns)
        self._waits_in_progress(as_of)
        columns = []
        for key, definition in enumerate(self.definitions):
            targets = [t.targets.get(key, 0) for t in self.types]
            columns.append(
                SlaColumns(
                    sla_id=definition.id,
                    calendar=definition.calendar,
                    stage=self.k_stage[key],
                    target=array("q", [targets[t] for t in self.c_type]),
                    consumed=self.k_consumed[key],
                    since=self.k_since[key],
                    paused=self.k_paused[key],
                    cycles=self.k_cycles[key],
                    breached=self.k_breached[key],
                    earlier_met=self.k_ended[key][0],
                    earlier_breached=self.k_ended[key][1],
                )
            )
        # Handling still in progress when the run stopped (drain=False) counts up to
        # the end of the run only: its drawn handle time was added at the pick-up.
        busy = list(self.a_busy)
        for at, what, case, work in self.pending_events():
            if what == DONE and at > as_of and self.c_agent[case]:
                agent = self.c_agent[case] if work >= 0 else self.playbooks.agent_of(work)
                busy[agent - 1] -= at - as_of
        available = []
        end = max(as_of, self.start_us + 1)
        for number, agent_id in enumerate(self.agent_ids):
            shift = self.router.agent(agent_id).shift
            span = (
                end - self.start_us
                if shift is None
                else shift.elapsed(instant(self.start_us), instant(end)) // US
            )
            absent = self.a_absent[number]
            until = self.a_absent_until[number]
            if until > end:  # the last absent day goes on after the run: not lost in it
                absent -= until - end if shift is None else shift.elapsed_us(end, until)
            available.append(max(0, span - absent))
        return SimResult(
            scenario=self.scenario,
            seed=self.seed,
            as_of=instant(as_of),
            start_us=self.start_us,
            case_type=self.c_type,
            created=self.c_created,
            first=self.c_first,
            resolved=self.c_resolved,
            state=self.c_state,
            agent=self.c_agent,
            first_agent=self.c_first_agent,
            reopens=self.c_reopens,
            waits=self.c_waits,
            wait=self.c_wait,
            handled=self.c_handled,
            agent_ids=tuple(self.agent_ids),
            agent_busy=tuple(busy),
            agent_handled=tuple(self.a_handled),
            agent_available=tuple(available),
            samples=tuple(self.samples),
            sla=tuple(columns),
            unroutable=self.unroutable,
            trails=self.trails if self.record else None,
            playbooks=None if self.desk is None else self.desk.trace(self.record),
        )


_ASSIGNED = Outcome.ASSIGNED
_QUEUED = Outcome.QUEUED
_ACTIVE = (RUNNING, PAUSED)
Event = tuple[int, int, int]
"""What is due at an instant: ``(kind, case, work)``."""
_NEVER = 1 << 62
"""Later than any instant of a run (microseconds since 1970: year 146,000)."""


def _stop(clock: Clock, case: int, at: int) -> None:
    """:meth:`_Run.stop` of a running or paused clock, on its bound columns."""
    stages, used, since, paused, breached, target, elapsed = clock
    began = since[case]
    spent = at - began if elapsed is None else elapsed(began, at)
    if stages[case] == RUNNING:
        used[case] += spent
    else:
        paused[case] += spent
    since[case] = at
    if used[case] <= target:
        stages[case] = MET
    else:
        stages[case] = BREACHED
        breached[case] = 1
