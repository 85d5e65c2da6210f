"""``find``: every filter, order and page of a case query."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from casekit.model._enums import CaseState, Channel, Priority
from casekit.model.case import Case
from casekit.model.commands import Assign, CaseAction, ChangePriority, Command, Transition
from casekit.model.events import SlaPaused, SlaStopped
from casekit.model.sla import SlaStage
from casekit.storage.base import MAX_PAGE, CaseOrder, CaseQuery, Store
from casekit.testing.conformance._builders import (
    AGENT,
    T0,
    StoreFixture,
    apply_command,
    apply_events,
    case_id_for,
    note,
    open_case,
    start_clock,
)


class FindTests(StoreFixture):
    """``find``: every filter, ordering by id, and keyset pagination."""

    @pytest.fixture
    def cases(self, store: Store) -> dict[str, Case]:
        """Six cases with different states, priorities, parties and assignments."""
        specs: list[tuple[dict[str, Any], list[Command]]] = [
            ({"priority": Priority.HIGH, "group": "support"}, []),
            ({"account_id": "globex"}, [Transition(action=CaseAction.START)]),
            ({"consumer_id": "jan", "priority": Priority.LOW}, [Assign(group="b2c", agent="eve")]),
            (
                {"priority": Priority.HIGH},
                [Assign(group="support", agent="bob"), Transition(action=CaseAction.START)],
            ),
            (
                {"account_id": "globex", "priority": Priority.CRITICAL},
                [Assign(group="field", agent="bob", service_org="outsource")],
            ),
            ({}, [Transition(action=CaseAction.CANCEL, reason="spam")]),
        ]
        for number, (fields, commands) in enumerate(specs, start=1):
            at = T0 + timedelta(hours=number)
            open_case(store, number, at=at, **fields)
            for command in commands:
                at += timedelta(minutes=1)
                apply_command(store, case_id_for(number), command, at=at)
        return {case_id_for(n): store.load(case_id_for(n)).case for n in range(1, 7)}

    @staticmethod
    def ids(store: Store, **filters: Any) -> list[str]:
        """Ids of the cases matching ``filters`` (sets are frozen), all on one page."""
        frozen: dict[str, Any] = {
            k: frozenset(v) if isinstance(v, set) else v for k, v in filters.items()
        }
        page = store.find(CaseQuery(**frozen))
        assert page.next_cursor is None
        return [case.id for case in page.items]

    def test_no_filter_returns_all_in_id_order(self, store: Store, cases: dict[str, Case]) -> None:
        page = store.find(CaseQuery())
        assert [case.id for case in page.items] == sorted(cases)
        assert list(page.items) == [cases[i] for i in sorted(cases)]
        assert page.next_cursor is None

    def test_empty_store_finds_nothing(self, store: Store) -> None:
        page = store.find(CaseQuery())
        assert page.items == ()
        assert page.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_filter_by_state(self, store: Store) -> None:
        assert self.ids(store, states={CaseState.OPEN}) == [case_id_for(2), case_id_for(4)]
        assert self.ids(store, states={CaseState.NEW, CaseState.CANCELLED}) == [
            case_id_for(n) for n in (1, 3, 5, 6)
        ]
        assert self.ids(store, states={CaseState.CLOSED}) == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_priority(self, store: Store) -> None:
        assert self.ids(store, priorities={Priority.HIGH}) == [case_id_for(1), case_id_for(4)]
        assert self.ids(store, priorities={Priority.LOW, Priority.CRITICAL}) == [
            case_id_for(3),
            case_id_for(5),
        ]

    @pytest.mark.usefixtures("cases")
    def test_filter_by_account(self, store: Store) -> None:
        assert self.ids(store, account_ids={"globex"}) == [case_id_for(2), case_id_for(5)]
        assert self.ids(store, account_ids={"globex", "acme"}) == [
            case_id_for(n) for n in (1, 2, 4, 5, 6)
        ]
        assert self.ids(store, account_ids={"nobody"}) == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_group_and_agent(self, store: Store) -> None:
        assert self.ids(store, group="support") == [case_id_for(1), case_id_for(4)]
        assert self.ids(store, agent="bob") == [case_id_for(4), case_id_for(5)]
        assert self.ids(store, group="field", agent="bob") == [case_id_for(5)]
        assert self.ids(store, group="b2c", agent="bob") == []

    @pytest.mark.usefixtures("cases")
    def test_filter_by_consumer(self, store: Store) -> None:
        assert self.ids(store, consumer_id="jan") == [case_id_for(3)]
        assert self.ids(store, consumer_id="piet") == []

    def test_filter_by_updated_since_is_inclusive(
        self, store: Store, cases: dict[str, Case]
    ) -> None:
        boundary = cases[case_id_for(4)].updated_at
        assert self.ids(store, updated_since=boundary) == [case_id_for(n) for n in (4, 5, 6)]
        in_utc_plus_5 = boundary.astimezone(timezone(timedelta(hours=5)))
        assert self.ids(store, updated_since=in_utc_plus_5) == [case_id_for(n) for n in (4, 5, 6)]
        later = boundary + timedelta(microseconds=1)
        assert self.ids(store, updated_since=later) == [case_id_for(5), case_id_for(6)]

    @pytest.mark.usefixtures("cases")
    def test_filters_combine(self, store: Store) -> None:
        assert self.ids(
            store,
            states={CaseState.OPEN, CaseState.NEW},
            priorities={Priority.HIGH, Priority.CRITICAL},
            account_ids={"acme", "globex"},
            agent="bob",
        ) == [case_id_for(4), case_id_for(5)]

    @pytest.mark.usefixtures("cases")
    def test_find_returns_current_state(self, store: Store) -> None:
        apply_command(store, case_id_for(1), Transition(action=CaseAction.START))
        query = CaseQuery(states=frozenset({CaseState.OPEN}), priorities=frozenset({Priority.HIGH}))
        page = store.find(query)
        assert [case.id for case in page.items] == [case_id_for(1), case_id_for(4)]
        assert page.items[0] == store.load(case_id_for(1)).case

    def test_pagination_walks_every_case_once(self, store: Store, cases: dict[str, Case]) -> None:
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            page = store.find(CaseQuery(after=after, limit=4))
            seen += [case.id for case in page.items]
            pages += 1
            assert len(page.items) <= 4
            if page.next_cursor is None:
                break
            assert page.next_cursor == page.items[-1].id
            after = page.next_cursor
        assert seen == sorted(cases)
        assert pages == 2

    @pytest.mark.usefixtures("cases")
    def test_last_full_page_has_no_cursor(self, store: Store) -> None:
        first = store.find(CaseQuery(limit=3))
        assert first.next_cursor == case_id_for(3)
        second = store.find(CaseQuery(limit=3, after=first.next_cursor))
        assert [c.id for c in second.items] == [case_id_for(n) for n in (4, 5, 6)]
        assert second.next_cursor is None
        exact = store.find(CaseQuery(limit=6))
        assert len(exact.items) == 6
        assert exact.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_pagination_with_filter(self, store: Store) -> None:
        accounts = {"acme", "globex"}
        first = store.find(CaseQuery(account_ids=accounts, limit=2))
        assert [c.id for c in first.items] == [case_id_for(1), case_id_for(2)]
        assert first.next_cursor == case_id_for(2)
        second = store.find(CaseQuery(account_ids=accounts, limit=2, after=case_id_for(2)))
        assert [c.id for c in second.items] == [case_id_for(4), case_id_for(5)]
        third = store.find(CaseQuery(account_ids=accounts, limit=2, after=case_id_for(5)))
        assert [c.id for c in third.items] == [case_id_for(6)]
        assert third.next_cursor is None

    @pytest.mark.usefixtures("cases")
    def test_cursor_need_not_be_a_stored_case(self, store: Store) -> None:
        page = store.find(CaseQuery(after="CS0000003x"))
        assert [c.id for c in page.items] == [case_id_for(n) for n in (4, 5, 6)]

    def test_pagination_is_stable_while_cases_change(self, store: Store) -> None:
        for number in range(1, 11):
            open_case(store, number)
        active = frozenset({CaseState.NEW, CaseState.OPEN})
        first = store.find(CaseQuery(states=active, limit=4))
        assert first.next_cursor == case_id_for(4)
        # Cases on both sides of the cursor change; new cases arrive.
        later = T0 + timedelta(hours=1)
        for number in (2, 4, 5, 9):
            apply_command(store, case_id_for(number), Transition(action=CaseAction.START), at=later)
        open_case(store, 11, at=later)
        seen = [case.id for case in first.items]
        after: str | None = first.next_cursor
        while after is not None:
            query = CaseQuery(states=active, after=after, limit=4)
            page = store.find(query)
            seen += [case.id for case in page.items]
            after = page.next_cursor
        assert seen == [case_id_for(n) for n in range(1, 12)]
        assert len(set(seen)) == len(seen)

    # --- the desk UI's filters and orders -------------------------------------------

    @pytest.fixture
    def desk_cases(self, store: Store) -> None:
        """Seven cases with contacts, categories, channels, SLA clocks and ties:

        ====  ========  =======  ========  =======  ========  =======  ========
        case  account   contact  category  channel  priority  updated  sla due
        ====  ========  =======  ========  =======  ========  =======  ========
        1     acme      ann      billing   email    low       +1h      --
        2     acme      bob      outage    phone    critical  +2h      +30h
        3     (jan)     --       billing   chat     moderate  +3h      +10h
        4     globex    cid      --        email    critical  +4h      +10h
        5     acme      ann      outage    portal   high      +9h      -- (met)
        6     acme      --       --        portal   low       +6h      +20h
        7     acme      --       --        portal   critical  +7h      --
        ====  ========  =======  ========  =======  ========  =======  ========

        Case *n* is opened at ``T0 + n hours``; case 4 is routed to ``bpo``; case 6
        has a paused clock besides two running ones.
        """
        hour = timedelta(hours=1)
        specs: list[dict[str, Any]] = [
            {"contact_id": "ann", "category": "billing", "channel": "email", "priority": "low"},
            {"contact_id": "bob", "category": "outage", "channel": "phone", "priority": "critical"},
            {"consumer_id": "jan", "category": "billing", "channel": "chat"},
            {
                "account_id": "globex",
                "contact_id": "cid",
                "channel": "email",
                "priority": "critical",
            },
            {"contact_id": "ann", "category": "outage", "priority": "high"},
            {"priority": "low"},
            {"priority": "critical"},
        ]
        for number, fields in enumerate(specs, start=1):
            open_case(store, number, at=T0 + number * hour, **fields)
        at = {n: T0 + n * hour for n in range(1, 8)}
        start_clock(store, case_id_for(2), "resolve", T0 + 30 * hour, at=at[2])
        start_clock(store, case_id_for(3), "resolve", T0 + 10 * hour, at=at[3])
        apply_command(store, case_id_for(4), Assign(group="field", service_org="bpo"), at=at[4])
        start_clock(store, case_id_for(4), "resolve", T0 + 10 * hour, at=at[4])
        start_clock(store, case_id_for(5), "resolve", T0 + 8 * hour, at=at[5])
        apply_events(
            store,
            case_id_for(5),
            [
                SlaStopped(
                    case_id=case_id_for(5),
                    at=at[5] + hour / 2,
                    actor=AGENT.ref,
                    key="resolve",
                    stage=SlaStage.MET,
                    consumed=hour / 2,
                )
            ],
        )
        apply_command(store, case_id_for(5), note("later"), at=T0 + 9 * hour)
        start_clock(store, case_id_for(6), "resolve", T0 + 50 * hour, at=at[6])
        start_clock(store, case_id_for(6), "respond", T0 + 20 * hour, at=at[6])
        start_clock(store, case_id_for(6), "ola", T0 + 8 * hour, at=at[6])
        apply_events(
            store,
            case_id_for(6),
            [
                SlaPaused(
                    case_id=case_id_for(6), at=at[6], actor=AGENT.ref, key="ola", consumed=hour
                )
            ],
        )

    @staticmethod
    def numbers(store: Store, **filters: Any) -> list[int]:
        """Numbers of the cases matching ``filters``, all on one page."""
        page = store.find(CaseQuery(**filters))
        assert page.next_cursor is None
        return [int(case.id[2:]) for case in page.items]

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_contact(self, store: Store) -> None:
        assert self.numbers(store, contact_id="ann") == [1, 5]
        assert self.numbers(store, contact_id="nobody") == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_category(self, store: Store) -> None:
        assert self.numbers(store, categories={"billing"}) == [1, 3]
        assert self.numbers(store, categories={"billing", "outage"}) == [1, 2, 3, 5]
        assert self.numbers(store, categories="outage") == [2, 5]
        assert self.numbers(store, categories={"none"}) == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_channel(self, store: Store) -> None:
        assert self.numbers(store, channels={Channel.EMAIL}) == [1, 4]
        assert self.numbers(store, channels={"phone", "chat"}) == [2, 3]
        assert self.numbers(store, channels={Channel.SMS}) == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_service_org(self, store: Store) -> None:
        assert self.numbers(store, service_org="bpo") == [4]
        assert self.numbers(store, service_org="other") == []

    @pytest.mark.usefixtures("desk_cases")
    def test_filter_by_opened_since_inclusive_and_before_exclusive(self, store: Store) -> None:
        hour = timedelta(hours=1)
        assert self.numbers(store, opened_since=T0 + 3 * hour) == [3, 4, 5, 6, 7]
        assert self.numbers(store, opened_before=T0 + 3 * hour) == [1, 2]
        assert self.numbers(store, opened_since=T0 + 2 * hour, opened_before=T0 + 4 * hour) == [
            2,
            3,
        ]
        plus_5 = timezone(timedelta(hours=5))
        assert self.numbers(store, opened_since=(T0 + 6 * hour).astimezone(plus_5)) == [6, 7]
        later = T0 + 3 * hour + timedelta(microseconds=1)
        assert self.numbers(store, opened_since=later) == [4, 5, 6, 7]
        assert self.numbers(store, opened_before=later) == [1, 2, 3]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_priority_most_urgent_first_ties_by_id(self, store: Store) -> None:
        assert self.numbers(store, order=CaseOrder.PRIORITY) == [2, 4, 7, 5, 3, 1, 6]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_last_update_most_recent_first(self, store: Store) -> None:
        assert self.numbers(store, order="updated") == [5, 7, 6, 4, 3, 2, 1]

    @pytest.mark.usefixtures("desk_cases")
    def test_order_by_sla_due_earliest_running_clock_first_none_last(self, store: Store) -> None:
        # 3 and 4 tie (by id); 6's earliest running clock (its paused one does not
        # count); 5's clock was met, so it has none, like 1 and 7.
        assert self.numbers(store, order=CaseOrder.SLA_DUE) == [3, 4, 6, 2, 1, 5, 7]

    @pytest.mark.usefixtures("desk_cases")
    def test_orders_combine_with_filters(self, store: Store) -> None:
        acme = {"account_ids": {"acme"}}
        assert self.numbers(store, order="priority", **acme) == [2, 7, 5, 1, 6]
        assert self.numbers(store, order="updated", channels={"portal"}) == [5, 7, 6]
        assert self.numbers(store, order="sla_due", categories={"billing", "outage"}) == [
            3,
            2,
            1,
            5,
        ]

    @staticmethod
    def walk(store: Store, limit: int, after: str | None = None, **filters: Any) -> list[list[str]]:
        """Every page of the query from ``after`` on, following the cursors."""
        pages: list[list[str]] = []
        query = CaseQuery(limit=limit, after=after, **filters)
        while True:
            page = store.find(query)
            assert len(page.items) <= limit
            pages.append([case.id for case in page.items])
            if page.next_cursor is None:
                return pages
            assert page.next_cursor == query.cursor(page.items[-1])
            query = CaseQuery(limit=limit, after=page.next_cursor, **filters)

    @pytest.mark.usefixtures("desk_cases")
    @pytest.mark.parametrize("order", list(CaseOrder))
    @pytest.mark.parametrize("limit", [1, 2, 3, 6, 7])
    def test_pagination_under_each_order_walks_every_case_once(
        self, store: Store, order: CaseOrder, limit: int
    ) -> None:
        everything = store.find(CaseQuery(order=order, limit=MAX_PAGE)).items
        pages = self.walk(store, limit, order=order)
        assert [i for page in pages for i in page] == [case.id for case in everything]
        assert all(pages[:-1])
        assert len(pages) == -(-len(everything) // limit)

    @pytest.mark.parametrize("order", list(CaseOrder))
    def test_pagination_through_ties_under_each_order(self, store: Store, order: CaseOrder) -> None:
        # Twelve cases in four groups that tie on every order's key.
        for number in range(1, 13):
            group = number % 4
            at = T0 + timedelta(hours=group)
            open_case(store, number, at=at, priority=list(Priority)[group])
            if group:
                due = T0 + timedelta(days=group)
                start_clock(store, case_id_for(number), "resolve", due, at=at)
        cases = [store.load(case_id_for(n)).case for n in range(1, 13)]
        query = CaseQuery(order=order)
        expected = [case.id for case in sorted(cases, key=query.sort_key)]
        for limit in (1, 2, 3, 5):
            pages = self.walk(store, limit, order=order)
            assert [i for page in pages for i in page] == expected
        pages = self.walk(store, 2, order=order, states={"new"}, account_ids={"acme"})
        assert [i for page in pages for i in page] == expected

    @pytest.mark.parametrize("order", list(CaseOrder))
    def test_pagination_under_each_order_is_stable_while_cases_change(
        self, store: Store, order: CaseOrder
    ) -> None:
        for number in range(1, 11):
            open_case(store, number, priority="moderate")
        first = store.find(CaseQuery(order=order, limit=4))
        seen = [case.id for case in first.items]
        # Cases on both sides of the cursor move ahead in the order; a new case arrives.
        later = T0 + timedelta(hours=1)
        changed = {case_id_for(n) for n in (2, 7)}
        for case_id in sorted(changed):
            apply_command(store, case_id, ChangePriority(priority="critical"), at=later)
            start_clock(store, case_id, "resolve", later + timedelta(hours=1), at=later)
        open_case(store, 11, at=later, priority="low")
        after = first.next_cursor
        while after is not None:
            page = store.find(CaseQuery(order=order, after=after, limit=4))
            seen += [case.id for case in page.items]
            after = page.next_cursor
        assert len(set(seen)) == len(seen)
        unchanged = [case_id_for(n) for n in (1, 3, 4, 5, 6, 8, 9, 10)]
        assert [i for i in seen if i in unchanged] == unchanged
        if order is CaseOrder.ID:
            assert seen == [case_id_for(n) for n in range(1, 12)]

    @pytest.mark.usefixtures("desk_cases")
    def test_a_cursor_continues_after_its_case_was_deleted_from_the_results(
        self, store: Store
    ) -> None:
        first = store.find(CaseQuery(order="priority", limit=2))
        assert [c.id for c in first.items] == [case_id_for(2), case_id_for(4)]
        apply_command(store, case_id_for(4), ChangePriority(priority="planning"))
        rest = self.walk(store, 10, order="priority", after=first.next_cursor)
        assert rest == [[case_id_for(n) for n in (7, 5, 3, 1, 6, 4)]]
