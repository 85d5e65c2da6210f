"""The host's side of the lost-card example: its core banking system and the actions.

The playbooks name four host actions: ``freeze_accounts``, ``freeze_cards``,
``add_to_watch_list`` and ``send_statement``. They are the methods of
:class:`casekit._demo_playbook.CoreBanking` (``casekit demo`` runs the very same code):
each finds the case's customer's products ("related" accounts and cards) in the core
system, does its work once per idempotency key, and returns plain data that the
playbook records. A failure raises: the card processor being down is a transient
failure, retried with backoff until a human takes over.
"""

from __future__ import annotations

from casekit._demo_playbook import CARD_PROCESSOR, CoreBanking
from casekit.playbook import HostAction

__all__ = ["CARD_PROCESSOR", "CUSTOMER", "bank_and_actions"]

CUSTOMER = "c-77"
"""The consumer who lost her card."""


def bank_and_actions(*, card_processor_down: bool) -> tuple[CoreBanking, dict[str, HostAction]]:
    """The core system holding the customer's products, and its actions by name."""
    bank = CoreBanking(
        accounts={f"consumer:{CUSTOMER}": ["NL01BANK0000000077", "NL01BANK0000000078"]},
        cards={f"consumer:{CUSTOMER}": ["credit **** 4242", "debit **** 1717"]},
        down={CARD_PROCESSOR} if card_processor_down else set(),
    )
    return bank, bank.actions()
