"""Playbooks and the service catalog."""

from casekit.playbook._catalog import (
    Catalog,
    CatalogItem,
    Requester,
    Variable,
    VariableType,
    VariableValue,
)

__all__ = ["Catalog", "CatalogItem", "Requester", "Variable", "VariableType", "VariableValue"]
