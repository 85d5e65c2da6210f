"""Tests of the pure domain model (:mod:`casekit.model`), driven through a real Desk."""
