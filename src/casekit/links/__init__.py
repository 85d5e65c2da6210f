"""Links between cases: plain parent/child links and major cases.

A *major case* tracks one problem that hits many customers (an outage, a faulty
batch): any case can be proposed as a candidate (``desk.links.propose_major``), and
an agent the access policy allows (``manage_major``: by default the ``admin``,
``supervisor`` and ``major_case_manager`` roles) accepts or rejects it. An accepted
major case gets one child per affected account, linked from existing cases
(``link``) or opened for a list of accounts (``create_children``). Each child follows
its major case: priority, state (start, resolve, close), customer-visible comments and
work notes, the resolution's notes and code, as :class:`Links` ``sync`` says; children
already resolved, closed or cancelled are skipped, and a child linked late receives
the current state at once. The children's own notification rules then tell their
contacts.

How it holds together:

* a link is recorded on the **child** only (``case.linked``), one commit, so nothing
  is half-linked; a parent finds its children through the store (an indexed column);
* following is **state-based** and recorded on each child (``case.parent_synced``:
  up to which version of the major case it follows), so doing it twice or late never
  mirrors anything twice;
* after each change of a major case, the desk brings its children in step before the
  command returns; if the process dies first, the major case's ``links:sync`` timer
  makes the next ``desk.tick`` do it (see :class:`LinksReactor`).

Plain parent/child links mirror nothing; ``Links(parent_waits_for_children=True)``
refuses to resolve or close a parent while one of its children is open.
"""

from casekit.links._desk import DeskLinks, Links, SyncReport
from casekit.links._reactor import SYNC_TIMER, LinksReactor
from casekit.links._sync import DEFAULT_SYNC, LINKS_ACTOR, SYNC_FIELDS, plan_child

__all__ = [
    "DEFAULT_SYNC",
    "LINKS_ACTOR",
    "SYNC_FIELDS",
    "SYNC_TIMER",
    "DeskLinks",
    "Links",
    "LinksReactor",
    "SyncReport",
    "plan_child",
]
