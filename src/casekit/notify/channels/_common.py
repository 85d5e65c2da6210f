"""Checks shared by the built-in channels: constructor arguments and addresses."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from casekit.exceptions import InvalidAddress, InvalidValue
from casekit.notify._channel import ADDRESS_KINDS

__all__ = [
    "check_address_kind",
    "check_handle",
    "check_headers",
    "check_name",
    "check_phone",
    "check_printable",
    "check_timeout",
]

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_PHONE_SEPARATORS = re.compile(r"[ \-.()]")


def check_address_kind(value: object, where: str = "address_kind") -> str:
    """One of :data:`~casekit.notify.ADDRESS_KINDS`."""
    if not isinstance(value, str) or value not in ADDRESS_KINDS:
        raise InvalidValue(f"{value!r} is not one of {sorted(ADDRESS_KINDS)}", where=where)
    return value


def check_name(name: object, where: str = "name") -> str:
    """A channel name: a non-empty printable string without spaces."""
    if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
        raise InvalidValue(f"a channel name is a non-empty word, not {name!r}", where=where)
    return name


def check_timeout(timeout: object, where: str = "timeout") -> float:
    """A timeout in seconds: a finite number above zero."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidValue(f"must be a number of seconds above 0, not {timeout!r}", where=where)
    return float(timeout)


def check_printable(channel: str, address: object) -> str:
    """Any address: a non-empty string without control characters (no log injection)."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddress(f"empty address {address!r}", where=f"{channel}.address")
    if not address.isprintable():
        raise InvalidAddress(
            f"address {address!r} contains control characters", where=f"{channel}.address"
        )
    return address


def normalize_phone(address: str) -> str:
    """``address`` without the spaces, dashes, dots and parentheses people write."""
    return _PHONE_SEPARATORS.sub("", address)


def check_phone(channel: str, address: object) -> str:
    """An E.164 number: ``+``, a country code, 7 to 15 digits in all (separators allowed).

    Returns:
        The number in E.164 form (``"+33 6 12-34-56-78"`` gives ``"+33612345678"``).
    """
    check_printable(channel, address)
    assert isinstance(address, str)
    number = normalize_phone(address)
    if not _PHONE.fullmatch(number):
        raise InvalidAddress(
            f"{address!r} is not a phone number in international form (+ and 7 to 15 digits)",
            where=f"{channel}.address",
        )
    return number


def check_handle(channel: str, address: object) -> str:
    """A chat handle or channel (``#support``, ``@ana``, ``U024BE7LH``): one word."""
    check_printable(channel, address)
    assert isinstance(address, str)
    if len(address) > 255 or any(c.isspace() for c in address):
        raise InvalidAddress(
            f"{address!r} is not a chat handle (one word of at most 255 characters)",
            where=f"{channel}.address",
        )
    return address


def check_header_value(value: object, where: str) -> str:
    """A value that is safe in an HTTP or mail header: printable ASCII, no CR/LF."""
    if not isinstance(value, str) or not value or not all(" " <= c <= "~" for c in value):
        raise InvalidValue(
            f"a header value must be printable ASCII without line breaks, not {value!r}",
            where=where,
        )
    return value


def check_headers(headers: Mapping[str, str] | None, where: str = "headers") -> dict[str, str]:
    """Extra HTTP headers: token names, printable ASCII values."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidValue(
            f"must be a mapping of header names to values, not {headers!r}", where=where
        )
    checked: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", key):
            raise InvalidValue(f"{key!r} is not a header name", where=where)
        checked[key] = check_header_value(value, f"{where}[{key!r}]")
    return checked
