"""Playbook definitions are checked whole when built: every problem with its path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from casekit import ManualClock
from casekit.exceptions import InvalidDefinition
from casekit.model import CaseState
from casekit.playbook import (
    Action,
    CaseStep,
    Choice,
    Decision,
    ManualTask,
    Playbook,
    PlaybookLibrary,
    Stage,
    SubPlaybook,
    Wait,
)
from casekit.sla import BusinessCalendar, SlaDefinition, SlaPolicy
from tests.playbook.support import T0, act, decision, make_desk, playbook, stage, task

ROOT = "playbook[p]"


def problems_of(stages: list[dict[str, Any]], **fields: Any) -> list[str]:
    with pytest.raises(InvalidDefinition) as raised:
        Playbook.from_dict({"name": fields.pop("name", "p"), "stages": stages, **fields})
    assert raised.value.errors
    return list(raised.value.errors)


S = f"{ROOT}.stages[s]"

CASES: dict[str, tuple[list[dict[str, Any]], str]] = {
    "unknown after": (
        [stage("s", task("a", after=["ghost"]))],
        f"{S}.activities[a].after: unknown activity 'ghost'",
    ),
    "after itself": (
        [stage("s", task("a", after=["a"]))],
        f"{S}.activities[a].after: unknown activity 'a'",
    ),
    "after in another stage": (
        [stage("s", task("a")), stage("t", task("b", after=["a"]))],
        f"{ROOT}.stages[t].activities[b].after: unknown activity 'a'",
    ),
    "after answer of a task": (
        [stage("s", task("a"), task("b", after=["a=yes"]))],
        f"{S}.activities[b].after: 'a' is not a decision, so 'a=yes' can never hold",
    ),
    "after unknown answer": (
        [stage("s", decision("d", "yes", "no"), task("b", after=["d=maybe"]))],
        f"{S}.activities[b].after: decision 'd' has no choice 'maybe'",
    ),
    "after cycle": (
        [stage("s", task("a", after=["c"]), task("b", after=["a"]), task("c", after=["b"]))],
        f"{S}: start rules wait on each other: a -> c -> b -> a",
    ),
    "decision without default": (
        [stage("s", act("decision", "d", choices=[{"value": "x"}]))],
        f"{S}.activities[d].default: a decision needs a default choice",
    ),
    "decision default not a choice": (
        [stage("s", decision("d", "x", default="y"))],
        f"{S}.activities[d].default: 'y' is not one of its choices ['x']",
    ),
    "decision without choices": (
        [stage("s", act("decision", "d", default="x"))],
        f"{S}.activities[d].choices: a decision needs choices",
    ),
    "decision choice twice": (
        [stage("s", decision("d", "x", "x"))],
        f"{S}.activities[d].choices: a choice appears twice",
    ),
    "decision unknown goto": (
        [stage("s", decision("d", "x", gotos={"x": "nowhere"}))],
        f"{S}.activities[d].choices[x].goto: unknown stage 'nowhere'",
    ),
    "decision timeout not positive": (
        [stage("s", decision("d", "x", timeout=0))],
        f"{S}.activities[d].timeout: must be positive",
    ),
    "unknown next": (
        [stage("s", task("a"), next="elsewhere")],
        f"{S}.next: unknown stage 'elsewhere'",
    ),
    "unreachable stage": (
        [stage("s", task("a"), next="end"), stage("t", task("b"))],
        f"{ROOT}.stages[t]: unreachable (no stage leads to it)",
    ),
    "loop with no exit": (
        [stage("s", task("a")), stage("t", task("b"), next="s")],
        f"{S}: on a loop with no way out",
    ),
    "exit_after unknown": (
        [stage("s", task("a"), exit_after=["ghost"])],
        f"{S}.exit_after: unknown activity 'ghost' (not in this stage)",
    ),
    "wait with none": (
        [stage("s", act("wait", "w"))],
        f"{S}.activities[w]: a wait needs exactly one of event, condition, duration (has none)",
    ),
    "wait with two": (
        [stage("s", act("wait", "w", event="case.opened", duration=60))],
        f"{S}.activities[w]: a wait needs exactly one of event, condition, duration "
        "(has event, duration)",
    ),
    "wait unknown event": (
        [stage("s", act("wait", "w", event="case.exploded"))],
        f"{S}.activities[w].event: unknown event 'case.exploded'",
    ),
    "wait unknown match field": (
        [stage("s", act("wait", "w", event="case.state_changed", match={"colour": "red"}))],
        f"{S}.activities[w].match: case.state_changed has no field 'colour'",
    ),
    "match without event": (
        [stage("s", act("wait", "w", duration=60, match={"new": "resolved"}))],
        f"{S}.activities[w].match: only a wait for an event matches fields",
    ),
    "wait duration not positive": (
        [stage("s", act("wait", "w", duration=-5))],
        f"{S}.activities[w].duration: must be positive",
    ),
    "delay not positive": (
        [stage("s", task("a", delay=0))],
        f"{S}.activities[a].delay: must be positive",
    ),
    "bad activity id": (
        [stage("s", task("no spaces"))],
        f"{S}.activities[no spaces].id: 'no spaces' must be letters",
    ),
    "bad stage id": (
        [stage("-s", task("a"))],
        f"{ROOT}.stages[-s].id: '-s' must be letters",
    ),
    "stage called end": (
        [stage("end", task("a"))],
        f"{ROOT}.stages[end].id: 'end' must be letters, digits, '_', '.' or '-' (not 'end')",
    ),
    "duplicate activity": (
        [stage("s", task("a")), stage("t", task("a"))],
        f"{ROOT}.stages[t].activities[a].id: activity 'a' appears twice in the playbook",
    ),
    "duplicate stage": (
        [stage("s", task("a")), stage("s", task("b"))],
        f"{S}.id: stage 's' appears twice",
    ),
    "no stages": ([], f"{ROOT}.stages: a playbook needs at least one stage"),
    "resolve without code": (
        [stage("s", act("case", "r", do="resolve", notes="done"))],
        f"{S}.activities[r]: do = 'resolve' needs a code and notes",
    ),
    "set_priority without priority": (
        [stage("s", act("case", "r", do="set_priority"))],
        f"{S}.activities[r].priority: do = 'set_priority' needs a priority",
    ),
    "note without text": (
        [stage("s", act("case", "r", do="note"))],
        f"{S}.activities[r].notes: do = 'note' needs the note's text",
    ),
    "action without attempts": (
        [stage("s", act("action", "x", action="f", attempts=0))],
        f"{S}.activities[x].attempts: must be from 1 to 100",
    ),
    "action time limit": (
        [stage("s", act("action", "x", action="f", time_limit=0))],
        f"{S}.activities[x].time_limit: must be positive",
    ),
    "action negative backoff": (
        [stage("s", act("action", "x", action="f", backoff=-1))],
        f"{S}.activities[x].backoff: must not be negative",
    ),
    "action without name": (
        [stage("s", act("action", "x", action=""))],
        f"{S}.activities[x].action: names no action",
    ),
    "notify without notice": (
        [stage("s", act("notify", "n", notice=""))],
        f"{S}.activities[n].notice: names no notice",
    ),
    "sub-playbook without name": (
        [stage("s", act("playbook", "c", playbook=""))],
        f"{S}.activities[c].playbook: names no playbook",
    ),
    "skill level": (
        [stage("s", task("a", skills={"fraud": 11}))],
        f"{S}.activities[a].skills.fraud: a level is a whole number from 1 to 10",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_named_with_its_path(case: str) -> None:
    stages, expected = CASES[case]
    problems = problems_of(stages)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "bad name"}, "playbook[bad name].name: 'bad name' must be letters"),
        ({"version": 0}, f"{ROOT}.version: must be 1 or more, not 0"),
    ],
)
def test_bad_names_and_versions(fields: dict[str, Any], expected: str) -> None:
    problems = problems_of([stage("s", task("a"))], **fields)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        [
            stage("s", task("a", after=["ghost"]), act("wait", "w"), next="nowhere"),
            stage("t", act("case", "r", do="resolve")),
        ]
    )
    assert len(problems) >= 4, problems
    assert {p.split(":")[0] for p in problems} >= {
        f"{S}.activities[a].after",
        f"{S}.activities[w]",
        f"{S}.next",
        f"{ROOT}.stages[t].activities[r]",
    }


def test_a_decision_whose_every_answer_leads_somewhere_makes_the_next_stage_optional() -> None:
    # Every answer of a mandatory decision picks a stage: the order alone leads nowhere,
    # so the stage after is reachable only through a goto.
    problems = problems_of(
        [
            stage("s", decision("d", "a", "b", gotos={"a": "t", "b": "end"})),
            stage("u", task("x")),
            stage("t", task("y")),
        ]
    )
    assert problems == [f"{ROOT}.stages[u]: unreachable (no stage leads to it)"]


def test_loops_with_an_exit_are_fine() -> None:
    built = playbook(
        "p",
        stage("work", task("a")),
        stage("check", decision("ok", "yes", "no", gotos={"no": "work"})),
    )
    assert [s.id for s in built.stages] == ["work", "check"]
    assert built.stage_after("check") == "end"


def test_python_definitions_are_checked_like_data() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        Playbook(
            name="p",
            stages=[
                Stage(
                    id="s",
                    activities=(
                        Decision(id="d", choices=(Choice(value="x"),)),
                        Wait(id="w", event="case.opened", duration=timedelta(minutes=1)),
                        CaseStep(id="c", do="resolve"),
                    ),
                )
            ],
        )
    joined = "\n".join(raised.value.errors)
    assert "activities[d].default" in joined
    assert "activities[w]: a wait needs exactly one" in joined
    assert "activities[c]: do = 'resolve' needs a code and notes" in joined


def test_round_trip_through_plain_data() -> None:
    built = Playbook(
        name="p",
        version=3,
        categories="cards",
        stages=[
            Stage(
                id="s",
                activities=(
                    ManualTask(id="t", group="g", skills={"fraud": 2}, delay=timedelta(hours=1)),
                    Action(id="a", action="f", params={"n": 1}, backoff=timedelta(seconds=5)),
                    Decision(
                        id="d", choices=(Choice(value="x"), Choice(value="y")), default="x",
                        timeout=timedelta(minutes=5),
                    ),
                    Wait(id="w", after=("d=y",), duration=timedelta(minutes=2)),
                    SubPlaybook(id="c", playbook="other", mandatory=False),
                ),
            )
        ],
    )  # fmt: skip
    assert Playbook.from_dict(built.to_dict()) == built
    assert built.categories == frozenset({"cards"})


# --- TOML -------------------------------------------------------------------------

GOOD_TOML = """
name = "p"
[[stages]]
id = "s"
[[stages.activities]]
kind = "task"
id = "a"
group = "support"
"""


def test_toml_reads_a_playbook(tmp_path: Any) -> None:
    path = tmp_path / "p.toml"
    path.write_text(GOOD_TOML, encoding="utf-8")
    built = Playbook.from_toml(path)
    assert built.stages[0].activities == (ManualTask(id="a", group="support"),)
    assert Playbook.from_toml(GOOD_TOML) == built


def test_toml_unknown_keys_are_refused_with_their_path() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        Playbook.from_toml(GOOD_TOML + 'colour = "red"\n')
    assert any("colour" in line for line in raised.value.errors), raised.value.errors
    with pytest.raises(InvalidDefinition) as raised:
        Playbook.from_toml(GOOD_TOML.replace('name = "p"', 'name = "p"\nowner = "me"'))
    assert any("owner" in line for line in raised.value.errors), raised.value.errors


def test_toml_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        Playbook.from_toml(GOOD_TOML.replace('kind = "task"', 'kind = "meeting"'))
    text = str(raised.value) + "\n".join(raised.value.errors)
    assert "kind 'meeting' is not an activity kind" in text
    assert "task, action, decision, wait, notify, case, playbook" in text


def test_toml_invalid_playbook_keeps_the_definition_paths() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        Playbook.from_toml(GOOD_TOML + 'after = ["ghost"]\n')
    assert list(raised.value.errors) == [
        f"{S}.activities[a].after: unknown activity 'ghost' "
        "(start rules name activities of the same stage)"
    ]


# --- the library -------------------------------------------------------------------


def test_library_refuses_an_unknown_sub_playbook() -> None:
    parent = playbook("parent", stage("s", act("playbook", "c", playbook="child")))
    with pytest.raises(InvalidDefinition) as raised:
        PlaybookLibrary([parent])
    assert list(raised.value.errors) == [
        "playbook[parent].stages[s].activities[c].playbook: unknown playbook 'child'"
    ]


def test_library_refuses_recursion() -> None:
    a = playbook("a", stage("s", act("playbook", "x", playbook="b")))
    b = playbook("b", stage("s", act("playbook", "y", playbook="a")))
    with pytest.raises(InvalidDefinition) as raised:
        PlaybookLibrary([a, b])
    assert "playbook[a]: runs itself as a sub-playbook (a -> b -> a)" in raised.value.errors
    selfish = playbook("c", stage("s", act("playbook", "x", playbook="c")))
    with pytest.raises(InvalidDefinition) as raised:
        PlaybookLibrary([selfish])
    assert list(raised.value.errors) == ["playbook[c]: runs itself as a sub-playbook (c -> c)"]


def test_library_refuses_a_changed_definition_under_the_same_version() -> None:
    v1 = playbook("p", stage("s", task("a")))
    same = playbook("p", stage("s", task("a")))
    changed = playbook("p", stage("s", task("b")))
    library = PlaybookLibrary([v1, same])
    assert len(library) == 1
    with pytest.raises(InvalidDefinition, match="already loaded with other content"):
        library.add(changed)
    library.add(playbook("p", stage("s", task("b")), version=2))
    assert library.latest("p").version == 2
    assert library.get("p", 1) == v1


# --- checks against the desk ------------------------------------------------------------


def desk_problems(pb: Playbook, **settings: Any) -> list[str]:
    with pytest.raises(InvalidDefinition) as raised:
        make_desk(ManualClock(T0), [pb], populated=False, **settings)
    return list(raised.value.errors)


W = "playbook[p].v1.stages[s].activities"


def test_desk_refuses_an_unknown_action() -> None:
    pb = playbook("p", stage("s", act("action", "x", action="freeze")))
    assert desk_problems(pb, actions={"thaw": lambda ctx: None}) == [
        f"{W}[x].action: no action 'freeze' is registered (known: thaw)"
    ]


def test_desk_refuses_an_unknown_calendar() -> None:
    pb = playbook("p", stage("s", task("a", delay=60, calendar="office")))
    assert desk_problems(pb) == [
        f"{W}[a].calendar: unknown calendar 'office' (the SLA policy's: none)"
    ]
    sla = SlaPolicy(calendars={"shop": BusinessCalendar.always_open()})
    assert desk_problems(pb, sla=sla) == [
        f"{W}[a].calendar: unknown calendar 'office' (the SLA policy's: 24x7, shop)"
    ]


def test_desk_checks_ola_references() -> None:
    sla = SlaPolicy.from_dict(
        {
            "definitions": [
                {"id": "resolution", "metric": "resolution", "targets": {"high": 3600}},
                {
                    "id": "fraud-ola",
                    "metric": "resolution",
                    "subject": "task",
                    "targets": {"high": 3600},
                    "condition": {"groups": ["fraud"]},
                },
            ]
        }
    )
    assert isinstance(sla.definitions[0], SlaDefinition)
    pb = playbook(
        "p",
        stage(
            "s",
            task("a", ola="nope"),
            task("b", ola="resolution"),
            task("c", ola="fraud-ola", group="disputes"),
            task("d", ola="fraud-ola", group="fraud"),
        ),
    )
    assert desk_problems(pb, sla=sla) == [
        f"{W}[a].ola: the SLA policy has no definition 'nope'",
        f"{W}[b].ola: 'resolution' times cases, not tasks",
        f"{W}[c].ola: 'fraud-ola' selects tasks of groups ['fraud'], not 'disputes'",
    ]


def test_desk_checks_groups_and_skills_vocabularies() -> None:
    pb = playbook(
        "p",
        stage(
            "s",
            task("a", group="fraud", skills={"german": 2, "cards": 1}),
            act("action", "x", action="f", fallback_group="ops"),
        ),
    )
    problems = desk_problems(
        pb,
        actions={"f": lambda ctx: None},
        groups=frozenset({"fraud", "support"}),
        skills=frozenset({"cards"}),
    )
    assert problems == [
        f"{W}[a].skills: unknown skill 'german'",
        f"{W}[x].fallback_group: unknown group 'ops' (known: fraud, support)",
    ]
    desk = make_desk(
        ManualClock(T0),
        [pb],
        populated=False,
        actions={"f": lambda ctx: None},
        groups=frozenset({"fraud", "ops"}),
        skills=frozenset({"cards", "german"}),
    )
    assert desk.playbooks is not None
    desk.close()


def test_conditions_given_as_mappings_in_python_are_converted_as_from_a_file() -> None:
    # Built in Python with plain mappings, as the same definition read from TOML: the
    # condition is a CaseCondition when built, not a dict failing at run time.
    built = ManualTask(id="m", when={"priorities": ["high"], "states": ["open"]})
    loaded = (
        Playbook.from_dict(
            {
                "name": "p",
                "stages": [
                    stage("s", task("m", when={"priorities": ["high"], "states": ["open"]}))
                ],
            }
        )
        .stages[0]
        .activities[0]
    )
    assert built.when == loaded.when
    waiting = Wait(id="w", condition={"states": ["resolved"]})
    assert waiting.condition is not None
    assert waiting.condition.states == {CaseState.RESOLVED}
    with pytest.raises(InvalidDefinition, match=r"Activity\.when") as raised:
        ManualTask(id="m", when={"priority": ["high"]})
    assert "unknown field(s) priority" in str(raised.value)
    with pytest.raises(
        InvalidDefinition, match=r"Wait\.condition: must be a CaseCondition or a mapping"
    ):
        Wait(id="w", condition=["resolved"])
