"""The service catalog: standard requests with typed variables.

A :class:`CatalogItem` is something a customer (self-service) or an agent (on a
customer's behalf) can request: a password reset, a copy of a statement, a product
change. It names the case category it opens, the priority and assignment group, the
playbook it starts, and the :class:`Variable` values the requester fills in.
:meth:`CatalogItem.check` validates a request's values, collecting every problem into
one :class:`~casekit.exceptions.InvalidRequest`, and returns them as JSON scalars
ready to be recorded in events.

Definitions are checked when built (in Python or from TOML/dict data with
:meth:`Catalog.from_dict` / :meth:`Catalog.from_toml`): every problem is reported in
one :class:`~casekit.exceptions.InvalidDefinition` whose ``errors`` name its path
(``$.items[0].variables[1].pattern: ...``). This module is pure: it reads accounts and
contacts only through the :class:`~casekit.model.access.Directory` it is handed.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Final, TypeAlias

import attrs

from casekit._convert import (
    CasekitEnum,
    check_integer,
    check_number,
    check_text,
    enum_converter,
    enum_set_converter,
    show,
)
from casekit.exceptions import (
    AccountNotFound,
    CatalogItemNotFound,
    ContactNotFound,
    InvalidDefinition,
    InvalidRequest,
    InvalidValue,
)
from casekit.model._enums import Priority
from casekit.model.access import Directory
from casekit.serialization import load_toml, structure

__all__ = ["Catalog", "CatalogItem", "Requester", "Variable", "VariableType", "VariableValue"]

VariableValue: TypeAlias = str | int | float | bool | None
"""A checked variable value: a JSON scalar (dates are ISO 8601 strings)."""


class VariableType(CasekitEnum):
    """What a catalog variable holds."""

    TEXT = "text"
    NUMBER = "number"
    """An integer or a finite float (not a bool)."""
    INTEGER = "integer"
    CHOICE = "choice"
    """One of the variable's ``choices``."""
    DATE = "date"
    """A ``datetime.date`` or an ISO 8601 date string; stored as the ISO string."""
    BOOLEAN = "boolean"
    ACCOUNT = "account"
    """The id of an existing account."""
    CONTACT = "contact"
    """The id of an existing contact (of the request's account, when it has one)."""


class Requester(CasekitEnum):
    """Who may request a catalog item."""

    SELF_SERVICE = "self_service"
    """A contact or consumer, for themselves."""
    AGENT = "agent"
    """An agent, on a customer's behalf."""


_NUMERIC = (VariableType.NUMBER, VariableType.INTEGER)
_VARIABLE_TYPE = enum_converter(VariableType, "type")
_REQUESTERS = enum_set_converter(Requester, "requesters")
_PRIORITY = enum_converter(Priority, "priority")


def _variable_type(value: VariableType | str) -> VariableType:
    try:
        return _VARIABLE_TYPE(value)
    except InvalidValue as exc:
        raise InvalidDefinition(_bare(exc), where="type") from None


def _requesters(value: Iterable[Requester | str]) -> frozenset[Requester]:
    try:
        return _REQUESTERS(value)
    except InvalidValue as exc:
        raise InvalidDefinition(_bare(exc), where="requesters") from None


def _priority(value: Priority | str) -> Priority:
    try:
        return _PRIORITY(value)
    except InvalidValue as exc:
        raise InvalidDefinition(_bare(exc), where="priority") from None


def _bare(exc: InvalidValue) -> str:
    """The message of ``exc`` without its ``where:`` prefix."""
    return str(exc).removeprefix(f"{exc.where}: ") if exc.where else str(exc)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


class _Refused(Exception):
    """A value a variable does not accept (caught by :meth:`CatalogItem.check`)."""


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_problem(value: object, *, empty: bool = True) -> str | None:
    """Why ``value`` is not acceptable text (``None`` when it is)."""
    try:
        check_text(value, "")
    except InvalidValue as exc:
        return _bare(exc)
    if not empty and not str(value).strip():
        return "must not be empty"
    return None


def _nested_repeat(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack exponentially, or ``None``.

    A repeat of variable length inside another (``(a+)+``, ``([a-z]+ ?)*``; not
    ``( ?[0-9]{4})*``, whose inner count is fixed) makes the regex engine try
    every way of splitting a value that almost matches: a customer's 40 characters can
    hold a worker for days. Possessive repeats (``a++``) and atomic groups
    (``(?>...)``) do not backtrack, so they are allowed.
    """
    # The stdlib's own regex parser (private, typed as Any: typeshed lacks it).
    parser: Any = importlib.import_module("re._parser")
    c: Any = importlib.import_module("re._constants")

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT)

    def walk(items: Any, inside: bool) -> bool:
        for op, arg in items:
            if op in repeats:
                low, high, body = arg
                many = low != high and (high is c.MAXREPEAT or high > 1)  # variable, > 1
                if inside and many:
                    return True
                if walk(body, inside or many):
                    return True
            elif op in (c.POSSESSIVE_REPEAT, c.ATOMIC_GROUP):
                continue  # never backtracks into
            elif (op is c.SUBPATTERN and walk(arg[-1], inside)) or (
                op is c.BRANCH and any(walk(branch, inside) for branch in arg[1])
            ):
                return True
        return False

    if walk(parser.parse(pattern), inside=False):
        return (
            "a repeat inside a repeat can take exponential time on a value that almost "
            "matches; make the inner one possessive (a++, [a-z]*+) or atomic ((?>...))"
        )
    return None


@attrs.frozen(kw_only=True)
class Variable:
    """One value a requester fills in.

    Attributes:
        name: The key in the request's values (a Python identifier).
        type: What it holds (see :class:`VariableType`).
        label: What a form shows.
        required: Whether a request must give it (a default counts).
        help: Longer help text for a form.
        default: Used when the request does not give the variable.
        choices: The allowed values of a ``choice`` variable (and only of one).
        min: Smallest allowed value of a ``number`` or ``integer`` variable.
        max: Largest allowed value of a ``number`` or ``integer`` variable.
        max_length: Longest allowed ``text``, in characters.
        pattern: A regular expression a ``text`` value must match in full.
        message: Said instead of casekit's own message when a value is refused.
    """

    name: str
    type: VariableType = attrs.field(converter=_variable_type)
    label: str
    required: bool = True
    help: str = ""
    default: VariableValue | date = None
    choices: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    min: int | float | None = None
    max: int | float | None = None
    max_length: int | None = None
    pattern: str | None = None
    message: str | None = None
    _regex: re.Pattern[str] | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        where = f"variables.{self.name}" if isinstance(self.name, str) else "variables"
        problems = self._problems()
        if problems:
            raise InvalidDefinition(
                f"invalid variable {show(self.name)}",
                where=where,
                errors=[f"{where}.{field}: {message}" for field, message in problems],
            )

    def _problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if not isinstance(self.name, str) or not self.name.isidentifier():
            problems.append(("name", f"{show(self.name)} is not an identifier"))
        problems.extend(
            (field, problem)
            for field in ("label", "help")
            if (problem := _text_problem(getattr(self, field)))
        )
        if self.message is not None and (problem := _text_problem(self.message)):
            problems.append(("message", problem))
        if not _is_bool(self.required):
            problems.append(("required", f"expected true or false, got {show(self.required)}"))
        problems.extend(self._choice_problems())
        problems.extend(self._bound_problems())
        problems.extend(self._text_problems())
        if self.default is not None and not problems:
            try:
                default = _convert(self, self.default, None, None)
            except _Refused as exc:
                problems.append(("default", str(exc)))
            else:
                object.__setattr__(self, "default", default)
        return problems

    def _choice_problems(self) -> list[tuple[str, str]]:
        if self.type is not VariableType.CHOICE:
            return [("choices", "only choice variables have choices")] if self.choices else []
        problems = [
            ("choices", f"{show(choice)}: {problem}")
            for choice in self.choices
            if (problem := _text_problem(choice, empty=False))
        ]
        if not self.choices:
            problems.append(("choices", "a choice variable needs choices"))
        if len(set(self.choices)) != len(self.choices):
            problems.append(("choices", "lists a choice twice"))
        return problems

    def _bound_problems(self) -> list[tuple[str, str]]:
        problems = []
        for field in ("min", "max"):
            bound = getattr(self, field)
            if bound is None:
                continue
            if self.type not in _NUMERIC:
                problems.append((field, "only number and integer variables have bounds"))
            elif not _is_number(bound) or not math.isfinite(bound):
                problems.append((field, f"expected a finite number, got {show(bound)}"))
            elif self.type is VariableType.INTEGER and not isinstance(bound, int):
                problems.append((field, f"an integer variable's bound is an integer: {bound!r}"))
        if not problems and self.min is not None and self.max is not None and self.max < self.min:
            problems.append(("max", f"{self.max!r} is below min {self.min!r}"))
        return problems

    def _text_problems(self) -> list[tuple[str, str]]:
        problems = []
        if self.max_length is not None:
            if self.type is not VariableType.TEXT:
                problems.append(("max_length", "only text variables have a max_length"))
            elif not _is_integer(self.max_length):
                problems.append(("max_length", f"expected an integer, got {show(self.max_length)}"))
            elif self.max_length < 1:
                problems.append(("max_length", "must be at least 1"))
        if self.pattern is not None:
            if self.type is not VariableType.TEXT:
                problems.append(("pattern", "only text variables have a pattern"))
            elif problem := _text_problem(self.pattern):
                problems.append(("pattern", problem))
            else:
                try:
                    object.__setattr__(self, "_regex", re.compile(self.pattern))
                except re.error as exc:
                    problems.append(("pattern", f"not a regular expression: {exc}"))
                else:
                    if nested := _nested_repeat(self.pattern):
                        problems.append(("pattern", nested))
        return problems

    def convert(
        self,
        value: object,
        directory: Directory | None = None,
        *,
        account_id: str | None = None,
    ) -> VariableValue:
        """``value`` checked and in its stored form (``None`` and defaults aside).

        Raises:
            InvalidRequest: With one line ``variables.<name>: <message>``.
        """
        try:
            return _convert(self, value, directory, account_id)
        except _Refused as exc:
            line = f"variables.{self.name}: {self.message or exc}"
            raise InvalidRequest(f"invalid value for {self.name!r}", errors=[line]) from None


def _convert(
    variable: Variable,
    value: object,
    directory: Directory | None,
    account_id: str | None,
) -> VariableValue:
    """``value`` converted for ``variable``; raises :class:`_Refused` saying why not."""
    kind = variable.type
    if kind in _NUMERIC:
        return _convert_number(variable, value)
    if kind is VariableType.DATE:
        return _convert_date(value)
    if kind is VariableType.BOOLEAN:
        if not _is_bool(value):
            raise _Refused(f"expected true or false, got {type(value).__name__} {show(value)}")
        return bool(value)
    if not isinstance(value, str):
        raise _Refused(f"expected text, got {type(value).__name__} {show(value)}")
    if problem := _text_problem(value):
        raise _Refused(problem)
    if kind is VariableType.TEXT:
        if variable.max_length is not None and len(value) > variable.max_length:
            raise _Refused(f"longer than {variable.max_length} characters")
        if variable._regex is not None and variable._regex.fullmatch(value) is None:
            raise _Refused(f"{show(value)} does not match {variable.pattern!r}")
    elif kind is VariableType.CHOICE:
        if value not in variable.choices:
            raise _Refused(f"{show(value)} is not one of {', '.join(variable.choices)}")
    elif directory is not None:
        _look_up(kind, value, directory, account_id)
    return value


def _convert_number(variable: Variable, value: object) -> int | float:
    number: int | float
    if variable.type is VariableType.INTEGER:
        if not _is_integer(value):
            raise _Refused(f"expected an integer, got {type(value).__name__} {show(value)}")
        number = _checked(check_integer, value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = _checked(check_integer, value)
        _checked(check_number, value)  # an integer too large for a float
    elif isinstance(value, float):
        number = _checked(check_number, value)
    else:
        raise _Refused(f"expected a number, got {type(value).__name__} {show(value)}")
    if variable.min is not None and number < variable.min:
        raise _Refused(f"{number!r} is below the minimum {variable.min!r}")
    if variable.max is not None and number > variable.max:
        raise _Refused(f"{number!r} is above the maximum {variable.max!r}")
    return number


def _convert_date(value: object) -> str:
    if isinstance(value, datetime):
        raise _Refused("expected a date, got a datetime")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _Refused(f"{show(value)} is not an ISO date (YYYY-MM-DD)") from None
    raise _Refused(f"expected a date, got {type(value).__name__} {show(value)}")


def _look_up(kind: VariableType, value: str, directory: Directory, account_id: str | None) -> None:
    if kind is VariableType.ACCOUNT:
        try:
            directory.get_account(value)
        except AccountNotFound:
            raise _Refused(f"no account {show(value)}") from None
        return
    try:
        contact = directory.get_contact(value)
    except ContactNotFound:
        raise _Refused(f"no contact {show(value)}") from None
    if account_id is not None and contact.account_id != account_id:
        raise _Refused(f"contact {show(value)} is not of account {show(account_id)}")


def _checked(check: Any, value: Any) -> Any:
    try:
        return check(value, "")
    except InvalidValue as exc:
        raise _Refused(_bare(exc)) from None


def _variables(value: Iterable[Variable]) -> tuple[Variable, ...]:
    return _as_tuple(value)


_FORMATTER = string.Formatter()
_BOTH = frozenset(Requester)


@attrs.frozen(kw_only=True)
class CatalogItem:
    """Something that can be requested from the service organisation.

    Attributes:
        id: Unique in the catalog: printable, without spaces.
        title: What the catalog shows (and the case subject, without ``subject``).
        category: The case category the request opens.
        description: What the item is for.
        priority: The priority of the case it opens.
        group: The assignment group of that case, if any.
        playbook: The name of the playbook the request starts, if any.
        variables: What the requester fills in (unique names).
        requesters: Who may request it (both by default).
        subject: The case subject as a template over the variables
            (``"Statement copy for {month}"``); only ``{name}`` fields, no format specs.
        automated: Documents that the item completes with no human touch.
        guidance: Text shown to requesters.
    """

    id: str
    title: str
    category: str
    description: str = ""
    priority: Priority = attrs.field(default=Priority.MODERATE, converter=_priority)
    group: str | None = None
    playbook: str | None = None
    variables: tuple[Variable, ...] = attrs.field(default=(), converter=_variables)
    requesters: frozenset[Requester] = attrs.field(default=_BOTH, converter=_requesters)
    subject: str | None = None
    automated: bool = False
    guidance: str | None = None
    _by_name: dict[str, Variable] = attrs.field(init=False, factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        where = f"items.{self.id}" if isinstance(self.id, str) else "items"
        problems = self._problems()
        if problems:
            raise InvalidDefinition(
                f"invalid catalog item {show(self.id)}",
                where=where,
                errors=[f"{where}.{field}: {message}" for field, message in problems],
            )

    def _problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if problem := _text_problem(self.id, empty=False):
            problems.append(("id", problem))
        elif not self.id.isprintable() or any(char.isspace() for char in self.id):
            problems.append(("id", f"{show(self.id)}: an id is printable, without spaces"))
        problems.extend(
            (field, problem)
            for field in ("title", "category")
            if (problem := _text_problem(getattr(self, field), empty=False))
        )
        if problem := _text_problem(self.description):
            problems.append(("description", problem))
        for field in ("group", "playbook", "guidance"):
            item = getattr(self, field)
            if item is not None and (problem := _text_problem(item, empty=False)):
                problems.append((field, problem))
        if not _is_bool(self.automated):
            problems.append(("automated", f"expected true or false, got {show(self.automated)}"))
        if not self.requesters:
            problems.append(("requesters", "nobody may request the item"))
        given: tuple[object, ...] = self.variables  # a caller may pass anything
        for index, variable in enumerate(given):
            if not isinstance(variable, Variable):
                problems.append((f"variables[{index}]", f"{show(variable)} is not a Variable"))
            elif variable.name in self._by_name:
                problems.append((f"variables.{variable.name}", "two variables have this name"))
            else:
                self._by_name[variable.name] = variable
        if self.subject is not None:
            if problem := _text_problem(self.subject, empty=False):
                problems.append(("subject", problem))
            else:
                problems.extend(("subject", p) for p in self._subject_problems(self.subject))
        return problems

    def _subject_problems(self, subject: str) -> list[str]:
        try:
            parts = list(_FORMATTER.parse(subject))
        except ValueError as exc:
            return [f"not a template: {exc}"]
        problems = []
        for _, field, spec, conversion in parts:
            if field is None:
                continue
            if spec or conversion:
                problems.append(f"{{{field}}}: write the variable's name alone, as {{name}}")
            if field not in self._by_name:
                known = ", ".join(self._by_name) or "none"
                problems.append(f"{{{field}}} is not a variable of the item (known: {known})")
        return problems

    def variable(self, name: str) -> Variable:
        """The variable called ``name``.

        Raises:
            InvalidRequest: The item has no such variable.
        """
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise InvalidRequest(
                f"catalog item {self.id!r} has no variable {show(name)}",
                errors=[f"{_path(name)}: {self._unknown()}"],
            ) from None

    def is_open_to(self, requester: Requester | str) -> bool:
        """Whether ``requester`` (``"self_service"`` or ``"agent"``) may request the item."""
        return Requester(requester) in self.requesters

    def _unknown(self) -> str:
        return f"unknown variable (known: {', '.join(self._by_name) or 'none'})"

    def check(
        self,
        values: Mapping[str, object],
        directory: Directory | None = None,
        *,
        account_id: str | None = None,
    ) -> dict[str, VariableValue]:
        """Check a request's ``values`` and return every variable's stored value.

        Missing variables take their default (or ``None`` when optional); text that is
        empty counts as missing. ``account`` and ``contact`` values are looked up in
        ``directory`` when one is given; with ``account_id`` a contact must belong to
        that account.

        Raises:
            InvalidRequest: Every problem at once, one ``variables.<name>: <message>``
                line each (the variable's ``message`` when it has one).
        """
        if not isinstance(values, Mapping):
            raise InvalidRequest(
                f"catalog item {self.id!r}: the values are not a mapping",
                errors=[f"variables: expected a mapping, got {type(values).__name__}"],
            )
        errors = [
            f"{_path(name)}: {self._unknown()}" for name in values if name not in self._by_name
        ]
        checked: dict[str, VariableValue] = {}
        for variable in self.variables:
            value = values.get(variable.name)
            if (
                isinstance(value, str)
                and not value.strip()
                and variable.type is not VariableType.TEXT
            ):
                value = None
            if variable.type is VariableType.TEXT and isinstance(value, str) and not value.strip():
                value = None if variable.required else value
            if value is None:
                value = variable.default
            if value is None:
                if variable.required:
                    errors.append(f"variables.{variable.name}: {variable.message or 'is required'}")
                checked[variable.name] = None
                continue
            try:
                checked[variable.name] = _convert(variable, value, directory, account_id)
            except _Refused as exc:
                errors.append(f"variables.{variable.name}: {variable.message or exc}")
        if errors:
            count = f"{len(errors)} problem{'s' if len(errors) > 1 else ''}"
            raise InvalidRequest(f"catalog item {self.id!r}: {count}", errors=errors)
        return checked

    def subject_for(self, values: Mapping[str, object]) -> str:
        """The case subject for checked ``values``: the ``subject`` template filled in
        (a missing or ``None`` value is left empty), or the title."""
        if self.subject is None:
            return self.title
        out = []
        for literal, field, _, _ in _FORMATTER.parse(self.subject):
            out.append(literal)
            if field is not None:
                value = values.get(field)
                out.append("" if value is None else str(value))
        return "".join(out)


def _path(name: object) -> str:
    return (
        f"variables.{name}"
        if isinstance(name, str) and name.isidentifier()
        else f"variables[{show(name)}]"
    )


def _items(value: Iterable[CatalogItem]) -> tuple[CatalogItem, ...]:
    return _as_tuple(value)


@attrs.frozen
class _CatalogData:
    items: list[Any] = attrs.field(factory=list)


_VARIABLE_FIELDS: Final = {str(f.alias) for f in attrs.fields(Variable) if f.init}
_ITEM_FIELDS: Final = {str(f.alias) for f in attrs.fields(CatalogItem) if f.init}


@attrs.frozen
class Catalog:
    """The catalog items, by id.

    Build one from items (``Catalog([CatalogItem(...), ...])``) or from data with
    :meth:`from_dict` / :meth:`from_toml`.
    """

    _items: tuple[CatalogItem, ...] = attrs.field(default=(), converter=_items)
    _by_id: dict[str, CatalogItem] = attrs.field(init=False, factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        errors = []
        given: tuple[object, ...] = self._items  # a caller may pass anything
        for index, item in enumerate(given):
            if not isinstance(item, CatalogItem):
                errors.append(f"items[{index}]: {show(item)} is not a CatalogItem")
            elif item.id in self._by_id:
                errors.append(f"items.{item.id}: two items have this id")
            else:
                self._by_id[item.id] = item
        if errors:
            raise InvalidDefinition("invalid catalog", where="items", errors=errors)

    def get(self, item_id: str) -> CatalogItem:
        """The item with ``item_id``.

        Raises:
            CatalogItemNotFound: No item has that id.
        """
        try:
            return self._by_id[item_id]
        except (KeyError, TypeError):
            raise CatalogItemNotFound(
                show(item_id) if not isinstance(item_id, str) else item_id
            ) from None

    def items(self) -> tuple[CatalogItem, ...]:
        """Every item, in the order given."""
        return self._items

    def __iter__(self) -> Iterator[CatalogItem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and item_id in self._by_id

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "$") -> Catalog:
        """A catalog from plain data::

            {"items": [{"id": "statement-copy", "title": "...", "category": "billing",
                        "variables": [{"name": "month", "type": "text", ...}]}]}

        Unknown keys are refused.

        Raises:
            InvalidDefinition: Every problem, one line each naming its path
                (``$.items[0].variables[1].pattern: ...``).
        """
        if not isinstance(data, Mapping):
            raise InvalidDefinition(
                f"expected a table, got {type(data).__name__}",
                where=where,
                errors=[f"{where}: expected a table, got {type(data).__name__}"],
            )
        raw = structure(dict(data), _CatalogData, where=where)
        errors: list[str] = []
        items: list[CatalogItem] = []
        for index, entry in enumerate(raw.items):
            item = _item_from_data(entry, f"{where}.items[{index}]", errors)
            if item is not None:
                items.append(item)
        if not errors:
            try:
                return cls(items)
            except InvalidDefinition as exc:
                errors.extend(f"{where}.{line}" for line in exc.errors)
        raise InvalidDefinition(
            f"invalid catalog ({len(errors)} problems)", where=where, errors=errors
        )

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str]) -> Catalog:
        """A catalog from TOML text or a TOML file path (``[[items]]`` tables with
        ``[[items.variables]]``; see :meth:`from_dict`)."""
        return cls.from_dict(load_toml(source))

    def to_dict(self) -> dict[str, Any]:
        """The catalog as plain data (:meth:`from_dict` reads it back); defaults are
        left out."""
        return {"items": [_to_data(item) for item in self._items]}


def _to_data(value: Variable | CatalogItem) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(value)):
        if not field.init:
            continue
        item = getattr(value, field.name)
        if field.default is not attrs.NOTHING and item == field.default:
            continue
        if isinstance(item, tuple):
            item = [_to_data(v) if isinstance(v, Variable) else v for v in item]
        elif isinstance(item, frozenset):
            item = sorted(member.value for member in item)
        elif isinstance(item, CasekitEnum):
            item = item.value
        out[field.alias] = item
    return out


def _fields_of(
    entry: object, known: set[str], required: tuple[str, ...], path: str, errors: list[str]
) -> dict[str, Any] | None:
    """``entry`` as keyword arguments, or ``None`` after noting why it cannot be."""
    if not isinstance(entry, Mapping):
        errors.append(f"{path}: expected a table, got {type(entry).__name__}")
        return None
    unknown = sorted(str(key) for key in entry if key not in known)
    missing = [key for key in required if key not in entry]
    if unknown:
        errors.append(f"{path}: unknown field(s) {', '.join(unknown)}")
    errors.extend(f"{path}: missing required field {key!r}" for key in missing)
    return None if unknown or missing else dict(entry)


def _rebased(exc: InvalidValue, prefix: str, path: str) -> list[str]:
    """The lines of ``exc`` (raised by a constructor) with ``prefix`` replaced by ``path``."""
    lines = exc.errors if isinstance(exc, InvalidDefinition) and exc.errors else ()
    if not lines:
        return [f"{path}.{exc.where}: {_bare(exc)}" if exc.where else f"{path}: {exc}"]
    return [
        path + line[len(prefix) :] if line.startswith(prefix) else f"{path}: {line}"
        for line in lines
    ]


def _item_from_data(entry: object, path: str, errors: list[str]) -> CatalogItem | None:
    fields = _fields_of(entry, _ITEM_FIELDS, ("id", "title", "category"), path, errors)
    if fields is None:
        return None
    raw_variables = fields.pop("variables", [])
    if not isinstance(raw_variables, list | tuple):
        errors.append(f"{path}.variables: expected a list of tables")
        return None
    variables: list[Variable] = []
    failed = False
    for index, raw in enumerate(raw_variables):
        vpath = f"{path}.variables[{index}]"
        kwargs = _fields_of(raw, _VARIABLE_FIELDS, ("name", "type", "label"), vpath, errors)
        if kwargs is None:
            failed = True
            continue
        try:
            variables.append(Variable(**kwargs))
        except InvalidValue as exc:
            failed = True
            name = kwargs["name"]
            errors.extend(
                _rebased(exc, f"variables.{name}" if isinstance(name, str) else "variables", vpath)
            )
    if failed:
        return None
    try:
        return CatalogItem(variables=variables, **fields)
    except InvalidValue as exc:
        item_id = fields["id"]
        errors.extend(
            _rebased(exc, f"items.{item_id}" if isinstance(item_id, str) else "items", path)
        )
        return None
