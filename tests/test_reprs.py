"""Notebook reprs: short one-line ``__repr__``, safe and well-formed ``_repr_html_``."""

from __future__ import annotations

import builtins
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casekit import Account, Actor, CasekitError, Desk, ManualClock, MissingDependency, Priority
from casekit._html import (
    bar,
    block,
    clip,
    duration,
    fields,
    quoted,
    table,
    tag,
)
from casekit.model import Case, CustomField
from casekit.routing import Agent, Presence, Queue, Router, RoutingDecision, WorkItem
from casekit.sla import BusinessCalendar, SlaPolicy, SlaStatus

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(2)>'
EVIL = f"{SCRIPT}{BREAKOUT}"

ALLOWED_TAGS = {"div", "table", "caption", "thead", "tbody", "tr", "th", "td", "span"}
ALLOWED_ATTRIBUTES = {"style", "scope", "title", "role", "aria-label"}


class Checker(HTMLParser):
    """Collects tags, checks they nest and close, and keeps the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.values: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            self.values.append(value or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/> in casekit's HTML")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        opened = self.stack.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(markup: str) -> Checker:
    """Parse ``markup``: balanced, only casekit's own tags and attributes, no events."""
    assert isinstance(markup, str)
    assert markup
    checker = Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == [], f"unclosed tags {checker.stack}"
    assert checker.tags <= ALLOWED_TAGS, checker.tags - ALLOWED_TAGS
    assert checker.attributes <= ALLOWED_ATTRIBUTES, checker.attributes - ALLOWED_ATTRIBUTES
    return checker


def text_of(markup: str) -> str:
    return " ".join(" ".join(check_html(markup).text).split())


def check_repr(value: object) -> str:
    shown = repr(value)
    assert "\n" not in shown
    assert len(shown) <= 120, shown
    assert shown.startswith("<")
    assert shown.endswith(">")
    return shown


# -- fixtures --------------------------------------------------------------------------

POLICY = """
[calendars.office]
zone = "Europe/Amsterdam"
week = [{days = "mon-fri", start = "09:00", end = "17:00"}]

[[definitions]]
id = "resolution"
calendar = "office"
targets = {critical = 14400, high = 28800, moderate = 57600, low = 144000}

[[definitions]]
id = "first-response"
metric = "first_response"
calendar = "office"
targets = {critical = 900, high = 3600}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 6, 16, 0, tzinfo=AMS))


@pytest.fixture
def desk(clock: ManualClock) -> Desk:
    desk = Desk(clock=clock, sla=SlaPolicy.from_toml(POLICY), fields=[CustomField("order")])
    desk.save_account(Account(id="acme", name="Acme"))
    return desk


AGENT = Actor.agent("alice", groups={"support"})
ADMIN = Actor.agent("root", roles={"admin"})


def busy_case(desk: Desk, clock: ManualClock, subject: str = "Printer on fire") -> Case:
    case = desk.open_case(
        actor=AGENT,
        subject=subject,
        description="It started smoking after the update. " * 40,
        account_id="acme",
        priority=Priority.HIGH,
        group="support",
        custom={"order": "A-1"},
    )
    for n in range(7):
        clock.advance(timedelta(minutes=5))
        desk.add_interaction(case.id, f"message {n}", actor=AGENT)
    desk.create_task(case.id, "Send a technician", actor=AGENT, group="field")
    desk.assign(case.id, actor=AGENT, group="support", agent="alice")
    return desk.get(case.id, actor=AGENT)


def evil_case(desk: Desk) -> Case:
    case = desk.open_case(
        actor=AGENT,
        subject=EVIL,
        description=EVIL,
        account_id="acme",
        custom={"order": EVIL},
    )
    desk.add_interaction(case.id, EVIL, actor=AGENT)
    desk.create_task(case.id, EVIL, actor=AGENT, description=EVIL, group=EVIL)
    desk.assign(case.id, actor=AGENT, group=EVIL, agent=EVIL)
    return desk.get(case.id, actor=ADMIN)


def chat(agent_id: str, units: int = 2, **extra: Any) -> Agent:
    return Agent(agent_id, capacity={"chat": units}, **extra)


def item(item_id: str, **extra: Any) -> WorkItem:
    return WorkItem(item_id, "chat", T0, **extra)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OFFICE = BusinessCalendar.weekly(
    "Europe/Amsterdam",
    {"mon-fri": "09:00-17:00", "sat": "10:00-12:30"},
    holidays=["2025-12-25", ("2025-12-31", "2026-01-01")],
    holiday_rules=["FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=26"],
    partial_days={"2025-12-22": "09:00-13:00"},
    closures=[("2025-12-23", "12:00-14:00")],
    openings=[("2025-12-28", "10:00-11:00")],
)


# -- helpers ---------------------------------------------------------------------------


def test_durations_and_clipping_read_at_a_glance() -> None:
    assert duration(timedelta(seconds=45)) == "45s"
    assert duration(timedelta(minutes=12)) == "12m"
    assert duration(timedelta(hours=2, minutes=5)) == "2h 05m"
    assert duration(timedelta(days=3, hours=4, minutes=1)) == "3d 4h"
    assert duration(-timedelta(hours=1, minutes=30)) == "-1h 30m"
    assert clip("a\n  b " * 3, 100) == "a b a b a b"
    assert clip("x" * 50, 10) == "x" * 9 + "…"
    assert quoted("it's", 10) == '"it\'s"'


def test_cells_are_escaped_and_bars_clipped() -> None:
    markup = table(("a", EVIL), [(EVIL, 1.5, None, True)], caption=EVIL)
    assert text_of(markup).count(SCRIPT) == 3
    assert "<script" not in markup
    assert "<img" not in markup
    assert "width:100.0%" in bar(1.7, "over")
    assert "dashed" in bar(1.7, "over")
    assert "solid" in bar(0.2, "under")
    assert "width:0.0%" in bar(-1, "nothing")


@given(st.text(min_size=1), st.text(min_size=1))
def test_any_text_comes_back_as_the_same_text(first: str, second: str) -> None:
    markup = block(
        first,
        table((first,), [(second, first)], caption=second),
        fields([(first, second)]),
        tag("span", second, title=first),
        bar(0.5, first),
        note=second,
    )
    checker = check_html(markup)
    assert "".join(checker.text) == "".join(
        (first, second, first, second, first, first, second, second, second)
    )
    assert checker.values.count(first) == 3  # the span's title, the bar's label and tooltip


# -- cases and tasks -------------------------------------------------------------------


def test_case_repr_is_one_short_line(desk: Desk, clock: ManualClock) -> None:
    case = busy_case(desk, clock, subject="Printer on fire " + "and smoke " * 20)
    shown = check_repr(case)
    assert shown.startswith(f"<Case {case.id} new high 'Printer on fire and smoke")
    assert "…'" in shown
    assert "support/alice" in shown
    assert shown.endswith(f"v{case.version}>")
    task = case.tasks[0]
    assert check_repr(task) == f"<Task {task.id} open 'Send a technician' field>"
    desk.start(case.id, actor=AGENT)
    assert repr(desk.get(case.id, actor=AGENT)).startswith(f"<Case {case.id} open high ")
    # equality and hashing are the attrs ones still
    assert case == attrs.evolve(case)
    assert case != attrs.evolve(case, subject="other")


def test_case_html_shows_fields_clocks_tasks_and_latest_interactions(
    desk: Desk, clock: ManualClock
) -> None:
    case = busy_case(desk, clock)
    text = text_of(case._repr_html_())
    assert f"Case {case.id}: Printer on fire" in text
    for expected in ("high", "support/alice", "acme", "custom: order A-1", "version"):
        assert expected in text
    assert "resolution" in text
    assert "0s of 8h, running since 2026-03-06 15:00 UTC" in text
    assert "first-response" in text
    assert "Send a technician" in text
    assert "Tasks (1 open of 1)" in text
    assert "Latest 5 of 7 interactions" in text
    assert "message 6" in text
    assert "message 2" in text
    assert "message 1" not in text
    assert text.index("message 6") < text.index("message 2")  # newest first
    # the long description is cut
    assert "It started smoking" in text
    assert "…" in text
    assert len(case.description) > 1000
    assert text.count("It started smoking") < 10


def test_case_and_task_html_escape_everything_the_user_wrote(desk: Desk) -> None:
    case = evil_case(desk)
    for markup in (case._repr_html_(), case.tasks[0]._repr_html_(), case.slas[0]._repr_html_()):
        assert "<script" not in markup
        assert "<img" not in markup
        check_html(markup)
    text = text_of(case._repr_html_())
    # subject, description, custom field, interaction, task title, group and agent
    assert text.count(SCRIPT) >= 7
    assert BREAKOUT in text
    assert EVIL in text_of(case.tasks[0]._repr_html_())
    assert check_repr(case).endswith("…' <script>alert(1)</script>\"><i… v5>")


# -- SLA -------------------------------------------------------------------------------


def test_sla_status_repr_html_and_frame(desk: Desk, clock: ManualClock) -> None:
    case = busy_case(desk, clock)
    statuses = desk.sla_status(case.id, actor=AGENT, at=datetime(2026, 3, 9, 14, 0, tzinfo=AMS))
    resolution = {s.key: s for s in statuses}["resolution"]
    shown = check_repr(resolution)
    assert shown.startswith("<SlaStatus resolution in_progress 75% 6h/8h due 2026-03-09 15:00")
    text = text_of(resolution._repr_html_())
    for expected in ("SLA clock resolution at 2026-03-09 13:00 UTC", "75%", "6h", "2h", "8h"):
        assert expected in text
    check_html(resolution._repr_html_())
    assert 'aria-label="75% of the target used"' in resolution._repr_html_()
    # past due: remaining reads as overdue, and the repr says so
    late = desk.sla_status(case.id, actor=AGENT, at=datetime(2026, 3, 10, 10, 0, tzinfo=AMS))
    overdue = {s.key: s for s in late}["resolution"]
    assert check_repr(overdue) == (
        "<SlaStatus resolution in_progress 125% 10h/8h due 2026-03-09 15:00 UTC BREACHED>"
    )
    assert "2h over" in text_of(overdue._repr_html_())
    assert "dashed" in overdue._repr_html_()
    frame = SlaStatus.frame(statuses)
    assert list(frame.index) == [s.key for s in statuses]
    assert frame.loc["resolution", "elapsed"] == timedelta(hours=6)
    assert frame.loc["resolution", "stage"] == "in_progress"
    assert resolution.to_dict()["percentage"] == 75.0
    assert SlaStatus.frame([]).empty
    # the recorded clock on the case has its own short repr
    assert check_repr(case.slas[0]).startswith("<SlaClock ")


# -- calendars -------------------------------------------------------------------------


def test_calendar_repr_names_zone_hours_and_dated_rules() -> None:
    assert check_repr(OFFICE) == (
        "<BusinessCalendar Europe/Amsterdam mon-fri 09:00-17:00, sat 10:00-12:30, 6 dated rules>"
    )
    assert check_repr(BusinessCalendar.always_open()) == "<BusinessCalendar UTC mon-sun 24h>"
    assert check_repr(OFFICE | BusinessCalendar.always_open()) == (
        "<BusinessCalendar union of 2 calendars>"
    )
    child = OFFICE.override(holidays=["2025-12-24"])
    assert check_repr(child).endswith("7 dated rules, 1 override>")
    many = BusinessCalendar.weekly("UTC", {d: f"0{n}:00-09:30" for n, d in enumerate(WEEKDAYS)})
    assert check_repr(many).endswith("…>")
    assert BusinessCalendar.from_dict(OFFICE.to_dict()) == OFFICE


def test_calendar_week_names_each_dates_rules() -> None:
    week = OFFICE.week(date(2025, 12, 24))
    assert week.start == date(2025, 12, 22)
    assert week.zone.key == "Europe/Amsterdam"
    rows = {day.date.isoformat(): (day.hours, day.notes) for day in week.days}
    assert rows == {
        "2025-12-22": ("09:00-13:00", ("partial day 09:00-13:00",)),
        "2025-12-23": ("09:00-12:00, 14:00-17:00", ("closed 12:00-14:00",)),
        "2025-12-24": ("09:00-17:00", ()),
        "2025-12-25": ("", ("holiday",)),
        "2025-12-26": ("", ("holiday (FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=26)",)),
        "2025-12-27": ("10:00-12:30", ()),
        "2025-12-28": ("10:00-11:00", ("extra opening 10:00-11:00",)),
    }
    assert week.open_time == timedelta(hours=4 + 6 + 8 + 2.5 + 1)
    assert check_repr(week) == (
        "<CalendarWeek 2025-12-22..2025-12-28 Europe/Amsterdam 21h 30m open, "
        "5 days with dated rules>"
    )
    # a range of holidays, and an instant is read in the calendar's zone
    new_year = OFFICE.week(datetime(2025, 12, 28, 23, 30, tzinfo=UTC))  # Monday in Amsterdam
    assert new_year.start == date(2025, 12, 29)
    assert new_year.days[2].notes == ("holiday (2025-12-31 to 2026-01-01)",)
    assert OFFICE.week("2025-12-29") == new_year


def test_calendar_week_grid_is_deterministic_and_well_formed() -> None:
    week = OFFICE.week(date(2025, 12, 22))
    markup = week._repr_html_()
    assert markup == OFFICE.week(date(2025, 12, 26))._repr_html_()
    checker = check_html(markup)
    text = " ".join(" ".join(checker.text).split())
    assert "Week of 2025-12-22 (Europe/Amsterdam wall time)" in text
    # hour columns from the earliest opening (09) to the latest closing (17)
    assert "day 09 10 11 12 13 14 15 16 open total notes" in text
    assert "Mon 2025-12-22" in text
    assert "partial day 09:00-13:00" in text
    assert "closed" in text  # the holidays' hours
    assert 'aria-label="Tue 2025-12-23 12:00: closed"' in markup
    assert 'title="Tue 2025-12-23 11:00: open"' in markup
    assert 'title="Sat 2025-12-27 12:00: open 30 min"' in markup
    saturday = 'title="Sat 2025-12-27 12:00: open 30 min" style="display:block;height:.9em;'
    assert saturday + 'background:currentColor;width:50%"' in markup
    early = BusinessCalendar.weekly("UTC", {"mon": "09:30-10:15"}).week(date(2025, 12, 22))
    cells = early._repr_html_()
    assert 'aria-label="Mon 2025-12-22 09:00: open 30 min"' in cells
    assert "margin-left:50%;width:50%" in cells
    assert (
        'open 15 min" style="display:block;height:.9em;background:currentColor;width:25%"' in cells
    )


def test_calendar_week_counts_real_time_across_a_dst_change() -> None:
    always = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-sun": "00:00-00:00"})
    week = always.week(date(2026, 3, 29))  # clocks go forward that Sunday
    assert week.days[-1].open_time == timedelta(hours=23)
    assert week.open_time == timedelta(days=7) - timedelta(hours=1)
    assert week.days[-1].hours == "00:00-24:00"
    text = text_of(week._repr_html_())
    assert "day 00 01 02" in text
    assert "6d 23h" in text


def test_calendar_html_shows_the_current_week() -> None:
    markup = OFFICE._repr_html_()
    check_html(markup)
    today = datetime.now(UTC).astimezone(AMS).date()
    monday = today - timedelta(days=today.weekday())
    assert f"Week of {monday.isoformat()} (Europe/Amsterdam wall time)" in markup


def test_calendar_notes_are_escaped_and_country_holidays_named() -> None:
    week = OFFICE.week(date(2025, 12, 22))
    days = (attrs.evolve(week.days[0], notes=(EVIL,)), *week.days[1:])
    markup = attrs.evolve(week, days=days)._repr_html_()
    assert "<script" not in markup
    assert "<img" not in markup
    assert EVIL in text_of(markup)
    dutch = BusinessCalendar.weekly("Europe/Amsterdam", {"mon-fri": "09:00-17:00"}, country="NL")
    notes = dutch.week(date(2025, 12, 22)).days[3].notes
    assert notes == ("Christmas Day (NL)",)
    union = dutch | BusinessCalendar.weekly("UTC", {"sat": "10:00-11:00"})
    week = union.week(date(2025, 12, 22))
    assert week.zone.key == "UTC"
    assert week.days[3].notes == ("Christmas Day (NL)",)
    assert week.days[5].hours == "10:00-11:00"
    assert check_repr(union.week(date(2025, 12, 22))).startswith("<CalendarWeek 2025-12-22")


def test_calendar_week_and_intervals_as_frames() -> None:
    frame = OFFICE.week(date(2025, 12, 22)).to_frame()
    assert list(frame.columns) == [
        "weekday",
        "opens",
        "closes",
        "open_hours",
        "intervals",
        "notes",
    ]
    assert frame.loc[date(2025, 12, 23), "open_hours"] == 6.0
    assert frame.loc[date(2025, 12, 25), "notes"] == "holiday"
    assert pd.isna(frame.loc[date(2025, 12, 25), "opens"])
    opens = frame.loc[date(2025, 12, 24), "opens"]
    assert opens == datetime(2025, 12, 24, 9, 0, tzinfo=AMS)
    intervals = OFFICE.intervals_frame(
        datetime(2025, 12, 22, tzinfo=UTC), datetime(2025, 12, 24, tzinfo=UTC)
    )
    assert len(intervals) == 3  # Monday's partial day, Tuesday around the closure
    assert intervals["duration"].sum() == timedelta(hours=10)
    assert str(intervals.loc[0, "local_start"]) == "2025-12-22 09:00:00+01:00"


def test_calendar_week_refuses_bad_days() -> None:
    with pytest.raises(CasekitError, match="week"):
        OFFICE.week("someday")
    with pytest.raises(CasekitError, match="week"):
        OFFICE.week(datetime(2025, 12, 22, 9, 0))  # noqa: DTZ001 - naive on purpose


# -- routing ---------------------------------------------------------------------------


def decided() -> tuple[Router, RoutingDecision]:
    team = [
        chat("ann", 3, skills={"fraud": 9}),
        chat("bob", 1, skills={"fraud": 8}),
        chat("cy", 2, skills={"fraud": 8}, presence=Presence.AWAY),
        chat("dan", 2, skills={"fraud": 2}),
        Agent("eve", capacity={"phone": 1}),
    ]
    router = Router(team, [Queue("fraud", groups=())])
    router.route(item("w0", required_skills={"fraud": 1}), T0)
    return router, router.route(item("w2", required_skills={"fraud": 5}), T0)


def test_decision_repr_html_and_frame_say_what_explain_says() -> None:
    router, decision = decided()
    assert check_repr(decision) == (
        "<RoutingDecision 'w2' assigned to 'ann' via 'fraud', 2 eligible, trigger route>"
    )
    markup = decision._repr_html_()
    text = " ".join(" ".join(check_html(markup).text).split())
    explained = decision.explain()
    assert "work item w2 assigned to 'ann'" in text
    for removal in decision.removed:
        assert removal.filter.value in text
        assert removal.detail in text
        assert removal.filter.value in explained
    assert "presence available on chat 1 cy" in text
    assert "level skill 'fraud' >= 5 2 (outside the pool)" in text
    assert "1 ann - 2 winner 2 bob - 1" in text  # affinity had no say; most_capacity did
    assert "2 eligible agents" in text
    assert "winner" in text
    frame = decision.to_frame()
    assert list(frame.columns) == ["agent_id", "winner", *decision.strategies]
    assert list(frame["agent_id"]) == [c.agent_id for c in decision.candidates]
    assert frame.loc[1, "winner"]
    assert frame.loc[1, "agent_id"] == "ann"
    assert frame.index.name == "rank"
    # equal records still compare equal, and a queued one has no candidates
    assert RoutingDecision.from_dict(decision.to_dict()) == decision
    router.route(item("w8", required_skills={"fraud": 9}), T0)  # ann's last unit
    queued = router.route(item("w9", required_skills={"fraud": 9}), T0)
    assert check_repr(queued).startswith("<RoutingDecision 'w9' queued via 'fraud'")
    assert queued.to_frame().empty


def test_router_repr_and_html() -> None:
    router, _ = decided()
    assert check_repr(router) == "<Router 5 agents (4 available), 1 queue, 0 waiting>"
    router.route(item("w3", required_skills={"fraud": 9}), T0)  # ann's last unit
    router.route(item("w5", required_skills={"fraud": 9}), T0)  # waits for ann
    router.route(item("w4", required_skills={"nothing": 1}), T0)
    assert check_repr(router) == (
        "<Router 5 agents (4 available), 1 queue, 1 waiting, 1 unroutable>"
    )
    markup = router._repr_html_()
    text = " ".join(" ".join(check_html(markup).text).split())
    assert "Agents (5)" in text
    assert "ann available chat 3/3 3" in text  # w0, w2, w3
    assert "bob available chat 0/1 0" in text
    assert "cy away chat 0/2" in text
    assert "eve available phone 0/1" in text
    assert "fraud 1" in text  # the queue and how many wait
    assert "1 unroutable: w4" in text


def test_routing_html_escapes_agent_queue_and_item_names() -> None:
    router = Router([chat(EVIL, groups={EVIL}, skills={EVIL: 5})], [Queue(EVIL, groups={EVIL})])
    decision = router.route(item(EVIL, required_skills={EVIL: 9}), T0)
    for markup in (decision._repr_html_(), router._repr_html_()):
        assert "<script" not in markup
        assert "<img" not in markup
        assert SCRIPT in text_of(markup)
    check_repr(decision)
    check_repr(router)


def test_frames_name_the_extra_when_pandas_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    _, decision = decided()
    calls = (
        decision.to_frame,
        OFFICE.week(date(2025, 12, 22)).to_frame,
        lambda: SlaStatus.frame([]),
        lambda: OFFICE.intervals_frame(T0, T0 + timedelta(days=1)),
    )
    for call in calls:
        with pytest.raises(MissingDependency, match=r"casekit\[notebook\]") as caught:
            call()
        assert isinstance(caught.value, CasekitError)
        assert isinstance(caught.value, ImportError)
        assert caught.value.package == "pandas"
