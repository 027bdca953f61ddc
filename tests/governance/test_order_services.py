"""The rules file governs the order services' rules (O1-O7) through the same response path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from tests.governance.conftest import logged
from tests.rules.order_drafts import session
from tests.service.test_order_hooks import SIGN_URL, _alendronate, _request


def _o_rules(client: object, user: str = "Practitioner/order-test") -> set[str]:
    body = _request("order-sign", session(_alendronate()), userId=user)
    response = client.post(SIGN_URL, json=body)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.get_data(as_text=True)
    return {card["source"]["topic"]["code"] for card in response.get_json()["cards"]}


def test_O3_active_silent_off_and_pilot(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    active = make_app(data_dir=tmp_path / "active")
    assert _o_rules(active.test_client()) == {"O3"}  # alendronate drafted beside raloxifene

    silent = make_app({"rules": {"O3": "silent"}}, data_dir=tmp_path / "silent")
    assert _o_rules(silent.test_client()) == set()
    assert logged(silent) == [("O3", "silent")]

    off = make_app({"rules": {"O3": "off"}}, data_dir=tmp_path / "off")
    assert _o_rules(off.test_client()) == set()
    assert logged(off) == []

    pilot = make_app(
        {"rules": {"O3": {"mode": "active", "users": ["Practitioner/9"]}}},
        data_dir=tmp_path / "pilot",
    )
    client = pilot.test_client()
    assert _o_rules(client, "Practitioner/9") == {"O3"}
    assert _o_rules(client, "Practitioner/10") == set()
    assert sorted(d for _, d in logged(pilot)) == ["shown", "silent"]
