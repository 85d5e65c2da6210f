"""Definitions are validated when built; bad input names the field at fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import casekit.routing
from casekit.exceptions import InvalidValue, NaiveDatetimeError, NotFound
from casekit.model import Channel
from casekit.routing import (
    Agent,
    Condition,
    InvalidLadder,
    InvalidSkillLevel,
    NegativeCapacity,
    Queue,
    Router,
    SizeRule,
    SkillCatalog,
    Stage,
    UnknownQueue,
    UnknownSkill,
    UnknownStrategy,
    WorkItem,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_all_is_exact() -> None:
    exported = {name for name in dir(casekit.routing) if name[0] not in "_@"}
    assert set(casekit.routing.__all__) == exported
    for module in ("_agents", "_items", "_queues", "_decision", "_strategies", "_router"):
        assert getattr(casekit.routing, module).__all__


def test_negative_capacity_names_the_channel() -> None:
    with pytest.raises(NegativeCapacity, match=r"Agent\(id='ann'\)\.capacity\['chat'\]") as info:
        Agent("ann", capacity={"chat": -1})
    assert info.value.value == -1
    with pytest.raises(NegativeCapacity, match="max_units"):
        Agent("ann", capacity={"chat": 1}, max_units=-2)


def test_skill_levels_are_1_to_10() -> None:
    with pytest.raises(InvalidSkillLevel, match=r"skills\['billing'\]") as info:
        Agent("ann", skills={"billing": 11})
    assert (info.value.skill, info.value.level) == ("billing", 11)
    with pytest.raises(InvalidSkillLevel, match=r"WorkItem\(id='w'\)\.required_skills"):
        WorkItem("w", "chat", T0, required_skills={"billing": 0})


def test_item_size_and_aware_times() -> None:
    with pytest.raises(InvalidValue, match=r"WorkItem\(id='w'\)\.size"):
        WorkItem("w", "chat", T0, size=0)
    with pytest.raises(NaiveDatetimeError):
        WorkItem("w", "chat", datetime(2026, 3, 2))  # noqa: DTZ001 - the point of the test
    rule = SizeRule(3, channel=Channel.PHONE)
    assert WorkItem("w", "phone", T0, size_rules=[rule]).units == 3
    assert WorkItem("w", "chat", T0, size=2, size_rules=[rule]).units == 2


def test_unknown_skills_against_the_catalog() -> None:
    catalog = SkillCatalog({"billing", "fraud"})
    with pytest.raises(UnknownSkill, match=r"Agent\(id='ann'\)\.skills") as info:
        Router([Agent("ann", skills={"biling": 5})], catalog=catalog)
    assert info.value.skill == "biling"
    router = Router([Agent("ann", skills={"billing": 5})], catalog=catalog)
    with pytest.raises(UnknownSkill, match="optional_skills"):
        router.route(WorkItem("w", "chat", T0, optional_skills={"crypto": 1}), T0)
    with pytest.raises(UnknownSkill, match=r"Queue\('q'\)\.condition\.skills"):
        Router(queues=[Queue("q", Condition(skills={"x"}))], catalog=catalog)


def test_ladder_may_only_widen() -> None:
    Queue("q", groups={"billing"}, ladder=[Stage(0, min_level=7), Stage(120, min_level=4)])
    with pytest.raises(InvalidLadder, match=r"ladder\[1\]\.min_level"):
        Queue("q", ladder=[Stage(0, min_level=4), Stage(120, min_level=7)])
    with pytest.raises(InvalidLadder, match=r"ladder\[1\]\.groups"):
        Queue("q", ladder=[Stage(0, groups={"a", "b"}), Stage(60, groups={"a"})])
    with pytest.raises(InvalidLadder, match=r"ladder\[0\]\.after"):
        Queue("q", ladder=[Stage(30)])
    with pytest.raises(InvalidLadder, match=r"ladder\[1\]\.after"):
        Queue("q", ladder=[Stage(0), Stage(timedelta(0))])
    with pytest.raises(InvalidLadder, match=r"ladder\[2\]\.skills"):
        Queue("q", ladder=[Stage(0), Stage(60, skills=False), Stage(90)])
    with pytest.raises(InvalidLadder, match=r"ladder\[0\]\.min_level"):
        Queue("q", ladder=[Stage(0, min_level=12)])


def test_unknown_queue_and_strategy() -> None:
    with pytest.raises(UnknownQueue, match="overflow"):
        Router(queues=[Queue("q", ladder=[Stage(0), Stage(60, overflow="nope")])])
    router = Router()
    with pytest.raises(UnknownQueue) as info:
        router.route(WorkItem("w", "chat", T0), T0, queue="nope")
    assert isinstance(info.value, NotFound)
    with pytest.raises(UnknownStrategy):
        Router(strategies=["fastest"])
    with pytest.raises(InvalidValue, match="duplicate queue"):
        Router(queues=[Queue("q"), Queue("q")])
