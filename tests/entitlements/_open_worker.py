"""A separate process opening cases under one entitlement, for the multi-process tests.

Usage::

    python _open_worker.py STORE_URL COUNT

Opens the store (``sqlite:///...`` or ``postgresql://...?schema=...``) behind a Desk
that refuses cases without an entitlement, prints ``ready``, waits for a line on stdin
(so that the parent starts every worker at once), then tries to open COUNT cases for
account ``acme`` and prints one JSON line: the case ids opened and how many openings
were refused, by error.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime

from casekit import Actor, Desk, EntitlementExhausted, ManualClock, NoEntitlement
from casekit.entitlements import EntitlementSettings

AGENT = Actor.agent("writer", groups={"support"})


def main(url: str, count: int) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    settings = EntitlementSettings(on_missing="refuse")
    with Desk(url, clock=clock, discover=False, entitlements=settings) as desk:
        print("ready", flush=True)
        sys.stdin.readline()
        opened: list[str] = []
        refused: Counter[str] = Counter()
        for _ in range(count):
            try:
                opened.append(desk.open_case(actor=AGENT, subject="x", account_id="acme").id)
            except (EntitlementExhausted, NoEntitlement) as error:
                refused[type(error).__name__] += 1
    print(json.dumps({"opened": opened, "refused": dict(refused)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
