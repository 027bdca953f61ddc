"""FHIR R4 JSON → typed bone-health facts (pure: no I/O, no Flask)."""

from .build import build_facts
from .dxa import group_studies

__all__ = ["build_facts", "group_studies"]
