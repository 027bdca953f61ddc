"""Citations, rule titles and override reasons, read once from ``references.json``.

Only primary sources are listed (guidelines, trials, the FRAX tool): the web summaries the
rules were first drafted from are their origin, not evidence a clinician is shown. Each entry
records how and when its DOI or address was checked (``verified``); a DOI that could not be
confirmed is left out rather than guessed.

Advice text cites a source inline as ``{{KEY}}``; ``cite`` turns the markers of one card
into ``[1]``, ``[2]`` in order of first use and returns the keys in that order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

CITATION = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


@dataclass(frozen=True, slots=True)
class Reference:
    key: str
    label: str
    short: str  # authors, journal, year: the form shown on a card
    citation: str  # the full citation, for the clinical summary
    verified: str
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

    @property
    def short_form(self) -> str:
        """``Qaseem A, et al. Ann Intern Med 2023. doi:10.7326/M22-1034``."""
        if self.doi:
            return f"{self.short}. doi:{self.doi}"
        if self.url:
            return f"{self.short}. {self.url}"
        return f"{self.short}."


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


def cited_keys(texts: Iterable[str]) -> list[str]:
    """Reference keys cited in ``texts``, in order of first use."""
    order: list[str] = []
    for text in texts:
        for key in CITATION.findall(text):
            if key not in order:
                order.append(key)
    return order


def cite(text: str, order: list[str]) -> str:
    """``{{ACP2023}}`` → ``[n]``, n being the key's place in ``order`` (counted from 1)."""
    return CITATION.sub(lambda m: f"[{order.index(m.group(1)) + 1}]", text)
