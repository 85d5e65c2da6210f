"""Definition files with odd bytes and numbers raise InvalidDefinition, never a raw error."""

from __future__ import annotations

import pathlib

import pytest

from casekit import InvalidDefinition
from casekit.serialization import load_toml
from casekit.sla import BusinessCalendar, SlaPolicy

CALENDAR = """# The café's opening hours
zone = "Europe/Amsterdam"
week = [{days = "mon-fri", start = "09:00", end = "17:00"}]
"""

POLICY = """
[calendars.office]
zone = "Europe/Amsterdam"
week = [{days = "mon-fri", start = "09:00", end = "17:00"}]

[[definitions]]
id = "resolution"
calendar = "office"
targets = {critical = 14400, high = 28800}
warnings = [0.5, 0.75]
escalations = [{level = 1, after = 0, action = "notify:lead"}]
"""

LATIN_1 = CALENDAR.encode("latin-1")  # "café" as a lone 0xE9 byte


def test_the_definitions_load_as_utf8() -> None:
    assert BusinessCalendar.from_toml(CALENDAR.encode("utf-8")) == BusinessCalendar.from_toml(
        CALENDAR
    )
    assert SlaPolicy.from_toml(POLICY).definitions


def test_toml_bytes_that_are_not_utf8_are_an_invalid_definition() -> None:
    with pytest.raises(InvalidDefinition, match="not UTF-8") as caught:
        load_toml(LATIN_1)
    assert f"byte {LATIN_1.index(0xE9)} is not UTF-8" in str(caught.value)
    with pytest.raises(InvalidDefinition, match="not UTF-8"):
        BusinessCalendar.from_toml(LATIN_1)


def test_a_toml_file_that_is_not_utf8_is_an_invalid_definition(tmp_path: pathlib.Path) -> None:
    calendar = tmp_path / "calendar.toml"
    calendar.write_bytes(LATIN_1)
    policy = tmp_path / "policy.toml"
    policy.write_bytes(POLICY.replace("notify:lead", "notify:lé").encode("cp1252"))
    with pytest.raises(InvalidDefinition, match=r"calendar\.toml"):
        BusinessCalendar.from_toml(calendar)
    with pytest.raises(InvalidDefinition, match="not UTF-8"):
        BusinessCalendar.from_toml(str(calendar))
    with pytest.raises(InvalidDefinition, match=r"policy\.toml"):
        SlaPolicy.from_toml(policy)


def test_a_file_name_with_a_nul_is_an_invalid_definition() -> None:
    with pytest.raises(InvalidDefinition, match="unreadable file name"):
        load_toml("policy\x00.toml")


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("high = 28800", "high = nan", "$.definitions[0].targets['high']"),
        ("high = 28800", "high = inf", "$.definitions[0].targets['high']"),
        ("high = 28800", "high = -inf", "$.definitions[0].targets['high']"),
        ("high = 28800", "high = 1e300", "$.definitions[0].targets['high']"),
        ("after = 0", "after = nan", "$.definitions[0].escalations[0].after"),
        ("[0.5, 0.75]", "[0.5, nan]", "warnings"),
        ("[0.5, 0.75]", "[inf]", "warnings"),
    ],
    ids=[
        "target nan",
        "target inf",
        "target -inf",
        "target 1e300",
        "after nan",
        "warning nan",
        "warning inf",
    ],
)
def test_nan_and_infinities_in_a_policy_are_an_invalid_definition(
    old: str, new: str, path: str
) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        SlaPolicy.from_toml(POLICY.replace(old, new))
    assert path in str(caught.value)
