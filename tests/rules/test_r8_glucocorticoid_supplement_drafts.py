"""R8 glucocorticoid path (ACR 2022): calcium and vitamin D drafts when none is active, through
the same templates as R2 and O6; none beside an active supplement, no 800 IU draft beside R3's
repletion course, and never twice in one response (R2 offering them keeps them)."""

from __future__ import annotations

from . import fhir_builders as fb
from .conftest import Run
from .people import LAST_MONTH, days_ago, months_ago, woman
from .test_r8_medication_bone_loss import _steroid

CALCIUM = "Order calcium carbonate"
VITAMIN_D = "Order vitamin D3 (cholecalciferol) 800 IU daily"
REPLETION = "Order vitamin D3 50,000 IU weekly"


def _labels(card: dict) -> list[str]:
    return [s["label"] for s in card.get("suggestions", [])]


def _has(card: dict, start: str) -> bool:
    return any(label.startswith(start) for label in _labels(card))


def test_r8_offers_calcium_and_vitamin_d_drafts_when_none_is_active(run: Run) -> None:
    pid = "r8-supplements-none"
    cards = run(
        fb.prefetch(
            woman(pid, 45), fb.vitamin_d(pid, 32, LAST_MONTH), _steroid(pid, 10, days_ago(126))
        ),
        pid,
    )
    assert "R2" not in cards  # no low bone mass: R2 is silent, R8 offers them
    r8 = cards["R8"]
    assert _has(r8, CALCIUM) and _has(r8, VITAMIN_D)
    assert _has(r8, "Order DXA")
    assert r8["selectionBehavior"] == "any"


def test_r8_no_supplement_draft_when_both_are_active(run: Run) -> None:
    pid = "r8-supplements-active"
    cards = run(
        fb.prefetch(
            woman(pid, 45),
            fb.vitamin_d(pid, 32, LAST_MONTH),
            _steroid(pid, 10, days_ago(126)),
            fb.medication_request(pid, "2418", "cholecalciferol", months_ago(10)),
            fb.medication_statement(pid, "1897", "calcium carbonate", months_ago(10)),
        ),
        pid,
    )
    r8 = cards["R8"]
    assert not _has(r8, CALCIUM) and not _has(r8, VITAMIN_D)


def test_r8_no_800_iu_draft_beside_the_repletion_course(run: Run) -> None:
    pid = "r8-supplements-repletion"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.t_score(pid, "femur", -1.4, LAST_MONTH),
            fb.vitamin_d(pid, 15, LAST_MONTH),
            _steroid(pid, 10, days_ago(126)),
        ),
        pid,
    )
    assert _has(cards["R3"], REPLETION)
    # R2 comes first and keeps the calcium draft; no 800 IU draft anywhere
    assert not any(_has(card, VITAMIN_D) for card in cards.values())
    assert sum(_has(card, CALCIUM) for card in cards.values()) == 1


def test_r8_supplement_drafts_once_per_response_with_r2(run: Run) -> None:
    pid = "r8-supplements-with-r2"
    cards = run(
        fb.prefetch(
            woman(pid, 62),
            fb.t_score(pid, "femur", -1.4, LAST_MONTH),
            fb.vitamin_d(pid, 28, LAST_MONTH),
            _steroid(pid, 10, days_ago(276)),
        ),
        pid,
    )
    everywhere = [label for card in cards.values() for label in _labels(card)]
    assert sum(label.startswith(CALCIUM) for label in everywhere) == 1
    assert sum(label.startswith(VITAMIN_D) for label in everywhere) == 1
