"""The satisfaction survey: ``desk.record_survey`` and the ``case.survey_answered`` event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casekit import Account, Actor, Contact, Desk, ManualClock
from casekit.analytics import History, csat
from casekit.audit import verify_stored
from casekit.exceptions import AccessDenied, CaseNotFound, InvalidTransition, InvalidValue
from casekit.model.commands import RecordSurvey
from casekit.model.events import SurveyAnswered
from casekit.serialization import from_json, to_json

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
AGENT = Actor.agent("alice", roles={"admin"})
ANN = Actor.contact("ann")
BEN = Actor.contact("ben")  # another contact of the same account
EVE = Actor.contact("eve")  # a contact of another account


@pytest.fixture
def desk() -> Desk:
    desk = Desk(clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="acme", name="Acme"))
    desk.save_account(Account(id="other", name="Other"))
    desk.save_contact(Contact("ann", "acme", "Ann"))
    desk.save_contact(Contact("ben", "acme", "Ben"))
    desk.save_contact(Contact("eve", "other", "Eve"))
    return desk


def open_case(desk: Desk) -> str:
    return desk.open_case(actor=ANN, subject="Help", account_id="acme", contact_id="ann").id


def test_recorded_after_resolution_and_after_closing(desk: Desk) -> None:
    case_id = open_case(desk)
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    case = desk.record_survey(case_id, score=4, comment="ok", actor=ANN)
    assert case.state.value == "resolved"  # nothing else changes
    desk.accept(case_id, actor=ANN)
    desk.record_survey(case_id, score=5, actor=ANN)
    records = desk.history(case_id, actor=ANN)  # customers see their answers
    answers = [r.event for r in records if isinstance(r.event, SurveyAnswered)]
    assert [(a.score, a.comment) for a in answers] == [(4, "ok"), (5, "")]
    assert answers[0].name == "case.survey_answered"
    assert verify_stored(desk.store, case_id).ok  # replays to the stored state
    history = History.from_store(desk)
    assert history.case(case_id).survey_score == 5  # the latest answer counts
    assert history.case(case_id).surveys == 2
    assert csat(history).loc[0, "responses"] == 1


def test_refused_before_resolution(desk: Desk) -> None:
    case_id = open_case(desk)
    with pytest.raises(InvalidTransition, match="not resolved or closed"):
        desk.record_survey(case_id, score=3, actor=ANN)
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    desk.reject(case_id, actor=ANN, reason="still broken")
    with pytest.raises(InvalidTransition):
        desk.record_survey(case_id, score=1, actor=ANN)
    desk.cancel(case_id, actor=AGENT, reason="gave up")
    with pytest.raises(InvalidTransition):
        desk.record_survey(case_id, score=1, actor=ANN)


@pytest.mark.parametrize("score", [0, 6, -1, True, 4.0, "5", None])
def test_score_must_be_one_to_five(desk: Desk, score: object) -> None:
    case_id = open_case(desk)
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    with pytest.raises(InvalidValue, match="1 to 5") as info:
        desk.record_survey(case_id, score=score, actor=ANN)  # type: ignore[arg-type]
    assert info.value.where == "RecordSurvey.score"


def test_comment_must_be_text(desk: Desk) -> None:
    with pytest.raises(InvalidValue) as info:
        RecordSurvey(score=3, comment="nul\x00")
    assert "RecordSurvey.comment" in str(info.value)


def test_access_is_the_respond_access(desk: Desk) -> None:
    case_id = open_case(desk)
    desk.resolve(case_id, actor=AGENT, code="fixed", notes="done")
    with pytest.raises(CaseNotFound):  # a stranger cannot tell the case exists
        desk.record_survey(case_id, score=1, actor=EVE)
    with pytest.raises(AccessDenied, match="only the case's contact or an approver"):
        desk.record_survey(case_id, score=1, actor=BEN)
    desk.record_survey(case_id, score=2, actor=Actor.system("survey-tool"))


def test_the_event_round_trips(desk: Desk) -> None:
    event = SurveyAnswered(
        case_id="CS1", at=T0 + timedelta(minutes=1), actor=ANN.ref, score=3, comment="meh"
    )
    text = to_json(event, SurveyAnswered)
    assert '"score":3' in text
    assert from_json(text, SurveyAnswered) == event
