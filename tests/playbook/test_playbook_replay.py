"""Whatever the order work is done in, and wherever the process restarts, a run reaches
the same end state, and replaying its log rebuilds the stored case."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from casekit import Desk, ManualClock
from casekit.model import TaskState
from casekit.playbook import RunState
from tests.playbook.support import (
    AGENT,
    T0,
    assert_replays,
    decision,
    make_desk,
    open_case,
    playbook,
    run_of,
    stage,
    states,
    task,
)

FLOW = playbook(
    "p",
    stage(
        "check",
        task("fraud", group="support"),
        task("disputes", group="support"),
        decision("triage", "refund", "reject"),
        task("refund", after=["triage=refund", "fraud"]),
        task("explain", after=["triage=reject"]),
    ),
    stage("close", task("wrap")),
    categories=["pb"],
)


def expected(answer: str) -> dict[str, str]:
    taken, other = ("refund", "explain") if answer == "refund" else ("explain", "refund")
    done = ("fraud", "disputes", "triage", taken, "wrap")
    return {**dict.fromkeys(done, "done"), other: "skipped"}


@settings(max_examples=30, deadline=None)
@given(data=st.data(), answer=st.sampled_from(["refund", "reject"]))
def test_any_order_and_any_restarts_reach_the_same_end(data: st.DataObject, answer: str) -> None:
    clock = ManualClock(T0)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/x.db"
        desk: Desk = make_desk(clock, [FLOW], url=url)
        try:
            case_id = open_case(desk).id
            for _ in range(20):
                case = desk.get(case_id, actor=AGENT)
                run = case.playbooks[0]
                if run.state is not RunState.RUNNING:
                    break
                moves: list[Any] = [("task", t.id) for t in case.open_tasks]
                if states(run).get("triage") == "active":
                    moves.append(("answer", "triage"))
                move = data.draw(st.sampled_from(moves), label="move")
                if move[0] == "task":
                    desk.complete_task(move[1], actor=AGENT)
                else:
                    assert desk.playbooks is not None
                    desk.playbooks.answer(case_id, "triage", answer, actor=AGENT)
                clock.advance(
                    data.draw(st.sampled_from([0, 60, 3600]), label="pause") * timedelta(seconds=1)
                )
                if data.draw(st.booleans(), label="restart"):
                    desk.close()
                    desk = make_desk(clock, [FLOW], url=url, populated=False)
            run = run_of(desk, case_id)
            assert run.state is RunState.COMPLETED
            assert states(run) == expected(answer)
            assert all(a.runs == 1 for a in run.activities if a.state.value == "done")
            case = desk.get(case_id, actor=AGENT)
            assert len(case.tasks) == 4
            assert {t.state for t in case.tasks} == {TaskState.DONE}
            assert_replays(desk, case_id)
        finally:
            desk.close()
