"""Every session that collects this folder audits all responses against the OpenAPI document."""

from tests.openapi.audit_plugin import (  # noqa: F401  (pytest finds hooks by name)
    pytest_configure,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
)
