"""The order-sign benchmark workload: the typical chart's request at order-sign, measured in
process beside patient-view, answered by the real service."""

from __future__ import annotations

from pathlib import Path

from benchmarks.inprocess import measure_workload
from benchmarks.workloads import generated_workload, order_sign_workload
from cds_service.app import create_app
from cds_service.settings import Settings


def test_order_sign_workload_is_a_valid_order_sign_call(tmp_path: Path) -> None:
    patient_view = generated_workload(100)
    order_sign = order_sign_workload(patient_view)
    request = order_sign.request
    assert request["hook"] == "order-sign"
    assert order_sign.path == "/cds-services/osteopenia-order-sign"
    assert request["prefetch"] == patient_view.request["prefetch"]
    drafts = request["context"]["draftOrders"]["entry"]
    assert {e["resource"]["resourceType"] for e in drafts} == {
        "MedicationRequest",
        "ServiceRequest",
    }

    app = create_app(Settings(data_dir=tmp_path))
    result = measure_workload(app, order_sign, budget_s=0.2)
    assert result.app.n >= 1 and result.cards >= 1
