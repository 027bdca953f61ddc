"""Checking real requests and responses against ``cds_service/openapi.json``.

``Contract.check_response(method, path, status, body)`` finds the documented operation for a
concrete path (``/cds-services/osteopenia-management`` matches
``/cds-services/{service_id}``), the response documented for the status, and validates the
JSON body against its schema (JSON Schema 2020-12, formats checked). It returns the list of
problems, empty when the response conforms. The fuzzers and the soak use the same checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cds_service.openapi import openapi_document

DOC_URI = "urn:osteopenia-cds:openapi"
UNDOCUMENTED_METHOD = 405

# jsonschema checks "uri" only with an optional package; an absolute URI (RFC 3986: scheme ":"
# then no whitespace) is what CDS Hooks asks of source.url, icon and link.url.
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
FORMATS = FormatChecker()


@FORMATS.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    return not isinstance(value, str) or _ABSOLUTE_URI.match(value) is not None


@dataclass(frozen=True, slots=True)
class Operation:
    template: str
    method: str
    spec: dict[str, Any]


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


class Contract:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document if document is not None else openapi_document()
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    @cached_property
    def paths(self) -> list[tuple[str, re.Pattern[str]]]:
        # Literal paths before templated ones, so /cds-services never matches a template.
        templates = sorted(self.document["paths"], key=lambda t: ("{" in t, t))
        return [(t, _path_pattern(t)) for t in templates]

    def template_for(self, path: str) -> str | None:
        for template, pattern in self.paths:
            if pattern.match(path):
                return template
        return None

    def operation(self, method: str, path: str) -> Operation | None:
        template = self.template_for(path)
        if template is None:
            return None
        spec = self.document["paths"][template].get(method.lower())
        return Operation(template, method.lower(), spec) if spec is not None else None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def validator(self, pointer: str) -> Draft202012Validator:
        """A validator for the schema at ``pointer`` (e.g. ``/components/schemas/Card``)."""
        if pointer not in self._validators:
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{DOC_URI}#{pointer}"},
                registry=self.registry,
                format_checker=FORMATS,
            )
        return self._validators[pointer]

    def schema_errors(self, pointer: str, instance: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message[:300]}"
            for e in self.validator(pointer).iter_errors(instance)
        ]

    def response_pointer(self, method: str, path: str, status: int) -> str | None:
        """JSON pointer of the schema documented for this answer, or None if undocumented."""
        operation = self.operation(method, path)
        if operation is None:
            if self.template_for(path) is not None and status == UNDOCUMENTED_METHOD:
                return "/components/responses/MethodNotAllowed/content/application~1json/schema"
            return None
        responses = operation.spec["responses"]
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            return None
        response = responses[key]
        if "$ref" in response:
            base = response["$ref"].removeprefix("#")
        else:
            escaped = operation.template.replace("~", "~0").replace("/", "~1")
            base = f"/paths/{escaped}/{operation.method}/responses/{key}"
        if "content" not in self._resolve(response):
            return ""
        return f"{base}/content/application~1json/schema"

    def documented_media_types(self, method: str, path: str, status: int) -> set[str]:
        operation = self.operation(method, path)
        if operation is None:
            return set()
        responses = operation.spec["responses"]
        response = responses.get(str(status), responses.get("default"))
        if response is None:
            return set()
        return set(self._resolve(response).get("content", {}))

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        content_type: str | None = "application/json",
    ) -> list[str]:
        """Problems with this answer under the contract; an empty list means it conforms."""
        pointer = self.response_pointer(method, path, status)
        where = f"{method.upper()} {path} -> {status}"
        if pointer is None:
            return [f"{where}: status not documented"]
        if pointer == "":
            return []
        if not (content_type or "").startswith("application/json"):
            media_type = (content_type or "").split(";", 1)[0].strip()
            if media_type in self.documented_media_types(method, path, status):
                return []  # a page or a download the contract names (HTML, CSV)
            return [f"{where}: Content-Type {content_type!r} is not JSON"]
        return [f"{where}: {problem}" for problem in self.schema_errors(pointer, body)]

    def check_request(self, method: str, path: str, body: Any) -> list[str]:
        """Problems with a request body under the contract (to tell valid from invalid input)."""
        operation = self.operation(method, path)
        if operation is None or "requestBody" not in operation.spec:
            return []
        ref = operation.spec["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return self.schema_errors(ref.removeprefix("#"), body)


@lru_cache(maxsize=1)
def shared_contract() -> Contract:
    return Contract()
