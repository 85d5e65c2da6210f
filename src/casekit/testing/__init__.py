"""Tools for testing code built on casekit, and for testing casekit plugins.

* :mod:`casekit.testing.conformance` -- the executable :class:`~casekit.storage.Store`
  contract: test classes a store plugin subclasses, overriding one ``store`` fixture;
* :mod:`casekit.testing.pytest_plugin` -- fixtures (``casekit_clock``, ``casekit_desk``)
  offered to every pytest run through the ``pytest11`` entry point.

Importing this package imports nothing else, so the pytest plugin stays cheap.
"""

__all__: list[str] = []
