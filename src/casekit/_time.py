"""Helpers for aware instants, shared by every package."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casekit.exceptions import InvalidType, InvalidValue, NaiveDatetimeError

__all__ = ["is_aware", "require_aware", "to_utc", "validate_aware"]


def is_aware(value: datetime) -> bool:
    """Return whether ``value`` carries a usable UTC offset."""
    return value.tzinfo is not None and value.utcoffset() is not None


def require_aware(value: datetime, where: str) -> datetime:
    """Return ``value`` if it is aware; raise :class:`NaiveDatetimeError` naming ``where``."""
    if not isinstance(value, datetime):
        raise InvalidType(f"expected a datetime, got {type(value).__name__}", where=where)
    if not is_aware(value):
        raise NaiveDatetimeError(where, value)
    return value


def to_utc(value: datetime, where: str = "instant") -> datetime:
    """Check that ``value`` is aware and convert it to UTC.

    Raises:
        NaiveDatetimeError: ``value`` has no time zone.
        InvalidValue: In UTC, ``value`` would fall outside ``datetime.min`` ..
            ``datetime.max`` (a local time within a day of either end).
    """
    try:
        return require_aware(value, where).astimezone(UTC)
    except OverflowError:
        raise InvalidValue(
            f"{value.isoformat()} is outside the representable range once in UTC", where=where
        ) from None


def validate_aware(instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator: optional datetimes must be aware and representable in UTC."""
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return  # the common case (instants are kept in UTC), checked without a call
    to_utc(value, f"{type(instance).__name__}.{attribute.name}")
