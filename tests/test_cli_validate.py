"""``casekit validate``: every kind of definition file, good and broken."""

from __future__ import annotations

import pathlib

import pytest

from casekit.cli import detect_kind, main

CALENDAR = """
zone = "Europe/Amsterdam"
holidays = [2026-12-25]

[[week]]
days = "mon-fri"
start = "09:00"
end = "17:00"
"""

SLA = """
[[definitions]]
id = "resolution"
metric = "resolution"
targets = { high = 14400 }
"""

RULES = """
[[rules]]
name = "acknowledge"
on = "case.opened"
kind = "case.acknowledged"
to = "customer"
channel = "email"
"""

CATALOG = """
[[items]]
id = "password-reset"
title = "Password reset"
category = "access"
"""

GOOD = {"calendar": CALENDAR, "sla": SLA, "rules": RULES, "catalog": CATALOG}

BROKEN = {
    "calendar": (CALENDAR.replace("Europe/Amsterdam", "Mars/Olympus"), "$.zone: unknown time zone"),
    "sla": (SLA.replace("high", "urgentest"), "$.definitions[0].targets"),
    "rules": (RULES.replace("case.opened", "case.exploded"), "unknown event 'case.exploded'"),
    "catalog": (CATALOG + 'colour = "red"\n', "$.items[0]: unknown field(s) colour"),
}


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_a_good_file_is_ok(
    kind: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"{kind}.toml", GOOD[kind])
    assert main(["validate", path]) == 0
    assert capsys.readouterr().out == f"{path}: OK ({kind})\n"
    assert main(["validate", "--kind", kind, path]) == 0


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_file_names_each_problem_and_its_path(
    kind: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, problem = BROKEN[kind]
    path = write(tmp_path, f"{kind}.toml", text)
    assert main(["validate", path]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any(problem in line for line in lines), lines
    assert not any("OK" in line for line in lines)


def test_every_problem_of_a_file_is_printed(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CATALOG + 'colour = "red"\n\n[[items]]\nid = "b"\ntitle = "B"\n'
    path = write(tmp_path, "catalog.toml", text)
    assert main(["validate", path]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: $.items[0]: unknown field(s) colour",
        f"{path}: $.items[1]: missing required field 'category'",
    ]


def test_several_files_report_each_and_the_worst_status(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.toml", CATALOG)
    bad = write(tmp_path, "bad.toml", BROKEN["rules"][0])
    assert main(["validate", good, bad]) == 1
    out = capsys.readouterr().out
    assert f"{good}: OK (catalog)" in out
    assert f"{bad}: " in out
    missing = str(tmp_path / "missing.toml")
    assert main(["validate", good, missing, bad]) == 2
    captured = capsys.readouterr()
    assert f"{missing}: cannot read" in captured.err


def test_an_unreadable_file_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 2  # a directory
    assert f"{tmp_path}: cannot read" in capsys.readouterr().err


def test_malformed_toml_and_non_utf8(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "broken.toml", "items = [")
    assert main(["validate", path]) == 1
    assert f"{path}: $: malformed TOML" in capsys.readouterr().out
    latin = tmp_path / "latin.toml"
    latin.write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    assert main(["validate", str(latin)]) == 1
    assert "not UTF-8" in capsys.readouterr().out


def test_a_file_of_unknown_kind_asks_for_kind(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "what.toml", 'title = "x"\n')
    assert main(["validate", path]) == 1
    assert "pass --kind" in capsys.readouterr().out
    assert main(["validate", "--kind", "catalog", path]) == 1  # read as a catalog: refused
    assert f"{path}: $: unknown field(s) title" in capsys.readouterr().out


def test_the_kind_given_wins_over_the_keys(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "rules.toml", RULES)
    assert main(["validate", "--kind", "catalog", path]) == 1
    assert "unknown field(s) rules" in capsys.readouterr().out


PLAYBOOK = """
name = "lost-card"
categories = ["lost_card"]

[[stages]]
id = "verify"

[[stages.activities]]
kind = "decision"
id = "triage"
question = "Fraud?"
default = "no"
choices = [{ value = "yes" }, { value = "no" }]

[[stages.activities]]
kind = "task"
id = "fraud"
after = ["triage=yes"]
"""


def test_a_good_playbook_file_is_ok(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "playbook.toml", PLAYBOOK)
    assert main(["validate", path]) == 0
    assert capsys.readouterr().out == f"{path}: OK (playbook)\n"
    assert main(["validate", "--kind", "playbook", path]) == 0


def test_a_broken_playbook_file_prints_each_problem_with_its_path(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PLAYBOOK.replace('after = ["triage=yes"]', 'after = ["triage=maybe", "ghost"]')
    text = text.replace('default = "no"\n', "")
    path = write(tmp_path, "playbook.toml", text)
    assert main(["validate", path]) == 1
    where = "playbook[lost-card].stages[verify].activities"
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: {where}[triage].default: a decision needs a default choice",
        f"{path}: {where}[fraud].after: decision 'triage' has no choice 'maybe'",
        f"{path}: {where}[fraud].after: unknown activity 'ghost' "
        "(start rules name activities of the same stage)",
    ]
    assert detect_kind({"name": "x", "stages": []}) == "playbook"


def test_a_playbook_file_with_an_unknown_key_or_kind(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "playbook.toml", PLAYBOOK.replace('kind = "task"', 'kind = "meeting"'))
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ")
    assert "kind 'meeting' is not an activity kind" in out
    path = write(tmp_path, "colour.toml", PLAYBOOK + 'colour = "red"\n')
    assert main(["validate", path]) == 1
    assert "colour" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        ({"items"}, "catalog"),
        ({"stages", "name"}, "playbook"),
        ({"rules"}, "rules"),
        ({"definitions"}, "sla"),
        ({"calendars", "group_calendars"}, "sla"),
        ({"zone", "week"}, "calendar"),
        ({"holidays"}, "calendar"),
        ({"union"}, "calendar"),
        ({"parent", "closures"}, "calendar"),
        ({"title"}, None),
        (set(), None),
    ],
)
def test_detect_kind(keys: set[str], kind: str | None) -> None:
    assert detect_kind(dict.fromkeys(keys)) == kind
