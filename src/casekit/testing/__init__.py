"""Tools for testing code built on casekit, and for testing casekit plugins.

* :mod:`casekit.testing.conformance` -- the executable :class:`~casekit.storage.Store`
  contract: test classes a store plugin subclasses, overriding one ``store`` fixture;
* :mod:`casekit.testing.channels` -- the :class:`~casekit.notify.Channel` contract:
  :class:`ChannelConformance`, which a channel plugin subclasses, overriding the
  fixtures that make the channel and read what its receiver got;
* :mod:`casekit.testing.pytest_plugin` -- fixtures (``casekit_clock``, ``casekit_desk``)
  offered to every pytest run through the ``pytest11`` entry point.

Importing this package imports nothing else, so the pytest plugin stays cheap;
``ChannelConformance`` and ``Received`` are imported from :mod:`casekit.testing.channels`
when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from casekit.testing.channels import ChannelConformance, Received

__all__ = ["ChannelConformance", "Received"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from casekit.testing import channels  # noqa: PLC0415 - imported when first used

        return getattr(channels, name)
    raise AttributeError(f"module 'casekit.testing' has no attribute {name!r}")
