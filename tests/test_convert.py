"""The shared edge checks in casekit._convert: enums, text, numbers."""

from __future__ import annotations

import enum
import importlib
import math
import pkgutil

import pytest

import casekit
from casekit import CaseState, Channel, InvalidValue, Priority, TaskState
from casekit._convert import (
    MAX_INTEGER_DIGITS,
    CasekitEnum,
    check_integer,
    check_number,
    check_scalar,
    check_text,
    enum_converter,
    enum_set_converter,
    optional_enum_converter,
)
from casekit.exceptions import InvalidFieldValue

# Action belongs to the access policy (casekit/model/access.py), which is being
# reworked separately; it is not yet a CasekitEnum.
_NOT_YET = {"casekit.model.access.Action"}


def _casekit_enums() -> list[type[enum.Enum]]:
    found: dict[str, type[enum.Enum]] = {}
    for info in pkgutil.walk_packages(casekit.__path__, "casekit."):
        if info.name.startswith("casekit.testing"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, enum.Enum)
                and value.__module__.startswith("casekit.")
                and value is not CasekitEnum
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [cls for name, cls in sorted(found.items()) if name not in _NOT_YET]


ENUMS = _casekit_enums()


def test_the_enum_survey_finds_the_enums() -> None:
    names = {cls.__name__ for cls in ENUMS}
    assert {"Channel", "Priority", "CaseAction", "FieldType", "Presence", "SlaStage"} <= names


@pytest.mark.parametrize("cls", ENUMS, ids=lambda cls: cls.__name__)
def test_every_casekit_enum_refuses_an_unknown_value_with_invalid_value(
    cls: type[enum.Enum],
) -> None:
    assert issubclass(cls, CasekitEnum)
    with pytest.raises(InvalidValue) as caught:
        cls("no-such-value")
    assert isinstance(caught.value, ValueError)  # `except ValueError` keeps working
    first = next(iter(cls))
    assert str(first.value) in str(caught.value)  # the allowed values are listed
    assert cls(first.value) is first


CHANNEL = enum_converter(Channel, "X.channel")


def test_enum_converter_takes_members_and_their_values() -> None:
    assert CHANNEL(Channel.CHAT) is Channel.CHAT
    assert CHANNEL("chat") is Channel.CHAT


@pytest.mark.parametrize(
    "value", ["CHAT", "fax", "", None, 3, ["chat"], {"chat": 1}, b"chat", "chat\x00"], ids=repr
)
def test_enum_converter_refuses_anything_else_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        CHANNEL(value)
    assert type(caught.value) is InvalidValue
    assert caught.value.where == "X.channel"
    assert "expected one of phone, email, chat" in str(caught.value)


def test_an_equal_valued_member_of_another_enum_converts_by_value() -> None:
    # TaskState.OPEN == "open": the value is what counts, as for a plain string
    assert enum_converter(CaseState, "x")(TaskState.OPEN) is CaseState.OPEN


def test_optional_enum_converter_lets_none_through() -> None:
    convert = optional_enum_converter(Priority, "x")
    assert convert(None) is None
    assert convert("low") is Priority.LOW
    with pytest.raises(InvalidValue):
        convert("")


def test_enum_set_converter() -> None:
    convert = enum_set_converter(Priority, "Q.priorities")
    assert convert("low") == {Priority.LOW}  # a lone value is one item
    assert convert(p for p in ("low", Priority.HIGH)) == {Priority.LOW, Priority.HIGH}
    assert convert(()) == frozenset()
    with pytest.raises(InvalidValue, match=r"Q\.priorities: unknown Priority 'urgent'"):
        convert(iter(["low", "urgent"]))
    with pytest.raises(InvalidValue, match="expected a collection"):
        convert(5)
    with pytest.raises(InvalidValue, match=r"unknown Priority \['low'\]"):
        convert([["low"]])


@pytest.mark.parametrize("value", ["", "plain", "é\U0001f525", "tab\tnew\nline", "\u202e"])
def test_check_text_accepts_valid_unicode(value: str) -> None:
    assert check_text(value, "w") is value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("\ud800", "lone surrogate at position 0"),
        ("ab\udfff", "lone surrogate at position 2"),
        ("é\udc80", "lone surrogate at position 1"),
        ("a\x00", "NUL character at position 1"),
        ("é\x00\ud800", "NUL character at position 1"),
        (5, "expected text, got int"),
        (None, "expected text, got NoneType"),
    ],
    ids=repr,
)
def test_check_text_refuses(value: object, message: str) -> None:
    with pytest.raises(InvalidFieldValue, match=message) as caught:
        check_text(value, "custom.note", InvalidFieldValue)
    assert caught.value.where == "custom.note"
    str(caught.value).encode("utf-8")


def test_check_number() -> None:
    assert check_number(3, "n") == 3.0
    assert isinstance(check_number(3, "n"), float)
    for bad in (math.nan, math.inf, -math.inf, 10**400):
        with pytest.raises(InvalidValue) as caught:
            check_number(bad, "n")
        assert caught.value.where == "n"


def test_check_integer() -> None:
    largest = 10**MAX_INTEGER_DIGITS - 1
    assert check_integer(largest, "i") == largest
    assert check_integer(-largest, "i") == -largest
    for bad in (10**MAX_INTEGER_DIGITS, -(10**MAX_INTEGER_DIGITS)):
        with pytest.raises(InvalidValue, match="digits"):
            check_integer(bad, "i")


@pytest.mark.parametrize("value", [None, True, 0, -5, 2.5, "x"], ids=repr)
def test_check_scalar_accepts_json_scalars(value: object) -> None:
    assert check_scalar(value, "a") == value


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, "\ud800", b"x", [1], object()],
    ids=lambda v: "object()" if type(v) is object else repr(v),
)
def test_check_scalar_refuses_the_rest(value: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        check_scalar(value, "a")
    assert caught.value.where == "a"
