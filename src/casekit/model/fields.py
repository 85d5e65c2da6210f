"""Typed custom fields on cases.

A host declares its fields once (``Desk(fields=[CustomField(...)])``); every value is
checked against the declaration before it reaches an event, so stored data never holds
a value of the wrong type. Values are stored as JSON scalars: dates and datetimes as
ISO 8601 strings (datetimes aware and in UTC). Text must be valid Unicode without NUL
characters, integers fit a signed 64-bit integer, and numbers are finite (NaN and the
infinities are refused: JSON cannot hold them, and NaN is not equal to itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TypeAlias

import attrs

from casekit._convert import (
    CasekitEnum,
    check_integer,
    check_number,
    check_text,
    enum_converter,
    show,
    str_tuple,
    texts,
)
from casekit.exceptions import InvalidFieldValue, NaiveDatetimeError

__all__ = ["CustomField", "FieldSchema", "FieldType", "FieldValue"]

FieldValue: TypeAlias = str | int | float | bool | None
"""What a custom field holds once validated (JSON scalars)."""


class FieldType(CasekitEnum):
    """The declared type of a custom field."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"


_FIELD_TYPE = enum_converter(FieldType, "CustomField.type")


def _field_type(value: FieldType | str) -> FieldType:
    return _FIELD_TYPE(value)


@attrs.frozen
class CustomField:
    """Declaration of one custom field.

    Attributes:
        name: The key under ``case.custom``.
        type: The value type.
        required: Whether a case must carry a value when it is opened.
        choices: Allowed values for :attr:`FieldType.CHOICE`.
        max_length: Longest allowed text, for :attr:`FieldType.TEXT`.
    """

    name: str
    type: FieldType = attrs.field(default=FieldType.TEXT, converter=_field_type)
    required: bool = False
    choices: tuple[str, ...] = attrs.field(default=(), converter=str_tuple, validator=texts)
    max_length: int | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidFieldValue(
                f"field name {show(self.name)} must be an identifier", where="CustomField.name"
            )
        if self.type is FieldType.CHOICE and not self.choices:
            raise InvalidFieldValue("a choice field needs choices", where=self.name)

    def check(self, value: object) -> FieldValue:
        """Return ``value`` normalised to its stored form, or raise InvalidFieldValue."""
        where = f"custom.{self.name}"
        if value is None:
            if self.required:
                raise InvalidFieldValue("is required", where=where)
            return None
        kind = self.type
        if kind is FieldType.TEXT and isinstance(value, str):
            check_text(value, where, InvalidFieldValue)
            if self.max_length is not None and len(value) > self.max_length:
                raise InvalidFieldValue(f"longer than {self.max_length} characters", where=where)
            return value
        if kind is FieldType.INTEGER and isinstance(value, int) and not isinstance(value, bool):
            return check_integer(value, where, InvalidFieldValue)
        if (
            kind is FieldType.NUMBER
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return check_number(value, where, InvalidFieldValue)
        if kind is FieldType.BOOLEAN and isinstance(value, bool):
            return value
        if kind is FieldType.CHOICE and isinstance(value, str):
            if value not in self.choices:
                raise InvalidFieldValue(
                    f"{show(value)} is not one of {', '.join(self.choices)}", where=where
                )
            return value
        if kind is FieldType.DATE:
            return _check_date(value, where)
        if kind is FieldType.DATETIME:
            return _check_datetime(value, where)
        raise InvalidFieldValue(
            f"expected {kind.value}, got {type(value).__name__} {show(value)}", where=where
        )


def _check_date(value: object, where: str) -> str:
    if isinstance(value, datetime):
        raise InvalidFieldValue("expected a date, got a datetime", where=where)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise InvalidFieldValue(f"{show(value)} is not an ISO date", where=where) from exc
    raise InvalidFieldValue(f"expected a date, got {type(value).__name__}", where=where)


def _check_datetime(value: object, where: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidFieldValue(f"{show(value)} is not an ISO datetime", where=where) from exc
    if not isinstance(value, datetime):
        raise InvalidFieldValue(f"expected a datetime, got {type(value).__name__}", where=where)
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(where, value)
    try:
        return value.astimezone(UTC).isoformat()
    except OverflowError:  # within a day of datetime.min or datetime.max
        raise InvalidFieldValue(
            f"{value.isoformat()} is outside the representable range once in UTC", where=where
        ) from None


def _fields(fields: Iterable[CustomField]) -> tuple[CustomField, ...]:
    return tuple(fields)


@attrs.frozen
class FieldSchema:
    """The set of custom fields a desk accepts."""

    fields: tuple[CustomField, ...] = attrs.field(default=(), converter=_fields)
    _by_name: dict[str, CustomField] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, CustomField] = {}
        for spec in self.fields:
            if spec.name in by_name:
                raise InvalidFieldValue("declared twice", where=f"custom.{spec.name}")
            by_name[spec.name] = spec
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def of(cls, fields: Iterable[CustomField]) -> FieldSchema:
        return cls(tuple(fields))

    def check(self, values: Mapping[str, object], *, opening: bool) -> dict[str, FieldValue]:
        """Validate ``values``; on ``opening`` also require the required fields."""
        checked: dict[str, FieldValue] = {}
        for name, value in values.items():
            spec = self._by_name.get(name)
            if spec is None:
                known = ", ".join(sorted(self._by_name)) or "none declared"
                raise InvalidFieldValue(
                    f"unknown custom field (known: {known}); declare it with CustomField",
                    where=(
                        f"custom.{name}"
                        if isinstance(name, str) and name.isidentifier()
                        else f"custom[{show(name)}]"
                    ),
                )
            checked[name] = spec.check(value)
        if opening:
            for spec in self.fields:
                if spec.required and checked.get(spec.name) is None:
                    raise InvalidFieldValue("is required", where=f"custom.{spec.name}")
        return checked
