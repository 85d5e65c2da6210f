"""The one converter between casekit objects and plain JSON-compatible data.

Everything that crosses a boundary (store rows, the audit log, definition files,
plugin payloads) goes through this module, so there is exactly one way each type is
written. Built on a private ``cattrs`` converter; the global cattrs converter is never
touched, so a host's own cattrs configuration cannot leak in or out.

* datetimes are ISO 8601 strings and must be aware; they are normalised to UTC;
* dates and times are ISO 8601 strings; durations are seconds (float, microsecond exact);
* ``frozenset`` is written as a sorted list; enums by value;
* events are a tagged union keyed by their stable dotted ``name`` (``"case.opened"``).

Malformed input raises :class:`~casekit.exceptions.InvalidDefinition` with one line per
problem, each naming the path to the bad field (``$.tasks[0].state: ...``).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from json.encoder import encode_basestring
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cattrs
from cattrs.fns import identity
from cattrs.preconf.json import make_converter

from casekit.exceptions import InvalidDefinition, InvalidValue, NaiveDatetimeError

__all__ = [
    "converter",
    "dumps",
    "from_json",
    "load_toml",
    "loads",
    "structure",
    "to_json",
    "unstructure",
]

T = TypeVar("T")

converter = make_converter(forbid_extra_keys=True, prefer_attrib_converters=False)
"""The private converter. Use the functions below rather than this object."""


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise NaiveDatetimeError("datetime", value)
    return parsed.astimezone(UTC)


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is UTC:  # the common case (casekit keeps instants in UTC): as below
        return value.isoformat()
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError("datetime", value)
    try:
        return value.astimezone(UTC).isoformat()
    except OverflowError as exc:
        raise InvalidValue(f"{value} is outside the representable range", where="datetime") from exc


def _structure_date(value: Any, _: type) -> date:
    if isinstance(value, datetime):
        raise TypeError("expected a date, got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"expected an ISO 8601 date string, got {type(value).__name__}")


def _structure_time(value: Any, _: type) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        if value == "24:00":
            raise ValueError("use 00:00 for midnight at the end of a day")
        return time.fromisoformat(value)
    raise TypeError(f"expected a time string such as '09:00', got {type(value).__name__}")


def _structure_timedelta(value: Any, _: type) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number of seconds, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number of seconds, got {value}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{value} seconds is beyond the longest duration") from None


_MAX_EXACT_FRACTIONAL_MICROS = 2**32 * 1_000_000
"""Below 2**32 s (136 years) a float's error is under half a microsecond."""


def _unstructure_timedelta(value: timedelta) -> float | int:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if micros % 1_000_000 == 0:
        return micros // 1_000_000  # whole seconds: an exact integer
    if abs(micros) >= _MAX_EXACT_FRACTIONAL_MICROS:
        raise InvalidValue(
            f"{value} is too long to write exactly with microseconds (limit 2**32 seconds)",
            where="timedelta",
        )
    return micros / 1_000_000


def _structure_zone(value: Any, _: type) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an IANA time zone name, got {type(value).__name__}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc


def _structure_frozenset(value: Any, type_: Any) -> frozenset[Any]:
    args = getattr(type_, "__args__", None)
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    if not args:
        return frozenset(value)
    return frozenset(converter.structure(item, args[0]) for item in value)


def _unstructure_frozenset(value: frozenset[Any]) -> list[Any]:
    items = [converter.unstructure(item) for item in value]
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, got {type(value).__name__} {value!r}")


def _structure_int(value: Any, cls: type) -> Any:
    if cls is not int:  # an int enum: its own lookup refuses what it does not know
        return cls(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected a whole number, got {type(value).__name__} {value!r}")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")


def _structure_str(value: Any, cls: type) -> Any:
    if cls is not str:  # a str enum (casekit's refuse unknown values, naming them)
        return cls(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected text, got {type(value).__name__} {value!r}")


# Strict scalars: a definition file saying ``mandatory = "false"`` or ``version = 1.5``
# is refused, not read as the opposite of what it says (cattrs' own hooks call bool(),
# int() and str()). Registered before any class hook is built, which captures them.
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, _unstructure_datetime)
converter.register_structure_hook(date, _structure_date)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_structure_hook(time, _structure_time)
converter.register_unstructure_hook(time, lambda value: value.isoformat())
converter.register_structure_hook(timedelta, _structure_timedelta)
converter.register_unstructure_hook(timedelta, _unstructure_timedelta)
converter.register_structure_hook(ZoneInfo, _structure_zone)
converter.register_unstructure_hook(ZoneInfo, lambda value: value.key)


def _optional_passthrough(type_: Any) -> bool:
    """Whether ``type_`` is ``X | None`` for an ``X`` written as it is (str, int, ...):
    then ``None`` and ``X`` both pass through, and cattrs inlines the field."""
    args = getattr(type_, "__args__", ())
    if len(args) != 2 or type(None) not in args or get_origin(type_) not in (Union, UnionType):
        return False
    (other,) = (arg for arg in args if arg is not type(None))
    return other in (str, int, bool) and converter.get_unstructure_hook(other) is identity


converter.register_unstructure_hook_factory(_optional_passthrough, lambda _: identity)
converter.register_structure_hook_func(
    lambda t: getattr(t, "__origin__", None) is frozenset or t is frozenset,
    _structure_frozenset,
)
converter.register_unstructure_hook_func(
    lambda t: getattr(t, "__origin__", None) is frozenset or t is frozenset,
    _unstructure_frozenset,
)


def _flatten(exc: BaseException, path: str) -> list[str]:
    """Turn a cattrs exception tree into ``path: message`` lines."""
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            name = getattr(note, "name", getattr(note, "index", "?"))
            if isinstance(note, cattrs.AttributeValidationNote):
                sub = f"{path}.{name}"
            else:
                sub = f"{path}[{name!r}]" if isinstance(name, str) else f"{path}[{name}]"
            lines.extend(_flatten(inner, sub))
        for inner in without:
            lines.extend(_flatten(inner, path))
        return lines
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [f"{path}: unknown field(s) {', '.join(sorted(exc.extra_fields))}"]
    if isinstance(exc, BaseExceptionGroup):
        return [line for inner in exc.exceptions for line in _flatten(inner, path)]
    if isinstance(exc, KeyError):
        return [f"{path}: missing required field {exc.args[0]!r}" if exc.args else path]
    message = str(exc) or type(exc).__name__
    return [f"{path}: {message}"]


def structure(data: Any, cls: type[T], *, where: str = "$") -> T:
    """Build a ``cls`` from plain data, raising :class:`InvalidDefinition` on bad input."""
    try:
        return converter.structure(data, cls)
    except InvalidDefinition:
        raise
    except (
        cattrs.BaseValidationError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OverflowError,
    ) as exc:
        lines = _flatten(exc, where)
        name = getattr(cls, "__name__", str(cls)).lstrip("_")
        raise InvalidDefinition(f"invalid {name}", where=where, errors=lines) from exc


def unstructure(obj: Any, cls: Any = None) -> Any:
    """Turn a casekit object into plain JSON-compatible data."""
    return converter.unstructure(obj, cls) if cls is not None else converter.unstructure(obj)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` builds for these options on every call (it keeps no state
between calls, so one serves every thread)."""


_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def dumps(data: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept (used for hashing too)."""
    if _c_make_encoder is None or isinstance(data, str):
        return _CANONICAL.encode(data)
    # What _CANONICAL.encode does, without its Python-level steps (on every command's
    # path several times): the C encoder with the same options and fresh markers.
    encode = _c_make_encoder(
        {}, _CANONICAL.default, encode_basestring, None, ":", ",", True, False, True
    )
    return "".join(encode(data, 0))


def loads(text: str | bytes, *, where: str = "$") -> Any:
    """Parse JSON text, raising :class:`InvalidDefinition` on malformed input."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidDefinition(
            "malformed JSON", where=where, errors=[f"{where}: malformed JSON: {exc}"]
        ) from exc


def load_toml(source: str | bytes | os.PathLike[str]) -> dict[str, Any]:
    """Read TOML text, or a TOML file given as a path.

    A ``str`` is read as TOML text when it contains ``=`` or a newline, otherwise as a
    file name. Files and bytes must be UTF-8 (as TOML requires). Malformed TOML,
    bytes that are not UTF-8 and a file name holding a NUL character raise
    :class:`InvalidDefinition`; a file that cannot be read raises the ``OSError``.
    """
    origin = "TOML text"
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "=" not in source and "\n" not in source
    ):
        origin = repr(os.fspath(source))
        try:
            source = Path(source).read_bytes()
        except ValueError as exc:  # a NUL in the path
            raise InvalidDefinition(
                "unreadable file name", where="$", errors=[f"$: {origin}: {exc}"]
            ) from exc
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidDefinition(
                "TOML is not UTF-8",
                where="$",
                errors=[f"$: {origin}: byte {exc.start} is not UTF-8 ({exc.reason})"],
            ) from exc
    else:
        text = source
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDefinition(
            "malformed TOML", where="$", errors=[f"$: malformed TOML: {exc}"]
        ) from exc


def to_json(obj: Any, cls: Any = None) -> str:
    """Serialise ``obj`` to canonical JSON text."""
    return dumps(unstructure(obj, cls))


def from_json(text: str | bytes, cls: type[T], *, where: str = "$") -> T:
    """Parse JSON text into a ``cls``; malformed text or fields raise InvalidDefinition."""
    return structure(loads(text, where=where), cls, where=where)


def structure_mapping(data: Mapping[str, Any], cls: type[T], *, where: str = "$") -> T:
    """Alias of :func:`structure` for mappings read from TOML or YAML files."""
    return structure(dict(data), cls, where=where)


def _configure_events() -> None:
    """Tag the event union by each event's stable dotted name.

    What ``cattrs.strategies.configure_tagged_union`` does, but each event class's
    hooks are made on its first use rather than for all ~50 classes when this module
    loads (0.1-0.2 s in every process, CLI call and test worker).
    """
    from casekit.model.events import Event, event_type  # noqa: PLC0415

    def structure_event(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an event object, got {type(data).__name__}")
        if "name" not in data:
            raise KeyError("name")
        name = data["name"]
        try:
            cls = event_type(str(name))
        except KeyError:
            raise ValueError(f"unknown event name {name!r}") from None
        body = dict(data)
        del body["name"]
        return converter.structure(body, cls)

    def unstructure_event(event: Any) -> dict[str, Any]:
        cls = type(event)
        if event_type(getattr(cls, "name", "")) is not cls:
            raise KeyError(cls)  # the union knows its classes exactly, not subclasses
        data: dict[str, Any] = converter.unstructure(event, cls)
        data["name"] = event.name
        return data

    converter.register_structure_hook(Event, structure_event)
    converter.register_unstructure_hook(Event, unstructure_event)


_configure_events()
