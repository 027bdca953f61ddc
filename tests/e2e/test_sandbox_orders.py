"""The order services in the real CDS Hooks sandbox: Rx Sign (order-sign) and Rx View
(order-select), as a clinician uses them: open the patient, go to the order screen, type the
medication and pick it from the sandbox's own list, sign, read the cards, take a suggestion.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By

from tests.e2e.browser import Browser
from tests.e2e.conftest import SANDBOX_ISSUER, RunningService
from tests.e2e.exchange_log import Exchange
from tests.e2e.test_sandbox import (
    NO_CARDS_TEXT,
    _button,
    _card_texts,
    _page_text,
    _panel_settled,
    _rule,
    _sandbox_errors,
    _shown,
    _wait,
    _xpath_literal,
    open_patient,
)

ORDER_SIGN = "osteopenia-order-sign"
ORDER_SELECT = "osteopenia-order-select"
# The README's picture of an order card; written only when asked (SANDBOX_SCREENSHOT=1).
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sandbox-order-card.png"
ALENDRONATE = "Alendronic acid 35 MG Oral Tablet"  # entries of the sandbox's medication list
PREDNISONE = "Prednisone 20 MG Oral Tablet"


def _order_calls(service: RunningService, service_id: str) -> list[Exchange]:
    return service.log.matching("POST", f"/cds-services/{service_id}")


def _open_screen(browser: Browser, label: str) -> None:
    """Click the header's tab (Rx View, Rx Sign) and wait for its title."""
    _button(browser, label).click()
    _wait(
        lambda: browser.driver.find_elements(By.XPATH, f"//h1[normalize-space(.)='{label}']"),
        f"the {label} screen",
    )


def _choose_medication(browser: Browser, name: str) -> None:
    """Type the start of the name and pick the entry from the sandbox's list."""
    field = browser.driver.find_element(By.NAME, "medication-input")
    typed = ""
    # One key at a time, each seen in the field before the next: the form re-renders the
    # field from its store as it filters the list, and keys sent faster are lost.
    for key in " ".join(name.split()[:2]):
        typed += key
        field.send_keys(key)
        _wait(
            lambda expected=typed: (
                browser.driver.find_element(By.NAME, "medication-input").get_attribute("value")
                == expected
            ),
            f"{typed!r} in the medication field",
        )
    entry = _wait(
        lambda: browser.driver.find_elements(
            By.XPATH,
            "//*[contains(@class, 'MuiListItemButton-root')]"
            f"[normalize-space(.)={_xpath_literal(name)}]",
        ),
        f"{name} in the sandbox's medication list",
    )
    entry[0].click()


def _answer_shown(browser: Browser, service: RunningService, service_id: str) -> dict[str, Any]:
    """The service's answer to the last order call, once the page shows it and nothing more
    is on the wire."""
    last_seen: list[int] = []

    def settled() -> dict[str, Any] | None:
        calls = _order_calls(service, service_id)
        if not calls or browser.requests_in_flight():
            last_seen.clear()
            return None
        latest = calls[-1]
        assert latest.status == 200, (latest.status, latest.response_json)
        cards = latest.response_json["cards"]
        shown = _card_texts(browser)
        page_agrees = (
            len(shown) == len(cards) and all(_shown(browser, c["summary"]) for c in cards)
            if cards
            else not shown and NO_CARDS_TEXT in _page_text(browser)
        )
        if not page_agrees:
            last_seen.clear()
            return None
        last_seen.append(len(calls))
        if len(last_seen) >= 2 and last_seen[-1] == last_seen[-2]:
            return latest.response_json
        return None

    return _wait(settled, f"the answer of {service_id} in the page")


def _sign(browser: Browser, service: RunningService, patient_id: str, medication: str) -> dict:
    _open_screen(browser, "Rx Sign")
    _choose_medication(browser, medication)
    _button(browser, "Sign Order").click()
    answer = _answer_shown(browser, service, ORDER_SIGN)
    (call,) = _order_calls(service, ORDER_SIGN)[-1:]
    context = call.request_json["context"]
    assert call.client_iss == SANDBOX_ISSUER
    assert context["patientId"] == patient_id
    drafts = context["draftOrders"]["entry"]
    assert [e["resource"]["medicationCodeableConcept"]["text"] for e in drafts] == [medication]
    return answer


def _suggestion_labels(card: dict[str, Any]) -> list[str]:
    return [s["label"] for s in card.get("suggestions", [])]


def test_rx_sign_alendronate_with_egfr_25_is_critical_and_removing_the_draft_is_recorded(
    stage,
) -> None:
    browser, site, fhir, service = stage
    open_patient(browser, site, fhir, service, "demo-kidney-egfr25")
    answer = _sign(browser, service, "demo-kidney-egfr25", ALENDRONATE)
    (card,) = answer["cards"]
    assert _rule(card) == "O1" and card["indicator"] == "critical"
    assert "eGFR 25" in card["summary"]
    (removal,) = card["suggestions"]
    (action,) = removal["actions"]
    draft_id = _order_calls(service, ORDER_SIGN)[-1].request_json["context"]["draftOrders"][
        "entry"
    ][0]["resource"]["id"]
    assert action == {
        "type": "delete",
        "description": f"Remove the draft order MedicationRequest/{draft_id}",
        "resourceId": f"MedicationRequest/{draft_id}",
    }

    _button(browser, removal["label"]).click()
    sent = service.log.wait_for(
        lambda _: service.log.matching("POST", f"/cds-services/{ORDER_SIGN}/feedback")
    )
    feedback = sent[-1].request_json["feedback"][0]
    assert (feedback["card"], feedback["outcome"]) == (card["uuid"], "accepted")
    assert feedback["acceptedSuggestions"] == [{"id": removal["uuid"]}]
    assert sent[-1].status == 200 and sent[-1].response_json["stored"] == 1
    assert not _sandbox_errors(browser, service)
    assert not browser.external_responses()


def test_rx_sign_prednisone_without_dxa_offers_acr_bone_protection(stage, tmp_path) -> None:
    browser, site, fhir, service = stage
    open_patient(browser, site, fhir, service, "demo-prednisone-no-dxa")
    answer = _sign(browser, service, "demo-prednisone-no-dxa", PREDNISONE)
    (card,) = answer["cards"]
    assert _rule(card) == "O6" and card["indicator"] == "info"
    assert "ACR 2022" in card["summary"] and "20 mg/day" in card["summary"]
    labels = _suggestion_labels(card)
    assert any("calcium" in label for label in labels), labels
    assert any("vitamin D" in label for label in labels), labels
    assert any("DXA" in label for label in labels), labels
    for label in labels:
        assert _button(browser, label).is_displayed()

    wanted = os.environ.get("SANDBOX_SCREENSHOT", "").strip() not in ("", "0")
    screenshot = README_SCREENSHOT if wanted else tmp_path / "sandbox-order-card.png"
    driver = browser.driver
    # What the clinician sees: the order form and the card, the developer panel folded away.
    driver.find_element(By.CSS_SELECTOR, "[class*='context-toggle']").click()
    _wait(_panel_settled(driver), "the developer panel to fold")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 120, 1900)))
    try:
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(screenshot))
    finally:
        driver.set_window_size(1400, 1100)
        driver.find_element(By.CSS_SELECTOR, "[class*='context-toggle']").click()
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert not _sandbox_errors(browser, service)


def test_rx_sign_alendronate_for_good_kidneys_and_vitamin_d_says_nothing(stage) -> None:
    browser, site, fhir, service = stage
    open_patient(browser, site, fhir, service, "demo-alendronate-ready")
    answer = _sign(browser, service, "demo-alendronate-ready", ALENDRONATE)
    assert answer["cards"] == []
    assert NO_CARDS_TEXT in _page_text(browser)
    assert not _sandbox_errors(browser, service)


def test_rx_view_selecting_prednisone_asks_order_select_about_the_selection(stage) -> None:
    browser, site, fhir, service = stage
    open_patient(browser, site, fhir, service, "demo-prednisone-no-dxa")
    _open_screen(browser, "Rx View")
    _choose_medication(browser, PREDNISONE)
    answer = _answer_shown(browser, service, ORDER_SELECT)
    call = _order_calls(service, ORDER_SELECT)[-1]
    context = call.request_json["context"]
    (entry,) = context["draftOrders"]["entry"]
    resource = entry["resource"]
    assert context["selections"] == [f"MedicationRequest/{resource['id']}"]
    assert [_rule(c) for c in answer["cards"]] == ["O6"]
    assert not _sandbox_errors(browser, service)
