"""Accounts, contacts, consumers, relationships and the account tree."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from casekit.exceptions import AccountNotFound, ConsumerNotFound, ContactNotFound
from casekit.model._enums import AccountKind, ContactRole, RelationshipKind
from casekit.model.accounts import Account, Consumer, Contact, Relationship
from casekit.storage.base import AccountTree, Store
from casekit.testing.conformance._builders import T0, StoreFixture


class DirectoryTests(StoreFixture):
    """Accounts, contacts, consumers and relationships."""

    def test_account_round_trip_and_replace(self, store: Store) -> None:
        account = Account(
            id="acme",
            name="Acme Corp",
            kind=AccountKind.CUSTOMER,
            calendar="nl",
            attributes={"tier": "gold", "seats": 40, "ratio": 0.5, "vip": True, "note": None},
        )
        store.save_account(account)
        assert store.get_account("acme") == account
        renamed = Account(id="acme", name="Acme Inc", kind=AccountKind.PARTNER)
        store.save_account(renamed)
        assert store.get_account("acme") == renamed

    def test_child_account_round_trips(self, store: Store) -> None:
        store.save_account(Account(id="acme", name="Acme"))
        child = Account(id="acme-nl", name="Acme NL", parent_id="acme")
        store.save_account(child)
        assert store.get_account("acme-nl") == child

    def test_missing_account_raises(self, store: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            store.get_account("nobody")
        assert info.value.key == "nobody"

    def test_contact_round_trip(self, directory: Store) -> None:
        contact = Contact(
            id="wile",
            account_id="acme",
            name="Wile E. Coyote",
            email="wile@acme.test",
            phone="+31 20 123",
            roles=frozenset({ContactRole.ADMIN, ContactRole.APPROVER}),
            responsibilities=("rockets", "anvils"),
        )
        directory.save_contact(contact)
        assert directory.get_contact("wile") == contact
        moved = Contact(id="wile", account_id="globex", name="Wile")
        directory.save_contact(moved)
        assert directory.get_contact("wile") == moved

    def test_contact_needs_an_existing_account(self, store: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            store.save_contact(Contact(id="ghost", account_id="nobody", name="Ghost"))
        assert info.value.key == "nobody"
        with pytest.raises(ContactNotFound):
            store.get_contact("ghost")

    def test_missing_contact_raises(self, store: Store) -> None:
        with pytest.raises(ContactNotFound) as info:
            store.get_contact("nobody")
        assert info.value.key == "nobody"

    def test_consumer_round_trip_and_missing(self, store: Store) -> None:
        consumer = Consumer(id="jan", name="Jan de Vries", email="jan@example.test", phone="06")
        store.save_consumer(consumer)
        assert store.get_consumer("jan") == consumer
        with pytest.raises(ConsumerNotFound) as info:
            store.get_consumer("piet")
        assert info.value.key == "piet"

    def test_relationships_from_both_sides(self, directory: Store) -> None:
        directory.save_account(Account(id="partnerco", name="Partner", kind=AccountKind.PARTNER))
        partner = Relationship("partnerco", RelationshipKind.PARTNER_OF, "acme")
        supplier = Relationship(
            "partnerco",
            RelationshipKind.SUPPLIER_OF,
            "globex",
            valid_from=T0,
            valid_to=T0 + timedelta(days=365),
        )
        directory.save_relationship(partner)
        directory.save_relationship(supplier)
        assert list(directory.relationships_of("partnerco")) == [partner, supplier]
        assert list(directory.relationships_of("acme")) == [partner]
        assert list(directory.relationships_of("globex")) == [supplier]
        assert list(directory.relationships_of("nobody")) == []

    def test_identical_relationship_is_not_duplicated(self, directory: Store) -> None:
        rel = Relationship("globex", RelationshipKind.OUTSOURCER_FOR, "acme", valid_from=T0)
        directory.save_relationship(rel)
        directory.save_relationship(
            Relationship(
                "globex",
                RelationshipKind.OUTSOURCER_FOR,
                "acme",
                valid_from=T0.astimezone(timezone(timedelta(hours=1))),
            )
        )
        assert list(directory.relationships_of("acme")) == [rel]
        other = Relationship("globex", RelationshipKind.OUTSOURCER_FOR, "acme", valid_to=T0)
        directory.save_relationship(other)
        assert list(directory.relationships_of("globex")) == [rel, other]

    def test_relationship_needs_both_accounts(self, directory: Store) -> None:
        with pytest.raises(AccountNotFound) as info:
            directory.save_relationship(Relationship("nobody", RelationshipKind.PARTNER_OF, "acme"))
        assert info.value.key == "nobody"
        with pytest.raises(AccountNotFound) as info:
            directory.save_relationship(Relationship("acme", RelationshipKind.PARTNER_OF, "nobody"))
        assert info.value.key == "nobody"
        assert list(directory.relationships_of("acme")) == []


class AccountTreeTests(StoreFixture):
    """The :class:`~casekit.storage.AccountTree` capability: an account's children."""

    def test_children_of_each_account(self, store: Store) -> None:
        assert isinstance(store, AccountTree)
        for account in (
            Account("root", "Root"),
            Account("b", "B", parent_id="root"),
            Account("a", "A", parent_id="root"),
            Account("a1", "A1", parent_id="a"),
            Account("other", "Other"),
        ):
            store.save_account(account)
        assert store.child_accounts("root") == ["a", "b"]
        assert store.child_accounts("a") == ["a1"]
        assert store.child_accounts("a1") == []
        assert store.child_accounts("missing") == []

    def test_a_moved_account_leaves_its_old_parent(self, store: Store) -> None:
        assert isinstance(store, AccountTree)
        store.save_account(Account("p", "P"))
        store.save_account(Account("q", "Q"))
        store.save_account(Account("c", "C", parent_id="p"))
        store.save_account(Account("c", "C", parent_id="q"))
        assert store.child_accounts("p") == []
        assert store.child_accounts("q") == ["c"]
