"""The SLA reactor's precheck: commands that cannot change any clock skip the rules.

After a reaction, the case's clocks are *steady*: running the rules again on the same
case, with no new events, changes nothing (each rule brings the clock it reads to what
the case asks for: started, stopped, paused or resumed, retargeted, cancelled, and
leaves it there). What the rules read of a case is few things: the fields the
definitions' selection reads (:meth:`SlaPolicy._selection_key`), a handful of facts
about the state (cancelled, closed, stopping, active, terminal, in each definition's
pause states), each task's id and the same facts about its state, and whether an
agent ever wrote to the customer. Their values are the case's *projection*.

So the reactor remembers, for the clocks tuple a reaction left (by identity: the
pipeline carries it from case to case unchanged until an SLA event changes it), the
projection of the case it reacted to. A later command whose case holds that very tuple
and has the same projection cannot change a clock, unless one of its events is one the
rules read: an agent's reply while a first-response clock runs. Then the reactor
returns nothing without running the rules.

This holds for the metrics whose rules react to the case's state alone: resolution and
first response (case clocks) and resolution (task clocks), without ``cancel_on``,
``reset_on``, ``start_on`` or ``stop_on``. Next-response, periodic-update and custom
clocks start and stop on events, so a policy with any of them is not served here
(:func:`steady_of` gives ``None``) and its reactor always runs the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casekit.model._enums import CaseState, TaskState
from casekit.model.case import Case
from casekit.model.events import Event
from casekit.model.sla import SlaClock, SlaMetric, SlaStage
from casekit.sla.engine import (
    _ACTIVE_STATES,
    _FINISHED_TASKS,
    _STOPPING_STATES,
    _TERMINAL_STATES,
    _agent_replied,
    _responded,
)
from casekit.sla.policy import _MEMO_LIMIT, _NO_CONDITION, SlaPolicy, Subject

__all__ = ["Steady", "steady_of"]

_ACTIVE_STAGES = (SlaStage.IN_PROGRESS, SlaStage.PAUSED)
_SERVED_METRICS = (SlaMetric.RESOLUTION, SlaMetric.FIRST_RESPONSE)


def steady_of(policy: SlaPolicy) -> Steady | None:
    """The precheck of ``policy`` (built once, kept in its memo), or ``None`` if its
    rules may act on events rather than on the case's state alone."""
    steady = policy._memo.steady
    if steady is None:
        steady = policy._memo.steady = _build(policy) or False
    return steady or None


def _build(policy: SlaPolicy) -> Steady | None:
    if policy.names_read() != (False, False):
        return None
    if any(d.metric not in _SERVED_METRICS for d in policy.definitions):
        return None
    return Steady(policy)


class Steady:
    """The projections of steady clocks tuples, for one policy (see the module doc)."""

    __slots__ = (
        "case_facts",
        "first_response",
        "policy",
        "seen",
        "table",
        "task_facts",
        "unconditional",
    )

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        case_definitions = [d for d in policy.definitions if d.subject is Subject.CASE]
        # Every fact the rules test about the case's state, as one value per state.
        self.case_facts: dict[CaseState, tuple[bool, ...]] = {
            state: (
                state is CaseState.CANCELLED,
                state is CaseState.CLOSED,
                state in _STOPPING_STATES,
                state in _ACTIVE_STATES,
                state in _TERMINAL_STATES,
                *(state in d.pause_states for d in case_definitions),
            )
            for state in CaseState
        }
        self.task_facts: dict[TaskState, tuple[bool, ...]] = {
            state: (
                state in _FINISHED_TASKS,
                state is TaskState.DONE,
                state is TaskState.CANCELLED,
                state is TaskState.BLOCKED,
            )
            for state in TaskState
        }
        self.first_response = tuple(
            d.id for d in case_definitions if d.metric is SlaMetric.FIRST_RESPONSE
        )
        self.unconditional = all(d.condition == _NO_CONDITION for d in policy.definitions)
        # id(clocks) -> (clocks, case id, projection, a first-response clock runs,
        # the projection includes whether an agent replied).
        self.table: dict[int, tuple[tuple[SlaClock, ...], str, tuple[Any, ...], bool, bool]] = {}
        # The last projection :meth:`holds` computed: (case, reads_reply, projection).
        self.seen: tuple[Case, bool, tuple[Any, ...]] | None = None

    def holds(self, case: Case, events: Sequence[Event]) -> bool:
        """Whether ``case``, after ``events``, has clocks a reaction left steady on a
        case of the same projection, and no event the rules read: then the rules
        would change nothing."""
        slas = case.slas
        entry = self.table.get(id(slas))
        if entry is None or entry[0] is not slas or entry[1] != case.id:
            return False
        if entry[3] and _agent_replied(events):
            return False
        projection = self.projection(case, entry[4])
        self.seen = (case, entry[4], projection)  # for note(), if the rules run on it
        return entry[2] == projection

    def note(self, case: Case, base: Case) -> None:
        """Remember that ``case``'s clocks are steady for its projection (``case`` is
        what a reaction returned: ``base``, the case it reacted to, with its events
        applied). SLA events change only the clocks, the version and ``updated_at``,
        none of which the projection reads: ``base``'s serves, if :meth:`holds` computed
        it (the identity check keeps another thread's from being taken)."""
        slas = case.slas
        table = self.table
        if len(table) >= _MEMO_LIMIT:
            table.clear()
        running, reads_reply = self._first_response(slas)
        seen = self.seen
        if seen is not None and seen[0] is base and seen[1] == reads_reply:
            projection = seen[2]
        else:
            projection = self.projection(case, reads_reply)
        table[id(slas)] = (slas, case.id, projection, running, reads_reply)

    def _first_response(self, slas: tuple[SlaClock, ...]) -> tuple[bool, bool]:
        """Whether a first-response clock runs (an agent's reply stops it), and whether
        the rules read if an agent ever replied (a first-response definition without
        a clock, or whose newest clock lapsed, starts one only if none did)."""
        if not self.first_response:
            return False, False
        running = False
        reads_reply = False
        for sla_id in self.first_response:
            latest = None
            for clock in slas:
                if clock.sla_id == sla_id and clock.task_id is None:
                    latest = clock
            if latest is None or latest.stage is SlaStage.CANCELLED:
                reads_reply = True  # cancelled: lapsed, or for good (reading is harmless)
            elif latest.stage in _ACTIVE_STAGES:
                running = True
        return running, reads_reply

    def projection(self, case: Case, reads_reply: bool) -> tuple[Any, ...]:
        """What the rules read of ``case`` (see the module doc)."""
        policy = self.policy
        tasks = case.tasks
        if not tasks:
            task_part: tuple[Any, ...] = ()
        elif self.unconditional:  # the case's key (the priority) selects for tasks too
            task_facts = self.task_facts
            task_part = tuple([(task.id, task_facts[task.state]) for task in tasks])
        else:
            task_facts = self.task_facts
            task_part = tuple(
                [
                    (task.id, task_facts[task.state], policy._selection_key(case, task))
                    for task in tasks
                ]
            )
        return (
            policy._selection_key(case),
            self.case_facts[case.state],
            task_part,
            _responded(case) if reads_reply else None,
        )
