"""Adversarial review of playbooks and the service catalog (issue D): a host embedding
casekit, a data team replaying histories, and an attacker writing definitions or
requests.

Each test failed on the code it was written against and names the defect it proves
(the ``xfail`` ones still fail: see their reason).
"""

from __future__ import annotations

import pathlib
from datetime import timedelta
from typing import Any

import pytest

from casekit import Actor, Desk, ManualClock
from casekit.exceptions import InvalidDefinition, InvalidRequest, InvalidValue
from casekit.model.playbook import ActivityRun, PlaybookRun
from casekit.playbook import ActionContext, Catalog, Playbook, PlaybookLibrary
from tests.playbook.support import (
    AGENT,
    T0,
    act,
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


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'd.db'}"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# --- host actions that misbehave -----------------------------------------------------


def test_an_action_changing_what_it_is_handed_changes_neither_definition_nor_case(
    url: str,
) -> None:
    """Defect: ActionContext handed the action the definition's own params (a shallow
    copy), the run's inputs and the loaded case: an action appending to a list
    parameter changed the playbook for every later run, and one writing to
    ctx.case.custom changed the stored case with no event (replay mismatch)."""
    seen: list[list[str]] = []

    def meddle(ctx: ActionContext) -> None:
        seen.append(list(ctx.params["tags"]))
        ctx.params["tags"].append("meddled")
        ctx.inputs.get("extra", []).append("meddled")
        ctx.case.custom["meddled"] = True

    definition = playbook(
        "pb",
        stage("s", act("action", "a", action="meddle", params={"tags": ["a"]}), task("t")),
        categories=["pb"],
    )
    desk = make_desk(ManualClock(T0), [definition], url=url, actions={"meddle": meddle})
    first = open_case(desk, category=None)
    assert desk.playbooks is not None
    desk.playbooks.start(first.id, "pb", actor=AGENT, inputs={"extra": ["x"]})
    second = open_case(desk)

    assert seen == [["a"], ["a"]]
    assert definition.to_dict()["stages"][0]["activities"][0]["params"] == {"tags": ["a"]}
    for case_id in (first.id, second.id):
        case = desk.get(case_id, actor=AGENT)
        assert "meddled" not in case.custom
        assert states(case.playbooks[0])["a"] == "done"
        assert_replays(desk, case_id)
    assert run_of(desk, first.id).inputs == {"extra": ["x"]}


@pytest.mark.parametrize("depth", [600, 100_000])
def test_an_action_returning_data_nested_too_deep_falls_back_to_a_person(
    url: str, depth: int
) -> None:
    """Defect: a result nested 100 000 deep raised RecursionError in the JSON check
    (only TypeError/ValueError were caught); one 600 deep passed it and then blew the
    stack when the attempt was recorded. Either way the commit failed, the activity
    stayed active with no attempt and no fallback task, and desk.tick raised the
    RecursionError (not a CasekitError) at every later tick."""
    definition = playbook(
        "pb",
        stage("s", act("action", "a", action="deep", time_limit=None, attempts=1)),
        categories=["pb"],
    )
    desk = make_desk(
        ManualClock(T0),
        [definition],
        url=url,
        actions={"deep": lambda ctx: _nested(depth)},
        run_actions="tick",
    )
    case_id = open_case(desk).id
    desk.tick()
    state = run_of(desk, case_id).activity("a")
    assert state is not None
    assert state.task_id is not None  # the person's fallback task
    assert "nested" in state.detail or "recursion" in state.detail
    assert_replays(desk, case_id)


def test_run_inputs_nested_too_deep_are_refused_as_invalid_value(url: str) -> None:
    """Defect: desk.playbooks.start(inputs=...) nested 600 deep passed the JSON check
    and raised RecursionError (not a CasekitError) from the commit."""
    desk = make_desk(ManualClock(T0), [playbook("pb", stage("s", task("t")))], url=url)
    case_id = open_case(desk, category=None).id
    assert desk.playbooks is not None
    with pytest.raises(InvalidValue, match="levels deep"):
        desk.playbooks.start(case_id, "pb", actor=AGENT, inputs={"x": _nested(600)})
    assert desk.get(case_id, actor=AGENT).playbooks == ()


@pytest.mark.parametrize(
    ("kind", "field"),
    [("notify", "data"), ("action", "params"), ("case", "custom")],
)
def test_definition_data_nested_too_deep_is_refused_when_built(kind: str, field: str) -> None:
    """Defect: a notify's data (recorded in playbook.notice) nested 600 deep built a
    valid playbook, and every case of its category then failed to open with
    RecursionError; params and custom fields are plain data of the same kind."""
    extra = {"notice": "n"} if kind == "notify" else {}
    extra |= {"action": "x"} if kind == "action" else {}
    extra |= {"do": "update"} if kind == "case" else {}
    with pytest.raises(InvalidDefinition) as caught:
        playbook("pb", stage("s", act(kind, "a", **extra, **{field: {"x": _nested(600)}})))
    assert any(f"a].{field}: nests more than" in line for line in caught.value.errors)


# --- the catalog: one customer naming another's accounts and contacts -----------------


def _catalog_desk(url: str) -> Desk:
    catalog = Catalog.from_dict(
        {
            "items": [
                {
                    "id": "statement-copy",
                    "title": "Statement copy",
                    "category": "billing",
                    "playbook": "pb",
                    "variables": [
                        {"name": "account", "type": "account", "label": "A", "required": False},
                        {"name": "who", "type": "contact", "label": "C", "required": False},
                    ],
                }
            ]
        }
    )
    return make_desk(
        ManualClock(T0), [playbook("pb", stage("s", task("t")))], url=url, catalog=catalog
    )


@pytest.mark.parametrize(
    ("requester", "values"),
    [
        (Actor.contact("wile"), {"account": "globex"}),  # another customer's account
        (Actor.contact("wile"), {"who": "pat"}),  # a partner's contact
        (Actor.consumer("jan"), {"account": "acme"}),
        (Actor.consumer("jan"), {"who": "wile"}),
    ],
    ids=["contact-account", "contact-contact", "consumer-account", "consumer-contact"],
)
def test_a_self_service_request_cannot_name_another_customers_account_or_contact(
    url: str, requester: Actor, values: dict[str, str]
) -> None:
    """Defect: an ``account`` variable accepted any existing account and, for a
    consumer, a ``contact`` variable any contact: a contact of acme could request a
    statement copy of globex (the id reaching the host action in ctx.inputs), and the
    different answers for existing and unknown ids told a customer which ids exist."""
    desk = _catalog_desk(url)
    name, value = next(iter(values.items()))
    assert desk.catalog is not None
    with pytest.raises(InvalidRequest) as named:
        desk.catalog.request("statement-copy", values, actor=requester)
    with pytest.raises(InvalidRequest) as unknown:
        desk.catalog.request("statement-copy", {name: "no-such-id"}, actor=requester)
    assert list(named.value.errors) == [
        line.replace("no-such-id", value) for line in unknown.value.errors
    ]
    assert desk.find(actor=Actor.system()).items == ()


@pytest.mark.parametrize(
    ("requester", "values"),
    [
        (Actor.contact("wile"), {"account": "acme", "who": "boss"}),
        (Actor.contact("boss"), {"account": "acme-nl"}),  # admin: child accounts
        (Actor.contact("pat"), {"account": "acme"}),  # a partner of acme
    ],
    ids=["own", "admin-child", "partner"],
)
def test_a_self_service_request_names_the_accounts_its_requester_may_see(
    url: str, requester: Actor, values: dict[str, str]
) -> None:
    """The fix keeps what the access policy lets the requester see."""
    desk = _catalog_desk(url)
    assert desk.catalog is not None
    case = desk.catalog.request("statement-copy", values, actor=requester)
    assert run_of(desk, case.id).inputs == {"account": None, "who": None} | values


# --- replaying histories --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("notify", "data", "{ when = 1979-05-27T07:32:00Z }"),
        ("notify", "data", "{ day = 1979-05-27 }"),
        ("notify", "data", "{ at = 07:32:00 }"),
        ("notify", "data", "{ ratio = nan }"),
        ("action", "params", "{ until = 1979-05-27 }"),
    ],
    ids=["datetime", "date", "time", "nan", "params-date"],
)
def test_definition_data_that_is_not_plain_json_is_refused_when_built(
    kind: str, field: str, value: str
) -> None:
    """Defect: TOML dates and times (and NaN) in a notify's data were recorded as they
    were in playbook.notice: the memory store kept a datetime, a SQL store read back
    text (or NaN, which PostgreSQL's JSON refuses), so the history of one case differed
    by store and an event did not survive casekit.serialization's round trip. Params
    reach the same events through desk.playbooks.add_activity."""
    extra = 'notice = "n"' if kind == "notify" else 'action = "x"'
    source = f"""
name = "pb"
[[stages]]
id = "s"
[[stages.activities]]
kind = "{kind}"
id = "a"
{extra}
{field} = {value}
"""
    with pytest.raises(InvalidDefinition) as caught:
        Playbook.from_toml(source)
    assert any(f"a].{field}: must be plain JSON data" in line for line in caught.value.errors)


# --- definitions as an attacker writes them -------------------------------------------


def test_a_stage_of_many_activities_costs_linear_lookups_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defect: every step of the runner looked each activity of the stage up in the
    run (a linear scan) twice, and a stage of n activities takes n steps: opening a
    case whose playbook had 1000 notify activities took 13 s (0.7 s now), 2000 about
    two minutes. Counted rather than timed: lookups of a run's activity by id."""
    size = 200
    definition = playbook(
        "pb",
        stage("s", *[act("notify", f"n{i}", notice="x") for i in range(size)]),
        categories=["pb"],
    )
    desk = make_desk(ManualClock(T0), [definition])
    lookups = 0
    original = PlaybookRun.activity

    def counted(run: PlaybookRun, activity_id: str) -> ActivityRun | None:
        nonlocal lookups
        lookups += 1
        return original(run, activity_id)

    monkeypatch.setattr(PlaybookRun, "activity", counted)
    case_id = open_case(desk).id
    assert desk.get(case_id, actor=AGENT).playbooks[0].state.value == "completed"
    assert lookups < 10 * size


def test_a_stage_loop_that_never_waits_does_not_brick_the_case() -> None:
    """Defect: stage ``review``'s only way out is a decision that its run condition
    skips, and ``next`` loops it back to itself. The definition is accepted; once the
    task before it is done the runner goes round 10 000 times and fails the commit, so
    nobody can ever complete the task (every try costs those steps again)."""
    definition = playbook(
        "pb",
        stage("work", task("t")),
        stage(
            "review",
            decision("d", "again", "stop", gotos={"stop": "end"}, when={"states": ["closed"]}),
            next="review",
        ),
        categories=["pb"],
    )
    desk = make_desk(ManualClock(T0), [definition])
    case_id = open_case(desk).id
    work = run_of(desk, case_id).activity("t")
    assert work is not None
    assert work.task_id is not None
    desk.complete_task(work.task_id, actor=AGENT)
    run = run_of(desk, case_id)
    assert run.stalled is not None or run.state.value != "running"
    assert run.halted
    # The case stays usable; going back lets the run go on, which here loops again
    # (the definition is what it is) and halts again, in one bounded commit.
    desk.add_interaction(case_id, "still here", actor=AGENT, direction="internal", channel="portal")
    assert desk.playbooks is not None
    desk.playbooks.go_back(case_id, to="work", actor=AGENT, reason="try again")
    assert run_of(desk, case_id).halted
    desk.playbooks.cancel(case_id, actor=AGENT, reason="the definition loops")
    assert run_of(desk, case_id).state.value == "cancelled"


def test_a_pattern_that_backtracks_exponentially_is_refused_when_built() -> None:
    """Defect: ``([a-z]+ ?)+`` (words separated by spaces, as a form might ask) takes
    0.4 s on 22 letters and a '!', four times more per two letters: a self-service
    customer sending 40 characters holds a worker for days. The value's length is not
    bounded unless the variable sets max_length, and even 40 is enough."""
    with pytest.raises(InvalidDefinition, match="pattern"):
        Catalog.from_dict(
            {
                "items": [
                    {
                        "id": "x",
                        "title": "X",
                        "category": "c",
                        "variables": [
                            {"name": "u", "type": "text", "label": "U", "pattern": "([a-z]+ ?)+"}
                        ],
                    }
                ]
            }
        )


def test_an_action_that_writes_to_its_own_case_runs_once(url: str) -> None:
    """Defect: an action adding a note to its case through the desk (a natural thing
    to do) ran at every tick with the same key, adding a note each time, and the
    activity never finished or fell back. Inline (the default) it is worse: the action
    thread waits for the desk lock its caller holds, so the caller's command blocks
    for the whole time limit and the attempt is recorded as timed out."""
    calls: list[str] = []
    desks: list[Desk] = []

    def note(ctx: ActionContext) -> None:
        calls.append(ctx.key)
        desks[0].add_interaction(
            ctx.case.id, "reset sent", actor=AGENT, direction="internal", channel="portal"
        )

    definition = playbook(
        "pb", stage("s", act("action", "a", action="note"), task("t", after=["a"])),
        categories=["pb"],
    )  # fmt: skip
    clock = ManualClock(T0)
    desk = make_desk(clock, [definition], url=url, actions={"note": note}, run_actions="tick")
    desks.append(desk)
    case_id = open_case(desk).id
    for _ in range(3):
        desk.tick()
        clock.advance(timedelta(minutes=5))
    assert calls == [f"{case_id}-P1:a:1"]
    assert states(run_of(desk, case_id))["a"] == "done"
    assert len(desk.get(case_id, actor=AGENT).interactions) == 1


def test_an_inline_action_may_call_back_into_the_desk_without_waiting_for_itself() -> None:
    """Defect: run inline (the default), the action ran while its caller held the desk
    lock; an action thread calling the desk waited for that lock until its time limit,
    and the attempt was recorded as timed out. Inline actions now run once the lock is
    released."""
    desks: list[Desk] = []

    def note(ctx: ActionContext) -> dict[str, Any]:
        desks[0].add_interaction(
            ctx.case.id, "reset sent", actor=AGENT, direction="internal", channel="portal"
        )
        return {"sent": True}

    definition = playbook(
        "pb", stage("s", act("action", "a", action="note", time_limit=5), task("t", after=["a"])),
        categories=["pb"],
    )  # fmt: skip
    desk = make_desk(ManualClock(T0), [definition], actions={"note": note})
    desks.append(desk)
    case = open_case(desk)
    run = case.playbooks[0]
    assert states(run) == {"a": "done", "t": "active"}
    assert run.activity("a").result == {"sent": True}  # type: ignore[union-attr]
    assert len(case.interactions) == 1


def test_a_version_added_to_a_built_library_that_runs_itself_is_refused() -> None:
    """Defect: PlaybookLibrary.add checked nothing once the library was built (its
    docs say it refuses a sub-playbook that names an unknown playbook or includes
    itself): a host hot-loading ``b`` v2, which runs ``a``, which runs ``b``, made the
    next case of ``a``'s category spin through thousands of nested runs in one
    commit (still going after five minutes)."""
    a = playbook("a", stage("s", act("playbook", "sub", playbook="b")), categories=["pb"])
    b = playbook("b", stage("s", task("t")))
    library = PlaybookLibrary([a, b])
    looping = playbook("b", stage("s", act("playbook", "sub", playbook="a")), version=2)
    with pytest.raises(InvalidDefinition, match="refer to each other"):
        library.add(looping)
    unknown = playbook("c", stage("s", act("playbook", "sub", playbook="nope")))
    with pytest.raises(InvalidDefinition, match="refer to each other"):
        library.add(unknown)
    assert library.latest("b") == b
    assert library.names() == ["a", "b"]
    library.add(playbook("b", stage("s", task("t2")), version=2))  # a good version loads
    assert library.latest("b").version == 2


@pytest.mark.parametrize(
    ("child", "problem"),
    [("nope", "unknown playbook"), ("pb", "inside itself"), ("outer", "inside itself")],
)
def test_an_added_sub_playbook_is_checked_like_a_defined_one(child: str, problem: str) -> None:
    """Defect: desk.playbooks.add_activity took a sub-playbook naming no loaded
    playbook (with a delay it committed, then its timer failed with PlaybookNotFound
    at every tick and was quarantined, the activity scheduled for ever), or naming
    the run's own playbook (a second run of it inside the first), which the library
    refuses in definitions."""
    inner = playbook("pb", stage("s", task("t")))
    outer = playbook("outer", stage("s", act("playbook", "sub", playbook="pb")), categories=["pb"])
    clock = ManualClock(T0)
    desk = make_desk(clock, [inner, outer])
    case_id = open_case(desk).id
    child_run = desk.get(case_id, actor=AGENT).playbooks[1]
    added = {"kind": "playbook", "id": "x", "playbook": child, "mandatory": False, "delay": 60}
    assert desk.playbooks is not None
    with pytest.raises(InvalidDefinition) as caught:
        desk.playbooks.add_activity(case_id, added, actor=AGENT, run_id=child_run.id)
    assert any(problem in line for line in caught.value.errors)
    clock.advance(timedelta(minutes=2))
    assert desk.tick().failures == []
    assert [r.playbook for r in desk.get(case_id, actor=AGENT).playbooks] == ["outer", "pb"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("mandatory", "false"), ("title", {"a": 1})],
    ids=["bool-from-text", "text-from-table"],
)
def test_a_definition_field_of_the_wrong_type_is_refused_not_coerced(
    field: str, value: object
) -> None:
    """Defect: ``mandatory = "false"`` in a TOML file built a mandatory activity
    (bool("false") is True), and a table given as a title became its repr; a version
    of 1.5 became 1. The definition reads as the opposite of what it says."""
    with pytest.raises(InvalidDefinition):
        playbook("pb", stage("s", task("t", **{field: value})))
