"""FHIR R4 JSON → typed bone-health facts (pure: no I/O, no Flask)."""
