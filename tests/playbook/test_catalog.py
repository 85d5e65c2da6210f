"""The service catalog: definitions, their files, and checking requests."""

from __future__ import annotations

import math
import pathlib
import re
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casekit import Account, Contact, Priority
from casekit.exceptions import (
    CatalogItemNotFound,
    InvalidDefinition,
    InvalidRequest,
    InvalidValue,
    NotFound,
)
from casekit.playbook import Catalog, CatalogItem, Requester, Variable, VariableType
from casekit.storage import MemoryStore

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/reference/catalog.md"


def item(*variables: Variable, **fields: Any) -> CatalogItem:
    return CatalogItem(
        id=fields.pop("id", "thing"),
        title=fields.pop("title", "A thing"),
        category=fields.pop("category", "general"),
        variables=variables,
        **fields,
    )


def var(name: str, type_: str, **fields: Any) -> Variable:
    return Variable(name=name, type=type_, label=fields.pop("label", name.title()), **fields)


@pytest.fixture
def directory() -> MemoryStore:
    store = MemoryStore()
    store.save_account(Account("acme", "Acme"))
    store.save_account(Account("globex", "Globex"))
    store.save_contact(Contact("ann", "acme", "Ann"))
    store.save_contact(Contact("gus", "globex", "Gus"))
    return store


def errors_of(raised: pytest.ExceptionInfo[InvalidRequest]) -> list[str]:
    return list(raised.value.errors)


# -- every variable type, good and bad values --------------------------------------------


@pytest.mark.parametrize(
    ("type_", "options", "given_value", "stored"),
    [
        ("text", {}, "hello", "hello"),
        ("text", {"max_length": 5}, "12345", "12345"),
        ("text", {"pattern": r"\d{4}-\d{2}"}, "2026-03", "2026-03"),
        ("number", {}, 2.5, 2.5),
        ("number", {}, 3, 3),
        ("integer", {}, 7, 7),
        ("choice", {"choices": ("debit", "credit")}, "credit", "credit"),
        ("date", {}, date(2026, 3, 1), "2026-03-01"),
        ("date", {}, "2026-03-01", "2026-03-01"),
        ("boolean", {}, False, False),
        ("account", {}, "acme", "acme"),
        ("contact", {}, "ann", "ann"),
    ],
)
def test_good_values_are_stored_as_json_scalars(
    directory: MemoryStore, type_: str, options: dict[str, Any], given_value: object, stored: object
) -> None:
    checked = item(var("v", type_, **options)).check({"v": given_value}, directory)
    assert checked == {"v": stored}
    assert type(checked["v"]) is type(stored)


@pytest.mark.parametrize(
    ("type_", "options", "bad", "says"),
    [
        ("text", {}, 5, "expected text, got int"),
        ("text", {}, "a\x00b", "NUL"),
        ("text", {"max_length": 3}, "abcd", "longer than 3 characters"),
        ("text", {"pattern": r"\d+"}, "12a", "does not match"),
        ("number", {}, True, "expected a number, got bool"),
        ("number", {}, "3", "expected a number, got str"),
        ("number", {}, math.nan, "not a finite number"),
        ("number", {}, math.inf, "not a finite number"),
        ("number", {}, 10**400, "too large"),
        ("integer", {}, 2.0, "expected an integer, got float"),
        ("integer", {}, False, "expected an integer, got bool"),
        ("choice", {"choices": ("a", "b")}, "c", "is not one of a, b"),
        ("choice", {"choices": ("a", "b")}, 1, "expected text"),
        ("date", {}, datetime(2026, 3, 1), "got a datetime"),  # noqa: DTZ001 - refused anyway
        ("date", {}, "01/03/2026", "not an ISO date"),
        ("date", {}, 20260301, "expected a date, got int"),
        ("boolean", {}, "yes", "expected true or false, got str"),
        ("boolean", {}, 1, "expected true or false, got int"),
        ("account", {}, "initech", "no account 'initech'"),
        ("account", {}, 3, "expected text"),
        ("contact", {}, "zed", "no contact 'zed'"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    directory: MemoryStore, type_: str, options: dict[str, Any], bad: object, says: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        item(var("v", type_, **options)).check({"v": bad}, directory)
    (line,) = errors_of(raised)
    assert line.startswith("variables.v: ")
    assert says in line
    assert isinstance(raised.value, InvalidValue)


def test_a_contact_must_belong_to_the_request_account(directory: MemoryStore) -> None:
    catalog_item = item(var("who", "contact"))
    assert catalog_item.check({"who": "ann"}, directory, account_id="acme") == {"who": "ann"}
    with pytest.raises(InvalidRequest) as raised:
        catalog_item.check({"who": "gus"}, directory, account_id="acme")
    assert errors_of(raised) == ["variables.who: contact 'gus' is not of account 'acme'"]


def test_references_are_only_text_checked_without_a_directory() -> None:
    catalog_item = item(var("acct", "account"), var("who", "contact"))
    assert catalog_item.check({"acct": "anything", "who": "anyone"}) == {
        "acct": "anything",
        "who": "anyone",
    }


@given(
    low=st.integers(-1000, 1000),
    span=st.integers(0, 1000),
    value=st.integers(-3000, 3000),
)
def test_integers_are_accepted_exactly_within_bounds(low: int, span: int, value: int) -> None:
    catalog_item = item(var("n", "integer", min=low, max=low + span))
    if low <= value <= low + span:
        assert catalog_item.check({"n": value}) == {"n": value}
    else:
        with pytest.raises(InvalidRequest) as raised:
            catalog_item.check({"n": value})
        word = "below the minimum" if value < low else "above the maximum"
        assert word in raised.value.errors[0]


@given(
    low=st.floats(-1e6, 1e6),
    high=st.floats(-1e6, 1e6),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6),
)
def test_numbers_are_accepted_exactly_within_bounds(low: float, high: float, value: float) -> None:
    low, high = min(low, high), max(low, high)
    catalog_item = item(var("x", "number", min=low, max=high))
    if low <= value <= high:
        assert catalog_item.check({"x": value}) == {"x": value}
    else:
        with pytest.raises(InvalidRequest):
            catalog_item.check({"x": value})


# -- the request as a whole -------------------------------------------------------------


def test_every_problem_is_reported_at_once(directory: MemoryStore) -> None:
    catalog_item = item(
        var("month", "text", pattern=r"\d{4}-\d{2}", message="Give the month as YYYY-MM"),
        var("copies", "integer", min=1, max=5),
        var("channel", "choice", choices=("post", "email")),
        var("when", "date", required=False),
        var("urgent", "boolean"),
    )
    with pytest.raises(InvalidRequest) as raised:
        catalog_item.check(
            {"month": "March", "copies": 9, "channel": "fax", "colour": "red"}, directory
        )
    assert sorted(errors_of(raised)) == [
        "variables.channel: 'fax' is not one of post, email",
        "variables.colour: unknown variable (known: month, copies, channel, when, urgent)",
        "variables.copies: 9 is above the maximum 5",
        "variables.month: Give the month as YYYY-MM",
        "variables.urgent: is required",
    ]
    assert "5 problems" in str(raised.value)


def test_defaults_fill_in_and_optional_variables_are_none() -> None:
    catalog_item = item(
        var("copies", "integer", default=1),
        var("since", "date", default=date(2026, 1, 1)),
        var("note", "text", required=False),
        var("reason", "text", required=False, default="lost"),
    )
    assert catalog_item.check({}) == {
        "copies": 1,
        "since": "2026-01-01",
        "note": None,
        "reason": "lost",
    }
    assert catalog_item.check({"copies": 3, "note": ""})["copies"] == 3


def test_empty_text_is_missing_when_required() -> None:
    catalog_item = item(var("name", "text"), var("day", "date", required=False))
    with pytest.raises(InvalidRequest) as raised:
        catalog_item.check({"name": "   ", "day": ""})
    assert errors_of(raised) == ["variables.name: is required"]


def test_a_custom_message_replaces_is_required() -> None:
    catalog_item = item(var("card", "text", message="Which card was lost?"))
    with pytest.raises(InvalidRequest) as raised:
        catalog_item.check({})
    assert errors_of(raised) == ["variables.card: Which card was lost?"]


def test_values_that_are_not_a_mapping_or_odd_keys_are_refused() -> None:
    catalog_item = item(var("a", "text"))
    with pytest.raises(InvalidRequest, match="not a mapping"):
        catalog_item.check(["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest) as raised:
        catalog_item.check({"a": "x", "not a name": 1, 3: 4})  # type: ignore[dict-item]
    assert sorted(errors_of(raised)) == [
        "variables['not a name']: unknown variable (known: a)",
        "variables[3]: unknown variable (known: a)",
    ]


def test_subject_template_and_title() -> None:
    catalog_item = item(
        var("month", "text"), var("copies", "integer", required=False), subject="Copy for {month}"
    )
    values = catalog_item.check({"month": "2026-02"})
    assert catalog_item.subject_for(values) == "Copy for 2026-02"
    assert item(var("month", "text")).subject_for(values) == "A thing"
    two = item(var("a", "text"), var("b", "integer", required=False), subject="{a}/{b} {{x}}")
    assert two.subject_for(two.check({"a": "z"})) == "z/ {x}"


def test_requesters() -> None:
    both = item()
    assert both.requesters == frozenset(Requester)
    assert both.is_open_to("self_service")
    assert both.is_open_to(Requester.AGENT)
    agents_only = item(requesters=["agent"])
    assert not agents_only.is_open_to(Requester.SELF_SERVICE)
    with pytest.raises(InvalidValue):
        agents_only.is_open_to("robot")


def test_variable_lookup() -> None:
    catalog_item = item(var("a", "text"))
    assert catalog_item.variable("a").type is VariableType.TEXT
    with pytest.raises(InvalidRequest, match="no variable 'b'"):
        catalog_item.variable("b")


# -- definitions are checked when built -------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"name": "2fa"}, "variables.2fa.name: '2fa' is not an identifier"),
        ({"type": "choice"}, "choices: a choice variable needs choices"),
        ({"choices": ("a",)}, "choices: only choice variables have choices"),
        ({"type": "choice", "choices": ("a", "a")}, "choices: lists a choice twice"),
        ({"type": "choice", "choices": ("a", " ")}, "choices: ' ': must not be empty"),
        ({"min": 1}, "min: only number and integer variables have bounds"),
        ({"type": "integer", "min": 1.5}, "min: an integer variable's bound is an integer"),
        ({"type": "number", "max": math.nan}, "max: expected a finite number"),
        ({"type": "number", "max": "3"}, "max: expected a finite number"),
        ({"type": "number", "min": 3, "max": 2}, "max: 2 is below min 3"),
        ({"type": "integer", "max_length": 3}, "max_length: only text variables"),
        ({"max_length": 0}, "max_length: must be at least 1"),
        ({"max_length": True}, "max_length: expected an integer"),
        ({"pattern": "(unclosed"}, "pattern: not a regular expression"),
        ({"type": "date", "pattern": "x"}, "pattern: only text variables"),
        ({"required": "yes"}, "required: expected true or false"),
        ({"label": 3}, "label: expected text"),
        ({"type": "integer", "default": "one"}, "default: expected an integer"),
        ({"type": "integer", "default": 9, "max": 5}, "default: 9 is above the maximum 5"),
    ],
)
def test_bad_variables_are_refused(fields: dict[str, Any], line: str) -> None:
    spec: dict[str, Any] = {"name": "v", "type": "text", "label": "V", **fields}
    with pytest.raises(InvalidDefinition) as raised:
        Variable(**spec)
    assert any(line in error for error in raised.value.errors), raised.value.errors


def test_an_unknown_variable_type_is_refused() -> None:
    with pytest.raises(InvalidDefinition, match="unknown VariableType 'colour'"):
        var("v", "colour")


def test_a_pattern_is_compiled_once_and_matches_in_full() -> None:
    variable = var("code", "text", pattern="[A-Z]{3}")
    assert variable.convert("ABC") == "ABC"
    with pytest.raises(InvalidRequest, match="does not match"):
        variable.convert("ABCD")


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"id": "has space"}, "items.has space.id: 'has space': an id is printable"),
        ({"id": ""}, "id: must not be empty"),
        ({"title": ""}, "title: must not be empty"),
        ({"group": ""}, "group: must not be empty"),
        ({"requesters": []}, "requesters: nobody may request the item"),
        ({"automated": 1}, "automated: expected true or false"),
        ({"subject": "For {month}"}, "subject: {month} is not a variable of the item"),
        ({"subject": "For {a.__class__}"}, "{a.__class__} is not a variable"),
        ({"subject": "For {a!r}"}, "subject: {a}: write the variable's name alone"),
        ({"subject": "For {a:>10}"}, "subject: {a}: write the variable's name alone"),
        ({"subject": "For {0}"}, "{0} is not a variable"),
        ({"subject": "For {a"}, "subject: not a template"),
    ],
)
def test_bad_items_are_refused(fields: dict[str, Any], line: str) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        item(var("a", "text"), **fields)
    assert any(line in error for error in raised.value.errors), raised.value.errors


def test_two_variables_with_one_name_are_refused() -> None:
    with pytest.raises(InvalidDefinition, match="two variables have this name"):
        item(var("a", "text"), var("a", "integer"))


def test_item_defaults() -> None:
    plain = item()
    assert plain.priority is Priority.MODERATE
    assert (plain.group, plain.playbook, plain.subject, plain.guidance) == (None,) * 4
    assert plain.automated is False


# -- the catalog ------------------------------------------------------------------------


def test_catalog_get_items_and_duplicates() -> None:
    first, second = item(id="a"), item(id="b")
    catalog = Catalog([first, second])
    assert catalog.get("b") is second
    assert catalog.items() == (first, second)
    assert list(catalog) == [first, second]
    assert len(catalog) == 2
    assert "a" in catalog
    assert "c" not in catalog
    with pytest.raises(CatalogItemNotFound) as raised:
        catalog.get("c")
    assert isinstance(raised.value, NotFound)
    assert raised.value.key == "c"
    with pytest.raises(InvalidDefinition, match="two items have this id"):
        Catalog([first, item(id="a")])


def toml_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", path.read_text("utf-8"), re.DOTALL | re.MULTILINE)


def test_the_documented_catalog_loads_and_round_trips(directory: MemoryStore) -> None:
    (text,) = toml_blocks(DOC)
    catalog = Catalog.from_toml(text)
    assert Catalog.from_dict(catalog.to_dict()) == catalog
    statement = catalog.get("statement-copy")
    values = statement.check({"month": "2026-02", "account": "acme"}, directory)
    assert statement.subject_for(values) == "Statement copy for 2026-02"
    reset = catalog.get("password-reset")
    assert reset.automated
    assert reset.requesters == {Requester.SELF_SERVICE}


def test_round_trip_keeps_every_field() -> None:
    full = item(
        var("month", "text", pattern=r"\d{4}-\d{2}", max_length=7, help="h", message="m"),
        var("n", "number", min=0.5, max=10, required=False, default=2),
        var("k", "choice", choices=("x", "y"), default="y"),
        var("d", "date", default="2026-01-02"),
        id="full",
        description="d",
        priority="high",
        group="billing",
        playbook="statement",
        requesters=["agent"],
        subject="{month}",
        automated=True,
        guidance="g",
    )
    catalog = Catalog([full])
    data = catalog.to_dict()
    assert Catalog.from_dict(data) == catalog
    assert data["items"][0]["priority"] == "high"
    assert data["items"][0]["requesters"] == ["agent"]


def test_file_problems_are_all_reported_with_paths() -> None:
    text = """
        bogus = 1

        [[items]]
        id = "a"
        title = "A"
        category = "c"
        colour = "red"

        [[items]]
        id = "b"
        title = "B"

        [[items]]
        id = "c"
        title = "C"
        category = "c"
        subject = "{nope}"
        [[items.variables]]
        name = "x"
        type = "text"
        label = "X"
        pattern = "("
        [[items.variables]]
        name = "y"
        type = "integer"
        label = "Y"
        extra = 1

        [[items]]
        id = "d"
        title = "D"
        category = "c"
        priority = "whenever"
    """
    with pytest.raises(InvalidDefinition) as raised:
        Catalog.from_toml(text)
    assert raised.value.errors == ("$: unknown field(s) bogus",)
    with pytest.raises(InvalidDefinition) as raised:
        Catalog.from_toml(text.replace("bogus = 1", ""))
    errors = raised.value.errors
    assert "$.items[0]: unknown field(s) colour" in errors
    assert "$.items[1]: missing required field 'category'" in errors
    assert any(e.startswith("$.items[2].variables[0].pattern: not a regular") for e in errors)
    assert "$.items[2].variables[1]: unknown field(s) extra" in errors
    assert any(e.startswith("$.items[3].priority: unknown Priority 'whenever'") for e in errors)
    assert len(errors) == 5


def test_item_level_problems_carry_the_path() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        Catalog.from_dict(
            {"items": [{"id": "a", "title": "A", "category": "c", "subject": "{nope}"}]}
        )
    assert raised.value.errors[0].startswith("$.items[0].subject: {nope} is not a variable")


def test_duplicate_ids_in_a_file_and_odd_shapes() -> None:
    entry = {"id": "a", "title": "A", "category": "c"}
    with pytest.raises(InvalidDefinition) as raised:
        Catalog.from_dict({"items": [entry, entry]})
    assert raised.value.errors == ("$.items.a: two items have this id",)
    with pytest.raises(InvalidDefinition) as raised:
        Catalog.from_dict({"items": ["a", {**entry, "variables": "x"}]})
    assert raised.value.errors == (
        "$.items[0]: expected a table, got str",
        "$.items[1].variables: expected a list of tables",
    )
    with pytest.raises(InvalidDefinition):
        Catalog.from_dict({"items": "a"})
    with pytest.raises(InvalidDefinition):
        Catalog.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(InvalidDefinition, match="malformed TOML"):
        Catalog.from_toml("items = [")


def test_a_catalog_file_on_disk(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(toml_blocks(DOC)[0], encoding="utf-8")
    assert len(Catalog.from_toml(path)) == len(Catalog.from_toml(toml_blocks(DOC)[0]))


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("([a-z]+ ?)+", True),
        ("(a*)*", True),
        (r"(\w+\s?)+$", True),
        ("(a{1,3})+", True),
        ("(?:[a-z]++ ?)+", False),  # possessive
        ("(?>[a-z]+ ?)+", False),  # atomic
        ("[A-Z]{2}[0-9]{2}( ?[0-9A-Z]{4})*", False),  # the inner count is fixed
        (r"^[^@]+@[^@]+\.[a-z]{2,}$", False),
        ("(a+){3}", False),  # a fixed outer count
    ],
)
def test_patterns_that_can_backtrack_exponentially_are_refused(pattern: str, refused: bool) -> None:
    item = {"id": "x", "title": "X", "category": "c"}
    variable = {"name": "u", "type": "text", "label": "U", "pattern": pattern}
    if refused:
        with pytest.raises(InvalidDefinition, match="possessive"):
            Catalog.from_dict({"items": [{**item, "variables": [variable]}]})
    else:
        Catalog.from_dict({"items": [{**item, "variables": [variable]}]})
