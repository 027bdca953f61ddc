"""What every order check reads: the patient's assessment, one draft, and the whole session."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.draft_orders import DraftOrder
from fhir_mappings.facts import DrugClass

from .. import wording
from ..assessment import Assessment
from ..gates import Drug
from ..recommendation import DraftRemoval, Evidence, OrderKind
from ..therapy import current_episodes

SUPPLEMENT_ORDERS = {
    DrugClass.CALCIUM: OrderKind.CALCIUM,
    DrugClass.VITAMIN_D: OrderKind.CHOLECALCIFEROL,
}


@dataclass(frozen=True, slots=True)
class OrderSession:
    """The drafts of one ordering session: the one judged is one of ``drafts``."""

    a: Assessment
    drafts: tuple[DraftOrder, ...]

    def drafted(self, drug_class: DrugClass) -> bool:
        return any(d.drug_class is drug_class for d in self.drafts)

    def dxa_drafted(self) -> bool:
        return any(d.is_dxa for d in self.drafts)

    def missing_supplements(self) -> tuple[OrderKind, ...]:
        """Calcium and vitamin D drafts to offer: neither taken now nor drafted already."""
        missing = []
        for drug_class, kind in SUPPLEMENT_ORDERS.items():
            taken = current_episodes(self.a.facts, {drug_class}, self.a.as_of, self.a.thresholds)
            if not taken and not self.drafted(drug_class):
                missing.append(kind)
        return tuple(missing)


_GATED_DRUGS = {drug.value: drug for drug in Drug}


def draft_drug(draft: DraftOrder) -> Drug | None:
    """The gated drug a draft orders (bisphosphonates and denosumab), if any."""
    return _GATED_DRUGS.get(draft.ingredient) if draft.ingredient else None


def draft_evidence(draft: DraftOrder) -> Evidence:
    return Evidence("Draft order", draft.display, draft.authored, draft.reference)


def remove(draft: DraftOrder, replacement: OrderKind | None = None) -> DraftRemoval:
    name = draft.ingredient or draft.display
    label = f"Remove the draft {name} order"
    if replacement is not None:
        label += f" and order {replacement.value} instead"
    return DraftRemoval(draft.reference, wording.shorten(label), replacement)
