"""Citations, rule titles and override reasons, read once from ``references.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Reference:
    key: str
    label: str
    citation: str
    doi: str | None = None
    url: str | None = None

    @property
    def link(self) -> str | None:
        """An absolute URL for the reference: its own, else its DOI resolver address."""
        if self.url:
            return self.url
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return None


@dataclass(frozen=True, slots=True)
class Catalogue:
    references: dict[str, Reference]
    rule_titles: dict[str, str]
    override_reasons: dict[str, str]


@cache
def catalogue() -> Catalogue:
    raw = json.loads(
        resources.files(__package__).joinpath("references.json").read_text(encoding="utf-8")
    )
    refs = {key: Reference(key=key, **value) for key, value in raw["references"].items()}
    titles = {key: value["title"] for key, value in raw["rules"].items()}
    return Catalogue(refs, titles, dict(raw["override_reasons"]))
