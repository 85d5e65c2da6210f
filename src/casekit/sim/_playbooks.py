"""Playbook cases in a simulation: a real Desk on a virtual clock, the work its runner opens.

Cases of a type that names a playbook are not simulated in the flat arrays alone: each
is also a case on a :class:`~casekit.desk.Desk` kept for the run (a memory store, a
:class:`~casekit.clock.ManualClock` set to the loop's instant before every command,
the scenario's SLA policy, the production lifecycle and playbook runner). What the
simulator does to such a case is what people and the host's scheduler would do:

* a case arrives: it is opened on the desk and its playbook started (unless a category
  rule started it already);
* every task the runner opens becomes a work item (``work_item_for_task``, as the
  desk's own routing builds it) routed by the run's router; an agent picks it up
  (the first pick-up starts the case and answers the customer, as for every simulated
  case), is assigned it and starts it on the desk, works it for a drawn time
  (``CaseType.task_times`` by activity, else ``handle_time``) and completes it on the
  desk, so the runner goes on (a simulated agent may act on a case a playbook assigned
  elsewhere: the router said who works what);
* the desk's timers (delayed starts, waits, decision time limits, SLA warnings and
  breaches) are events of the loop at their due instants, each firing ``desk.tick``;
  only the runner's are work that keeps a drained run going (the SLA engine's too
  while a playbook of the case waits, maybe for them);
* a playbook run that enters its stages more than :data:`MAX_ENTRIES` times loops
  without end (a decision's default going back): the run stops with
  :class:`~casekit.exceptions.InvalidScenario` naming it;
* the case is done when the desk says it is resolved, closed or cancelled; when its
  playbooks have all ended and it is still open, the agent who did the last task
  resolves it (code ``playbook``). Resolved cases are not auto-closed.

The loop's own SLA columns follow the case's state as the desk reports it (the same
rules as for every case); the desk's clocks, OLAs of the tasks included, are the
production engine's and stand in the case's event log.
"""

from __future__ import annotations

from array import array
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from casekit.clock import ManualClock
from casekit.desk import Desk
from casekit.exceptions import InvalidScenario
from casekit.model import CaseState, TaskState
from casekit.model.accounts import Account, Consumer
from casekit.model.actors import Actor
from casekit.model.case import Case
from casekit.model.events import Event, PlaybookEnded, PlaybookStageStarted, PlaybookStarted
from casekit.model.lifecycle import LifecycleRules
from casekit.model.playbook import ActivityState, RunState
from casekit.playbook import Playbooks
from casekit.playbook._runner import KIND
from casekit.routing import Outcome
from casekit.routing._work import work_item_for_task
from casekit.sim._compile import (
    DONE,
    EPOCH,
    OPEN,
    PLAYBOOK,
    RESOLVED,
    STATES,
    US,
    Kind,
    instant,
    micros,
)
from casekit.sim._dists import Sampler
from casekit.sim._result import case_id
from casekit.storage.base import Commit
from casekit.storage.memory import MemoryStore

if TYPE_CHECKING:
    from casekit.sim._engine import _Run

__all__ = ["MAX_ENTRIES", "PlaybookDesk", "PlaybookTrace"]

CUSTOMER = "customer"
"""The consumer that opens every playbook case that names no account."""

_FINISHED = (CaseState.RESOLVED, CaseState.CLOSED, CaseState.CANCELLED)
_OPEN_TASK = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED)
_RUNNER = f"{KIND}:"  # the keys of the playbook runner's timers

MAX_ENTRIES = 1_000
"""How many stage entries one playbook run may make in a simulation: more, and its
stages loop without end (a drained run would never finish)."""


class _WatchedStore(MemoryStore):
    """A memory store that tells the simulator about every timer a commit writes, so
    that the loop can wake the desk when one falls due, and about the cases whose
    timers a commit replaced (a commit carries all of a case's pending timers) with
    the earliest of their runner's timers (delays, waits, decision time limits: the
    work to come; the SLA engine's warnings and breaches are not work, unless one of
    the case's playbooks is waiting, maybe for them)."""

    def __init__(self) -> None:
        super().__init__()
        self.fresh: list[tuple[str, datetime]] = []
        self.replaced: dict[str, datetime | None] = {}  # case id -> its earliest timer

    def commit(self, commit: Commit) -> None:
        super().commit(commit)
        for timer in commit.timers:
            self.fresh.append((timer.case_id, timer.due_at))
        # A wait may wait for what the SLA engine's timers write (``sla.breached``).
        waiting = any(
            a.kind == "wait" and a.state is ActivityState.ACTIVE
            for r in commit.case.playbooks
            if r.state is RunState.RUNNING
            for a in r.activities
        )
        self.replaced[commit.case.id] = min(
            (t.due_at for t in commit.timers if waiting or t.key.startswith(_RUNNER)),
            default=None,
        )


@attrs.frozen
class PlaybookTrace:
    """What the playbook cases of a run left behind (see :class:`SimResult`).

    Attributes:
        tasks: One plain dict per task (see :meth:`SimResult.task_records`).
        stages: One plain dict per stage a run entered.
        logs: Each playbook case's event log as the desk wrote it, by case number
            (only for runs made with ``record=True``).
    """

    tasks: tuple[dict[str, Any], ...]
    stages: tuple[dict[str, Any], ...]
    logs: dict[int, tuple[Event, ...]] | None


class PlaybookDesk:
    """The desk of a run's playbook cases and the tasks it hands the loop."""

    def __init__(self, run: _Run) -> None:
        scenario = run.scenario
        self.run = run
        self.clock = ManualClock(scenario.start)
        self.store = _WatchedStore()
        self.desk = Desk(
            self.store,
            clock=self.clock,
            # A resolved case stays resolved: the run ends when the work does, as it
            # does for every simulated case (no week-long wait for the auto-close).
            rules=LifecycleRules(auto_close_after=None),
            discover=False,
            sla=scenario.sla,
            playbooks=Playbooks(library=scenario.playbooks, run_actions="tick"),
        )
        self.system = Actor.system("sim")
        self.store.save_consumer(Consumer(id=CUSTOMER, name="Simulated customer"))
        for case_type in scenario.case_types:
            if case_type.account_id is not None:
                self.store.save_account(Account(id=case_type.account_id, name=case_type.account_id))
        self.samplers: dict[int, dict[str, Sampler]] = {
            n: {activity: d.sampler() for activity, d in t.task_times.items()}
            for n, t in enumerate(scenario.case_types)
            if t.playbook is not None
        }
        self.case_ids: dict[int, str] = {}  # case number -> desk case id
        self.numbers: dict[str, int] = {}  # desk case id -> case number
        self.finished: set[int] = set()
        # The instants the heap holds an event for, by desk case id (counted as work in
        # the loop's ``pending``), and those that no timer is due at any more.
        self.scheduled: dict[str, set[int]] = {}
        self.stale: dict[tuple[str, int], int] = {}  # (case id, at) -> heap events
        self.agents: dict[str, Actor] = {}
        # Per task, numbered in order of creation (the loop's work number is -1 - n).
        self.t_ids: list[str] = []
        self.t_case = array("i")
        self.t_activity: list[str] = []
        self.t_queue: list[str | None] = []
        self.t_created = array("q")
        self.t_picked = array("q")
        self.t_done = array("q")
        self.t_agent = array("i")  # agent number + 1 (0: none)
        self.t_handle = array("q")
        self.numbers_of: dict[str, int] = {}  # task id -> task number

    # -- commands on the desk -----------------------------------------------------------

    def _at(self, at: int) -> datetime:
        now = EPOCH + US * at
        self.clock.set(now)
        return now

    def _agent(self, agent: int) -> Actor:
        agent_id = self.run.agent_ids[agent]
        actor = self.agents.get(agent_id)
        if actor is None:
            # The agent of the router's groups. The run's router says who works what, as
            # people would; the desk's access policy is the host's, and a case that a
            # playbook assigned elsewhere (a case step) must not stop the run: the role
            # lets the simulated agent act on it (events record the kind and id only).
            actor = self.agents[agent_id] = Actor.agent(
                agent_id, groups=self.run.router.agent(agent_id).groups, roles=("supervisor",)
            )
        return actor

    def arrive(self, at: int, case: int, kind: Kind) -> None:
        self._at(at)
        spec = kind.spec
        assert kind.playbook is not None
        opened = self.desk.open_case(
            actor=self.system,
            subject=spec.name,
            channel=spec.channel,
            priority=spec.priority,
            category=spec.category,
            account_id=spec.account_id,
            consumer_id=None if spec.account_id is not None else CUSTOMER,
            skills=spec.required_skills,
            language=spec.language,
        )
        self.case_ids[case] = opened.id
        self.numbers[opened.id] = case
        if not any(r.playbook == kind.playbook for r in opened.playbooks):
            self.desk.playbooks.start(opened.id, kind.playbook, actor=self.system)  # type: ignore[union-attr]
        self.sync(at, case)

    def assigned(self, at: int, case: int, work: int, agent_id: str) -> None:
        """An agent took task ``-1 - work``: the first pick-up of the case starts it and
        answers the customer; the task is assigned on the desk and worked."""
        run = self.run
        number = -1 - work
        agent = run.agent_index[agent_id]
        actor = self._agent(agent)
        self._at(at)
        task_id = self.t_ids[number]
        desk_id = self.case_ids[case]
        self.t_picked[number] = at
        self.t_agent[number] = agent + 1
        run.c_wait[case] += at - self.t_created[number]
        run.c_agent[case] = agent + 1
        run.busy += 1
        current = self.store.load(desk_id).case
        if not run.c_first[case]:
            run.c_first[case] = at
            run.c_first_agent[case] = agent + 1
            if current.state is CaseState.NEW:
                self.desk.start(desk_id, actor=actor)
            self.desk.add_interaction(desk_id, "first response", actor=actor)
            run.set_state(at, case, OPEN, first_response=True)
        # The agent joins the task's group (an OLA that selects the group keeps it).
        group = current.task(task_id).assignment.group
        self.desk.assign_task(task_id, group=group, agent=agent_id, actor=actor)
        # The agent starts it (``task.started``: the analytics' task wait ends there).
        self.desk.start_task(task_id, actor=actor)
        sampler = self.samplers[run.c_type[case]].get(self.t_activity[number])
        kind = run.types[run.c_type[case]]
        handle = (sampler or kind.handle)(run.rng)
        self.t_handle[number] = handle
        run.c_handled[case] += handle
        run.a_busy[agent] += handle
        run.a_handled[agent] += 1
        run.push(at + handle, DONE, case, work)
        self.sync(at, case)

    def done(self, at: int, case: int, work: int) -> None:
        """The agent finished task ``-1 - work``: completed on the desk (the runner
        goes on), and the agent is free for the next item."""
        run = self.run
        number = -1 - work
        task_id = self.t_ids[number]
        now = self._at(at)
        del run.items[task_id]
        run.busy -= 1
        decisions = run.router.complete(task_id, now)
        self.t_done[number] = at
        task = self.store.load(self.case_ids[case]).case.task(task_id)
        if task.state in _OPEN_TASK:  # the runner may have cancelled it meanwhile
            actor = self._agent(self.t_agent[number] - 1)
            self.desk.complete_task(task_id, actor=actor)
        self.sync(at, case)
        if decisions:
            run.handed_out(at, decisions)

    def is_work(self, at: int, case: int) -> bool:
        """Whether the loop's timer event of ``case`` at ``at`` is work: a runner's timer
        is due by then. If not (only the SLA engine's, or none left), ``_schedule``
        took it off the loop's ``pending`` already, and the loop treats it as it treats
        a sample: it stops there when nothing else is left."""
        key = (self.case_ids[case], at)
        stale = self.stale.get(key)
        if not stale:
            self.scheduled[key[0]].discard(at)
            return True
        if stale == 1:
            del self.stale[key]
        else:
            self.stale[key] = stale - 1
        return False

    def fire(self, at: int, case: int) -> None:
        """A desk timer of case ``case`` fell due: tick the desk (it fires every timer
        due now) and follow each case it changed."""
        now = self._at(at)
        result = self.desk.tick(now, limit=1_000_000)
        if result.failures:
            failure = result.failures[0]
            raise InvalidScenario(
                f"timer {failure.timer.key!r} of a simulated case could not fire: {failure.error}",
                where="playbooks",
            )
        touched = {case} | {self.numbers[record.case_id] for record in result}
        for number in sorted(touched):
            self.sync(at, number)

    # -- following the desk ---------------------------------------------------------------

    def sync(self, at: int, case: int) -> None:
        """Take up what the desk did to ``case``: new tasks to route, tasks cancelled
        while queued, the case's state, the timers it wrote, its end."""
        run = self.run
        desk_id = self.case_ids[case]
        current = self.store.load(desk_id).case
        for playbook_run in current.playbooks:
            if sum(playbook_run.visits.values()) > MAX_ENTRIES:
                raise InvalidScenario(
                    f"its stages were entered more than {MAX_ENTRIES:,} times on simulated "
                    f"case {case_id(case)} ({desk_id}) by {instant(at).isoformat()}: they "
                    "loop without end (nobody answers a decision in a simulation: its "
                    "default is taken every time)",
                    where=f"playbooks[{playbook_run.playbook!r}]",
                )
        freed: list[Any] = []
        for task in current.tasks:
            number = self.numbers_of.get(task.id)
            if number is None:
                if task.state in _OPEN_TASK:
                    self._route(at, case, current, task.id)
            elif (
                task.state is TaskState.CANCELLED
                and task.id in run.items
                and not self.t_picked[number]
            ):  # cancelled while queued: nobody will take it now
                del run.items[task.id]
                run.queued -= 1
                self.t_done[number] = at
                # The router may have given it to an agent already (a hand-out still
                # being taken up: the loop skips it now it is gone): that agent's room
                # goes to other queued work, once every cancelled task is out.
                freed.extend(run.router.withdraw(task.id, EPOCH + US * at))
        if case not in self.finished:
            state = STATES.index(current.state)
            if state != run.c_state[case]:
                run.set_state(at, case, state)
            if current.state in _FINISHED:
                self._finish(at, case)
            elif current.playbooks and all(
                r.state is not RunState.RUNNING for r in current.playbooks
            ):
                self._resolve(at, case, current)
        self._schedule()
        if freed:
            run.handed_out(at, freed)

    def _route(self, at: int, case: int, current: Case, task_id: str) -> None:
        run = self.run
        task = current.task(task_id)
        number = len(self.t_ids)
        self.numbers_of[task_id] = number
        self.t_ids.append(task_id)
        self.t_case.append(case)
        activity = next(
            (a.id for r in current.playbooks for a in r.activities if a.task_id == task_id),
            task.title,
        )
        self.t_activity.append(activity)
        self.t_created.append(at)
        self.t_picked.append(0)
        self.t_done.append(0)
        self.t_agent.append(0)
        self.t_handle.append(0)
        now = EPOCH + US * at
        work = -1 - number
        run.items[task_id] = (case, work)
        decision = run.router.route(work_item_for_task(current, task, now=now), now)
        self.t_queue.append(decision.queue)
        if decision.outcome is Outcome.ASSIGNED:
            assert decision.agent_id is not None
            self.assigned(at, case, work, decision.agent_id)
        elif decision.outcome is Outcome.QUEUED:
            run.queued += 1
            run.c_waits[case] += 1
        else:  # no agent here could ever work it: the case waits for ever
            run.unroutable += 1
            del run.items[task_id]

    def _resolve(self, at: int, case: int, current: Case) -> None:
        agent = self.run.c_agent[case]
        actor = self._agent(agent - 1) if agent else self.system
        if current.state is CaseState.NEW:
            self.desk.start(current.id, actor=actor)
        if current.state is CaseState.AWAITING_INFO:
            self.desk.resume(current.id, actor=actor)
        outcomes = ", ".join(
            f"{r.playbook} {r.outcome or r.state.value}" for r in current.playbooks
        )
        self.desk.resolve(current.id, actor=actor, code="playbook", notes=outcomes)
        self.run.set_state(at, case, RESOLVED)
        self._finish(at, case)

    def _finish(self, at: int, case: int) -> None:
        self.finished.add(case)
        self.run.c_resolved[case] = at
        self.run.backlog -= 1

    def _schedule(self) -> None:
        """Put the timers the desk wrote since the last call in the loop's heap, and
        stop counting as work the events no runner's timer falls due by (a drained run
        ends when the work does, not at the breach instant of an SLA clock: as for
        every simulated case, the clocks' outcomes are figured at the end)."""
        store, run = self.store, self.run
        for desk_id, due in store.fresh:
            at = max(micros(due), run.now)
            ats = self.scheduled.setdefault(desk_id, set())
            if at not in ats and desk_id in self.numbers:
                ats.add(at)
                run.push(at, PLAYBOOK, self.numbers[desk_id], 0)
        store.fresh.clear()
        for desk_id, first in store.replaced.items():
            held = self.scheduled.get(desk_id)
            if not held:
                continue
            # An event at or after the case's earliest runner's timer has one due by then.
            earliest = None if first is None else micros(first)
            for at in [a for a in held if earliest is None or a < earliest]:
                held.discard(at)
                self.stale[desk_id, at] = self.stale.get((desk_id, at), 0) + 1
                run.pending -= 1
        store.replaced.clear()

    # -- the result -----------------------------------------------------------------------

    def waits_in_progress(self, as_of: int) -> None:
        """Tasks still queued at the end have waited until then."""
        run = self.run
        for number, task_id in enumerate(self.t_ids):
            if task_id in run.items and not self.t_picked[number]:
                run.c_wait[self.t_case[number]] += max(0, as_of - self.t_created[number])

    def agent_of(self, work: int) -> int:
        """The agent number + 1 working task ``-1 - work``."""
        return self.t_agent[-1 - work]

    def trace(self, record: bool) -> PlaybookTrace:
        agents = ("", *self.run.agent_ids)
        states: dict[str, str] = {}
        stages: list[dict[str, Any]] = []
        logs: dict[int, tuple[Event, ...]] = {}
        for case, desk_id in self.case_ids.items():
            current = self.store.load(desk_id).case
            for task in current.tasks:
                states[task.id] = task.state.value
            events = tuple(r.event for r in self.store.history(desk_id))
            stages.extend(_stages(case_id(case), desk_id, events))
            if record:
                logs[case] = events
        tasks = []
        for number, task_id in enumerate(self.t_ids):
            case = self.t_case[number]
            created, picked, done = (
                self.t_created[number],
                self.t_picked[number],
                self.t_done[number],
            )
            tasks.append(
                {
                    "case_id": case_id(case),
                    "desk_case_id": self.case_ids[case],
                    "task_id": task_id,
                    "activity": self.t_activity[number],
                    "queue": self.t_queue[number],
                    "state": states.get(task_id),
                    "created_at": instant(created),
                    "picked_up_at": instant(picked) if picked else None,
                    "done_at": instant(done) if done else None,
                    "agent": agents[self.t_agent[number]] or None,
                    "wait_s": ((picked or self.run.now) - created) / 1e6,
                    "handle_s": self.t_handle[number] / 1e6,
                }
            )
        return PlaybookTrace(
            tasks=tuple(tasks), stages=tuple(stages), logs=logs if record else None
        )


def _stages(case_id: str, desk_id: str, events: tuple[Event, ...]) -> list[dict[str, Any]]:
    """One row per stage entered, from the runner's own events: it ends when the run
    enters another stage or ends (``None`` while it goes on)."""
    playbook_of: dict[str, str] = {}
    open_rows: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []

    def close(run_id: str, at: datetime) -> None:
        row = open_rows.pop(run_id, None)
        if row is not None:
            row["ended_at"] = at
            row["duration_s"] = (at - row["started_at"]).total_seconds()

    for event in events:
        if isinstance(event, PlaybookStarted):
            playbook_of[event.run_id] = event.playbook
        elif isinstance(event, PlaybookStageStarted):
            close(event.run_id, event.at)
            row = {
                "case_id": case_id,
                "desk_case_id": desk_id,
                "run_id": event.run_id,
                "playbook": playbook_of.get(event.run_id),
                "stage": event.stage,
                "entry": event.entry,
                "started_at": event.at,
                "ended_at": None,
                "duration_s": None,
            }
            rows.append(row)
            open_rows[event.run_id] = row
        elif isinstance(event, PlaybookEnded):
            close(event.run_id, event.at)
    return rows
