"""Install base and entitlements behind a desk.

The model (:class:`~casekit.model.Product`, :class:`~casekit.model.Asset`,
:class:`~casekit.model.Entitlement`) is pure and lives in :mod:`casekit.model`; stores
keep it through the :class:`~casekit.storage.InstallBase` capability. This package
holds what a desk does with it:

* ``desk.install_base`` (:class:`DeskInstallBase`): save products, assets and
  entitlements; read them as an actor may see them; explain which entitlement a case
  would get;
* entitlement selection when a case is opened, with
  ``Desk(entitlements=EntitlementSettings(...))``: the chosen entitlement is recorded
  in the opening commit (``entitlement.applied``, which sets the case's
  ``entitlement_id`` and ``service_level``), its units are consumed atomically with the
  opening (:class:`~casekit.storage.UnitGuard`), and a case that none covers gets the
  configured outcome (:class:`OnMissing`).
"""

from casekit.entitlements._desk import DeskInstallBase, Opening
from casekit.entitlements._select import Candidate, EntitlementChoice, Scope, choose
from casekit.entitlements._settings import EntitlementSettings, OnMissing

__all__ = [
    "Candidate",
    "DeskInstallBase",
    "EntitlementChoice",
    "EntitlementSettings",
    "OnMissing",
    "Opening",
    "Scope",
    "choose",
]
