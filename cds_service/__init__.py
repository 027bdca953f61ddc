"""osteopenia-cds: a CDS Hooks 2.0.1 service for osteopenia and bone-health management."""

__version__ = "0.1.0"
