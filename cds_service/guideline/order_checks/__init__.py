"""Order checks O1–O7 (clinical-spec §5): what the clinician is about to order, judged
against the patient's facts through the same assessment and gates as patient-view."""

from .checks import ORDER_CHECKS, evaluate_order_checks

__all__ = ["ORDER_CHECKS", "evaluate_order_checks"]
