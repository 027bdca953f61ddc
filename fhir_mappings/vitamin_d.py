"""Total 25-hydroxyvitamin D in ng/mL. The unit drives conversion (nmol/L ÷ 2.496), not the code;
1,25-dihydroxyvitamin D is never read, even under a 25(OH)D code with a telling display."""

from __future__ import annotations

from . import codes
from .access import concept_texts
from .context import Context
from .facts import Provenance, VitaminDLevel
from .observations import ObsItem, display_of, observation_date, readings, value_of

_CODES = frozenset(codes.VITAMIN_D)


def map_vitamin_d(items: list[ObsItem], ctx: Context) -> list[VitaminDLevel]:
    levels: list[VitaminDLevel] = []
    for item in items:
        for code, holder in readings(item, _CODES):
            text = " ".join(concept_texts(holder.get("code"))).lower()
            if any(word in text for word in codes.VITAMIN_D_EXCLUDED_WORDS):
                ctx.notes.add(
                    f"Vitamin D result coded {code} but named {text[:80]!r} (1,25-dihydroxy); "
                    "not used",
                    item.reference,
                )
                continue
            when, malformed = observation_date(item.resource)
            ok, when = ctx.usable_date(
                when or item.fallback_date, malformed, item.reference, "Vitamin D result"
            )
            if not ok:
                break
            value = value_of(holder)
            if value is None:
                ctx.notes.add(f"25(OH)D ({code}) without a numeric value; not used", item.reference)
                continue
            unit = codes.VITAMIN_D_UNITS.get(value.unit.lower()) or codes.VITAMIN_D_UNITS.get(
                value.unit_text.lower()
            )
            if unit is None and value.unit == "" and value.unit_text == "":
                unit = codes.VITAMIN_D[code]
                ctx.notes.add(
                    f"25(OH)D ({code}) without a unit; read as {unit}, the code's unit",
                    item.reference,
                    when,
                )
            if unit is None:
                ctx.notes.add(
                    f"25(OH)D ({code}) in unit {value.unit_text!r}; not used", item.reference
                )
                continue
            if value.number < 0:
                ctx.notes.add(f"25(OH)D ({code}) negative; not used", item.reference)
                continue
            ng = value.number / codes.VITAMIN_D_NMOL_PER_NG if unit == "nmol/L" else value.number
            levels.append(
                VitaminDLevel(
                    ng_per_ml=ng,
                    comparator=value.comparator,
                    original_value=value.number,
                    original_unit=value.unit_text or unit,
                    source=Provenance(item.reference, when, display_of(holder)),
                    code=code,
                    ambiguous_analyte=code in codes.VITAMIN_D_AMBIGUOUS,
                )
            )
    return levels
