"""The ``casekit`` command line and the demo, read as a newcomer reads them."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

import pytest

from casekit import Account, Actor, Desk, ManualClock
from casekit.audit import ChainReport
from casekit.cli import main
from casekit.demo import HOLIDAYS, HOURS, SERVICE_HOURS, TICK_EVERY, run_demo
from casekit.routing import Agent, Router, WorkItem
from casekit.storage import MemoryStore

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# -- casekit --version ---------------------------------------------------------------


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"casekit {version('casekit')}\n"


def test_version_from_the_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "casekit.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"casekit {version('casekit')}"


# -- the demo ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def temporary_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What ``casekit demo`` without a path prints (its database is temporary)."""
    lines: list[str] = []
    run_demo(tmp_path_factory.mktemp("demo") / "demo.db", write=lines.append, keep=False)
    return "\n".join(lines)


def test_routing_explanations_are_in_local_time(temporary_run: str) -> None:
    explained = [line for line in temporary_run.splitlines() if line.startswith("work item ")]
    assert explained
    for line in explained:
        assert "+00:00" not in line
        # the fraud review starts at 09:22 Amsterdam, when olga blocked the card by hand
        assert "at 2026-03-02T09:22:00+01:00" in line


def test_every_printed_time_is_local(temporary_run: str) -> None:
    # The case opens at 09:12 Amsterdam, 08:12 UTC: no UTC time of day may show up.
    assert "08:12" not in temporary_run
    assert "It is Monday 02 March 2026, 09:12; all times are Europe/Amsterdam." in temporary_run


def test_counts_are_pluralised(temporary_run: str) -> None:
    assert not re.search(r"\b1 [a-z]+s\b", temporary_run), re.findall(
        r"\b1 [a-z]+s\b", temporary_run
    )
    assert "(1 agent)" in temporary_run
    assert "6 agents (outside the pool)" in temporary_run
    assert "3 of 4 interactions (1 internal note hidden)" in temporary_run


def test_each_warning_and_the_breach_fire_at_their_own_tick(temporary_run: str) -> None:
    fired: list[tuple[str, str]] = []
    tick = ""
    for line in temporary_run.splitlines():
        if line.endswith(" desk.tick() fires:"):
            tick = line.split()[0]
        elif not line.startswith("  "):
            tick = ""
        elif tick and line.startswith("  fraud-ola@CS0000001-T2 "):
            fired.append((tick, line.split()[1]))
    # the review starts at 09:22: 50 % used at 09:37, 75 % at 09:44:30, 90 % at 09:49,
    # due 09:52; a tick every 5 min
    assert fired == [
        ("09:40", "50%"),
        ("09:45", "75%"),
        ("09:50", "90%"),
        ("09:55", "breached"),
    ]
    assert f"every {int(TICK_EVERY.total_seconds() // 60)} minutes" in temporary_run
    assert "each fires at the first tick after its moment" in temporary_run


def test_the_calendar_hours_are_shown_so_due_times_can_be_checked(temporary_run: str) -> None:
    for days, span in HOURS.items():
        assert f"{days} {span}" in temporary_run
    for holiday in HOLIDAYS:
        assert holiday in temporary_run
    # the resolution SLA (10 h of service hours from Mon 09:12) is due Tue 09:12: the
    # printed hours are the ones the engine uses
    start = datetime(2026, 3, 2, 9, 12, tzinfo=AMSTERDAM)
    due = SERVICE_HOURS.add(start, timedelta(hours=10)).astimezone(AMSTERDAM)
    assert f"{due:%a %H:%M}" == "Tue 09:12"
    assert "resolution                   in_progress  target  10h00  due Tue 09:12" in (
        temporary_run
    )


def test_the_customer_s_mail_goes_through_a_real_smtp_server(temporary_run: str) -> None:
    assert re.search(r"the mail goes to an SMTP server on 127\.0\.0\.1:\d+", temporary_run)
    customer = [
        line.split(": ", 1)[1]
        for line in temporary_run.splitlines()
        if line.startswith("  mail to jan@example.org:")
    ]
    assert "[CS0000001] We received your request: Lost credit card" in customer
    assert "[CS0000001] Resolved: Lost credit card" in customer
    assert "[CS0000001] Closed: Lost credit card: how did we do?" in customer
    assert "Please tell us how we did: https://help.bank.example/survey?case=CS0000001" in (
        temporary_run
    )


def test_the_team_lead_hears_of_the_ola_warnings_and_the_breach(temporary_run: str) -> None:
    lead = [line for line in temporary_run.splitlines() if "mail to lena@bank.example" in line]
    assert len(lead) == 4
    assert lead[0].endswith(
        "SLA warning: Fraud team reviews the card payments due 2026-03-02 09:52 CET"
    )
    assert lead[-1].endswith("SLA BREACHED: Fraud team reviews the card payments")


def test_the_playbook_runs_the_case_from_the_catalog_request(temporary_run: str) -> None:
    assert "Alice files the catalog item 'Report a lost or stolen card' for Jan (phone);" in (
        temporary_run
    )
    assert "  09:12 CS0000001-P1 started lost-card v1 (catalog)" in temporary_run
    assert "  09:12 CS0000001-P1 freeze-accounts attempt 1 succeeded" in temporary_run
    assert "  frozen in the core system: NL91BANK0417164300, NL12BANK0123456789" in temporary_run


def test_the_failing_action_is_retried_then_falls_back_to_a_human(temporary_run: str) -> None:
    lines = temporary_run.splitlines()
    failed = [line for line in lines if "freeze-cards attempt" in line and "failed" in line]
    # attempt 1 with the call, 2 and 3 on the ticks after each backoff (1 min, then 2)
    assert [line.split("attempt ")[1][0] for line in failed[:3]] == ["1", "2", "3"]
    assert "retry at 2026-03-02 09:13" in failed[0]
    assert "retry at 2026-03-02 09:17" in failed[1]
    assert failed[2].endswith("task CS0000001-T1 for a human")
    assert "  task CS0000001-T1 created for group card-ops: Block the cards by hand" in (
        temporary_run
    )
    assert "  CS0000001-T1   -> olga" in temporary_run
    assert "09:22 olga blocks the card by hand (CS0000001-T1);" in temporary_run
    assert "  secure   freeze-cards     fallback, 3 attempts, task CS0000001-T1" in lines
    keys = "CS0000001-P1:freeze-cards:1, CS0000001-P1:freeze-cards:2, CS0000001-P1:freeze-cards:3"
    assert f"Card processor calls that failed (idempotency keys): {keys}" in temporary_run


def test_the_reviews_run_in_parallel_routed_by_skill(temporary_run: str) -> None:
    assert "  CS0000001-T2   -> farid" in temporary_run
    assert "  CS0000001-T3   -> dana" in temporary_run
    assert "  disputes-ola@CS0000001-T3    in_progress  target   0h30  due Mon 09:52" in (
        temporary_run
    )
    assert "  mail to fraud@bank.example: [CS0000001] Still open: Review recent card" in (
        temporary_run
    )
    assert "Alice answers 'fraud': CS0000001-T4 'Refund the fraudulent payments' -> dana" in (
        temporary_run
    )


def test_the_run_completes_with_survey_and_watch_list(temporary_run: str) -> None:
    assert "Playbook run CS0000001-P1 (lost-card v1): completed" in temporary_run
    assert "  mail to jan@example.org: [CS0000001] How did we do? Lost credit card" in (
        temporary_run
    )
    assert "Watch list: consumer:c-1042: lost card (90 days)" in temporary_run
    assert "playbook.ended             CS0000001-P1 completed (stage close ended)" in temporary_run
    assert "Tasks: CS0000001-T1 done, CS0000001-T2 done, CS0000001-T3 done, CS0000001-T4 done" in (
        temporary_run
    )


def test_a_temporary_run_says_how_to_keep_and_verify(temporary_run: str) -> None:
    assert "(store: a temporary SQLite file)" in temporary_run
    assert "  casekit demo demo.db" in temporary_run
    assert "  casekit verify sqlite:///demo.db CS0000001" in temporary_run


def test_a_kept_run_says_how_to_verify_it_and_the_command_works(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kept.db"
    assert main(["demo", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"The database is kept in {path}." in out
    command = f"casekit verify sqlite:///{path} CS0000001"
    assert f"  {command}" in out
    assert main(command.split()[1:]) == 0
    assert "CS0000001: audit chain verified: 104 events" in capsys.readouterr().out


def test_the_console_demo_without_a_path_says_it_was_temporary() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "casekit.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "The database was temporary." in result.stdout
    assert "casekit verify sqlite:///demo.db CS0000001" in result.stdout


# -- pluralised counts elsewhere ----------------------------------------------------


def test_routing_explain_pluralises_its_counts() -> None:
    router = Router([Agent("ann", capacity={"chat": 1})])
    router.route(WorkItem("w1", "chat", T0), T0)
    text = router.explain("w1")
    assert "(1 agent)" in text
    assert "1 decision on record" in text
    assert "(s)" not in text


def test_routing_explain_can_use_local_time() -> None:
    router = Router([Agent("ann", capacity={"chat": 1})])
    decision = router.route(WorkItem("w1", "chat", T0), T0)
    assert "at 2026-03-02T09:00:00+00:00" in decision.explain()
    assert "at 2026-03-02T10:00:00+01:00" in decision.explain(AMSTERDAM)
    assert "at 2026-03-02T10:00:00+01:00" in router.explain("w1", AMSTERDAM)


def test_other_printed_counts_are_pluralised() -> None:
    assert str(ChainReport(True, 1)) == "audit chain verified: 1 event, no tampering"
    assert str(ChainReport(True, 2)) == "audit chain verified: 2 events, no tampering"
    store = MemoryStore()
    assert repr(store) == "MemoryStore(0 cases)"
    desk = Desk(store, clock=ManualClock(T0), discover=False)
    desk.save_account(Account(id="a", name="A"))
    desk.open_case(actor=Actor.system(), subject="x", account_id="a")
    assert repr(store) == "MemoryStore(1 case)"
