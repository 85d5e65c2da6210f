"""The exceptions casekit raises.

Every error derives from :class:`CasekitError`. Where the meaning matches a builtin
exception, the casekit error inherits it too, so ``except LookupError`` keeps working::

    CasekitError
    ├── NotFound (LookupError)
    │   ├── CaseNotFound
    │   ├── TaskNotFound
    │   ├── AccountNotFound
    │   ├── ContactNotFound
    │   ├── ConsumerNotFound
    │   ├── UnknownStoreScheme
    │   ├── UnknownChannel
    │   ├── OutboxEntryNotFound
    │   ├── CatalogItemNotFound
    │   ├── PlaybookNotFound
    │   ├── ProductNotFound
    │   ├── AssetNotFound
    │   └── EntitlementNotFound
    ├── InvalidValue (ValueError)
    │   ├── InvalidType (TypeError)
    │   ├── NaiveDatetimeError
    │   ├── InvalidFieldValue
    │   ├── InvalidDefinition
    │   │   └── InvalidScenario
    │   ├── InvalidRequest
    │   ├── InvalidCalendar
    │   ├── CalendarHorizonError
    │   ├── InvalidAddress
    │   ├── EntitlementConflict
    │   └── ForeignAsset
    ├── InvalidTransition (ValueError)
    ├── InvalidCommand (ValueError)
    │   ├── RunNotFound
    │   └── InvalidLink
    ├── AccessDenied (PermissionError)
    ├── ConflictError
    │   └── CapacityConflict
    ├── StoreError
    │   └── CorruptRecord
    ├── DeliveryFailed
    ├── ActionFailed
    ├── EntitlementExhausted
    ├── NoEntitlement
    ├── MissingDependency (ImportError)
    └── PluginError
        └── ReactorError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AccessDenied",
    "AccountNotFound",
    "ActionFailed",
    "AssetNotFound",
    "CalendarHorizonError",
    "CapacityConflict",
    "CaseNotFound",
    "CasekitError",
    "CatalogItemNotFound",
    "ConflictError",
    "ConsumerNotFound",
    "ContactNotFound",
    "CorruptRecord",
    "DeliveryFailed",
    "EntitlementConflict",
    "EntitlementExhausted",
    "EntitlementNotFound",
    "ForeignAsset",
    "InvalidAddress",
    "InvalidCalendar",
    "InvalidCommand",
    "InvalidDefinition",
    "InvalidFieldValue",
    "InvalidLink",
    "InvalidRequest",
    "InvalidScenario",
    "InvalidTransition",
    "InvalidType",
    "InvalidValue",
    "MissingDependency",
    "NaiveDatetimeError",
    "NoEntitlement",
    "NotFound",
    "OutboxEntryNotFound",
    "PlaybookNotFound",
    "PluginError",
    "ProductNotFound",
    "ReactorError",
    "RunNotFound",
    "StoreError",
    "TaskNotFound",
    "UnknownChannel",
    "UnknownStoreScheme",
]


class CasekitError(Exception):
    """Root of every error casekit raises on purpose."""


class NotFound(CasekitError, LookupError):
    """Something looked up by its identifier does not exist.

    Attributes:
        kind: What was looked up (``"case"``, ``"task"``, ...).
        key: The identifier that was not found.
    """

    kind = "object"

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        super().__init__(message or f"{self.kind} {key!r} not found")


class PlaybookNotFound(NotFound):
    """No playbook of that name (or no such version of it) is loaded.

    Attributes:
        name: The playbook's name.
        version: The version asked for (``None``: any).
    """

    kind = "playbook"

    def __init__(self, name: str, version: int | None = None) -> None:
        what = f"{name!r}" if version is None else f"{name!r} v{version}"
        super().__init__(name, f"no playbook {what} is loaded")
        self.name = name
        self.version = version


class CaseNotFound(NotFound):
    """No case has that id."""

    kind = "case"


class TaskNotFound(NotFound):
    """The case has no task with that id."""

    kind = "task"


class AccountNotFound(NotFound):
    """No account has that id."""

    kind = "account"


class ContactNotFound(NotFound):
    """No contact has that id."""

    kind = "contact"


class ConsumerNotFound(NotFound):
    """No consumer has that id."""

    kind = "consumer"


class UnknownStoreScheme(NotFound):
    """No store plugin handles the URL's scheme."""

    kind = "store URL scheme"


class OutboxEntryNotFound(NotFound):
    """No outbox entry has that id."""

    kind = "outbox entry"


class UnknownChannel(NotFound):
    """No notification channel is registered under that name."""

    kind = "notification channel"


class CatalogItemNotFound(NotFound):
    """The service catalog has no item with that id."""

    kind = "catalog item"


class ProductNotFound(NotFound):
    """No product has that id."""

    kind = "product"


class AssetNotFound(NotFound):
    """No asset has that id."""

    kind = "asset"


class EntitlementNotFound(NotFound):
    """No entitlement has that id."""

    kind = "entitlement"


class InvalidValue(CasekitError, ValueError):
    """A value is not acceptable where it was given.

    Attributes:
        where: The field or path that holds the bad value (``"case.opened_at"``).
    """

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InvalidAddress(InvalidValue):
    """An address a channel cannot send to (a malformed e-mail, phone number or URL)."""


class InvalidType(InvalidValue, TypeError):
    """A value of the wrong type was given (a string where an instant is required, an
    integer where a log of events is). Also a :class:`TypeError`, as Python's own
    refusals of a wrong type are."""


class NaiveDatetimeError(InvalidValue):
    """A datetime without a time zone was given where an instant is required."""

    def __init__(self, where: str, value: object = None) -> None:
        self.value = value
        super().__init__(
            f"naive datetime {value!r} is not an instant; attach a time zone "
            "(for example datetime(..., tzinfo=timezone.utc))",
            where=where,
        )


class InvalidFieldValue(InvalidValue):
    """A custom field value does not match the field's declared type or choices."""


class InvalidDefinition(InvalidValue):
    """Plain data (JSON, TOML, a store row) does not describe a valid object.

    Attributes:
        errors: One line per problem, each starting with the path to the bad field.
    """

    def __init__(self, message: str, *, where: str = "", errors: Sequence[str] = ()) -> None:
        self.errors = tuple(errors)
        detail = "".join(f"\n  {line}" for line in self.errors)
        super().__init__(message + detail, where=where)


class InvalidScenario(InvalidDefinition):
    """A simulation scenario (or a file describing one) is not valid; ``where`` names the
    field (``$.case_types[2].handle_time.mean``)."""


class InvalidRequest(InvalidValue):
    """A service catalog request's values do not fit the item's variables.

    Attributes:
        errors: Every problem, one ``variables.<name>: <message>`` line each.
    """

    def __init__(self, message: str, *, where: str = "", errors: Sequence[str] = ()) -> None:
        self.errors = tuple(errors)
        detail = "".join(f"\n  {line}" for line in self.errors)
        super().__init__(message + detail, where=where)


class InvalidCalendar(InvalidValue):
    """A business calendar definition is impossible (overlaps, unknown zone, ...)."""


class CalendarHorizonError(InvalidValue):
    """Calendar arithmetic would leave the supported horizon (or the calendar is empty)."""


class EntitlementConflict(InvalidValue):
    """An entitlement overlaps in time with another of the same scope, product and
    service level; it was not saved.

    Attributes:
        entitlement_id: The entitlement refused.
        other_id: The stored entitlement it overlaps.
    """

    def __init__(self, entitlement_id: str, other_id: str) -> None:
        self.entitlement_id = entitlement_id
        self.other_id = other_id
        super().__init__(
            f"entitlement {entitlement_id!r} overlaps {other_id!r}, which covers the same "
            "scope, product and service level over part of the same period",
            where="Entitlement.valid_from",
        )


class ForeignAsset(InvalidValue):
    """A case names an asset of another account than its own.

    Attributes:
        asset_id: The asset.
        account_id: The case's account (``None``: a consumer case).
        owner: The account the asset belongs to.
    """

    def __init__(self, asset_id: str, account_id: str | None, owner: str) -> None:
        self.asset_id = asset_id
        self.account_id = account_id
        self.owner = owner
        whose = "a consumer case" if account_id is None else f"account {account_id!r}"
        super().__init__(
            f"asset {asset_id!r} belongs to account {owner!r}, not to {whose}", where="asset_id"
        )


class InvalidTransition(CasekitError, ValueError):
    """A lifecycle transition is not allowed from the current state.

    Attributes:
        subject: ``"case"`` or ``"task"``.
        key: The case or task identifier.
        state: The current state.
        action: The transition that was asked for.
    """

    def __init__(self, subject: str, key: str, state: Any, action: str, why: str = "") -> None:
        self.subject = subject
        self.key = key
        self.state = state
        self.action = action
        state_name = getattr(state, "value", state)
        text = f"cannot {action} {subject} {key!r} in state {state_name!r}"
        super().__init__(f"{text}: {why}" if why else text)


class InvalidCommand(CasekitError, ValueError):
    """A command is malformed or contradicts the aggregate (e.g. unknown dependency)."""


class RunNotFound(InvalidCommand):
    """The case has no such playbook run (or no running one where one is needed)."""


class InvalidLink(InvalidCommand):
    """Two cases cannot be linked (or a link cannot be undone) as asked.

    Attributes:
        child_id: The case that would be the child.
        parent_id: The case that would be its parent.
        problem: What stands in the way, one of ``"self"`` (a case cannot be its own
            parent), ``"cycle"`` (the parent descends from the child),
            ``"already_linked"`` (the child has a parent), ``"not_linked"`` (it has
            none, or another), ``"account_taken"`` (the major case already has a child
            of that account), ``"not_major"`` (the parent is not an accepted major
            case), ``"finished"`` (the parent or child is resolved, closed or
            cancelled), ``"major_child"`` (a major case cannot be a child, nor a
            child a major case).
    """

    def __init__(self, child_id: str, parent_id: str, problem: str, why: str) -> None:
        self.child_id = child_id
        self.parent_id = parent_id
        self.problem = problem
        super().__init__(f"cannot link {child_id} to {parent_id}: {why}")


class AccessDenied(CasekitError, PermissionError):
    """The acting party may not perform the action.

    Attributes:
        actor: Identifier of the actor.
        action: The action that was refused.
        key: The case (or other object) concerned.
        reason: Why the access policy refused.
    """

    def __init__(self, actor: str, action: str, key: str, reason: str) -> None:
        self.actor = actor
        self.action = action
        self.key = key
        self.reason = reason
        super().__init__(f"{actor!r} may not {action} {key!r}: {reason}")


class ConflictError(CasekitError):
    """A write was based on a stale version of an aggregate.

    Attributes:
        key: The aggregate identifier.
        expected: The version the writer read.
        actual: The version in the store, if known.
    """

    def __init__(self, key: str, expected: int, actual: int | None = None) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        found = "" if actual is None else f", store has version {actual}"
        super().__init__(f"{key!r} changed concurrently: expected version {expected}{found}")


class CapacityConflict(ConflictError):
    """A routed assignment was refused: the agent would go over its capacity, or the
    router decided on a stale view of the agent (another process changed it or
    assigned it work meanwhile). Routing behind a Desk handles it itself: it reloads
    what the agent holds and decides again.

    Attributes:
        key: The agent id.
        reason: What failed.
    """

    def __init__(self, agent_id: str, reason: str) -> None:
        self.key = agent_id
        self.expected = 0
        self.actual = None
        self.reason = reason
        CasekitError.__init__(self, f"agent {agent_id!r} cannot take the work: {reason}")


class StoreError(CasekitError):
    """A storage backend failed."""


class CorruptRecord(StoreError):
    """A stored row cannot be read back (malformed JSON or schema mismatch).

    Attributes:
        table: The table or collection.
        key: The row's key.
    """

    def __init__(self, table: str, key: str, detail: str) -> None:
        self.table = table
        self.key = key
        super().__init__(f"corrupt row in {table} {key!r}: {detail}")


class PluginError(CasekitError):
    """A plugin is broken: missing hooks, duplicate registration, or it raised."""


class ReactorError(PluginError):
    """An in-commit reactor failed; the command was aborted and nothing was written.

    Attributes:
        reactor: The reactor's name.
        case_id: The case the command was on.
    """

    def __init__(self, reactor: str, case_id: str, detail: str) -> None:
        self.reactor = reactor
        self.case_id = case_id
        super().__init__(f"reactor {reactor!r} failed on case {case_id!r}: {detail}")


class ActionFailed(CasekitError):
    """Raised by a playbook's host action to fail with a message (see
    :mod:`casekit.playbook`); ``permanent`` skips the retries.

    Attributes:
        permanent: No further attempt can succeed (a human takes over at once).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class EntitlementExhausted(CasekitError):
    """Opening the case would use more units of an entitlement than it grants; nothing
    was written.

    Attributes:
        entitlement_id: The entitlement.
        units: The units it grants.
        used: The cases that used them already, as far as the store knows (``None`` if
            it did not count).
    """

    def __init__(self, entitlement_id: str, units: int, used: int | None = None) -> None:
        self.entitlement_id = entitlement_id
        self.units = units
        self.used = used
        detail = (
            f"all {units} units are used" if used is None else f"{used} of {units} units are used"
        )
        super().__init__(f"entitlement {entitlement_id!r} is exhausted: {detail}")


class NoEntitlement(CasekitError):
    """No entitlement covers the case and the desk is configured to refuse it; nothing
    was written.

    Attributes:
        account_id: The case's account.
        contact_id: Its contact.
        asset_id: The asset it names.
        explanation: Every candidate considered and why it did not apply.
    """

    def __init__(
        self,
        account_id: str | None,
        contact_id: str | None,
        asset_id: str | None,
        explanation: str,
    ) -> None:
        self.account_id = account_id
        self.contact_id = contact_id
        self.asset_id = asset_id
        self.explanation = explanation
        super().__init__(f"no entitlement covers this case: {explanation}")


class DeliveryFailed(CasekitError):
    """A notification channel could not send a message.

    Channels raise it to say how a failure should be treated; any other exception a
    channel raises counts as a transient failure. The outbox records every attempt.

    Attributes:
        channel: The channel's name.
        permanent: ``True`` when retrying cannot help (the receiver refused the message:
            an invalid address, an HTTP 4xx answer); the entry is dead-lettered at once.
            ``False`` for failures that may pass (a timeout, a refused connection, an
            HTTP 5xx answer); the entry is retried with backoff up to its attempt limit.
    """

    def __init__(self, channel: str, reason: str, *, permanent: bool = False) -> None:
        self.channel = channel
        self.reason = reason
        self.permanent = permanent
        kind = "permanent" if permanent else "transient"
        super().__init__(f"channel {channel!r} failed ({kind}): {reason}")


class MissingDependency(CasekitError, ImportError):
    """An optional part needs a package that is not installed.

    Attributes:
        package: The package (``"pandas"``).
        extra: The casekit extra that installs it (``"notebook"``).
    """

    def __init__(self, package: str, extra: str, what: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{what} needs {package}: pip install 'casekit[{extra}]'")
