"""The one-page clinical summary of every rule (docs/clinical-summary.md), built from the
rule data in references.json and the shipped thresholds, so that it cannot drift from what
the service does: ``python -m cds_service.guideline.clinical_summary > docs/clinical-summary.md``.
A test regenerates it and compares."""

from __future__ import annotations

import json
from importlib import resources

from cds_service.orderables import orderables

from .references import catalogue
from .thresholds import Thresholds, load_thresholds


def _values(th: Thresholds) -> dict[str, str]:
    out = {}
    for name in th.__dataclass_fields__:
        value = getattr(th, name)
        out[name] = f"{value:g}".replace("-", "\u2212") if isinstance(value, float) else str(value)
    return out


def render(th: Thresholds | None = None) -> str:
    th = th or load_thresholds()
    raw = json.loads(
        resources.files(__package__).joinpath("references.json").read_text(encoding="utf-8")
    )
    refs = catalogue().references
    values = _values(th)
    lines = [
        "# Clinical summary of the rules",
        "",
        "Generated from `cds_service/guideline/references.json` and the shipped thresholds "
        "(`thresholds.json`); a test keeps this page equal to them. Numbers are the shipped "
        "defaults; a deployment may override them.",
        "",
        'Every card: detail at most 2,000 characters; the "Always" paragraph once per '
        "response; no advice line on two cards of one response; inline citations [n] to "
        "primary sources only; warnings first.",
        "",
    ]
    for rule_id, rule in raw["rules"].items():
        lines += [
            f"## {rule_id}. {rule['title']}",
            "",
            f"- **Speaks when:** {rule['speaks'].format(**values)}",
            f"- **Offers:** {rule['offers'].format(**values)}",
            "- **Sources:** "
            + "; ".join(refs[key].short_form.rstrip(".") for key in rule["sources"])
            + ".",
            "",
        ]
    lines += [
        "## Drug drafts: the product each orders and its codes",
        "",
        "RxNorm clinical drug (SCD) first, then the ingredient (`cds_service/orderables.json`).",
        "",
    ]
    for product in orderables().values():
        scd = (
            f"SCD {product.scd.code} ({product.scd.display}); checked: {product.scd.verified}"
            if product.scd
            else f"no SCD: {product.scd_why}"
        )
        ingredient = (
            f"ingredient {product.ingredient.code} ({product.ingredient.display})"
            if product.ingredient
            else f"no ingredient code: {product.ingredient_why}"
        )
        lines.append(f"- **{product.text}**: {scd.rstrip('.')}. {ingredient.rstrip('.')}.")
    lines += ["", "## References and how each was checked", ""]
    for ref in refs.values():
        lines.append(f"- **{ref.label}**: {ref.citation} {ref.link or ''}".rstrip())
        lines.append(f"  Checked: {ref.verified}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
