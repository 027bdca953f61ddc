"""What a rule concludes, before it is rendered as a CDS Hooks card.

Rules return these plain values; ``cds_service.cards`` turns them into JSON. Keeping the two
apart lets the rules be tested on meaning (which rule, which facts, which orders) and the
cards on form (lengths, uuids, no empty fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"  # order checks only: a contraindicated draft


class SelectionBehavior(StrEnum):
    ANY = "any"
    AT_MOST_ONE = "at-most-one"


class OrderKind(StrEnum):
    """Draft orders a card may offer; ``cds_service.orders`` holds their FHIR templates."""

    ALENDRONATE = "alendronate"
    RISEDRONATE = "risedronate"
    CHOLECALCIFEROL = "cholecalciferol"
    CALCIUM = "calcium"
    DXA = "dxa"
    VITAMIN_D_TEST = "vitamin-d-test"
    VITAMIN_D_REPLETION = "vitamin-d-repletion"  # R3: 50,000 IU weekly for 8 weeks
    KIDNEY_LABS = "kidney-labs"  # gates: basic metabolic panel before a first dose
    BONE_MINERAL_LABS = "bone-mineral-labs"  # calcium, phosphate, ALP, PTH (osteomalacia, CKD-MBD)
    REFERRAL = "bone-referral"  # osteoporosis / fracture liaison / endocrinology service


# The oral bisphosphonates a card may draft, in the order cards offer them.
ORAL_BISPHOSPHONATE_ORDERS = (OrderKind.ALENDRONATE, OrderKind.RISEDRONATE)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a recommendation rests on, as shown in the card's detail."""

    label: str
    value: str
    date: date | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a ServiceRequest draft is ordered: its ``reasonCode`` (a verified code, or text)."""

    text: str
    system: str | None = None
    code: str | None = None
    display: str | None = None
    # the Condition the order answers, sent as reasonReference (compared out of the cache key)
    condition: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class DraftRemoval:
    """An order check's suggestion to remove one of the clinician's drafts, and what to order
    in its place (a ``create`` beside the ``delete``)."""

    draft: str  # "MedicationRequest/<id>" as the draft names itself in draftOrders
    label: str
    replacement: OrderKind | None = None
    reason: Reason | None = None  # reasonCode of the replacement, when a ServiceRequest


class AdviceTopic(StrEnum):
    """Advice that one card of a response states for all (clinical-spec §0.4): the others defer
    to it rather than give other numbers."""

    CALCIUM_DOSE = "calcium-dose"
    VITAMIN_D_DOSE = "vitamin-d-dose"


@dataclass(frozen=True, slots=True)
class Claim:
    """This card states the response's advice on ``topic``; others call it ``card``."""

    topic: AdviceTopic
    card: str  # "the vitamin D card"


@dataclass(frozen=True, slots=True)
class Deferral:
    """An advice line given only when no other card of the response claims ``topic``; else
    ``replacement`` (its ``{card}`` naming the claimant) stands in its place, or nothing."""

    topic: AdviceTopic
    line: str
    replacement: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    rule_id: str
    indicator: Indicator
    summary: str
    advice: tuple[str, ...]  # markdown paragraphs or "- " bullet lines, in order
    evidence: tuple[Evidence, ...] = ()
    references: tuple[str, ...] = ()  # keys of references.json; the first is the card source
    orders: tuple[OrderKind, ...] = ()
    # drafts that go with each drug draft in one suggestion (the kidney check before a first
    # dose), so that choosing one drug of an at-most-one card still brings its check along
    companion_orders: tuple[OrderKind, ...] = ()
    selection_behavior: SelectionBehavior | None = None
    override_reasons: tuple[str, ...] = ()  # keys of override_reasons in references.json
    links: tuple[Link, ...] = ()
    lifelong_note: bool = False  # the "Always" paragraph of the specification
    reason: Reason | None = None  # reasonCode of the card's ServiceRequest drafts
    removals: tuple[DraftRemoval, ...] = ()  # order checks: drafts to take back
    claims: tuple[Claim, ...] = ()  # advice this card states for the whole response
    deferrals: tuple[Deferral, ...] = ()  # advice lines that yield to another card's claim
