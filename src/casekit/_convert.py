"""The checks every value goes through at the edge: enums, text and numbers.

Commands, directory objects and queries are built from what a caller passed; their
attrs converters and validators use the helpers here, so bad input is refused with
:class:`~casekit.exceptions.InvalidValue` naming the field before anything is decided
or stored, and the Desk itself needs no checks of its own.

* **Enums**: :func:`enum_converter` accepts a member or its value string and refuses
  anything else, listing the allowed values. :class:`CasekitEnum` is the base of every
  casekit enum, so ``Priority("urgent")`` raises ``InvalidValue`` too (still a
  ``ValueError``).
* **Text**: :func:`check_text` refuses non-strings, lone surrogates (``"\\ud800"``: not
  encodable as UTF-8, so neither hashable into the audit chain nor storable) and NUL
  characters (PostgreSQL ``text`` and ``jsonb`` cannot hold them, and no host means
  one). Other control characters (tabs, newlines) are ordinary text.
* **Numbers**: :func:`check_number` refuses NaN and infinities (JSON has no spelling
  for them, and NaN is not equal to itself, so a stored NaN would make a verified log
  look tampered with) and integers too large for a float; :func:`check_integer`
  refuses integers of more than :data:`MAX_INTEGER_DIGITS` digits (Python will not
  write or read them as JSON).

Converters are built once per field and are cheap on the common path: an enum is one
dict lookup, ASCII text two C-level scans.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum, StrEnum
from typing import Any, TypeVar

from casekit.exceptions import InvalidValue

__all__ = [
    "MAX_INTEGER_DIGITS",
    "CasekitEnum",
    "check_integer",
    "check_number",
    "check_scalar",
    "check_text",
    "enum_converter",
    "enum_set_converter",
    "from_mapping",
    "optional_enum_converter",
    "optional_from_mapping",
    "optional_text",
    "show",
    "str_frozenset",
    "str_tuple",
    "text",
    "text_keys",
    "texts",
]

E = TypeVar("E", bound=Enum)
T = TypeVar("T")

_SHOWN = 60
"""How much of a bad value an error message quotes."""


def show(value: object) -> str:
    """``repr(value)`` cut to a readable length (escapes surrogates and NULs)."""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."


def _allowed(enum: type[Enum]) -> str:
    return ", ".join(str(member.value) for member in enum)


def _refuse(enum: type[Enum], value: object, where: str) -> InvalidValue:
    return InvalidValue(
        f"unknown {enum.__name__} {show(value)}; expected one of {_allowed(enum)}", where=where
    )


class CasekitEnum(StrEnum):
    """Base of casekit's enums: looking up an unknown value raises :class:`InvalidValue`.

    ``InvalidValue`` is a ``ValueError``, so ``except ValueError`` keeps working.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        raise _refuse(cls, value, cls.__name__)


def _members(enum: type[E]) -> dict[object, E]:
    # A StrEnum member hashes and compares like its value, so one entry serves both;
    # keying the member as well keeps this right for enums whose values are not str.
    members: dict[object, E] = {}
    for member in enum:
        members[member.value] = member
        members[member] = member
    return members


def enum_converter(enum: type[E], where: str) -> Callable[[object], E]:
    """A converter taking a member of ``enum`` or its value; anything else is refused.

    Raises:
        InvalidValue: naming ``where`` and the allowed values.
    """
    members = _members(enum)

    def convert(value: object) -> E:
        try:
            return members[value]
        except (KeyError, TypeError):  # TypeError: an unhashable value
            raise _refuse(enum, value, where) from None

    return convert


def optional_enum_converter(enum: type[E], where: str) -> Callable[[object], E | None]:
    """Like :func:`enum_converter`, letting ``None`` through."""
    convert = enum_converter(enum, where)

    def optional(value: object) -> E | None:
        return None if value is None else convert(value)

    return optional


def enum_set_converter(enum: type[E], where: str) -> Callable[[object], frozenset[E]]:
    """A converter to a frozenset of ``enum`` members from members or value strings.

    A lone member or string is one item, as for :func:`str_frozenset`.
    """
    members = _members(enum)

    def convert(values: object) -> frozenset[E]:
        if isinstance(values, str):
            values = (values,)
        elif not isinstance(values, Iterable):
            raise InvalidValue(
                f"expected a collection of {enum.__name__} values, got {show(values)}",
                where=where,
            )
        converted: set[E] = set()
        value: object = None
        try:
            for value in values:
                converted.add(members[value])
        except (KeyError, TypeError):  # TypeError: an unhashable value
            raise _refuse(enum, value, where) from None
        return frozenset(converted)

    return convert


def check_text(value: object, where: str, error: type[InvalidValue] = InvalidValue) -> str:
    """Return ``value`` if it is storable text; raise ``error`` (an :class:`InvalidValue`
    naming ``where``) otherwise."""
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value  # the common case, checked without an encode
    if not isinstance(value, str):
        raise error(f"expected text, got {type(value).__name__} {show(value)}", where=where)
    if "\x00" in value:
        raise error(f"contains a NUL character at position {value.index(chr(0))}", where=where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(
            f"contains a lone surrogate at position {exc.start}; text must be valid Unicode",
            where=where,
        ) from None
    return value


def _where(instance: object, attribute: Any) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def text(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: the field holds storable text (see :func:`check_text`)."""
    if type(value) is str and value.isascii() and "\x00" not in value:
        return
    check_text(value, _where(instance, attribute))


def optional_text(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: ``None`` or storable text."""
    if value is None or (type(value) is str and value.isascii() and "\x00" not in value):
        return
    check_text(value, _where(instance, attribute))


def texts(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: every item of a collection is storable text."""
    for item in value:
        if not (type(item) is str and item.isascii() and "\x00" not in item):
            check_text(item, _where(instance, attribute))


def text_keys(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: every key of a mapping is storable text."""
    for key in value:
        if not (type(key) is str and key.isascii() and "\x00" not in key):
            check_text(key, f"{_where(instance, attribute)}[{show(key)}]")


MAX_INTEGER_DIGITS = 4000
"""Integers are stored with at most this many digits. Python refuses to write or read
integers of more than 4300 digits as text (``sys.get_int_max_str_digits``), so larger
ones could not be stored as JSON, nor read back."""
_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS


def check_integer(value: int, where: str, error: type[InvalidValue] = InvalidValue) -> int:
    """Return ``value`` if it has at most :data:`MAX_INTEGER_DIGITS` digits; raise
    ``error`` otherwise."""
    if -_INTEGER_BOUND < value < _INTEGER_BOUND:
        return value
    raise error(f"has more than {MAX_INTEGER_DIGITS} digits", where=where)


def check_number(value: float, where: str, error: type[InvalidValue] = InvalidValue) -> float:
    """Return ``value`` as a finite float; raise ``error`` for NaN, infinity or an
    integer too large for a float."""
    try:
        number = float(value)
    except OverflowError:
        raise error(f"{show(value)} is too large for a number", where=where) from None
    if math.isfinite(number):
        return number
    raise error(f"{value!r} is not a finite number", where=where)


def check_scalar(value: object, where: str) -> object:
    """Return ``value`` if it is a storable JSON scalar (None, bool, integer, finite
    number or text); raise :class:`InvalidValue` otherwise."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_integer(value, where)
    if isinstance(value, float):
        return check_number(value, where)
    if isinstance(value, str):
        return check_text(value, where)
    raise InvalidValue(
        f"expected text, a number, a boolean or None, got {type(value).__name__}", where=where
    )


def str_tuple(items: Iterable[str]) -> tuple[str, ...]:
    """Freeze an iterable of strings into a tuple (a lone string is one item)."""
    return (items,) if isinstance(items, str) else tuple(items)


def str_frozenset(items: Iterable[str]) -> frozenset[str]:
    """Freeze an iterable of strings into a frozenset (a lone string is one item)."""
    return frozenset((items,) if isinstance(items, str) else items)


def from_mapping(
    cls: type[T], where: str, error: type[InvalidValue] = InvalidValue
) -> Callable[[object], T]:
    """A converter taking a ``cls`` as it is, or building one from a mapping (unknown
    keys refused, each problem naming its field under ``where``); anything else
    raises ``error``."""

    def convert(value: object) -> T:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise error(
                f"must be a {cls.__name__} or a mapping, not {type(value).__name__}", where=where
            )
        from casekit.serialization import structure  # noqa: PLC0415 - it imports the model

        return structure(dict(value), cls, where=where)

    return convert


def optional_from_mapping(
    cls: type[T], where: str, error: type[InvalidValue] = InvalidValue
) -> Callable[[object], T | None]:
    """:func:`from_mapping`, letting ``None`` through."""
    convert = from_mapping(cls, where, error)
    return lambda value: None if value is None else convert(value)
