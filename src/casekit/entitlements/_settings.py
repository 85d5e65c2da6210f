"""How a desk applies entitlements when a case is opened."""

from __future__ import annotations

import attrs

from casekit._convert import CasekitEnum, enum_converter, optional_text
from casekit.exceptions import InvalidValue

__all__ = ["EntitlementSettings", "OnMissing"]


class OnMissing(CasekitEnum):
    """What opening a case that no entitlement covers does."""

    WARN = "warn"
    """Open it, and record ``entitlement.missing`` with the explanation."""
    REFUSE = "refuse"
    """Refuse it with :class:`~casekit.exceptions.NoEntitlement` (nothing written, no
    case number used)."""
    DEFAULT = "default"
    """Open it at :attr:`EntitlementSettings.default_level` (``entitlement.applied``
    without an entitlement id)."""


_ON_MISSING = enum_converter(OnMissing, "EntitlementSettings.on_missing")


def _on_missing(value: OnMissing | str) -> OnMissing:
    return _ON_MISSING(value)


@attrs.frozen(kw_only=True)
class EntitlementSettings:
    """Entitlement selection on ``open_case`` (``Desk(entitlements=EntitlementSettings())``).

    Account and contact cases get the entitlement that covers them (see
    :func:`casekit.entitlements.choose`); consumer cases are not under contract and
    are opened as they are.

    Attributes:
        on_missing: What opening a case that no entitlement covers does.
        default_level: The service level of such a case with ``on_missing="default"``.
        parent_accounts: Entitlements of the account's ancestors cover it too (a
            group contract covers its subsidiaries), after the account's own.
        parent_assets: Entitlements of the assets the case's asset sits in cover it
            too, after the asset's own.
    """

    on_missing: OnMissing = attrs.field(default=OnMissing.WARN, converter=_on_missing)
    default_level: str | None = attrs.field(default=None, validator=optional_text)
    parent_accounts: bool = True
    parent_assets: bool = True

    def __attrs_post_init__(self) -> None:
        if self.default_level is not None and not self.default_level.strip():
            raise InvalidValue(
                "must not be empty (a service level, as Entitlement.service_level)",
                where="EntitlementSettings.default_level",
            )
        if self.on_missing is OnMissing.DEFAULT and not self.default_level:
            raise InvalidValue(
                'on_missing="default" needs a default_level',
                where="EntitlementSettings.default_level",
            )
        for name in ("parent_accounts", "parent_assets"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidValue("expected True or False", where=f"EntitlementSettings.{name}")
