"""Proactive service: the host's monitoring reports a product's, service's or asset's
health, and casekit tells the affected customers before they call.

``desk.proactive.report(HealthEvent(...))``:

* **degraded or down**: opens a major case for what is affected (or updates the one
  open for it), accepted at once, with a child for every account whose install base
  has the product (or holds the asset); posts a customer-visible update with the
  estimated time to restore, which each child mirrors, so the standard notification
  rules tell each account's contact in its own case;
* **a later report** (worse, better, a new estimate, more accounts affected): updates
  the priority, posts the new estimate and adds children for newly affected accounts;
  a report that says nothing new (a monitor retrying) changes nothing;
* **restored**: posts the recovery and resolves the major case, which resolves every
  child that is still open.

It needs links (``Desk(links=Links())``), a store that keeps the install base
(memory, SQLite, PostgreSQL) and :class:`Proactive` settings (the account the major
cases are opened under, the group that works them).
"""

from casekit.proactive._desk import DeskProactive, HealthEvent, HealthStatus, Proactive, Report

__all__ = ["DeskProactive", "HealthEvent", "HealthStatus", "Proactive", "Report"]
