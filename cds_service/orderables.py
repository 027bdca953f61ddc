"""The products the drug drafts order (``orderables.json``): each one's RxNorm clinical drug
(SCD) and ingredient codings, and how each code was checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class RxCode:
    code: str
    display: str
    verified: str


@dataclass(frozen=True)
class Orderable:
    key: str
    text: str
    strength_value: float
    strength_unit: str
    scd: RxCode | None
    ingredient: RxCode | None
    # Why a coding is missing: a checked gap, never a guessed code.
    scd_why: str | None
    ingredient_why: str | None

    def codings(self) -> list[dict[str, str]]:
        """The clinical drug first (what an ordering system orders), then the ingredient."""
        return [
            {"system": RXNORM, "code": rx.code, "display": rx.display}
            for rx in (self.scd, self.ingredient)
            if rx is not None
        ]


def _code(raw: dict[str, Any] | None) -> RxCode | None:
    return None if raw is None else RxCode(raw["code"], raw["display"], raw["verified"])


@cache
def orderables() -> dict[str, Orderable]:
    raw = json.loads(
        resources.files(__package__).joinpath("orderables.json").read_text(encoding="utf-8")
    )
    out = {}
    for key, item in raw["products"].items():
        product = Orderable(
            key=key,
            text=item["text"],
            strength_value=item["strength"]["value"],
            strength_unit=item["strength"]["unit"],
            scd=_code(item["scd"]),
            ingredient=_code(item["ingredient"]),
            scd_why=item.get("scd_why"),
            ingredient_why=item.get("ingredient_why"),
        )
        if product.scd is None and not product.scd_why:
            raise ValueError(f"orderable {key}: no clinical drug code and no reason why")
        if product.ingredient is None and not product.ingredient_why:
            raise ValueError(f"orderable {key}: no ingredient code and no reason why")
        if product.scd is None and product.ingredient is None:
            raise ValueError(f"orderable {key}: a draft needs at least one code")
        out[key] = product
    return out
