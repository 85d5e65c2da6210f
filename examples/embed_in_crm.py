"""Embedding casekit in an existing CRM.

The CRM keeps its own customer and user tables (here: a small SQLite database of its
own). casekit gets:

* a copy of the few customer fields it needs (accounts and contacts, keyed by the CRM's
  own ids), synced whenever the CRM changes them;
* actors built from the CRM's own user objects, by one small function;
* the CRM's role model as an access plugin, on top of casekit's default rules.

Run it: ``python examples/embed_in_crm.py``
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from casekit import (
    Account,
    Action,
    Actor,
    Channel,
    Contact,
    ContactRole,
    Decision,
    Desk,
    Priority,
    hookimpl,
)

# --- the host's own world --------------------------------------------------------


@dataclass(frozen=True)
class CrmUser:
    """The CRM's user object; casekit never sees it directly."""

    login: str
    team: str
    is_manager: bool = False
    customer_id: int | None = None  # set for portal users (customers)


def create_crm(path: Path) -> sqlite3.Connection:
    crm = sqlite3.connect(path)
    crm.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, parent INTEGER, tier TEXT);
        CREATE TABLE people (id INTEGER PRIMARY KEY, customer INTEGER, name TEXT,
                             email TEXT, is_admin INTEGER);
        INSERT INTO customers VALUES (1, 'Globex Corporation', NULL, 'gold'),
                                     (2, 'Globex Europe', 1, 'gold'),
                                     (3, 'Initech', NULL, 'silver');
        INSERT INTO people VALUES (10, 1, 'Hank Scorpio', 'hank@globex.example', 1),
                                  (11, 2, 'Homer Simpson', 'homer@globex.example', 0),
                                  (12, 3, 'Peter Gibbons', 'peter@initech.example', 0);
        """
    )
    return crm


# --- the glue: three small functions ---------------------------------------------


def sync_directory(crm: sqlite3.Connection, desk: Desk) -> int:
    """Copy the CRM's customers and people into casekit's directory (idempotent)."""
    count = 0
    rows = crm.execute("SELECT id, name, parent, tier FROM customers ORDER BY parent IS NOT NULL")
    for customer_id, name, parent, tier in rows:
        desk.save_account(
            Account(
                id=f"crm-{customer_id}",
                name=name,
                parent_id=f"crm-{parent}" if parent else None,
                attributes={"tier": tier},
            )
        )
        count += 1
    for person_id, customer_id, name, email, is_admin in crm.execute("SELECT * FROM people"):
        roles = {ContactRole.MEMBER, ContactRole.ADMIN} if is_admin else {ContactRole.MEMBER}
        desk.save_contact(
            Contact(
                id=f"crm-p{person_id}",
                account_id=f"crm-{customer_id}",
                name=name,
                email=email,
                roles=frozenset(roles),
            )
        )
        count += 1
    return count


def actor_for(user: CrmUser, person_id: int | None = None) -> Actor:
    """Map a CRM user onto a casekit actor."""
    if person_id is not None:
        return Actor.contact(f"crm-p{person_id}")
    roles = {"crm-manager"} if user.is_manager else set()
    return Actor.agent(user.login, groups={user.team}, roles=roles)


class CrmAccessRules:
    """The CRM's own rule on top of casekit's: managers may see and reassign anything,
    and only managers may cancel cases."""

    @hookimpl
    def casekit_check_access(self, actor: Actor, action: Action) -> Decision | None:
        if "crm-manager" in actor.roles and action in (Action.VIEW, Action.ASSIGN):
            return Decision.allow("CRM managers oversee every team")
        return None  # everything else: casekit's default policy


# --- a day in the CRM --------------------------------------------------------------


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        crm = create_crm(Path(folder) / "crm.db")
        with Desk.open(
            f"sqlite:///{Path(folder) / 'cases.db'}", plugins=[CrmAccessRules()]
        ) as desk:
            print(f"synced {sync_directory(crm, desk)} customer records into casekit")

            homer = actor_for(CrmUser("homer", "portal", customer_id=2), person_id=11)
            ann = actor_for(CrmUser("ann", "service-desk"))
            boss = actor_for(CrmUser("moss", "it", is_manager=True))

            case = desk.open_case(
                actor=homer,
                subject="Invoices show the wrong VAT number",
                account_id="crm-2",
                contact_id="crm-p11",
                channel=Channel.PORTAL,
                priority=Priority.MODERATE,
                group="service-desk",
            )
            print(f"{case.id} opened by the customer through the CRM portal")

            desk.start(case.id, actor=ann)
            desk.add_interaction(case.id, "Could you send one affected invoice?", actor=ann)
            desk.await_info(case.id, actor=ann, reason="asked for an example invoice")
            case = desk.add_interaction(case.id, "Attached: INV-2291.", actor=homer)
            print(f"customer replied, case is {case.state.value} again")

            # The parent company's admin contact sees the subsidiary's case.
            hank = Actor.contact("crm-p10")
            print(f"Hank (Globex admin) can see it: {desk.can(hank, Action.VIEW, case)}")
            # Initech's contact cannot.
            peter = Actor.contact("crm-p12")
            print(f"Peter (Initech) can see it: {desk.can(peter, Action.VIEW, case)}")

            # The manager reassigns across teams thanks to the CRM's rule.
            desk.assign(case.id, actor=boss, group="billing")
            desk.resolve(
                case.id,
                actor=Actor.agent("bill", groups={"billing"}),
                code="data_fix",
                notes="VAT number corrected; invoices re-issued.",
            )
            closed = desk.accept(case.id, actor=homer)
            print(f"{closed.id} is {closed.state.value} after {closed.version} events")
            print(desk.verify(case.id))
        crm.close()


if __name__ == "__main__":
    main()
