from tests.support.fhir_fixtures import fhir_server  # noqa: F401
